"""Runners: load one model artifact and run it.

A runner owns a loaded model (an onnxruntime session or a TorchScript module)
and exposes what the Open Inference Protocol needs: input and output metadata
(:class:`TensorSpec`) and :meth:`Runner.run`, which takes numpy arrays keyed by
input name and returns numpy arrays keyed by output name.

Device choice follows the local provider's ``gpus`` setting:

* ``"auto"`` — the first GPU when one is visible to the runtime, else the CPU;
* a list of ids (``[0, 1]``) — the first id; asking for a GPU the runtime
  cannot use is an error (:class:`RunnerLoadError`), not a silent fallback;
* ``"none"`` — the CPU.

``Runner.device`` reports the device actually in use (``"cpu"``,
``"cuda:0"``), read back from the runtime after loading.

Exceptions::

    RunnerError
    ├── RunnerLoadError      the artifact cannot be loaded (bad file, no GPU, ...)
    └── InferenceInputError  the request does not fit the model (client's fault)

torch is imported only when a TorchScript model is loaded; it is an optional
extra (``mlform[torch]``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, Sequence

import numpy as np

GpuSetting = Literal["auto", "none"] | Sequence[int]
ModelFormat = Literal["onnx", "torchscript"]
SUPPORTED_FORMATS: tuple[str, ...] = ("onnx", "torchscript")

# V2 datatype <-> numpy dtype (KServe V2 / Triton names).
V2_TO_NUMPY: dict[str, Any] = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}
NUMPY_TO_V2: dict[np.dtype[Any], str] = {np.dtype(t): n for n, t in V2_TO_NUMPY.items()}
NUMPY_TO_V2[np.dtype(np.str_)] = "BYTES"
NUMPY_TO_V2[np.dtype(np.bytes_)] = "BYTES"

_ONNX_TO_V2 = {
    "tensor(bool)": "BOOL", "tensor(uint8)": "UINT8", "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32", "tensor(uint64)": "UINT64", "tensor(int8)": "INT8",
    "tensor(int16)": "INT16", "tensor(int32)": "INT32", "tensor(int64)": "INT64",
    "tensor(float16)": "FP16", "tensor(float)": "FP32", "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}

# TorchScript artifacts may carry their signature in this extra file
# (``torch.jit.save(m, path, _extra_files={TORCHSCRIPT_META: json})``):
# {"inputs": [{"name", "datatype", "shape"}], "outputs": [...]}.
TORCHSCRIPT_META = "mlform.json"


class RunnerError(Exception):
    """Base of runner errors."""


class RunnerLoadError(RunnerError):
    """The model artifact could not be loaded; the message says why."""


class InferenceInputError(RunnerError):
    """The inputs do not fit the model (wrong name, type or shape)."""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One input or output: V2 name, datatype and shape (-1 for a dynamic dim)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TensorSpec:
        return cls(str(obj["name"]), str(obj.get("datatype", "FP32")),
                   tuple(int(d) for d in obj.get("shape", [-1])))


class Runner(Protocol):
    """A loaded model. ``run`` is called on the request path: keep it lean."""

    platform: str  # V2 platform string, e.g. "onnxruntime_onnx"
    device: str  # "cpu" or "cuda:N": what the runtime actually uses
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def run(self, feed: dict[str, np.ndarray], output_names: Sequence[str] | None = None
            ) -> dict[str, np.ndarray]:
        """Run one batch; ``output_names`` selects outputs (all when ``None``)."""
        ...


def parse_gpus(gpus: object) -> list[int] | None:
    """Normalise a ``gpus`` setting: ``None`` for CPU only, ``[]`` for auto, ids otherwise."""
    if gpus is None or gpus == "none":
        return None
    if gpus == "auto":
        return []
    if isinstance(gpus, (list, tuple)) and all(isinstance(g, int) and g >= 0 for g in gpus):
        return [int(g) for g in gpus] or None
    raise RunnerLoadError(f'gpus must be "auto", "none" or a list of GPU ids, got {gpus!r}')


def onnx_providers(gpus: object, available: Sequence[str]) -> list[Any]:
    """The onnxruntime execution providers to ask for, given ``gpus`` and what is available."""
    wanted = parse_gpus(gpus)
    has_cuda = "CUDAExecutionProvider" in available
    if wanted is None or (wanted == [] and not has_cuda):
        return ["CPUExecutionProvider"]
    if not has_cuda:
        raise RunnerLoadError(
            f"gpus = {list(wanted)} asks for a GPU but this onnxruntime has no "
            "CUDAExecutionProvider; install onnxruntime-gpu or set gpus = \"none\"")
    device_id = wanted[0] if wanted else 0
    return [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]


class OnnxRunner:
    """An onnxruntime session over one ``.onnx`` file.

    ``threads`` sets onnxruntime's intra-op threads (0: its default, one per
    core); ``spinning`` lets idle intra-op threads busy-wait (off by default).
    """

    platform = "onnxruntime_onnx"

    def __init__(self, path: str | Path, gpus: object = "auto", *, threads: int = 0,
                 spinning: bool = False) -> None:
        import onnxruntime as ort

        providers = onnx_providers(gpus, ort.get_available_providers())
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        if not spinning:
            # Idle intra-op workers otherwise busy-wait after every run, taking
            # the core the server's event loop needs: measured 1.5x more req/s
            # with it off on 2 cores (docs/performance.md). Waking a worker
            # costs microseconds, noise next to any model big enough to use it.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise RunnerLoadError(f"cannot load ONNX model {path}: {_first_line(e)}") from e
        used = self.session.get_providers()
        if "CUDAExecutionProvider" in used:
            opt = self.session.get_provider_options().get("CUDAExecutionProvider", {})
            self.device = f"cuda:{opt.get('device_id', 0)}"
        else:
            self.device = "cpu"
        self.inputs = tuple(TensorSpec(i.name, _ONNX_TO_V2.get(i.type, "BYTES"), _dims(i.shape))
                            for i in self.session.get_inputs())
        self.outputs = tuple(TensorSpec(o.name, _ONNX_TO_V2.get(o.type, "BYTES"), _dims(o.shape))
                             for o in self.session.get_outputs())
        self._all_outputs = [o.name for o in self.outputs]
        from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

        self._invalid_argument = InvalidArgument

    def run(self, feed: dict[str, np.ndarray], output_names: Sequence[str] | None = None
            ) -> dict[str, np.ndarray]:
        """Run the session; onnxruntime's argument errors become :class:`InferenceInputError`."""
        names = list(output_names) if output_names else self._all_outputs
        try:
            values = self.session.run(names, feed)
        except self._invalid_argument as e:
            raise InferenceInputError(_first_line(e)) from e
        return dict(zip(names, values))


class TorchScriptRunner:
    """A TorchScript module loaded with ``torch.jit.load``.

    Input names come from the ``mlform.json`` extra file when the artifact has
    one, else from ``forward``'s argument names (datatype FP32, shape [-1]).
    Outputs are named ``output__0``, ``output__1``, ... unless the extra file
    names them, as in Triton's PyTorch backend.

    Text models: an input the extra file declares ``BYTES`` is passed as
    ``List[str]``, and a module returning ``List[str]`` answers a ``BYTES``
    output (V2 ``text_input`` -> ``text_output``, as LLM servers name them).
    """

    platform = "pytorch_torchscript"

    def __init__(self, path: str | Path, gpus: object = "auto") -> None:
        try:
            import torch
        except ImportError as e:
            raise RunnerLoadError(
                "TorchScript models need torch: pip install 'mlform[torch]'") from e
        self._torch = torch
        wanted = parse_gpus(gpus)
        if wanted is None or (wanted == [] and not torch.cuda.is_available()):
            self.device = "cpu"
        elif not torch.cuda.is_available():
            raise RunnerLoadError(
                f"gpus = {list(wanted)} asks for a GPU but torch sees no CUDA device; "
                "set gpus = \"none\"")
        else:
            self.device = f"cuda:{wanted[0] if wanted else 0}"
        extra = {TORCHSCRIPT_META: ""}
        try:
            with warnings.catch_warnings():
                # torch >= 2.10 deprecates TorchScript; serving an existing
                # TorchScript artifact is exactly what this runner is for.
                warnings.filterwarnings("ignore", ".*torch.jit", DeprecationWarning)
                self.module = torch.jit.load(  # type: ignore[no-untyped-call]
                    str(path), map_location=self.device, _extra_files=extra)
        except Exception as e:  # torch raises RuntimeError/ValueError with long texts
            raise RunnerLoadError(f"cannot load TorchScript model {path}: {_first_line(e)}") from e
        self.module.eval()
        meta = json.loads(extra[TORCHSCRIPT_META] or "{}")
        if meta.get("inputs"):
            self.inputs = tuple(TensorSpec.from_json(i) for i in meta["inputs"])
        else:
            args = self.module.forward.schema.arguments[1:]  # drop self
            self.inputs = tuple(TensorSpec(a.name, "FP32", (-1,)) for a in args)
        if meta.get("outputs"):
            self.outputs = tuple(TensorSpec.from_json(o) for o in meta["outputs"])
        else:
            self.outputs = (TensorSpec("output__0", "FP32", (-1,)),)
        self._input_names = [i.name for i in self.inputs]
        # BYTES inputs go to the module as List[str] (a text model's
        # ``forward(self, text_input: List[str]) -> List[str]``).
        self._text_inputs = {i.name for i in self.inputs if i.datatype == "BYTES"}
        self._text_outputs = any(o.datatype == "BYTES" for o in self.outputs)

    def run(self, feed: dict[str, np.ndarray], output_names: Sequence[str] | None = None
            ) -> dict[str, np.ndarray]:
        """Call ``forward`` positionally in input order, under ``torch.inference_mode``."""
        torch = self._torch
        try:
            args = [_text_list(feed[n]) if n in self._text_inputs else
                    torch.from_numpy(np.ascontiguousarray(feed[n])).to(self.device)
                    for n in self._input_names]
        except KeyError as e:
            raise InferenceInputError(f"missing input {e.args[0]!r}") from e
        with torch.inference_mode():
            try:
                result = self.module(*args)
            except RuntimeError as e:  # shape/type mismatches surface as RuntimeError
                raise InferenceInputError(_first_line(e)) from e
        names = [o.name for o in self.outputs]
        if self._text_outputs and _is_text_list(result):
            # A text model (List[str] -> List[str]) returns one list, not a tuple of tensors.
            return {names[0]: np.array(result, dtype=object)}
        values = list(result) if isinstance(result, (tuple, list)) else [result]
        if len(names) < len(values):
            names += [f"output__{i}" for i in range(len(names), len(values))]
        out = {n: np.array(v, dtype=object) if _is_text_list(v) else v.detach().cpu().numpy()
               for n, v in zip(names, values)}
        if output_names:
            return {n: out[n] for n in output_names}
        return out


def _text_list(arr: np.ndarray) -> list[str]:
    """A BYTES tensor as the ``List[str]`` a TorchScript text model takes (row-major)."""
    return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in arr.reshape(-1).tolist()]


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def load_runner(path: str | Path, format: str, gpus: object = "auto") -> Runner:
    """Load ``path`` as ``format`` (``onnx`` | ``torchscript``) on the device ``gpus`` allows.

    Raises :class:`RunnerLoadError` with a message fit for a person.
    """
    p = Path(path)
    if not p.is_file():
        raise RunnerLoadError(f"model file {p} does not exist")
    if format == "onnx":
        return OnnxRunner(p, gpus)
    if format == "torchscript":
        return TorchScriptRunner(p, gpus)
    raise RunnerLoadError(
        f"the local server cannot serve format {format!r}; "
        f"supported: {', '.join(SUPPORTED_FORMATS)}")


def example_feed(runner: Runner, batch: int = 1) -> dict[str, np.ndarray]:
    """Zero inputs matching the runner's specs (dynamic dims set to ``batch``), for warm-up."""
    feed = {}
    for spec in runner.inputs:
        shape = tuple(batch if d < 0 else d for d in spec.shape)
        dtype = V2_TO_NUMPY.get(spec.datatype, np.float32)
        feed[spec.name] = np.zeros(shape, dtype=dtype) if dtype is not np.object_ else \
            np.full(shape, "", dtype=object)
    return feed


def _dims(shape: Sequence[Any] | None) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (shape or []))


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:500]
