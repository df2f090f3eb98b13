"""HCL text -> :mod:`mlform.engine.load.ast`, keeping source positions.

python-hcl2's own transformer drops positions, so we walk its Lark parse
tree (``propagate_positions=True``) ourselves. Heredocs and ``templatefile``
bodies arrive as plain text and go through :func:`parse_template`, which
parses each ``${...}`` with the same grammar.

The modules: ``fastparse`` (the hand-written parser, tried first),
``hcltree`` (reading the Lark tree and its positions), ``hclbuild`` (the
tree -> AST builder), ``hclerrors`` (syntax errors as diagnostics) and
``hcltemplate`` (expressions and templates parsed on their own).
"""

from __future__ import annotations

import hashlib

from lark.exceptions import UnexpectedInput

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.load import ast as A
from mlform.engine.load.depth import check_file, check_text, check_tree
from mlform.engine.load.fastparse import Fallback, unescape
from mlform.engine.load.fastparse import parse as fast_parse
from mlform.engine.load.hclbuild import Builder
from mlform.engine.load.hclerrors import syntax_error
from mlform.engine.load.hclgrammar import parse_tree
from mlform.engine.load.hcltemplate import parse_expression, parse_template
from mlform.engine.load.hcltree import Mapper, as_tree

# the names other modules import from here
__all__ = ["Fallback", "parse_expression", "parse_template", "parse_text", "parse_text_lark", "unescape"]


def parse_text(text: str, filename: str) -> A.File:
    """Parse one HCL file. Raises :class:`DiagnosticsError` on syntax errors.

    The hand-written parser (``fastparse``) reads what it is sure of; any
    other text, every syntax error included, goes through python-hcl2 so
    that diagnostics are its.
    """
    check_text(text, filename)  # at the bracket; the fast parser leaves deeper nesting to python-hcl2
    try:
        return fast_parse(text, filename)
    except Fallback:
        pass
    except Exception:  # noqa: BLE001 - a bug in the fast path must never cost a user their parse
        pass
    return check_file(parse_text_lark(text, filename))


def parse_text_lark(text: str, filename: str) -> A.File:
    """Parse one HCL file with python-hcl2 (its diagnostics)."""
    m = Mapper(filename)
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark, as Terraform reads it
    if not text.endswith("\n"):
        text += "\n"
    try:
        tree = parse_tree(text)
    except UnexpectedInput as exc:
        raise DiagnosticsError(syntax_error(exc, filename, text, m)) from None
    check_tree(tree, m.of)
    body_t = as_tree(tree.children[0])
    body = Builder(m, text).body(body_t)
    return A.File(filename, body, hashlib.sha256(text.encode()).hexdigest())
