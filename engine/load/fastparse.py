"""A hand-written HCL parser that builds the same positioned AST as ``hcl.py``.

python-hcl2 (Lark LALR in pure Python) takes ~1.3 s per 1,000 blocks; this
recursive-descent parser reads the same native syntax about ten times
faster. It mirrors python-hcl2's grammar, including its quirks, so that the
AST is *identical* to the one ``hcl.py`` builds from the Lark tree: the same
node types, values and source ranges (a binary operation's trailing line
break extends its attribute's range, an empty body sits at 1:1, string
parts around ``$${`` stay separate, ...).

It handles only what it is sure of. Anything else - a syntax error, a
duplicate argument, a construct it does not know (``\\"`` template strings,
an operator at the start of a line, ...) - raises
:class:`Fallback`, and ``hcl.parse_text`` parses the file with python-hcl2,
which reports every diagnostic exactly as before. The equivalence is tested
on every configuration in the repository and on generated ones
(``tests/unit/engine/test_fastparse*.py``).

The parser is layered along the grammar, one module per layer:
``fastlex`` (the grammar's terminals, the cursor and positions; ``fastpos``
builds the position objects), ``fasttemplate`` (strings, templates,
heredocs), ``fastexpr`` (expressions) and this module (bodies and blocks,
and :func:`parse`). None of them imports lark or python-hcl2.
"""

from __future__ import annotations

import hashlib

from mlform.engine.diagnostics import DiagnosticsError, SourceRange
from mlform.engine.load import ast as A
from mlform.engine.load.depth import check_body, check_text
from mlform.engine.load.fastexpr import ExpressionParser
from mlform.engine.load.fastlex import EQ, Fallback, ends_line, unescape
from mlform.engine.load.fastpos import make_pos, make_range

# the names other modules import from here
__all__ = ["Fallback", "make_pos", "make_range", "parse", "unescape"]


class _Parser(ExpressionParser):
    """Bodies and blocks: the top of the grammar."""

    def body(self, top: bool) -> tuple[A.Body, int, int]:
        attrs: dict[str, A.Attribute] = {}
        blocks: list[A.Block] = []
        first = last = -1
        s = self.s
        while True:
            nl = self.nl()
            if nl is not None:
                if first < 0:
                    first = nl[0]
                last = nl[1]
            self.ws()
            if self.i >= self.n:
                if not top:
                    raise Fallback("end of file in a block")
                break
            c = s[self.i]
            if c == "}" and not top:
                break
            w = self.word()
            if w is None:
                raise Fallback(f"unexpected {c!r} in a body")
            name, ws_, we = w
            if first < 0:
                first = ws_
            m = EQ.match(s, self.i)
            if m:
                self.i = m.end()
                expr, _, te = self.expression()
                if name in attrs:
                    raise Fallback("duplicate argument")
                attrs[name] = A.Attribute(name, expr, self.rng(ws_, te), self.rng(ws_, we))
                last = te
            else:
                blk, be = self.block(name, ws_, we)
                blocks.append(blk)
                last = be
            if not self.item_ends(last, top):
                raise Fallback("no line break after an argument or block")
        if first < 0:
            body_rng = self.rng(0, 0)
        else:
            body_rng = self.rng(first, last)
        return A.Body(attrs, blocks, body_rng), first, last

    def item_ends(self, end: int, top: bool) -> bool:
        """Does a line break (or the end of the body) follow the item that ends at ``end``?"""
        s = self.s
        if ends_line(s, end):
            return True
        self.ws()
        i = self.i
        c = s[i:i + 1]
        return c in ("\n", "#", "") or s.startswith(("//", "/*"), i) or (c == "}" and not top)

    def block(self, type_: str, ts: int, te: int) -> tuple[A.Block, int]:
        labels: list[str] = []
        label_rngs: list[SourceRange] = []
        s = self.s
        end = te
        while True:
            self.ws()
            c = s[self.i:self.i + 1]
            if c == '"':
                a = self.i
                parts, b = self.quoted_parts()
                raw: list[str] = []
                for p in parts:
                    if not isinstance(p, str):
                        raise Fallback("template in a block label")
                    raw.append(p)
                labels.append(unescape("".join(raw)))
                label_rngs.append(self.rng(a, b))
                end = b
            elif c and (c.isalpha() or c == "_"):
                w = self.word()
                assert w is not None
                labels.append(w[0])
                label_rngs.append(self.rng(w[1], w[2]))
                end = w[2]
            else:
                break
        self.ws()
        if s[self.i:self.i + 1] != "{":  # on the header's line
            raise Fallback("block without {")
        self.i += 1
        body, _, _ = self.body(top=False)
        close = self.expect("}")
        return A.Block(type_, labels, body, self.rng(ts, end), label_rngs), close + 1


def parse(text: str, filename: str) -> A.File:
    """Parse one HCL file as ``hcl.parse_text`` would; :class:`Fallback` if it cannot be sure."""
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark, as Terraform reads it
    if not text.endswith("\n"):
        text += "\n"
    p = _Parser(text + "\n", filename)  # python-hcl2 appends a line break too
    try:
        check_text(text, filename)
        body, _, _ = p.body(top=True)
        check_body(body)
    except DiagnosticsError:  # nested too deeply: python-hcl2's path says where
        raise Fallback("nested too deeply") from None
    except (IndexError, ValueError, RecursionError, AssertionError) as exc:
        raise Fallback(str(exc)) from None
    return A.File(filename, body, hashlib.sha256(text.encode()).hexdigest())
