"""Fast constructors for :class:`Pos` and :class:`SourceRange`.

The hand-written parser (``fastparse``) and the parse cache's decoder
(``astcodec``) build tens of thousands of positions per 1,000 blocks; these
build the same frozen objects as the classes' own constructors, faster.
"""

from __future__ import annotations

from collections.abc import Callable

from mlform.engine.diagnostics import Pos, SourceRange


# Pos and SourceRange are frozen dataclasses: their __init__ sets each slot
# through object.__setattr__. Setting the slots directly builds the same
# objects in half the time (tens of thousands of them per 1,000 blocks).
# The slot descriptors come from the class __dict__ (vars()): ``Pos.line`` is
# the same object, but type checkers read it as the instance's int.
_new = object.__new__
_set_line: Callable[[Pos, int], None] = vars(Pos)["line"].__set__
_set_col: Callable[[Pos, int], None] = vars(Pos)["col"].__set__
_set_fn: Callable[[SourceRange, str], None] = vars(SourceRange)["filename"].__set__
_set_start: Callable[[SourceRange, Pos], None] = vars(SourceRange)["start"].__set__
_set_end: Callable[[SourceRange, Pos], None] = vars(SourceRange)["end"].__set__


def make_pos(line: int, col: int) -> Pos:
    """``Pos(line, col)``, faster."""
    p = _new(Pos)
    _set_line(p, line)
    _set_col(p, col)
    return p


def make_range(filename: str, start: Pos, end: Pos) -> SourceRange:
    """``SourceRange(filename, start, end)``, faster."""
    r = _new(SourceRange)
    _set_fn(r, filename)
    _set_start(r, start)
    _set_end(r, end)
    return r
