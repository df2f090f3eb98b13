"""HCL text -> :mod:`mlform.engine.load.ast`, keeping source positions.

python-hcl2's own transformer drops positions, so we walk its Lark parse
tree (``propagate_positions=True``) ourselves. Heredocs and ``templatefile``
bodies arrive as plain text and go through :func:`parse_template`, which
parses each ``${...}`` with the same grammar.
"""

from __future__ import annotations

import hashlib
import re
from typing import Callable

import hcl2
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from mlform.engine.diagnostics import Diagnostic, DiagnosticsError, Pos, SourceRange, error
from mlform.engine.load import ast as A
from mlform.engine.load.fastparse import Fallback, unescape
from mlform.engine.load.fastparse import parse as fast_parse

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_SKIP = {"new_line_or_comment"}
# A template piece before assembly: an expression, or a directive's parse tree
# (%{ if }, %{ else }, %{ endfor }, ...) that _assemble nests the pieces under.
_Piece = A.Expr | Tree[Token]


class _Mapper:
    """Maps positions in a parsed snippet back to the user's file."""

    __slots__ = ("filename", "line0", "col0")

    def __init__(self, filename: str, line0: int = 1, col0: int = 1) -> None:
        self.filename, self.line0, self.col0 = filename, line0, col0

    def pos(self, line: int, col: int) -> Pos:
        if line == 1:
            return Pos(self.line0, col + self.col0 - 1)
        return Pos(line + self.line0 - 1, col)

    def of(self, node: Tree[Token] | Token) -> SourceRange:
        if isinstance(node, Token):
            return SourceRange(self.filename, self.pos(node.line or 1, node.column or 1),
                               self.pos(node.end_line or 1, node.end_column or 1))
        m = node.meta
        if getattr(m, "empty", True):
            return SourceRange(self.filename, self.pos(1, 1), self.pos(1, 1))
        return SourceRange(self.filename, self.pos(m.line, m.column), self.pos(m.end_line, m.end_column))


def _kids(t: Tree[Token]) -> list[Token | Tree[Token]]:
    return [c for c in t.children if not (isinstance(c, Tree) and c.data in _SKIP)]


def _trees(t: Tree[Token]) -> list[Tree[Token]]:
    return [c for c in t.children if isinstance(c, Tree) and c.data not in _SKIP]


def _subtree(node: Token | Tree[Token]) -> Tree[Token]:
    """``node``, where the grammar puts a rule (not a token)."""
    if isinstance(node, Token):
        raise ValueError(f"unexpected token {node!r}")
    return node


def _token(node: Token | Tree[Token]) -> Token:
    """``node``, where the grammar puts a token (not a rule)."""
    if not isinstance(node, Token):
        raise ValueError(f"unexpected parse tree node {node.data}")
    return node


def _name(node: Tree[Token] | Token) -> str:
    """identifier / keyword / literal_value used as a name."""
    if isinstance(node, Token):
        return str(node)
    tok = node.children[0]
    return str(tok)


class _Builder:
    def __init__(self, m: _Mapper) -> None:
        self.m = m

    # --- structure ---------------------------------------------------------
    def body(self, t: Tree[Token]) -> A.Body:
        attrs: dict[str, A.Attribute] = {}
        blocks: list[A.Block] = []
        for c in _trees(t):
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
        kids = _kids(t)
        name_node, expr_node = kids[0], kids[-1]
        return A.Attribute(_name(name_node), self.expr(expr_node), self.m.of(t), self.m.of(name_node))

    def block(self, t: Tree[Token]) -> A.Block:
        kids = _kids(t)
        type_node = kids[0]
        labels: list[str] = []
        label_rngs: list[SourceRange] = []
        body: A.Body | None = None
        for c in kids[1:]:
            if isinstance(c, Tree) and c.data == "body":
                body = self.body(c)
            elif isinstance(c, Tree) and c.data == "string":
                labels.append(unescape("".join(str(p.children[0]) for p in c.children
                                               if isinstance(p, Tree) and p.data == "string_part"
                                               and isinstance(p.children[0], Token))))
                label_rngs.append(self.m.of(c))
            elif isinstance(c, Tree):
                labels.append(_name(c))
                label_rngs.append(self.m.of(c))
        assert body is not None
        header = self.m.of(type_node)
        end = label_rngs[-1].end if label_rngs else header.end
        return A.Block(_name(type_node), labels, body,
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
        kids = _kids(t)
        if len(kids) == 3 and isinstance(kids[0], Token) and kids[0].type == "LPAR":
            return self.expr(kids[1])
        return self.expr(kids[0])

    def x_int_lit(self, t: Tree[Token]) -> A.Expr:
        return A.Literal(int(str(t.children[0])), self.m.of(t))

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
        flat: list[_Piece] = []
        for p in t.children:
            if not (isinstance(p, Tree) and p.data == "string_part"):
                continue
            inner = p.children[0]
            if isinstance(inner, Token):
                flat.append(A.Literal(unescape(str(inner)), self.m.of(inner)))
            elif inner.data == "interpolation":
                flat.append(self.expr(_kids(inner)[1]))
            else:
                flat.append(inner)  # directive pieces, assembled below
        parts = self._assemble(flat)
        if len(parts) == 1 and isinstance(parts[0], A.Literal):
            return A.Literal(parts[0].value, rng)
        if not parts:
            return A.Literal("", rng)
        if len(parts) == 1 and not isinstance(parts[0], (A.TemplateIf, A.TemplateFor)):
            return parts[0]  # "${x}" is x itself, unconverted, as in HCL
        return A.Template(parts, rng)

    def _assemble(self, flat: list[_Piece], strips: dict[int, tuple[bool, bool]] | None = None) -> list[A.Expr]:
        """Turn the flat list of template pieces into nested if/for nodes.

        ``strips`` marks interpolations written ``${~ ... ~}`` (by index);
        directives carry their own ``~`` tokens.
        """
        flat = _strip_whitespace(flat, strips or {})
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
        trees = _trees(start)
        rng = self.m.of(start)
        if start.data == "template_if_start":
            return A.TemplateIf(self.expr(trees[-1]), b1, b2 or [], rng)
        names = [_name(x) for x in trees if x.data == "identifier"]
        coll = self.expr(trees[-1])
        if len(names) == 2:
            return A.TemplateFor(names[0], names[1], coll, b1, rng)
        return A.TemplateFor(None, names[0], coll, b1, rng)

    def x_heredoc_template(self, t: Tree[Token]) -> A.Expr:
        return self._heredoc(t, trim=False)

    def x_heredoc_template_trim(self, t: Tree[Token]) -> A.Expr:
        return self._heredoc(t, trim=True)

    def _heredoc(self, t: Tree[Token], trim: bool) -> A.Expr:
        tok = _token(t.children[0])
        text = str(tok)
        first_nl = text.index("\n")
        body = text[first_nl + 1:]
        body = body[: body.rstrip("\n").rfind("\n") + 1] if "\n" in body.rstrip("\n") else ""
        lines = body.splitlines(keepends=True)
        if trim and lines:
            indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
            cut = min(indents) if indents else 0
            lines = [ln[cut:] if ln.strip() else ln.lstrip(" \t") for ln in lines]
        start_line = (tok.line or 1) + 1
        mapper = _Mapper(self.m.filename, self.m.pos(start_line, 1).line, 1)
        return parse_template("".join(lines), mapper.filename, mapper.line0, 1, rng=self.m.of(t))

    def x_template_string(self, t: Tree[Token]) -> A.Expr:
        raw = str(t.children[0])
        return A.Literal(unescape(raw[2:-2]), self.m.of(t))

    def x_tuple(self, t: Tree[Token]) -> A.Expr:
        return A.TupleExpr([self.expr(c) for c in _trees(t)], self.m.of(t))

    def x_object(self, t: Tree[Token]) -> A.Expr:
        items: list[tuple[A.Expr, A.Expr]] = []
        for el in _trees(t):
            key_node, val_node = _trees(el)[0], _trees(el)[-1]
            kn = _trees(key_node)[0] if _trees(key_node) else key_node.children[0]
            if isinstance(kn, Tree) and kn.data == "keyword":
                key: A.Expr = A.Literal(_name(kn), self.m.of(kn))
            else:
                key = self.expr(kn)
                inner = key
                if isinstance(inner, A.Variable):
                    key = A.Literal(inner.name, inner.rng)
            items.append((key, self.expr(val_node)))
        return A.ObjectExpr(items, self.m.of(t))

    def x_function_call(self, t: Tree[Token]) -> A.Expr:
        trees = _trees(t)
        idents = [x for x in trees if x.data == "identifier"]
        name = "::".join(_name(i) for i in idents)
        args_t = next((x for x in trees if x.data == "arguments"), None)
        args: list[A.Expr] = []
        expand = False
        if args_t is not None:
            args = [self.expr(c) for c in _trees(args_t)]
            expand = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in args_t.children)
        return A.Call(name, args, expand, self.m.of(t))

    def x_index_expr_term(self, t: Tree[Token]) -> A.Expr:
        obj, idx = _trees(t)
        return self._index(self.expr(obj), idx, self.m.of(t))

    def _index(self, obj: A.Expr, idx: Tree[Token], rng: SourceRange) -> A.Expr:
        if idx.data == "short_index":
            tok = [c for c in idx.children if isinstance(c, Token) and c.type == "INT_LITERAL"][0]
            return A.Index(obj, A.Literal(int(str(tok)), self.m.of(tok)), rng)
        return A.Index(obj, self.expr(_trees(idx)[0]), rng)

    def x_get_attr_expr_term(self, t: Tree[Token]) -> A.Expr:
        obj, ga = _trees(t)
        return A.GetAttr(self.expr(obj), _name(_trees(ga)[0]), self.m.of(t))

    def _splat(self, t: Tree[Token]) -> A.Expr:
        src_t, sp = _trees(t)
        rng = self.m.of(t)
        each: A.Expr = A.SplatItem(rng)
        for step in _trees(sp):
            if step.data == "get_attr":
                each = A.GetAttr(each, _name(_trees(step)[0]), self.m.of(step))
            else:
                each = self._index(each, step, self.m.of(step))
        return A.Splat(self.expr(src_t), each, rng)

    x_attr_splat_expr_term = _splat
    x_full_splat_expr_term = _splat

    def x_conditional(self, t: Tree[Token]) -> A.Expr:
        c, a, b = _trees(t)
        return A.Conditional(self.expr(c), self.expr(a), self.expr(b), self.m.of(t))

    def x_binary_op(self, t: Tree[Token]) -> A.Expr:
        left, term = _trees(t)[:2]
        op_t, right = _trees(term)
        # python-hcl2's operator token takes in the line break (and comments) before the
        # operator when an expression continues on the next line ("\n    +"): the
        # operator is its last word.
        op = str(op_t.children[0]).split()[-1]
        lhs, rhs = self.expr(left), self.expr(right)
        # The grammar's binary_op also spans the line break after it; the
        # operands' extent is what a person wrote.
        rng = SourceRange(lhs.rng.filename, lhs.rng.start, rhs.rng.end)
        return A.Binary(op, lhs, rhs, rng)

    def x_unary_op(self, t: Tree[Token]) -> A.Expr:
        op = str(t.children[0])
        return A.Unary(op, self.expr(_trees(t)[0]), self.m.of(t))

    def _for(self, t: Tree[Token], is_object: bool) -> A.Expr:
        trees = _trees(t)
        intro = trees[0]
        it = _trees(intro)
        names = [_name(x) for x in it if x.data == "identifier"]
        coll = self.expr(it[-1])
        key_var, val_var = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        rest = trees[1:]
        cond = None
        if rest and rest[-1].data == "for_cond":
            cond = self.expr(_trees(rest[-1])[0])
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


def _syntax_error(exc: UnexpectedInput, filename: str, text: str, m: _Mapper) -> Diagnostic:
    lines = text.splitlines() or [""]
    line = getattr(exc, "line", 1) or 1
    col = getattr(exc, "column", 1) or 1
    at_end = isinstance(exc, UnexpectedEOF) or line < 1 or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
    if at_end:
        return _eof_error(exc, filename, text, lines, line, col, m)
    pos = m.pos(line, col)
    rng = SourceRange(filename, pos, pos)
    if isinstance(exc, UnexpectedToken):
        got = exc.token
        shown = str(got).split("\n", 1)[0].strip()
        expected = sorted(_pretty_expected(exc.expected))
        ch = shown[:1]
        if got.type == "STRING_CHARS" and ch in _INVALID_CHARS:
            # Outside a string the lexer falls back to raw characters when
            # nothing else matches: a stray character such as "@".
            return error("Invalid character", f'The character "{ch}" is not used within the language here'
                         + (f"; expected {', '.join(expected[:6])}" if expected else "")
                         + ". Check quoting and brackets.", rng)
        detail = f'Found "{shown[:30]}" here'
        if expected:
            detail += f"; expected {', '.join(expected[:6])}."
        return error("Invalid HCL syntax", detail + " Fix the syntax at this position.", rng)
    if isinstance(exc, UnexpectedCharacters):
        ch = lines[line - 1][col - 1:col] if 0 < line <= len(lines) else ""
        return error("Invalid character", f'The character "{ch}" is not valid here. Check quoting and brackets.', rng)
    return error("Invalid HCL syntax", "Fix the syntax at this position.", rng)


_INVALID_CHARS = set("@^`;\\$~'")
_STRING_PARTS = {"STRING_CHARS", "INTERP_START", "DIRECTIVE_START"}


def _eof_error(exc: UnexpectedInput, filename: str, text: str, lines: list[str], line: int, col: int,
               m: _Mapper) -> Diagnostic:
    """The parser reached the end of the file: say which bracket or quote is open, and where."""
    expected = set(getattr(exc, "expected", ()) or ())
    if expected & _STRING_PARTS and 0 < line <= len(lines):
        # Lark reports the first character after the opening quote.
        q = col - 1 if col > 1 and lines[line - 1][col - 2:col - 1] == '"' else col
        pos = m.pos(line, q)
        return error("Unterminated template string",
                     'This string has no closing quote (") before the end of the line. Strings cannot span '
                     "lines: add the closing quote, or use a heredoc (<<EOT ... EOT) for text on several lines.",
                     SourceRange(filename, pos, pos))
    opener = _unclosed_bracket(text)
    if opener is not None:
        ch, (ln, c) = opener
        pos = m.pos(ln, c)
        close = {"{": "}", "[": "]", "(": ")"}[ch]
        summary = "Unclosed configuration block" if ch == "{" else "Unclosed bracket"
        return error(summary, f'There is no closing "{close}" for this "{ch}" before the end of the file. '
                     f'Add the "{close}", or remove the opening "{ch}".', SourceRange(filename, pos, pos))
    # Point at the end of the last line that has text, not past the end of the file.
    last = max((i for i, ln in enumerate(lines) if ln.strip()), default=0)
    pos = m.pos(last + 1, len(lines[last]) + 1 if lines else 1)
    return error("Invalid HCL syntax", "The file ended unexpectedly: an expression or block is not complete. "
                 "Finish it, or remove it.", SourceRange(filename, pos, pos))


def _unclosed_bracket(text: str) -> tuple[str, tuple[int, int]] | None:
    """The innermost bracket still open at the end of ``text`` (skipping strings, comments, heredocs)."""
    stack: list[tuple[str, tuple[int, int]]] = []
    lines = text.split("\n")
    heredoc: str | None = None
    in_comment = False
    for ln_no, ln in enumerate(lines, start=1):
        if heredoc is not None:
            if ln.strip() == heredoc:
                heredoc = None
            continue
        i = 0
        while i < len(ln):
            c = ln[i]
            if in_comment:
                if ln.startswith("*/", i):
                    in_comment = False
                    i += 2
                    continue
                i += 1
                continue
            if c == "#" or ln.startswith("//", i):
                break
            if ln.startswith("/*", i):
                in_comment = True
                i += 2
                continue
            if ln.startswith("<<", i):
                mt = re.match(r"<<-?([A-Za-z_][A-Za-z0-9_]*)\s*$", ln[i:])
                if mt:
                    heredoc = mt.group(1)
                    break
            if c == '"':
                i += 1
                while i < len(ln) and ln[i] != '"':
                    i += 2 if ln[i] == "\\" else 1
                i += 1
                continue
            if c in "{[(":
                stack.append((c, (ln_no, i + 1)))
            elif c in "}])" and stack:
                stack.pop()
            i += 1
    return stack[-1] if stack else None


_TOKEN_NAMES = {"RBRACE": '"}"', "LBRACE": '"{"', "RSQB": '"]"', "LSQB": '"["', "RPAR": '")"', "LPAR": '"("',
                "EQ": '"="', "COMMA": '","', "NAME": "a name", "DBLQUOTE": "a string", "NL_OR_COMMENT": "a new line",
                "COLON": '":"', "QMARK": '"?"', "INT_LITERAL": "a number", "FLOAT_LITERAL": "a number"}


def _pretty_expected(names: set[str]) -> set[str]:
    return {_TOKEN_NAMES.get(n, n.lower()) for n in names if not n.startswith("__")}


def parse_text(text: str, filename: str) -> A.File:
    """Parse one HCL file. Raises :class:`DiagnosticsError` on syntax errors.

    The hand-written parser (``fastparse``) reads what it is sure of; any
    other text, every syntax error included, goes through python-hcl2 so
    that diagnostics are its.
    """
    try:
        return fast_parse(text, filename)
    except Fallback:
        pass
    except Exception:  # noqa: BLE001 - a bug in the fast path must never cost a user their parse
        pass
    return parse_text_lark(text, filename)


def parse_text_lark(text: str, filename: str) -> A.File:
    """Parse one HCL file with python-hcl2 (its diagnostics)."""
    m = _Mapper(filename)
    if not text.endswith("\n"):
        text += "\n"
    try:
        tree = hcl2.parses_to_tree(text)
    except UnexpectedInput as exc:
        raise DiagnosticsError(_syntax_error(exc, filename, text, m)) from None
    body_t = tree.children[0]
    body = _Builder(m).body(body_t)
    return A.File(filename, body, hashlib.sha256(text.encode()).hexdigest())


def parse_expression(src: str, filename: str, line: int = 1, col: int = 1) -> A.Expr:
    """Parse a single expression written at ``line:col`` of ``filename``."""
    prefix = "x="
    m = _Mapper(filename, line, col - len(prefix))
    text = prefix + src + "\n"
    try:
        tree = hcl2.parses_to_tree(text)
    except UnexpectedInput as exc:
        raise DiagnosticsError(_syntax_error(exc, filename, text, m)) from None
    attr = _trees(tree.children[0])[0]
    return _Builder(m).expr(_kids(attr)[-1])


_OPEN = re.compile(r"(\$\{|%\{)")


def parse_template(text: str, filename: str, line: int = 1, col: int = 1,
                   rng: SourceRange | None = None) -> A.Expr:
    """Parse template text (heredoc body, templatefile) with ``${}``/``%{}``."""
    b = _Builder(_Mapper(filename, line, col))
    whole = rng or SourceRange(filename, Pos(line, col), Pos(line, col))
    flat: list[_Piece] = []
    strips: dict[int, tuple[bool, bool]] = {}
    i = 0
    cur_line, cur_col = line, col

    def advance(s: str) -> None:
        nonlocal cur_line, cur_col
        nl = s.count("\n")
        if nl:
            cur_line += nl
            cur_col = len(s) - s.rfind("\n")
        else:
            cur_col += len(s)

    while i < len(text):
        mt = _OPEN.search(text, i)
        # literal text, with $${ and %%{ escapes
        j = mt.start() if mt else len(text)
        while mt and j > 0 and text[j - 1] in "$%" and text[j - 1] == text[j]:
            mt = _OPEN.search(text, j + 2)
            j = mt.start() if mt else len(text)
        if j > i:
            lit = text[i:j]
            here = SourceRange(filename, Pos(cur_line, cur_col), Pos(cur_line, cur_col))
            flat.append(A.Literal(lit.replace("$${", "${").replace("%%{", "%{"), here))
            advance(lit)
            i = j
        if not mt:
            break
        end = _match_brace(text, i + 2)
        if end < 0:
            raise DiagnosticsError(error("Unterminated template sequence",
                                         "A ${ or %{ is not closed with }.",
                                         SourceRange(filename, Pos(cur_line, cur_col), Pos(cur_line, cur_col))))
        inner = text[i + 2:end]
        start_line, start_col = cur_line, cur_col + 2
        if mt.group(1) == "${":
            strips[len(flat)] = (inner.startswith("~"), inner.endswith("~"))
            flat.append(parse_expression(inner.strip("~").strip(), filename, start_line, start_col))
        else:
            flat.append(_directive_tree(inner, filename, start_line, start_col))
        advance(text[i:end + 1])
        i = end + 1
    parts = b._assemble(flat, strips)
    if len(parts) == 1 and isinstance(parts[0], A.Literal):
        return A.Literal(parts[0].value, whole)
    if len(parts) == 1 and not isinstance(parts[0], (A.TemplateIf, A.TemplateFor)):
        return parts[0]
    if not parts:
        return A.Literal("", whole)
    return A.Template(parts, whole)


def _strip_flags(piece: Tree[Token]) -> tuple[bool, bool]:
    """(left, right): whether a ``%{~ ... ~}`` directive strips the whitespace beside it."""
    toks = [c for c in piece.children if isinstance(c, Token)]
    left = len(toks) > 1 and str(toks[0]) == "%{" and str(toks[1]) == "~"
    right = len(toks) > 1 and str(toks[-1]) == "}" and str(toks[-2]) == "~"
    return left, right


def _strip_whitespace(flat: list[_Piece], strips: dict[int, tuple[bool, bool]]) -> list[_Piece]:
    """Apply HCL's strip markers: ``~`` removes the whitespace (newlines too) on its side."""
    out = list(flat)
    for i, piece in enumerate(flat):
        if isinstance(piece, Tree):
            left, right = _strip_flags(piece)
        else:
            left, right = strips.get(i, (False, False))
        if left and i > 0:
            before = out[i - 1]
            if isinstance(before, A.Literal) and isinstance(before.value, str):
                out[i - 1] = A.Literal(before.value.rstrip(), before.rng)
        if right and i + 1 < len(out):
            after = out[i + 1]
            if isinstance(after, A.Literal) and isinstance(after.value, str):
                out[i + 1] = A.Literal(after.value.lstrip(), after.rng)
    return [p for p in out if not (isinstance(p, A.Literal) and p.value == "")]


def _directive_tree(inner: str, filename: str, line: int, col: int) -> Tree[Token]:
    """Re-parse a ``%{ ... }`` directive through the grammar's string rule."""
    src = '"%{' + inner + '}"'
    text = "x=" + src + "\n"
    try:
        tree = hcl2.parses_to_tree(text)
    except UnexpectedInput as exc:
        m = _Mapper(filename, line, col - 5)
        raise DiagnosticsError(_syntax_error(exc, filename, text, m)) from None
    attr = _trees(tree.children[0])[0]
    string_t = _subtree(_kids(_subtree(_kids(attr)[-1]))[0])
    part = [p for p in string_t.children if isinstance(p, Tree)][0]
    directive = _subtree(part.children[0])
    # Expressions inside are re-built against the real position later; shift
    # their metadata now so ranges point into the user's file.
    _shift(directive, line, col - 5)
    return directive


def _shift(t: Tree[Token], line0: int, col0: int) -> None:
    for sub in t.iter_subtrees():
        m = sub.meta
        if not getattr(m, "empty", True):
            if m.line == 1:
                m.column += col0 - 1
            m.line += line0 - 1
            if m.end_line == 1:
                m.end_column += col0 - 1
            m.end_line += line0 - 1


def _match_brace(text: str, i: int) -> int:
    depth = 1
    in_str = False
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1
