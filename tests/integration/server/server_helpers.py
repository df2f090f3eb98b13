"""Helpers for the server integration tests (a module name unique across the tests tree)."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np


def infer_body(x: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {"inputs": [{"name": "features", "shape": list(x.shape), "datatype": "FP32",
                        "data": x.ravel().tolist()}], **extra}


def probabilities(response: httpx.Response) -> np.ndarray:
    out = response.json()["outputs"][0]
    return np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])



def write_onnx_echo(path: Any) -> Any:
    """An ONNX model with a BYTES input ``text`` [-1] echoed to output ``echo``, and an
    INT64 input ``ids`` [-1, 2] doubled to output ``doubled``: the binary extension's
    BYTES and integer paths on one model."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["echo"]),
         helper.make_node("Add", ["ids", "ids"], ["doubled"])],
        "echo",
        [helper.make_tensor_value_info("text", TensorProto.STRING, [None]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, [None, 2])],
        [helper.make_tensor_value_info("echo", TensorProto.STRING, [None]),
         helper.make_tensor_value_info("doubled", TensorProto.INT64, [None, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
