"""Syntax errors from python-hcl2 (Lark exceptions) as diagnostics a person can act on."""

from __future__ import annotations

import re

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from mlform.engine.diagnostics import Diagnostic, SourceRange, error
from mlform.engine.load.fastlex import EscapeError
from mlform.engine.load.hcltree import Mapper

def syntax_error(exc: UnexpectedInput, filename: str, text: str, m: Mapper) -> Diagnostic:
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
        if got.type == "NL_OR_COMMENT" and "LBRACE" in exc.expected and "EQ" not in exc.expected:
            return error("Invalid block definition", 'A block definition must have block content delimited by '
                         '"{" and "}", starting on the same line as the block header.', rng)
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
               m: Mapper) -> Diagnostic:
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


# --- what the grammar cannot say -------------------------------------------------
# python-hcl2's grammar lets a line break sit anywhere in an expression and
# lets body items share a line; HCL does not. The builder checks the source
# text between the parse tree's nodes (Lark's character offsets) and reports
# these with Terraform's wording.

def pos_at(text: str, off: int, m: Mapper) -> SourceRange:
    """The (empty) range at character ``off`` of ``text``, the snippet ``m`` maps."""
    line = text.count("\n", 0, off) + 1
    col = off - (text.rfind("\n", 0, off) + 1) + 1
    p = m.pos(line, col)
    return SourceRange(m.filename, p, p)


def _ended_line(text: str, end: int) -> int:
    """Where to look for the line break after a node that ends at ``end``: a binary operation's
    trailing line break (and the next line's indentation) and a heredoc's are part of the node."""
    while end > 0 and text[end - 1] in " \t":
        end -= 1
    return end - 1


def missing_newline(text: str, prev_end: int, next_start: int, prev_is_block: bool,
                    m: Mapper) -> Diagnostic | None:
    """Two body items on one line (``a = 1 b = 2``, ``x {}y {}``)."""
    if "\n" in text[_ended_line(text, prev_end):next_start]:
        return None
    what = "block definition" if prev_is_block else "argument"
    article = "A" if prev_is_block else "An"
    return error(f"Missing newline after {what}", f"{article} {what} must end with a newline. "
                 "Put the next one on its own line.", pos_at(text, next_start, m))


def line_break_outside_brackets(text: str, left_end: int, right_start: int, m: Mapper) -> Diagnostic | None:
    """A line break inside an operation that is not in brackets (``a = x &&`` / ``  y``)."""
    nl = text.find("\n", left_end, right_start)
    if nl < 0:
        return None
    rest = text[nl:right_start].lstrip()
    op = right_start - len(rest)
    if rest[:1] in "|&=!<>+-*/%?:" and rest[:1]:
        return error("Argument or block definition required",
                     "An expression continues only inside brackets: this line starts with an operator. "
                     "Move the operator to the end of the previous line, and wrap the expression in "
                     "parentheses to split it over lines.", pos_at(text, op, m))
    return error("Invalid expression", "Expected the start of an expression, but found the end of the line. "
                 "Wrap the expression in parentheses to split it over lines.", pos_at(text, nl, m))


def separator_error(text: str, prev_end: int, next_start: int, m: Mapper) -> Diagnostic | None:
    """Object elements without a comma or a newline between them (``{ a = 1 b = 2 }``)."""
    seg = text[_ended_line(text, prev_end):next_start]
    if "," in seg or "\n" in seg:
        return None
    return error("Missing attribute separator", "Expected a newline or comma to mark the beginning of "
                 "the next attribute.", pos_at(text, next_start, m))


def lone_comma(text: str, off: int, m: Mapper) -> Diagnostic | None:
    """An object's comma at the start of a line: HCL wants it after its element."""
    if text[text.rfind("\n", 0, off) + 1:off].strip(" \t") != "":
        return None
    return error("Invalid expression", "Expected the start of an expression, but found an invalid "
                 'expression token: a "," must follow its element on the same line.', pos_at(text, off, m))


def escape_error(exc: EscapeError, tok: Token, skip: int, m: Mapper) -> Diagnostic:
    """An invalid escape in string token ``tok`` (its text from character ``skip``)."""
    line, col = tok.line or 1, (tok.column or 1) + skip + exc.offset
    before = str(tok)[:skip + exc.offset]
    if "\n" in before:
        line, col = line + before.count("\n"), len(before) - before.rfind("\n")
    return error("Invalid escape sequence", exc.detail,
                 SourceRange(m.filename, m.pos(line, col), m.pos(line, col + exc.length)))


def template_in_label(rng: SourceRange) -> Diagnostic:
    """``data "x" "foo_${bar}" {}``."""
    return error("Invalid string literal", "Template sequences are not allowed in block labels. "
                 'To include a literal "$" or "%", double it (as "$$" or "%%") to escape it.', rng)


def multi_line_string(rng: SourceRange) -> Diagnostic:
    """A quoted string with a line break in it."""
    return error("Invalid multi-line string", "Quoted strings may not be split over multiple lines. To produce a "
                 "multi-line string, either use the \\n escape to represent a newline character or use the "
                 '"heredoc" multi-line template syntax.', rng)
