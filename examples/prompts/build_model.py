"""Build models/assistant.pt: the small text model this example serves in place of an LLM.

No LLM weights exist on this machine and nothing may be downloaded, so the
example ships the smallest honest stand-in: a TorchScript module that takes V2
BYTES ``text_input`` (prompts) and returns BYTES ``text_output`` (replies),
served by mlform's own server through its normal TorchScript path.

What it is: a bag-of-words sentiment classifier (logistic regression over the
word counts of a tiny labelled corpus below, trained here in well under a
second) wrapped in a deterministic instruction follower written in
TorchScript:

* a prompt whose instructions mention JSON gets ``{"sentiment": ..., "confidence": ...}``;
  one that asks for "one word" gets the bare label; anything else gets a sentence;
* the text it classifies is the part after a ``Review:`` / ``Text:`` / ``Input:`` line
  (the whole prompt when there is none);
* a prompt in mlform's ``llm_judge`` format ("You are grading the output ...") is
  answered as a judge: the output passes when it names the same sentiment as
  the reference answer (or, without one, as the model itself reads the input),
  ending with ``VERDICT: PASS|FAIL`` or ``SCORE: 5|1``.

It is deterministic, ignores sampling parameters (temperature, max_tokens),
and is a few KB. Replace it with a real LLM endpoint when you have one; the
mlform configuration does not change.

Run: python3 build_model.py   (writes models/assistant.pt; same bytes every run)
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import torch

HERE = Path(__file__).resolve().parent

# The training corpus: short reviews, 1 = positive, 0 = negative.
CORPUS = [
    ("I love this product, it works great", 1), ("Excellent quality and fast delivery", 1),
    ("Absolutely wonderful, highly recommend", 1), ("Great value, very happy with it", 1),
    ("The best purchase I made this year", 1), ("Fantastic, does exactly what it promises", 1),
    ("Very good sound and a nice design", 1), ("Amazing battery life, I am delighted", 1),
    ("Works perfectly and arrived early", 1), ("Superb build, lovely colour, great price", 1),
    ("Friendly support and a reliable device", 1), ("Happy with the purchase, solid and useful", 1),
    ("I hate it, it broke after a day", 0), ("Terrible quality and slow delivery", 0),
    ("Awful, do not buy this", 0), ("Very disappointed, a waste of money", 0),
    ("The worst purchase I made this year", 0), ("Broken on arrival and support was useless", 0),
    ("Poor sound and an ugly design", 0), ("Bad battery life, I am annoyed", 0),
    ("Stopped working and arrived late", 0), ("Cheap build, faded colour, overpriced", 0),
    ("Rude support and an unreliable device", 0), ("Unhappy with the purchase, flimsy and useless", 0),
]
LABELS = ["negative", "positive"]


def tokens(text: str) -> list[str]:
    """The same tokenisation as the TorchScript module's ``_tokens``."""
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


class TinyAssistant(torch.nn.Module):
    """Prompts in, replies out (see the module docstring)."""

    def __init__(self, vocab: Dict[str, int], weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.vocab = vocab
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.bias = torch.nn.Parameter(bias, requires_grad=False)
        self.labels: List[str] = list(LABELS)
        self.markers: List[str] = ["review", "text", "input", "message"]

    def _tokens(self, text: str) -> List[str]:
        t = text.lower()
        out: List[str] = []
        word = ""
        for c in t:
            if ("a" <= c and c <= "z") or ("0" <= c and c <= "9") or c == "'":
                word += c
            elif word != "":
                out.append(word)
                word = ""
        if word != "":
            out.append(word)
        return out

    def _classify(self, text: str) -> Tuple[int, float]:
        ids: List[int] = []
        for w in self._tokens(text):
            if w in self.vocab:
                ids.append(self.vocab[w])
        logits = self.bias.clone()
        if len(ids) > 0:
            logits = logits + self.weight[torch.tensor(ids, dtype=torch.long)].sum(0)
        probs = torch.softmax(logits, dim=0)
        k = int(torch.argmax(probs).item())
        return k, float(probs[k].item())

    def _split(self, prompt: str) -> Tuple[str, str]:
        """(instructions, subject): the subject is what follows the last marker line."""
        lines = prompt.split("\n")
        at = -1
        for i in range(len(lines)):
            idx = lines[i].find(":")
            if idx > 0 and lines[i][:idx].strip().lower() in self.markers:
                at = i
        if at < 0:
            return prompt, prompt
        head = lines[at]
        first = head[head.find(":") + 1:]
        subject = "\n".join([first] + lines[at + 1:]).strip()
        instructions = "\n".join(lines[:at])
        return instructions, subject

    def _confidence(self, p: float) -> str:
        pct = int(p * 100.0 + 0.5)
        if pct >= 100:
            return "1.0"
        return "0." + str(pct // 10) + str(pct % 10)

    def _answer(self, prompt: str) -> str:
        instructions, subject = self._split(prompt)
        k, p = self._classify(subject)
        label = self.labels[k]
        low = instructions.lower()
        if "json" in low:
            return '{"sentiment": "' + label + '", "confidence": ' + self._confidence(p) + "}"
        if "one word" in low:
            return label
        return "The review sounds " + label + "."

    def _section(self, prompt: str, header: str) -> str:
        start = prompt.find("\n\n" + header + ":\n")
        if start < 0:
            return ""
        start += len(header) + 4
        end = len(prompt)
        for nxt in ["\n\nOutput:\n", "\n\nReference answer:\n", "\n\nExplain briefly"]:
            j = prompt.find(nxt, start)
            if j >= 0 and j < end:
                end = j
        return prompt[start:end]

    def _names(self, text: str) -> int:
        """The label ``text`` names (-1: none, or both)."""
        words = self._tokens(text)
        found = -1
        for k in range(len(self.labels)):
            if self.labels[k] in words:
                if found >= 0:
                    return -1
                found = k
        return found

    def _judge(self, prompt: str) -> str:
        output = self._section(prompt, "Output")
        reference = self._section(prompt, "Reference answer")
        if reference != "":
            want = self._names(reference)
            if want < 0:
                want = self._classify(reference)[0]
        else:
            want = self._classify(self._split(self._section(prompt, "Input"))[1])[0]
        said = self._names(output)
        ok = said == want
        reason = "The output names no single sentiment." if said < 0 else \
            "The output says " + self.labels[said] + "; the answer is " + self.labels[want] + "."
        if "SCORE: N" in prompt:
            return reason + "\nSCORE: " + ("5" if ok else "1")
        return reason + "\nVERDICT: " + ("PASS" if ok else "FAIL")

    def forward(self, text_input: List[str]) -> List[str]:
        out: List[str] = []
        for prompt in text_input:
            if prompt.startswith("You are grading the output"):
                out.append(self._judge(prompt))
            else:
                out.append(self._answer(prompt))
        return out


def train() -> tuple[dict[str, int], torch.Tensor, torch.Tensor]:
    """Logistic regression (as a 2-class softmax) on bag-of-words counts; deterministic."""
    vocab: dict[str, int] = {}
    for text, _ in CORPUS:
        for w in tokens(text):
            vocab.setdefault(w, len(vocab))
    x = torch.zeros(len(CORPUS), len(vocab))
    for i, (text, _) in enumerate(CORPUS):
        for w in tokens(text):
            x[i, vocab[w]] += 1.0
    y = torch.tensor([label for _, label in CORPUS])
    torch.manual_seed(0)
    weight = torch.zeros(len(vocab), 2, requires_grad=True)
    bias = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([weight, bias], lr=0.5)
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight + bias, y) + 1e-3 * (weight ** 2).sum()
        loss.backward()
        opt.step()
    acc = float(((x @ weight + bias).argmax(1) == y).float().mean())
    print(f"trained on {len(CORPUS)} reviews, {len(vocab)} words: training accuracy {acc:.2f}")
    # Rounded so the artifact's bytes do not depend on float noise across machines.
    return vocab, torch.round(weight.detach() * 1e4) / 1e4, torch.round(bias.detach() * 1e4) / 1e4


def main(out: Path = HERE / "models" / "assistant.pt") -> None:
    vocab, weight, bias = train()
    module = torch.jit.script(TinyAssistant(vocab, weight, bias))
    meta = {"inputs": [{"name": "text_input", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": "text_output", "datatype": "BYTES", "shape": [-1]}]}
    buf = io.BytesIO()
    torch.jit.save(module, buf, _extra_files={"mlform.json": json.dumps(meta)})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "models" / "assistant.pt")
