"""A prompt served in front of a text model: the server renders the template.

An endpoint with ``prompt = prompt.X`` serves the version (model digest,
prompt version): a V2 request carries the prompt's **variables** as named
BYTES inputs (one per variable, shape ``[n]``, all the same ``n``), the
server fills ``{{ name }}`` in the template for each of the ``n`` rows, and
runs the text model on the rendered prompts (its single BYTES input, usually
``text_input``). The version's V2 metadata lists the variables as its
``inputs`` (docs/prompts.md, docs/local-server.md).

``model_params`` the server applies to the generated text: ``max_tokens``
(the reply is cut after that many whitespace-separated tokens: the stand-in
models served here have no tokenizer of their own) and ``stop`` (a string or
a list; the reply is cut before the first one). Every other parameter
(``temperature``, ``top_p``, ...) is passed to no one and listed as
``ignored`` in the metadata, so nobody believes it took effect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from mlform.providers.server.runners import InferenceInputError, Runner, RunnerLoadError, TensorSpec

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
APPLIED_PARAMS = ("max_tokens", "stop")


@dataclass(frozen=True, slots=True)
class PromptSpec:
    """What the server needs of a ``prompt``: template, variables, params and version."""

    template: str
    variables: tuple[str, ...]
    model_params: Mapping[str, Any] = field(default_factory=dict)
    version: str = ""

    @classmethod
    def from_json(cls, obj: Any) -> PromptSpec:
        """From a version's ``prompt`` object; raises ``ValueError`` with what is wrong."""
        if not isinstance(obj, dict) or not isinstance(obj.get("template"), str):
            raise ValueError(f"a version's prompt must be an object with a template string, got {obj!r}")
        names = obj.get("variables")
        if names is None:  # undeclared: whatever the template uses, in order
            names = list(dict.fromkeys(_PLACEHOLDER.findall(obj["template"])))
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"a prompt's variables must be a list of names, got {names!r}")
        params = obj.get("model_params") or {}
        if not isinstance(params, dict):
            raise ValueError(f"a prompt's model_params must be an object, got {params!r}")
        return cls(obj["template"], tuple(names), dict(params), str(obj.get("version") or ""))

    def to_json(self) -> dict[str, Any]:
        return {"template": self.template, "variables": list(self.variables),
                "model_params": dict(self.model_params), "version": self.version}

    def describe(self) -> dict[str, Any]:
        """For the V2 metadata: the version, its variables, and which params the server applies."""
        return {"version": self.version, "variables": list(self.variables),
                "model_params": dict(self.model_params),
                "applied": sorted(k for k in self.model_params if k in APPLIED_PARAMS),
                "ignored": sorted(k for k in self.model_params if k not in APPLIED_PARAMS)}


class PromptRunner:
    """A text runner behind a prompt: variables in, the model's text out.

    Raises :class:`RunnerLoadError` when the model has no single BYTES input
    to take the rendered prompt.
    """

    def __init__(self, inner: Runner, prompt: PromptSpec) -> None:
        text_inputs = [s for s in inner.inputs if s.datatype == "BYTES"]
        if len(inner.inputs) != 1 or not text_inputs:
            raise RunnerLoadError(
                "a prompt needs a text model with one BYTES input (like text_input); this model takes "
                + ", ".join(f"{s.name} ({s.datatype})" for s in inner.inputs))
        self.inner = inner
        self.prompt = prompt
        self.platform = inner.platform
        self.device = inner.device
        self._text_input = text_inputs[0].name
        self.inputs: tuple[TensorSpec, ...] = tuple(TensorSpec(n, "BYTES", (-1,)) for n in prompt.variables)
        self.outputs = inner.outputs
        p = prompt.model_params
        mt = p.get("max_tokens")
        self._max_tokens = int(mt) if isinstance(mt, (int, float)) and not isinstance(mt, bool) and mt > 0 else None
        stop = p.get("stop")
        self._stop: list[str] = [stop] if isinstance(stop, str) else [s for s in (stop or []) if isinstance(s, str)]

    def render(self, feed: Mapping[str, np.ndarray]) -> list[str]:
        """The prompts for each row of ``feed`` (variable name -> 1-D BYTES array)."""
        rows = {n: _texts(feed[n]) for n in self.prompt.variables}
        sizes = {n: len(v) for n, v in rows.items()}
        if len(set(sizes.values())) > 1:
            raise InferenceInputError("prompt variables must have the same number of values, got "
                                      + ", ".join(f"{n}: {k}" for n, k in sizes.items()))
        n = next(iter(sizes.values()), 1)
        return [_PLACEHOLDER.sub(lambda m: rows[m.group(1)][i] if m.group(1) in rows else m.group(0),
                                 self.prompt.template) for i in range(n)]

    def run(self, feed: dict[str, np.ndarray], output_names: Sequence[str] | None = None
            ) -> dict[str, np.ndarray]:
        """Render, run the text model, apply ``max_tokens`` / ``stop`` to its text outputs."""
        prompts = self.render(feed)
        out = self.inner.run({self._text_input: np.array(prompts, dtype=object)}, output_names)
        if self._max_tokens is None and not self._stop:
            return out
        return {k: (np.array([self.limit(str(t)) for t in v.reshape(-1).tolist()], dtype=object).reshape(v.shape)
                    if v.dtype == object else v) for k, v in out.items()}

    def limit(self, text: str) -> str:
        """``text`` cut at the first stop sequence, then after ``max_tokens`` tokens."""
        for s in self._stop:
            at = text.find(s) if s else -1
            if at >= 0:
                text = text[:at]
        if self._max_tokens is not None:
            words = text.split()
            if len(words) > self._max_tokens:
                text = " ".join(words[:self._max_tokens])
        return text


def _texts(arr: np.ndarray) -> list[str]:
    return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in arr.reshape(-1).tolist()]
