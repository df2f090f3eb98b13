"""Prompt templates: ``{{ name }}`` placeholders filled from a record's input."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..diagnostics import did_you_mean

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

JsonScalar = str | int | float | bool | None


@dataclass(frozen=True)
class PromptSpec:
    """A ``prompt`` block as the eval library needs it.

    ``variables`` is the declared list (``None``: whatever the template uses);
    ``model_params`` (temperature, max_tokens, ...) travel with each request.
    """

    template: str
    variables: tuple[str, ...] | None = None
    model_params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """The variables a record must supply."""
        if self.variables is not None:
            return self.variables
        return tuple(dict.fromkeys(placeholders(self.template)))


class PromptError(ValueError):
    """A record's input does not fit the prompt (missing or unknown variables)."""


def placeholders(template: str) -> list[str]:
    """Names used in ``template``, in order of appearance (repeats kept)."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


def _text(value: JsonScalar) -> str:
    if isinstance(value, str):
        return value
    # Numbers and booleans as JSON writes them (true, 3, 0.5), null as "".
    return "" if value is None else json.dumps(value)


def bind_variables(prompt: PromptSpec, value: str | Mapping[str, JsonScalar]) -> dict[str, str]:
    """A record's input as prompt variables.

    A plain string binds to the prompt's only variable. Raises
    :class:`PromptError` saying what to change otherwise.
    """
    names = prompt.names
    if isinstance(value, str):
        if len(names) != 1:
            raise PromptError(
                f"input is a string but the prompt has {len(names)} variables "
                f"({', '.join(names) or 'none'}); write an object with one key per variable")
        return {names[0]: value}
    missing = [n for n in names if n not in value]
    extra = [k for k in value if k not in names]
    problems = []
    if missing:
        problems.append(f"missing prompt variable(s): {', '.join(missing)}")
    for k in extra:
        problems.append(f'"{k}" is not a variable of the prompt.{did_you_mean(k, names)}')
    if problems:
        raise PromptError("; ".join(problems))
    return {k: _text(v) for k, v in value.items()}


def render_prompt(template: str, variables: Mapping[str, str]) -> str:
    """Fill every ``{{ name }}`` in ``template``; raises :class:`PromptError` for a missing one."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in variables:
            raise PromptError(f'no value for prompt variable "{name}"')
        return variables[name]

    return _PLACEHOLDER.sub(sub, template)


def prompt_text(prompt: PromptSpec | None, value: str | Mapping[str, JsonScalar]) -> str:
    """What is sent for one record: the rendered prompt, or the input string itself."""
    if prompt is None:
        if isinstance(value, str):
            return value
        raise PromptError("input is an object but there is no prompt to render it into; give a string")
    return render_prompt(prompt.template, bind_variables(prompt, value))
