"""Values as people read them, the same in every view: plans, ``state show``, ``show``, ``output``.

Terraform's nested HCL style: an object or map is a ``{ ... }`` block over
lines with its keys aligned, a list a ``[ ... ]`` block with one element a
line (each followed by a comma), a string with newlines a ``<<-EOT``
heredoc; strings are quoted, ``null`` is ``null``, and every number goes
through :func:`format_number` (4 significant digits, as eval results).

:class:`Writer` does the layout. A plan writes with a two-column action slot
(``+``, ``-``, ``~`` before each line, nested blocks 4 columns further in);
``state show`` and ``output`` write with none.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Callable

from mlform.engine.eval.results import format_number as _format_number
from mlform.engine.values import UNKNOWN

__all__ = ["SENSITIVE", "Writer", "format_number", "inline", "key_text", "scalar", "value_text"]

#: Stands for a sensitive value (shown as ``(sensitive value)``).
SENSITIVE = type("Sensitive", (), {"__repr__": lambda self: "(sensitive value)"})()
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
Paint = Callable[[str, str], str]


def format_number(v: float | int) -> str:
    """A number for display: integers as they are, floats with 4 significant digits."""
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15):
        return str(int(v))
    return _format_number(v)


def scalar(v: Any) -> str:
    """One value on one line (containers as :func:`inline`)."""
    if v is UNKNOWN:
        return "(known after apply)"
    if v is SENSITIVE:
        return "(sensitive value)"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return format_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (dict, list)):
        return inline(v)
    return json.dumps(str(v), ensure_ascii=False)


def key_text(k: Any) -> str:
    """An object key as HCL writes it: bare when it is an identifier, else quoted."""
    s = str(k)
    return s if _IDENT.match(s) else json.dumps(s, ensure_ascii=False)


def inline(v: Any) -> str:
    """A short value on one line, in HCL: ``{ a = 1, b = "x" }``, ``["a", "b"]``."""
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{key_text(k)} = {inline(v[k])}" for k in sorted(v, key=str)) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(inline(x) for x in v) + "]"
    return scalar(v)


def _heredoc(v: Any) -> bool:
    return isinstance(v, str) and "\n" in v.rstrip("\n")


def _text_lines(s: str) -> list[str]:
    lines = s.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _same(a: Any, b: Any) -> bool:
    return a is not UNKNOWN and a == b and type(a) is type(b)


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=repr)


def _nontrivial(v: Any) -> bool:
    return isinstance(v, (dict, list)) and bool(v)


class Writer:
    """Lines of values; ``slot`` is 2 in plans (the action symbol's column), 0 elsewhere."""

    def __init__(self, slot: int = 2, paint: Paint | None = None,
                 sensitive: list[list[Any]] | None = None) -> None:
        self.slot = slot
        self.paint = paint or (lambda text, style: text)
        self.sensitive = sensitive or []
        self.lines: list[str] = []

    # --- one line ---------------------------------------------------------------
    def emit(self, indent: int, sym: str, text: str) -> None:
        pad = " " * indent
        if not self.slot:
            self.lines.append(pad + text)
        elif sym.strip():
            self.lines.append(pad + self.paint(sym, sym) + " " + text)
        else:
            self.lines.append(pad + "  " + text)

    def note(self, indent: int, text: str) -> None:
        self.emit(indent, " ", self.paint(text, "dim"))

    def _secret(self, path: tuple[Any, ...]) -> bool:
        return any(list(path[: len(s)]) == list(s) for s in self.sensitive)

    # --- a whole value ------------------------------------------------------------
    def value(self, indent: int, sym: str, label: str, v: Any, path: tuple[Any, ...] = (),
              suffix: str = "") -> None:
        """``label`` = ``v`` (``label`` already padded, with its `` = ``), nested over lines."""
        inner = indent + 4
        if v is SENSITIVE or self._secret(path):
            self.emit(indent, sym, f"{label}(sensitive value){suffix}")
        elif isinstance(v, dict) and v:
            self.emit(indent, sym, label + "{")
            self.attrs(inner, sym, v, path)
            self.emit(indent, " ", "}" + suffix)
        elif isinstance(v, list) and v:
            self.emit(indent, sym, label + "[")
            for i, x in enumerate(v):
                self.value(inner, sym, "", x, path + (i,), ",")
            self.emit(indent, " ", "]" + suffix)
        elif _heredoc(v):
            self.emit(indent, sym, label + "<<-EOT")
            for line in _text_lines(v):
                self.emit(inner, " ", line)
            self.emit(indent, " ", "EOT" + suffix)
        else:
            self.emit(indent, sym, f"{label}{scalar(v)}{suffix}")

    def attrs(self, indent: int, sym: str, obj: dict[Any, Any], path: tuple[Any, ...] = (),
              suffix_each: str = "") -> None:
        """Each key of ``obj``, sorted, with the `` = `` aligned.

        A created or destroyed object's null attributes are left out, as Terraform
        does: they say nothing (an endpoint without gRPC has ``grpc_url = null``)."""
        gone = sym == "+" or suffix_each == " -> null"
        keys = sorted((k for k in obj if not (gone and obj[k] is None)), key=str)
        width = max((len(key_text(k)) for k in keys), default=0)
        for k in keys:
            self.value(indent, sym, f"{key_text(k):<{width}} = ", obj[k], path + (k,), suffix_each)

    # --- a change -------------------------------------------------------------------
    def diff_attrs(self, indent: int, before: dict[Any, Any], after: dict[Any, Any], path: tuple[Any, ...] = (),
                   note: Callable[[tuple[Any, ...]], str] = lambda p: "") -> None:
        """What changes between two objects; unchanged keys are counted, not shown."""
        keys = sorted(set(before) | set(after), key=str)
        width = max((len(key_text(k)) for k in keys), default=0)
        hidden = 0
        for k in keys:
            if k in before and k in after and _same(before[k], after[k]):
                hidden += 1
                continue
            label = f"{key_text(k):<{width}} = "
            self.diff(indent, label, before.get(k), after.get(k), path + (k,), note, k in before, k in after)
        if hidden:
            self.note(indent, f"# ({hidden} unchanged attribute{'s' if hidden != 1 else ''} hidden)")

    def diff(self, indent: int, label: str, b: Any, a: Any, path: tuple[Any, ...],
             note: Callable[[tuple[Any, ...]], str] = lambda p: "", has_b: bool = True, has_a: bool = True,
             suffix: str = "") -> None:
        """One changed value: ``~ label = before -> after``, nested values change by change."""
        extra = note(path)
        inner = indent + 4
        if not has_b or (b is None and _nontrivial(a)):
            self.value(indent, "+", label, a, path, suffix + extra)
        elif not has_a or (a is None and _nontrivial(b)):
            self.value(indent, "-", label, b, path, " -> null" + suffix + extra)
        elif self._secret(path):
            self.emit(indent, "~", f"{label}(sensitive value){suffix}{extra}")
        elif a is UNKNOWN and _nontrivial(b):
            sym = "~"
            self.emit(indent, sym, label + ("{" if isinstance(b, dict) else "["))
            if isinstance(b, dict):
                self.attrs(inner, "-", b, path)
            else:
                for i, x in enumerate(b):
                    self.value(inner, "-", "", x, path + (i,), ",")
            self.emit(indent, " ", ("}" if isinstance(b, dict) else "]") + " -> (known after apply)" + suffix + extra)
        elif isinstance(b, dict) and isinstance(a, dict):
            self.emit(indent, "~", label + "{" + extra)
            self.diff_attrs(inner, b, a, path, note)
            self.emit(indent, " ", "}" + suffix)
        elif isinstance(b, list) and isinstance(a, list):
            self.emit(indent, "~", label + "[" + extra)
            self._diff_list(inner, b, a, path, note)
            self.emit(indent, " ", "]" + suffix)
        elif isinstance(b, str) and isinstance(a, str) and (_heredoc(a) or _heredoc(b)):
            self.emit(indent, "~", label + "<<-EOT" + extra)
            self._diff_text(inner, b, a)
            self.emit(indent, " ", "EOT" + suffix)
        elif _nontrivial(a) or _nontrivial(b):  # a change of type: the old value goes, the new one comes
            self.value(indent, "-", label, b, path, suffix)
            self.value(indent, "+", label, a, path, suffix + extra)
        else:
            bs, as_ = scalar(b), scalar(a)
            if bs == as_ and isinstance(a, float) and isinstance(b, float):  # rounding hid the change
                bs, as_ = repr(b), repr(a)
            self.emit(indent, "~", f"{label}{bs} -> {as_}{suffix}{extra}")

    def _diff_list(self, indent: int, b: list[Any], a: list[Any], path: tuple[Any, ...],
                   note: Callable[[tuple[Any, ...]], str]) -> None:
        sm = difflib.SequenceMatcher(a=[_canon(x) for x in b], b=[_canon(x) for x in a], autojunk=False)
        hidden = 0

        def flush() -> None:
            nonlocal hidden
            if hidden:
                self.note(indent, f"# ({hidden} unchanged element{'s' if hidden != 1 else ''} hidden)")
            hidden = 0

        for op, i1, i2, j1, j2 in sm.get_opcodes():
            if op == "equal":
                hidden += i2 - i1
                continue
            flush()
            if op == "replace" and i2 - i1 == j2 - j1 and all(
                    isinstance(b[i], dict) and isinstance(a[j], dict) for i, j in zip(range(i1, i2), range(j1, j2))):
                for i, j in zip(range(i1, i2), range(j1, j2)):
                    self.diff(indent, "", b[i], a[j], path + (j,), note, suffix=",")
                continue
            for i in range(i1, i2):
                self.value(indent, "-", "", b[i], path + (i,), ",")
            for j in range(j1, j2):
                self.value(indent, "+", "", a[j], path + (j,), ",")
        flush()

    def _diff_text(self, indent: int, b: str, a: str) -> None:
        old, new = _text_lines(b), _text_lines(a)
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
            if op == "equal":
                for line in old[i1:i2]:
                    self.emit(indent, " ", line)
                continue
            for line in old[i1:i2]:
                self.emit(indent, "-", line)
            for line in new[j1:j2]:
                self.emit(indent, "+", line)


def value_text(v: Any, indent: int = 0) -> str:
    """``v`` as ``output`` and ``show`` print it (no action column; nested lines indented by 4)."""
    w = Writer(slot=0)
    w.value(indent, "", "", v)
    return "\n".join(w.lines)


def outputs_text(outputs: dict[str, Any]) -> str:
    """Recorded outputs (``{name: {"value", "sensitive"}}``), one ``name = value`` each, sorted by name."""
    w = Writer(slot=0)
    for k in sorted(outputs):
        o = outputs[k] if isinstance(outputs[k], dict) else {"value": outputs[k]}
        w.value(0, "", f"{key_text(k)} = ", SENSITIVE if o.get("sensitive") else o.get("value"))
    return "".join(line + "\n" for line in w.lines)


def raw_text(v: Any) -> str:
    """A scalar for ``output -raw``: strings as they are, numbers in full."""
    return v if isinstance(v, str) else json.dumps(v)
