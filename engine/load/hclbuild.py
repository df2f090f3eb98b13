"""python-hcl2's parse tree -> :mod:`mlform.engine.load.ast`, keeping source positions.

python-hcl2's own transformer drops positions, so :class:`Builder` walks its
Lark tree itself: one ``x_<rule>`` method per expression rule. A heredoc's
text goes through ``hcltemplate.parse_template``.
"""

from __future__ import annotations

import sys
from typing import Callable

from lark import Token, Tree

from mlform.engine.diagnostics import Diagnostic, DiagnosticsError, SourceRange, error
from mlform.engine.load import ast as A
from mlform.engine.load.fastlex import EscapeError, unescape
from mlform.engine.load.hclerrors import (escape_error, line_break_outside_brackets, lone_comma, missing_newline,
                                          multi_line_string, separator_error, template_in_label)
from mlform.engine.load.hcltree import Mapper, as_token, kids_of, node_name, strip_whitespace, subtrees_of

# A template piece before assembly: an expression, or a directive's parse tree
# (%{ if }, %{ else }, %{ endfor }, ...) that assemble nests the pieces under.
Piece = A.Expr | Tree[Token]


class Builder:
    """Builds the AST of a parse tree; ``m`` places its nodes in the user's file.

    With the parsed ``text``, it also checks what the grammar lets through
    and HCL does not (body items on one line, a line break in an expression
    outside brackets, object separators); ``depth`` counts the brackets
    around the expression being built (a snippet's starts inside ``${``).
    """

    def __init__(self, m: Mapper, text: str | None = None, depth: int = 0) -> None:
        self.m = m
        self.text = text
        self.depth = depth

    def _check(self, d: Diagnostic | None) -> None:
        if d is not None:
            raise DiagnosticsError(d)

    def nested(self, t: Token | Tree[Token]) -> A.Expr:
        """``expr(t)`` for an expression inside brackets: line breaks are free there."""
        self.depth += 1
        try:
            return self.expr(t)
        finally:
            self.depth -= 1

    def literal(self, tok: Token, raw: str, skip: int = 0) -> str:
        """``raw`` (the text of ``tok`` from character ``skip``) unescaped; a bad escape is an error there."""
        try:
            return unescape(raw)
        except EscapeError as exc:
            raise DiagnosticsError(escape_error(exc, tok, skip, self.m)) from None

    # --- structure ---------------------------------------------------------
    def body(self, t: Tree[Token]) -> A.Body:
        attrs: dict[str, A.Attribute] = {}
        blocks: list[A.Block] = []
        prev: Tree[Token] | None = None
        for c in subtrees_of(t):
            if self.text is not None and prev is not None:
                self._check(missing_newline(self.text, prev.meta.end_pos, c.meta.start_pos, prev.data == "block",
                                            self.m))
            prev = c
            if c.data == "attribute":
                a = self.attribute(c)
                if a.name in attrs:
                    raise DiagnosticsError(error(
                        f'Duplicate argument "{a.name}"',
                        f"The argument \"{a.name}\" was already set at {attrs[a.name].name_rng}. "
                        "Each argument may be set only once; remove one of them.", a.name_rng))
                attrs[a.name] = a
            elif c.data == "block":
                blocks.append(self.block(c))
        return A.Body(attrs, blocks, self.m.of(t))

    def attribute(self, t: Tree[Token]) -> A.Attribute:
        kids = kids_of(t)
        name_node, expr_node = kids[0], kids[-1]
        return A.Attribute(node_name(name_node), self.expr(expr_node), self.m.of(t), self.m.of(name_node))

    def block(self, t: Tree[Token]) -> A.Block:
        kids = kids_of(t)
        type_node = kids[0]
        labels: list[str] = []
        label_rngs: list[SourceRange] = []
        body: A.Body | None = None
        for c in kids[1:]:
            if isinstance(c, Tree) and c.data == "body":
                body = self.body(c)
            elif isinstance(c, Tree) and c.data == "string":
                raw: list[str] = []
                for p in c.children:
                    if not (isinstance(p, Tree) and p.data == "string_part"):
                        continue
                    tok = p.children[0]
                    if not isinstance(tok, Token):
                        raise DiagnosticsError(template_in_label(self.m.of(tok)))
                    raw.append(self.literal(tok, str(tok)))
                labels.append("".join(raw))
                label_rngs.append(self.m.of(c))
            elif isinstance(c, Tree):
                labels.append(node_name(c))
                label_rngs.append(self.m.of(c))
        assert body is not None
        header = self.m.of(type_node)
        end = label_rngs[-1].end if label_rngs else header.end
        return A.Block(node_name(type_node), labels, body,
                       SourceRange(header.filename, header.start, end), label_rngs)

    # --- expressions -------------------------------------------------------
    def expr(self, t: Token | Tree[Token]) -> A.Expr:
        if isinstance(t, Token):
            raise ValueError(f"unexpected token {t!r}")
        fn: Callable[[Tree[Token]], A.Expr] | None = getattr(self, "x_" + t.data, None)
        if fn is None:
            raise ValueError(f"unsupported expression node {t.data}")
        return fn(t)

    def x_expr_term(self, t: Tree[Token]) -> A.Expr:
        kids = kids_of(t)
        if len(kids) == 3 and isinstance(kids[0], Token) and kids[0].type == "LPAR":
            return self.nested(kids[1])
        return self.expr(kids[0])

    def x_int_lit(self, t: Tree[Token]) -> A.Expr:
        return _int_literal(str(t.children[0]), self.m.of(t))

    def x_float_lit(self, t: Tree[Token]) -> A.Expr:
        return A.Literal(float(str(t.children[0])), self.m.of(t))

    def x_literal_value(self, t: Tree[Token]) -> A.Expr:
        v = str(t.children[0])
        return A.Literal({"true": True, "false": False, "null": None}[v], self.m.of(t))

    def x_identifier(self, t: Tree[Token]) -> A.Expr:
        return A.Variable(str(t.children[0]), self.m.of(t))

    def x_keyword(self, t: Tree[Token]) -> A.Expr:
        return A.Variable(str(t.children[0]), self.m.of(t))

    def x_string(self, t: Tree[Token]) -> A.Expr:
        rng = self.m.of(t)
        flat: list[Piece] = []
        strips: dict[int, tuple[bool, bool]] = {}
        for p in t.children:
            if not (isinstance(p, Tree) and p.data == "string_part"):
                continue
            inner = p.children[0]
            if isinstance(inner, Token):
                if inner.type == "STRING_CHARS" and "\n" in str(inner):
                    raise DiagnosticsError(multi_line_string(self.m.of(inner)))
                flat.append(A.Literal(self.literal(inner, str(inner)), self.m.of(inner)))
            elif inner.data == "interpolation":
                ks = inner.children  # ${ ~? expression ~? }
                strips[len(flat)] = (isinstance(ks[1], Token), isinstance(ks[-2], Token))
                flat.append(self.nested(subtrees_of(inner)[0]))
            else:
                flat.append(inner)  # directive pieces, assembled below
        parts = self.assemble(flat, strips)
        if len(parts) == 1 and isinstance(parts[0], A.Literal):
            return A.Literal(parts[0].value, rng)
        if not parts:
            return A.Literal("", rng)
        if len(parts) == 1 and not isinstance(parts[0], (A.TemplateIf, A.TemplateFor)):
            return parts[0]  # "${x}" is x itself, unconverted, as in HCL
        return A.Template(parts, rng)

    def assemble(self, flat: list[Piece], strips: dict[int, tuple[bool, bool]] | None = None) -> list[A.Expr]:
        """Turn the flat list of template pieces into nested if/for nodes.

        ``strips`` marks interpolations written ``${~ ... ~}`` (by index);
        directives carry their own ``~`` tokens.
        """
        flat = strip_whitespace(flat, strips or {})
        root: list[A.Expr] = []
        stack: list[tuple[Tree[Token], list[A.Expr], list[A.Expr] | None]] = []
        cur = root
        for piece in flat:
            if isinstance(piece, A.Expr):
                cur.append(piece)
                continue
            kind = piece.data
            if kind in ("template_if_start", "template_for_start"):
                body: list[A.Expr] = []
                stack.append((piece, body, None))
                cur = body
            elif kind == "template_else":
                if not stack or stack[-1][0].data != "template_if_start":
                    raise DiagnosticsError(error("Unexpected %{ else } directive",
                                                 "An else must follow an %{ if }.", self.m.of(piece)))
                start, then, _ = stack.pop()
                els: list[A.Expr] = []
                stack.append((start, then, els))
                cur = els
            elif kind in ("template_endif", "template_endfor"):
                want = "template_if_start" if kind == "template_endif" else "template_for_start"
                if not stack or stack[-1][0].data != want:
                    raise DiagnosticsError(error(f"Unexpected {kind[9:]} directive",
                                                 "It has no matching opening directive.", self.m.of(piece)))
                start, b1, b2 = stack.pop()
                cur = stack[-1][2] if stack and stack[-1][2] is not None else (stack[-1][1] if stack else root)
                cur.append(self._directive(start, b1, b2))
        if stack:
            raise DiagnosticsError(error("Unterminated template directive",
                                         "Close it with %{ endif } or %{ endfor }.", self.m.of(stack[-1][0])))
        return root

    def _directive(self, start: Tree[Token], b1: list[A.Expr], b2: list[A.Expr] | None) -> A.Expr:
        trees = subtrees_of(start)
        rng = self.m.of(start)
        if start.data == "template_if_start":
            return A.TemplateIf(self.nested(trees[-1]), b1, b2 or [], rng)
        names = [node_name(x) for x in trees if x.data == "identifier"]
        coll = self.nested(trees[-1])
        if len(names) == 2:
            return A.TemplateFor(names[0], names[1], coll, b1, rng)
        return A.TemplateFor(None, names[0], coll, b1, rng)

    def x_heredoc_template(self, t: Tree[Token]) -> A.Expr:
        return self._heredoc(t, trim=False)

    def x_heredoc_template_trim(self, t: Tree[Token]) -> A.Expr:
        return self._heredoc(t, trim=True)

    def _heredoc(self, t: Tree[Token], trim: bool) -> A.Expr:
        tok = as_token(t.children[0])
        text = str(tok)
        first_nl = text.index("\n")
        body = text[first_nl + 1:]
        body = body[: body.rstrip("\n").rfind("\n") + 1] if "\n" in body.rstrip("\n") else ""
        lines = body.splitlines(keepends=True)
        cut = 0
        if trim and lines:
            indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
            cut = min(indents) if indents else 0
            lines = [ln[cut:] if ln.strip() else ln.lstrip(" \t") for ln in lines]
        start_line = (tok.line or 1) + 1
        mapper = Mapper(self.m.filename, self.m.pos(start_line, 1).line, 1)
        # hcltemplate builds its pieces with this module's Builder: imported here, not at the top
        from mlform.engine.load.hcltemplate import parse_template

        return parse_template("".join(lines), mapper.filename, mapper.line0, 1 + cut, rng=self.m.of(t), indent=cut)

    def x_template_string(self, t: Tree[Token]) -> A.Expr:
        raw = str(t.children[0])
        return A.Literal(self.literal(as_token(t.children[0]), raw[2:-2], 2), self.m.of(t))

    def x_tuple(self, t: Tree[Token]) -> A.Expr:
        return A.TupleExpr([self.nested(c) for c in subtrees_of(t)], self.m.of(t))

    def x_object(self, t: Tree[Token]) -> A.Expr:
        items: list[tuple[A.Expr, A.Expr]] = []
        if self.text is not None:
            elems = subtrees_of(t)
            for a, b in zip(elems, elems[1:]):
                self._check(separator_error(self.text, a.meta.end_pos, b.meta.start_pos, self.m))
            for k in t.children:
                if isinstance(k, Token) and k.type == "COMMA" and k.start_pos is not None:
                    self._check(lone_comma(self.text, k.start_pos, self.m))
        self.depth += 1
        try:
            for el in subtrees_of(t):
                items.append(self._object_elem(el))
        finally:
            self.depth -= 1
        return A.ObjectExpr(items, self.m.of(t))

    def _object_elem(self, el: Tree[Token]) -> tuple[A.Expr, A.Expr]:
        key_node, val_node = subtrees_of(el)[0], subtrees_of(el)[-1]
        kn = subtrees_of(key_node)[0] if subtrees_of(key_node) else key_node.children[0]
        if isinstance(kn, Tree) and kn.data == "keyword":
            key: A.Expr = A.Literal(node_name(kn), self.m.of(kn))
        else:
            key = self.expr(kn)
            if isinstance(key, A.Variable):
                key = A.Literal(key.name, key.rng)
        return key, self.expr(val_node)

    def x_function_call(self, t: Tree[Token]) -> A.Expr:
        trees = subtrees_of(t)
        idents = [x for x in trees if x.data == "identifier"]
        name = "::".join(node_name(i) for i in idents)
        args_t = next((x for x in trees if x.data == "arguments"), None)
        args: list[A.Expr] = []
        expand = False
        if args_t is not None:
            args = [self.nested(c) for c in subtrees_of(args_t)]
            expand = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in args_t.children)
        return A.Call(name, args, expand, self.m.of(t))

    def x_index_expr_term(self, t: Tree[Token]) -> A.Expr:
        obj, idx = subtrees_of(t)
        return self._index(self.expr(obj), idx, self.m.of(t))

    def _index(self, obj: A.Expr, idx: Tree[Token], rng: SourceRange) -> A.Expr:
        if idx.data == "short_index":
            tok = [c for c in idx.children if isinstance(c, Token) and c.type == "INT_LITERAL"][0]
            return A.Index(obj, _int_literal(str(tok), self.m.of(tok)), rng)
        return A.Index(obj, self.nested(subtrees_of(idx)[0]), rng)

    def x_get_attr_expr_term(self, t: Tree[Token]) -> A.Expr:
        obj, ga = subtrees_of(t)
        return A.GetAttr(self.expr(obj), node_name(subtrees_of(ga)[0]), self.m.of(t))

    def _splat(self, t: Tree[Token]) -> A.Expr:
        src_t, sp = subtrees_of(t)
        rng = self.m.of(t)
        each: A.Expr = A.SplatItem(rng)
        for step in subtrees_of(sp):
            if step.data == "get_attr":
                each = A.GetAttr(each, node_name(subtrees_of(step)[0]), self.m.of(step))
            else:
                each = self._index(each, step, self.m.of(step))
        return A.Splat(self.expr(src_t), each, rng)

    x_attr_splat_expr_term = _splat
    x_full_splat_expr_term = _splat

    def x_conditional(self, t: Tree[Token]) -> A.Expr:
        c, a, b = subtrees_of(t)
        if self.text is not None and self.depth == 0:
            self._check(line_break_outside_brackets(self.text, c.meta.end_pos, a.meta.start_pos, self.m)
                        or line_break_outside_brackets(self.text, a.meta.end_pos, b.meta.start_pos, self.m))
        return A.Conditional(self.expr(c), self.expr(a), self.expr(b), self.m.of(t))

    def x_binary_op(self, t: Tree[Token]) -> A.Expr:
        left, term = subtrees_of(t)[:2]
        op_t, right = subtrees_of(term)
        # python-hcl2's operator token takes in the line break (and comments) before the
        # operator when an expression continues on the next line ("\n    +"): the
        # operator is its last word.
        op = str(op_t.children[0]).split()[-1]
        if self.text is not None and self.depth == 0:
            self._check(line_break_outside_brackets(self.text, left.meta.end_pos, right.meta.start_pos, self.m))
        lhs, rhs = self.expr(left), self.expr(right)
        # The grammar's binary_op also spans the line break after it; the
        # operands' extent is what a person wrote.
        rng = SourceRange(lhs.rng.filename, lhs.rng.start, rhs.rng.end)
        return A.Binary(op, lhs, rhs, rng)

    def x_unary_op(self, t: Tree[Token]) -> A.Expr:
        op = str(t.children[0])
        return A.Unary(op, self.expr(subtrees_of(t)[0]), self.m.of(t))

    def _for(self, t: Tree[Token], is_object: bool) -> A.Expr:
        self.depth += 1
        try:
            return self._for_inside(t, is_object)
        finally:
            self.depth -= 1

    def _for_inside(self, t: Tree[Token], is_object: bool) -> A.Expr:
        trees = subtrees_of(t)
        intro = trees[0]
        it = subtrees_of(intro)
        names = [node_name(x) for x in it if x.data == "identifier"]
        coll = self.expr(it[-1])
        key_var, val_var = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        rest = trees[1:]
        cond = None
        if rest and rest[-1].data == "for_cond":
            cond = self.expr(subtrees_of(rest[-1])[0])
            rest = rest[:-1]
        grouping = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in t.children)
        if is_object:
            return A.ForExpr(key_var, val_var, coll, self.expr(rest[0]), self.expr(rest[1]),
                             cond, grouping, self.m.of(t))
        return A.ForExpr(key_var, val_var, coll, None, self.expr(rest[0]), cond, False, self.m.of(t))

    def x_for_tuple_expr(self, t: Tree[Token]) -> A.Expr:
        return self._for(t, False)

    def x_for_object_expr(self, t: Tree[Token]) -> A.Expr:
        return self._for(t, True)


def _int_literal(digits: str, rng: SourceRange) -> A.Literal:
    """An integer literal (or a legacy ``x.0`` index); more digits than Python converts is an error there."""
    try:
        return A.Literal(int(digits), rng)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise DiagnosticsError(error(
            "Invalid number literal", f"This number has {len(digits):,} digits; mlform reads at most "
            f"{sys.get_int_max_str_digits():,}. Write it in exponent form (1e5000) or as a string.",
            rng)) from None
