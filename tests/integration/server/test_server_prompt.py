"""A version serving a prompt: a real server process over examples/prompts' TorchScript
text model (the stand-in for an LLM), rendering the template from the request's variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from mlform.providers.local.process import AdminError, ServerHandle, load_version, start_server, stop_server
from mlform.providers.server.config import VersionSpec

pytest.importorskip("torch")

MODEL = Path(__file__).resolve().parents[3] / "examples" / "prompts" / "models" / "assistant.pt"
TEMPLATE = "Classify the review.\nAnswer in JSON.\nReview: {{ review }}"
PROMPT = {"template": TEMPLATE, "variables": ["review"], "model_params": {"temperature": 0, "max_tokens": 64},
          "version": "aaaaaaaaaaaa"}


def body(**variables: list[str]) -> dict[str, Any]:
    return {"inputs": [{"name": k, "shape": [len(v)], "datatype": "BYTES", "data": v} for k, v in variables.items()]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    h = start_server("app", tmp_path_factory.mktemp("work"),
                     [VersionSpec("p1", str(MODEL), "torchscript", prompt=PROMPT)], gpus="none", timeout=60)
    yield h
    stop_server(h)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


def test_metadata_lists_the_variables_and_the_prompt(server: ServerHandle, client: httpx.Client) -> None:
    meta = client.get(f"{server.url}/v2/models/app").json()
    assert meta["inputs"] == [{"name": "review", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "text_output", "datatype": "BYTES", "shape": [-1]}]
    assert meta["prompt"] == {"version": "aaaaaaaaaaaa", "variables": ["review"],
                              "model_params": {"temperature": 0, "max_tokens": 64},
                              "applied": ["max_tokens"], "ignored": ["temperature"]}


def test_the_server_renders_each_row(server: ServerHandle, client: httpx.Client) -> None:
    r = client.post(f"{server.url}/v2/models/app/infer",
                    json=body(review=["great value, I love it", "broken on arrival, a waste of money"]))
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert out["shape"] == [2]
    # The template asks for JSON, so the text model answers JSON: the template was rendered server-side.
    assert [json.loads(t)["sentiment"] for t in out["data"]] == ["positive", "negative"]


@pytest.mark.parametrize("payload, message", [
    (body(text_input=["Review: fine"]), "unknown prompt variable 'text_input'; the model expects 'review'"),
    (body(review=["fine"], extra=["x"]), "unknown prompt variable 'extra'; the model expects 'review'"),
    ({"inputs": [{"name": "review", "shape": [1], "datatype": "BYTES", "data": ["a"]}] * 2},
     "prompt variable 'review' is given twice"),
    ({"inputs": [{"name": "review", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
     "input 'review' has datatype 'FP32' but the model expects 'BYTES'"),
])
def test_wrong_variables_get_400_saying_what_is_wrong(server: ServerHandle, client: httpx.Client,
                                                       payload: dict[str, Any], message: str) -> None:
    r = client.post(f"{server.url}/v2/models/app/infer", json=payload)
    assert r.status_code == 400
    assert message in r.json()["error"]


def test_missing_variable_is_named(tmp_path: Path, client: httpx.Client) -> None:
    two = {**PROMPT, "template": "Answer in JSON.\nReview: {{ review }} ({{ product }})",
           "variables": ["review", "product"]}
    h = start_server("two", tmp_path, [VersionSpec("p2", str(MODEL), "torchscript", prompt=two)], gpus="none")
    try:
        r = client.post(f"{h.url}/v2/models/two/infer", json=body(review=["great"]))
        assert r.status_code == 400
        assert r.json()["error"] == "missing prompt variable(s) 'product'; the model expects 'review', 'product'"
        r = client.post(f"{h.url}/v2/models/two/infer", json=body(review=["great", "bad"], product=["phone"]))
        assert r.status_code == 400
        assert "prompt variables must have the same number of values, got review: 2, product: 1" in r.text
    finally:
        stop_server(h)


def test_max_tokens_and_stop_cut_the_reply(server: ServerHandle, client: httpx.Client) -> None:
    load_version(server.url, server.token, "short", MODEL, "torchscript",
                 prompt={**PROMPT, "model_params": {"max_tokens": 2}, "version": "bbbbbbbbbbbb"})
    load_version(server.url, server.token, "stopped", MODEL, "torchscript",
                 prompt={**PROMPT, "model_params": {"stop": ","}, "version": "cccccccccccc"})
    try:
        def reply(version: str) -> str:
            r = client.post(f"{server.url}/v2/models/app/versions/{version}/infer", json=body(review=["I love it"]))
            assert r.status_code == 200, r.text
            return str(r.json()["outputs"][0]["data"][0])

        full = reply("p1")  # max_tokens = 64: the whole reply
        assert json.loads(full)["sentiment"] == "positive" and len(full.split()) == 4
        assert reply("short") == '{"sentiment": "positive",'
        assert reply("stopped") == '{"sentiment": "positive"'
    finally:
        for v in ("short", "stopped"):
            httpx.delete(f"{server.url}/mlform/versions/{v}", headers={"Authorization": f"Bearer {server.token}"})


def test_a_prompt_needs_a_text_model(server: ServerHandle, tmp_path: Path) -> None:
    from tests.fixtures.models import write_onnx_classifier
    onnx = write_onnx_classifier(tmp_path / "m.onnx")
    with pytest.raises(AdminError, match="a prompt needs a text model with one BYTES input") as e:
        load_version(server.url, server.token, "tensor", onnx.path, "onnx", prompt=PROMPT)
    assert e.value.status == 422
