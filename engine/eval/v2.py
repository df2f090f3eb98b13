"""Predictors over the Open Inference Protocol V2 (KServe V2 REST), via httpx.

``POST {url}/v2/models/{name}[/versions/{v}]/infer`` with
``{"inputs": [{"name", "shape", "datatype", "data"}]}``; ``data`` is sent
flattened in row-major order. Input names and datatypes come from the model
metadata (``GET {url}/v2/models/{name}[/versions/{v}]``), fetched once.

Text generation uses BYTES tensors: the rendered prompts go in as input
``text_input`` (shape ``[n]``) with the prompt's ``model_params`` as request
``parameters``, and the text comes back in output ``text_output`` (or the
first BYTES output).
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence
from urllib.parse import quote

import httpx
import numpy as np

from .dataset import InputValue, TensorValue
from .predictors import Predictions, PredictorError, named_inputs, split_rows, stack_examples, timed_ms
from .prompt import PromptError, PromptSpec, prompt_text

_TO_NUMPY: dict[str, Any] = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": object,
}


def v2_datatype(array: TensorValue) -> str:
    """The V2 datatype name for a numpy array."""
    if array.dtype == object or array.dtype.kind in "US":
        return "BYTES"
    for name, t in _TO_NUMPY.items():
        if t is not object and array.dtype == np.dtype(t):
            return name
    raise PredictorError(f"No V2 datatype for {array.dtype}", "Use numbers, booleans or strings.")


def decode_outputs(body: Any) -> dict[str, TensorValue]:
    """The ``outputs`` of an infer response as arrays by name; raises ``PredictorError``."""
    outputs = body.get("outputs") if isinstance(body, dict) else None
    if not isinstance(outputs, list) or not outputs:
        raise PredictorError("The model server returned a malformed response", 'It has no "outputs" list.')
    out: dict[str, TensorValue] = {}
    for i, o in enumerate(outputs):
        try:
            dtype = _TO_NUMPY[o["datatype"]]
            out[str(o["name"])] = np.asarray(o["data"], dtype=dtype).reshape([int(d) for d in o["shape"]])
        except (KeyError, TypeError, ValueError) as e:
            raise PredictorError("The model server returned a malformed response",
                                 f"outputs[{i}] is not a V2 tensor ({type(e).__name__}: {e}).") from None
    return out


class V2Client:
    """The HTTP side: one model on one server, errors turned into diagnostics."""

    def __init__(self, url: str, model: str, version: str | None = None, *, timeout: float = 30.0,
                 client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.path = f"/v2/models/{quote(model, safe='')}"
        if version is not None:
            self.path += f"/versions/{quote(version, safe='')}"
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self._timeout = timeout
        self._metadata: dict[str, Any] | None = None

    def close(self) -> None:
        """Close the HTTP client (when this object created it)."""
        if self._owns_client:
            self._client.close()

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        where = f"{self.url}{path}"
        try:
            resp = self._client.request(method, where, json=body)
        except httpx.TimeoutException:
            raise PredictorError(f"The model server at {self.url} timed out",
                                 f"No answer from {where} within {self._timeout:g}s.") from None
        except httpx.TransportError as e:
            raise PredictorError(f"Cannot reach the model server at {self.url}",
                                 f"{e}. Is the endpoint running? `mlform refresh` shows whether it is up.") from None
        try:
            payload = resp.json()
        except ValueError:
            payload = None
        if resp.status_code >= 400:
            msg = payload.get("error") if isinstance(payload, dict) else None
            detail = str(msg) if msg else resp.text[:200]
            if resp.status_code == 404:
                raise PredictorError(f'Model "{self.model}" not found at {self.url}',
                                     f"{method} {where} answered 404: {detail}")
            raise PredictorError(f"The model server answered HTTP {resp.status_code}",
                                 f"{method} {where}: {detail}")
        if payload is None:
            raise PredictorError("The model server returned a malformed response",
                                 f"{method} {where} did not return JSON: {resp.text[:200]!r}")
        return payload

    def metadata(self) -> dict[str, Any]:
        """The model metadata (inputs, outputs), fetched once."""
        if self._metadata is None:
            meta = self._request("GET", self.path)
            if not isinstance(meta, dict) or not isinstance(meta.get("inputs"), list):
                raise PredictorError("The model server returned malformed model metadata",
                                     f'GET {self.url}{self.path} has no "inputs" list.')
            self._metadata = meta
        return self._metadata

    def infer(self, body: dict[str, Any]) -> tuple[dict[str, TensorValue], float]:
        """POST an inference request; the outputs and the request's latency in ms."""
        start = time.perf_counter()
        payload = self._request("POST", self.path + "/infer", body)
        elapsed = timed_ms(start)
        return decode_outputs(payload), elapsed


class V2Predictor:
    """A tensor model behind a V2 server (an ``endpoint`` target)."""

    def __init__(self, url: str, model: str, version: str | None = None, *, timeout: float = 30.0,
                 client: httpx.Client | None = None) -> None:
        self.client = V2Client(url, model, version, timeout=timeout, client=client)

    def close(self) -> None:
        self.client.close()

    def predict(self, inputs: Sequence[InputValue]) -> Predictions:
        """One infer request for the batch."""
        specs = {str(i["name"]): i for i in self.client.metadata()["inputs"] if isinstance(i, dict)}
        tensors = []
        for name, arrays in named_inputs(inputs, list(specs)).items():
            shape = specs[name].get("shape")
            rank = len(shape) if isinstance(shape, list) else None
            datatype = specs[name].get("datatype")
            dtype = _TO_NUMPY.get(datatype) if isinstance(datatype, str) else None
            batch = stack_examples(arrays, name, rank, dtype)
            tensors.append({"name": name, "shape": list(batch.shape), "datatype": v2_datatype(batch),
                            "data": batch.reshape(-1).tolist()})
        outputs, elapsed = self.client.infer({"inputs": tensors})
        n = len(inputs)
        rows = {k: split_rows(v, n, k) for k, v in outputs.items()}
        return Predictions([{k: v[i] for k, v in rows.items()} for i in range(n)], [elapsed] * n)


class V2TextGenerator:
    """A text generator behind a V2 server; renders ``prompt`` with each record's input."""

    def __init__(self, url: str, model: str, version: str | None = None, *, prompt: PromptSpec | None = None,
                 input_name: str = "text_input", output_name: str | None = None, timeout: float = 60.0,
                 client: httpx.Client | None = None) -> None:
        self.client = V2Client(url, model, version, timeout=timeout, client=client)
        self.prompt = prompt
        self.input_name = input_name
        self.output_name = output_name

    def close(self) -> None:
        self.client.close()

    def generate(self, prompts: Sequence[str]) -> tuple[list[str], float]:
        """Texts for ``prompts`` (one request) and the request's latency in ms."""
        body: dict[str, Any] = {"inputs": [{"name": self.input_name, "shape": [len(prompts)],
                                            "datatype": "BYTES", "data": list(prompts)}]}
        if self.prompt is not None and self.prompt.model_params:
            body["parameters"] = dict(self.prompt.model_params)
        outputs, elapsed = self.client.infer(body)
        name = self.output_name or ("text_output" if "text_output" in outputs else next(
            (k for k, v in outputs.items() if v.dtype == object), None))
        if name is None or name not in outputs:
            raise PredictorError("The model server returned no text",
                                 f"Outputs: {', '.join(outputs)}; expected {name or 'a BYTES output'}.")
        flat = outputs[name].reshape(-1)
        if flat.size != len(prompts):
            raise PredictorError("The model server returned the wrong number of texts",
                                 f"{flat.size} for {len(prompts)} prompts.")
        return [v.decode() if isinstance(v, bytes) else str(v) for v in flat], elapsed

    def predict(self, inputs: Sequence[InputValue]) -> Predictions:
        """Render each record's prompt and generate; outputs are strings."""
        prompts = []
        for value in inputs:
            if isinstance(value, np.ndarray) or (isinstance(value, Mapping) and any(
                    isinstance(v, np.ndarray) for v in value.values())):
                raise PredictorError("Tensor input for a text generator", "Give a string or prompt variables.")
            try:
                prompts.append(prompt_text(self.prompt, value))  # type: ignore[arg-type]
            except PromptError as e:
                raise PredictorError("Cannot render the prompt", f"{e}.") from None
        texts, elapsed = self.generate(prompts)
        return Predictions(list(texts), [elapsed] * len(inputs))


class V2Judge:
    """A :class:`~.judge.Judge` backed by a V2 text generator; ``close()`` it when the suite is done."""

    def __init__(self, gen: V2TextGenerator) -> None:
        self._gen = gen

    def __call__(self, prompt: str) -> str:
        texts, _ = self._gen.generate([prompt])
        return texts[0]

    def close(self) -> None:
        """Close the judge's HTTP connection (when it opened one)."""
        self._gen.close()

    def __enter__(self) -> "V2Judge":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def v2_judge(url: str, model: str, version: str | None = None, *, timeout: float = 60.0,
             client: httpx.Client | None = None, model_params: Mapping[str, Any] | None = None) -> V2Judge:
    """A :class:`~.judge.Judge` that asks a V2 text generator (its failures are diagnostics).

    It holds an HTTP connection: call ``close()`` (or use it in a ``with``) when done.
    """
    return V2Judge(V2TextGenerator(url, model, version, timeout=timeout, client=client,
                                   prompt=PromptSpec("{{ text }}", ("text",), dict(model_params or {}))))
