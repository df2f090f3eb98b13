"""Predictors: what an eval suite runs its records through.

A :class:`Predictor` takes a batch of record inputs and returns one output per
record plus the latency of each. In-process: :class:`OnnxPredictor`
(onnxruntime) and :class:`TorchScriptPredictor` (torch, imported lazily).
Over HTTP, in :mod:`.v2`: :class:`~.v2.V2Predictor` and
:class:`~.v2.V2TextGenerator` (Open Inference Protocol V2).

Each record input is one example without the batch dimension; predictors
stack a batch along a new first axis. For a model whose input rank equals
the example's (the record already carries a leading batch dimension of 1),
ONNX batches are concatenated instead.

Failures (a model that does not load, inputs that do not fit, a server that
does not answer) raise :class:`PredictorError`, a ``DiagnosticsError``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from ..diagnostics import DiagnosticsError, did_you_mean, error
from .dataset import InputValue, TensorValue

#: One record's output: arrays by output name (in the model's order), or generated text.
RecordOutput = Mapping[str, TensorValue] | str


@dataclass(frozen=True, slots=True)
class Predictions:
    """Outputs and latencies (milliseconds), one of each per input, in order.

    A record's latency is the wall time of the call that carried it, so with
    batches of more than one record it is the batch's latency.
    """

    outputs: list[RecordOutput]
    latencies_ms: list[float]


class Predictor(Protocol):
    """Runs a model on a batch of record inputs."""

    def predict(self, inputs: Sequence[InputValue]) -> Predictions: ...


class PredictorError(DiagnosticsError):
    """A model could not be loaded or run; carries the diagnostics that say why."""

    def __init__(self, summary: str, detail: str = "") -> None:
        super().__init__(error(summary, detail))


def timed_ms(start: float) -> float:
    """Milliseconds since ``start`` (a ``time.perf_counter()`` reading)."""
    return (time.perf_counter() - start) * 1000.0


def named_inputs(inputs: Sequence[InputValue], model_inputs: Sequence[str]) -> dict[str, list[TensorValue]]:
    """Per model input name, the arrays of every record.

    A record that is a single array feeds a model with exactly one input;
    otherwise its keys must be the model's input names.
    """
    out: dict[str, list[TensorValue]] = {n: [] for n in model_inputs}
    for value in inputs:
        if isinstance(value, np.ndarray):
            if len(model_inputs) != 1:
                raise PredictorError("The model has several inputs",
                                     f"It takes {', '.join(model_inputs)}; write each record's input as an object "
                                     'keyed by input name: {"' + model_inputs[0] + '": [...], ...}.')
            out[model_inputs[0]].append(value)
            continue
        if isinstance(value, str):
            raise PredictorError("Text input for a tensor model",
                                 "This predictor feeds numeric tensors; a suite with text inputs needs a text "
                                 "generator target.")
        for name in value:
            if name not in out:
                raise PredictorError(f'The model has no input "{name}"',
                                     f"Its inputs: {', '.join(model_inputs)}.{did_you_mean(name, model_inputs)}")
        missing = [n for n in model_inputs if n not in value]
        if missing:
            raise PredictorError("Records do not give every model input",
                                 f"Missing: {', '.join(missing)}. The model takes {', '.join(model_inputs)}.")
        for name in model_inputs:
            out[name].append(np.asarray(value[name]))
    return out


def stack_examples(arrays: Sequence[TensorValue], name: str, model_rank: int | None = None,
                   dtype: Any = None) -> TensorValue:
    """One batch tensor from per-record examples (see the module docstring)."""
    try:
        if model_rank is not None and arrays[0].ndim == model_rank:
            rows = {a.shape[0] for a in arrays if a.ndim}
            if rows != {1}:
                raise PredictorError(f'Input "{name}" holds several examples in one record',
                                     f"A record with a {model_rank}-d value must have a leading dimension of 1 "
                                     f"(it has {max(rows, default=0)}); give one example per record.")
            batch = np.concatenate(arrays, axis=0)
        else:
            if model_rank is not None and arrays[0].ndim != model_rank - 1:
                raise PredictorError(f'Input "{name}" has the wrong rank',
                                     f"A record gives a {arrays[0].ndim}-d value; the model takes {model_rank}-d "
                                     f"batches, so give {model_rank - 1}-d examples.")
            batch = np.stack(arrays)
        return batch.astype(dtype) if dtype is not None else batch
    except (ValueError, TypeError) as e:
        raise PredictorError(f'Cannot build a batch for input "{name}"', f"{e}.") from None


def split_rows(array: TensorValue, n: int, name: str) -> list[TensorValue]:
    """The first-axis rows of a batch output, one per record."""
    if n == 1 and array.ndim == 0:
        return [array]
    if array.ndim == 0 or array.shape[0] != n:
        raise PredictorError(f'Output "{name}" does not have one row per record',
                             f"It has shape {list(array.shape)} for a batch of {n}.")
    return [array[i] for i in range(n)]


_ONNX_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_, "tensor(string)": object,
}


class OnnxPredictor:
    """An ONNX model run in-process by onnxruntime (CUDA when available, else CPU)."""

    def __init__(self, path: str | Path, providers: Sequence[str] | None = None) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]

        if providers is None:
            available = ort.get_available_providers()
            providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        opts = ort.SessionOptions()
        # Idle intra-op threads must not busy-wait between batches: an eval often runs
        # beside a live server on the same cores (a gate, a suite during a rollout).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(path), sess_options=opts, providers=list(providers))
        except Exception as e:  # onnxruntime's errors share no base class but Exception
            raise PredictorError(f"Cannot load ONNX model {path}",
                                 f"{e}. Check that the file exists and is an ONNX model.") from None
        self._inputs = {i.name: i for i in self._session.get_inputs()}
        self._outputs = [o.name for o in self._session.get_outputs()]

    def predict(self, inputs: Sequence[InputValue]) -> Predictions:
        """Run one batch; every record gets the batch's wall time as latency."""
        by_name = named_inputs(inputs, list(self._inputs))
        feed = {}
        for name, arrays in by_name.items():
            meta = self._inputs[name]
            rank = len(meta.shape) if isinstance(meta.shape, list) else None
            feed[name] = stack_examples(arrays, name, rank, _ONNX_TYPES.get(meta.type))
        start = time.perf_counter()
        try:
            raw = self._session.run(None, feed)
        except Exception as e:  # see __init__
            raise PredictorError("The ONNX model failed on a batch", f"{e}") from None
        elapsed = timed_ms(start)
        n = len(inputs)
        rows: dict[str, list[TensorValue]] = {}
        for name, value in zip(self._outputs, raw):
            if isinstance(value, np.ndarray):  # sequences/maps (e.g. ZipMap) are not scored
                rows[name] = split_rows(value, n, name)
        return Predictions([{k: v[i] for k, v in rows.items()} for i in range(n)], [elapsed] * n)


class TorchScriptPredictor:
    """A TorchScript module run in-process on the CPU (torch is imported lazily).

    TorchScript declares no input types, so values are typed as torch would
    type them: JSON integers as int64 (token ids), anything with a fraction as
    float32. ``dtypes`` overrides this per input name (``"input"`` for a
    single unnamed input), e.g. ``{"input": "float32"}``. A module returning a
    tensor yields output ``output``; a tuple, ``output_0``, ``output_1``, ...;
    a dict, its keys.
    """

    def __init__(self, path: str | Path, dtypes: Mapping[str, str] | None = None) -> None:
        try:
            import torch
        except ImportError:
            raise PredictorError("TorchScript models need torch", "Install it: pip install 'mlform[torch]'.")
        self._torch = torch
        try:
            load: Any = torch.jit.load  # untyped in torch's stubs
            with warnings.catch_warnings():
                # torch >= 2.9 deprecates TorchScript; it is still a format mlform reads.
                warnings.filterwarnings("ignore", r"`torch\.jit\.load` is deprecated", DeprecationWarning)
                self._module = load(str(path), map_location="cpu")
        except (RuntimeError, ValueError, OSError) as e:
            raise PredictorError(f"Cannot load TorchScript model {path}",
                                 f"{e}. Save it with torch.jit.save(torch.jit.script(model), path).") from None
        self._module.eval()
        try:
            self._dtypes = {k: np.dtype(v) for k, v in (dtypes or {}).items()}
        except TypeError as e:
            raise PredictorError("Unknown dtype for a TorchScript input", f"{e}; use e.g. float32 or int64.") from None

    def _tensor(self, arrays: Sequence[TensorValue], name: str) -> Any:
        batch = stack_examples(arrays, name, dtype=self._dtypes.get(name))
        if np.issubdtype(batch.dtype, np.floating) and name not in self._dtypes:
            batch = batch.astype(np.float32)
        elif batch.dtype == object:
            raise PredictorError(f'Input "{name}" holds strings', "TorchScript models take numeric tensors.")
        return self._torch.from_numpy(np.ascontiguousarray(batch))

    def predict(self, inputs: Sequence[InputValue]) -> Predictions:
        """Run one batch under ``torch.no_grad()``."""
        first = inputs[0]
        if isinstance(first, str):
            raise PredictorError("Text input for a tensor model", "TorchScript models take numeric tensors.")
        torch = self._torch
        if isinstance(first, np.ndarray):
            args, kwargs = [self._tensor([np.asarray(v) for v in inputs], "input")], {}
        else:
            by_name = named_inputs(inputs, list(first))
            args, kwargs = [], {k: self._tensor(v, k) for k, v in by_name.items()}
        start = time.perf_counter()
        try:
            with torch.no_grad():
                raw = self._module(*args, **kwargs)
        except RuntimeError as e:
            raise PredictorError("The TorchScript model failed on a batch", f"{e}") from None
        elapsed = timed_ms(start)
        if isinstance(raw, torch.Tensor):
            named = {"output": raw}
        elif isinstance(raw, (tuple, list)):
            named = {f"output_{i}": t for i, t in enumerate(raw)}
        elif isinstance(raw, dict):
            named = dict(raw)
        else:
            raise PredictorError("The TorchScript model returned no tensors", f"It returned {type(raw).__name__}.")
        n = len(inputs)
        rows = {k: split_rows(v.detach().cpu().numpy(), n, k) for k, v in named.items()
                if isinstance(v, torch.Tensor)}
        return Predictions([{k: v[i] for k, v in rows.items()} for i in range(n)], [elapsed] * n)
