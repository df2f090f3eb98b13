"""Train the quickstart's tiny sentiment classifier and export it to ONNX.

The "text" is already reduced to 8 hand-made features (counts of positive and
negative words, negations, exclamation marks, intensifiers, normalised
length, positive and negative emoji); the classes are 0 negative, 1 neutral,
2 positive. The data are synthetic and fully determined by the seeds, so a
re-run reproduces the same models with the same torch version.

Writes, next to this file:

* ``models/sentiment-v1.onnx``     small MLP, 1000 examples (golden accuracy 0.935)
* ``models/sentiment-v2.onnx``     wider, all 2000 examples (0.96, new digest)
* ``models/sentiment-broken.onnx`` trained on shuffled labels: accuracy collapses
* ``models/metrics.json``          golden-set accuracy and digest of each
* ``data/golden.jsonl``            {"input": [8 floats], "expected": class} lines

The models take one input ``features`` (FP32, shape [batch, 8]) and give one
output ``probabilities`` (FP32, [batch, 3]). The graph is written with
``onnx.helper`` from the trained weights (Gemm, Relu, Gemm, Softmax), which
keeps the files small, byte-for-byte reproducible and independent of torch's
ONNX exporter.

Run: ``python examples/quickstart/train.py`` (needs torch; a few seconds on CPU).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
N_FEATURES, N_CLASSES = 8, 3
INPUT_NAME, OUTPUT_NAME = "features", "probabilities"


def make_data(n: int, seed: int, label_noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic feature vectors and their sentiment class."""
    rng = np.random.default_rng(seed)
    pos = rng.poisson(1.2, n).clip(0, 6)
    neg = rng.poisson(1.2, n).clip(0, 6)
    negations = rng.choice([0, 1, 2], n, p=[0.7, 0.25, 0.05])
    bangs = rng.poisson(0.5, n).clip(0, 4)
    intens = rng.poisson(0.4, n).clip(0, 3)
    length = rng.uniform(0.05, 1.0, n)
    epos = rng.poisson(0.3, n).clip(0, 3)
    eneg = rng.poisson(0.3, n).clip(0, 3)
    score = (pos - neg) + 1.5 * (epos - eneg)
    score = np.where(negations % 2 == 1, -0.7 * score, score)
    score = score * (1 + 0.25 * intens + 0.1 * bangs)
    score = score + rng.normal(0, label_noise, n)
    y = np.where(score > 1.0, 2, np.where(score < -1.0, 0, 1))
    x = np.stack([pos, neg, negations, bangs, intens, length, epos, eneg], axis=1)
    return x.astype(np.float32), y.astype(np.int64)


def train(x: np.ndarray, y: np.ndarray, hidden: int, epochs: int, seed: int) -> torch.nn.Sequential:
    """Full-batch Adam on a one-hidden-layer MLP."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(N_FEATURES, hidden), torch.nn.ReLU(),
                                torch.nn.Linear(hidden, N_CLASSES))
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
    return model.eval()


def to_onnx(model: torch.nn.Sequential, name: str, doc: str) -> bytes:
    """The trained MLP as a small ONNX graph with a dynamic batch dimension."""
    l1, l2 = model[0], model[2]
    inits = [numpy_helper.from_array(t.detach().numpy().astype(np.float32), n) for n, t in
             [("w1", l1.weight), ("b1", l1.bias), ("w2", l2.weight), ("b2", l2.bias)]]
    nodes = [
        helper.make_node("Gemm", [INPUT_NAME, "w1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["a"]),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], [OUTPUT_NAME], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", N_FEATURES])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", N_CLASSES])],
        initializer=inits)
    m = helper.make_model(graph, producer_name="mlform-quickstart", doc_string=doc,
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


def accuracy(model: torch.nn.Sequential, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def main() -> None:
    torch.use_deterministic_algorithms(True)
    x, y = make_data(2000, seed=1, label_noise=0.3)
    gx, gy = make_data(200, seed=7, label_noise=0.0)
    gx = np.round(gx, 4)  # as written to golden.jsonl
    shuffled = np.random.default_rng(3).permutation(y)
    recipes = {
        "sentiment-v1": (x[:1000], y[:1000], 8, 150, 11, "v1: 8 hidden units, 1000 examples"),
        "sentiment-v2": (x, y, 16, 300, 12, "v2: 16 hidden units, 2000 examples"),
        "sentiment-broken": (x, shuffled, 16, 300, 13, "broken: trained on shuffled labels"),
    }
    (HERE / "models").mkdir(exist_ok=True)
    (HERE / "data").mkdir(exist_ok=True)
    metrics = {}
    for name, (tx, ty, hidden, epochs, seed, doc) in recipes.items():
        model = train(tx, ty, hidden, epochs, seed)
        blob = to_onnx(model, name, doc)
        (HERE / "models" / f"{name}.onnx").write_bytes(blob)
        metrics[name] = {"golden_accuracy": round(accuracy(model, gx, gy), 4),
                         "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
                         "size_bytes": len(blob), "recipe": doc}
        print(f"{name:18s} golden accuracy {metrics[name]['golden_accuracy']:.4f}  "
              f"{len(blob)} bytes")
    (HERE / "models" / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with open(HERE / "data" / "golden.jsonl", "w") as f:
        for row, label in zip(gx, gy):
            f.write(json.dumps({"input": [round(float(v), 4) for v in row],
                                "expected": int(label)}) + "\n")


if __name__ == "__main__":
    main()
