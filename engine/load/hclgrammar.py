"""mlform's HCL grammar for python-hcl2's Lark parser, and the parser built from it.

python-hcl2 8.1.4's ``hcl2.lark`` with the changes that make it read HCL as
Terraform does (issue 21); its post-lexer (a line break before a binary
operator merges into it) is used as is:

- a ``/* comment */`` without a line break is a blank (``INLINE_COMMENT``,
  ignored), so it may sit between block labels; one with a line break still
  ends a line (``NL_OR_COMMENT``);
- identifiers are Unicode (``π``), as HCL's ``ID_Start (ID_Continue | -)*``;
- a heredoc's end marker may be followed by blanks;
- ``${~ x ~}`` strip markers in quoted templates;
- unary operators nest (``!!x``, ``- -x``);
- namespaced function names (``core::upper``, ``provider::NAME::fn``);
- ``=>`` of a ``for`` object may start a line;
- a block's ``{`` must be on its header's line.

What the grammar cannot say (a line break inside an expression outside
brackets, a newline between body items, escapes) ``hclbuild`` checks.
"""

from __future__ import annotations

import functools

from hcl2.postlexer import PostLexer
from lark import Lark, Token, Tree

GRAMMAR = r"""
// ============================================================================
// ============================================================================

NL_OR_COMMENT: /\n[ \t]*/ | /#.*\n/ | /\/\/.*\n/ | /\/\*(?:[^*\n]|\*(?!\/))*\n(.|\n)*?(\*\/)/
// a /* comment */ without a line break is a blank, as in HCL (between block labels too)
INLINE_COMMENT: /\/\*(?:[^*\n]|\*(?!\/))*\*\//

IF : "if"
IN : "in"
FOR : "for"
FOR_EACH : "for_each"
ELSE : "else"
ENDIF : "endif"
ENDFOR : "endfor"

NULL : "null"
TRUE : "true"
FALSE : "false"

NAME : /[^\W\d][\w-]*/
ESCAPED_INTERPOLATION.2: /\$\$\{[^}]*\}/
ESCAPED_DIRECTIVE.2: /%%\{[^}]*\}/
STRING_CHARS.1: /(?:(?!\$\$\{)(?!\$\{)(?!%%\{)(?!%\{)[^"\\]|\\.|(?:\$(?!\$?\{))|(?:%(?!%?\{)))+/
DECIMAL : "0".."9"
NEGATIVE_DECIMAL : "-" DECIMAL
EXP_MARK : ("e" | "E") ("+" | "-")? DECIMAL+
INT_LITERAL: NEGATIVE_DECIMAL? DECIMAL+
FLOAT_LITERAL: (NEGATIVE_DECIMAL? DECIMAL+ | NEGATIVE_DECIMAL+) "." DECIMAL+ (EXP_MARK)?
               | (NEGATIVE_DECIMAL? DECIMAL+ | NEGATIVE_DECIMAL+) (EXP_MARK)

DOUBLE_EQ : "=="
NEQ : "!="
LT : "<"
GT : ">"
LEQ : "<="
GEQ : ">="
MINUS : "-"
ASTERISK : "*"
SLASH : "/"
PERCENT : "%"
DOUBLE_AMP : "&&"
DOUBLE_PIPE : "||"
PLUS : "+"
NOT : "!"
QMARK : "?"

LPAR : "("
RPAR : ")"
LBRACE : "{"
RBRACE : "}"
LSQB : "["
RSQB : "]"
COMMA : ","
DOT : "."
EQ : /[ \t]*=(?!=|>)/
COLON : /[ \t]*:(?!:)/
DBLQUOTE : "\""
TEMPLATE_STRING.3 : /\\\\"(?:[^"\\\\]|\\\\.)*\\\\"/

INTERP_START : "${"

DIRECTIVE_START : "%{"
STRIP_MARKER : "~"

ATTR_SPLAT : ".*"
FULL_SPLAT_START : "[*]"

FOR_OBJECT_ARROW : "=>"
ELLIPSIS : "..."
COLONS: "::"

HEREDOC_TEMPLATE : /<<(?P<heredoc>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:(?:.|\n)*?\r?\n)??\s*(?P=heredoc)[ \t]*\r?\n/
HEREDOC_TEMPLATE_TRIM : /<<-(?P<heredoc_trim>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:(?:.|\n)*?\r?\n)??\s*(?P=heredoc_trim)[ \t]*\r?\n/

%ignore /[ \t\r]+/
%ignore INLINE_COMMENT

// ============================================================================
// ============================================================================

start : body

body : (new_line_or_comment? (attribute | block))* new_line_or_comment?
attribute : _attribute_name EQ expression
_attribute_name : identifier | keyword | literal_value
block : _attribute_name (_attribute_name | string)* LBRACE body RBRACE

new_line_or_comment: ( NL_OR_COMMENT )+

identifier : NAME
keyword: IN | FOR | IF | FOR_EACH | ELSE | ENDIF | ENDFOR
literal_value: TRUE | FALSE | NULL
int_lit: INT_LITERAL
float_lit: FLOAT_LITERAL
string: DBLQUOTE string_part* DBLQUOTE
string_part: STRING_CHARS
           | ESCAPED_INTERPOLATION
           | ESCAPED_DIRECTIVE
           | interpolation
           | template_if_start
           | template_else
           | template_endif
           | template_for_start
           | template_endfor

?expression : or_expr QMARK new_line_or_comment? expression new_line_or_comment? COLON new_line_or_comment? expression -> conditional
            | or_expr
interpolation: INTERP_START STRIP_MARKER? expression STRIP_MARKER? RBRACE

template_if_start: DIRECTIVE_START STRIP_MARKER? IF expression STRIP_MARKER? RBRACE
template_else: DIRECTIVE_START STRIP_MARKER? ELSE STRIP_MARKER? RBRACE
template_endif: DIRECTIVE_START STRIP_MARKER? ENDIF STRIP_MARKER? RBRACE
template_for_start: DIRECTIVE_START STRIP_MARKER? FOR identifier (COMMA identifier)? IN expression STRIP_MARKER? RBRACE
template_endfor: DIRECTIVE_START STRIP_MARKER? ENDFOR STRIP_MARKER? RBRACE

?or_expr : or_expr or_binary_term new_line_or_comment? -> binary_op
         | and_expr
or_binary_term : or_binary_operator new_line_or_comment? and_expr -> binary_term
!or_binary_operator : DOUBLE_PIPE -> binary_operator

?and_expr : and_expr and_binary_term new_line_or_comment? -> binary_op
          | eq_expr
and_binary_term : and_binary_operator new_line_or_comment? eq_expr -> binary_term
!and_binary_operator : DOUBLE_AMP -> binary_operator

?eq_expr : eq_expr eq_binary_term new_line_or_comment? -> binary_op
         | rel_expr
eq_binary_term : eq_binary_operator new_line_or_comment? rel_expr -> binary_term
!eq_binary_operator : DOUBLE_EQ -> binary_operator
                    | NEQ -> binary_operator

?rel_expr : rel_expr rel_binary_term new_line_or_comment? -> binary_op
          | add_expr
rel_binary_term : rel_binary_operator new_line_or_comment? add_expr -> binary_term
!rel_binary_operator : LT -> binary_operator
                     | GT -> binary_operator
                     | LEQ -> binary_operator
                     | GEQ -> binary_operator

?add_expr : add_expr add_binary_term new_line_or_comment? -> binary_op
          | mul_expr
add_binary_term : add_binary_operator new_line_or_comment? mul_expr -> binary_term
!add_binary_operator : PLUS -> binary_operator
                     | MINUS -> binary_operator

?mul_expr : mul_expr mul_binary_term new_line_or_comment? -> binary_op
          | unary_expr
mul_binary_term : mul_binary_operator new_line_or_comment? unary_expr -> binary_term
!mul_binary_operator : ASTERISK -> binary_operator
                     | SLASH -> binary_operator
                     | PERCENT -> binary_operator

?unary_expr : unary_op | expr_term
!unary_op : (MINUS | NOT) unary_expr

expr_term : LPAR new_line_or_comment? expression new_line_or_comment? RPAR
            | float_lit
            | int_lit
            | string
            | template_string
            | tuple
            | object
            | identifier
            | literal_value
            | function_call
            | heredoc_template
            | heredoc_template_trim
            | index_expr_term
            | get_attr_expr_term
            | attr_splat_expr_term
            | full_splat_expr_term
            | for_tuple_expr
            | for_object_expr

template_string : TEMPLATE_STRING

tuple : LSQB new_line_or_comment? (expression new_line_or_comment? COMMA new_line_or_comment?)* (expression new_line_or_comment? COMMA? new_line_or_comment?)?  RSQB
object : LBRACE new_line_or_comment? ((object_elem | (object_elem new_line_or_comment? COMMA)) new_line_or_comment?)* RBRACE
object_elem : object_elem_key ( EQ | COLON ) expression
object_elem_key : expression | keyword

heredoc_template : HEREDOC_TEMPLATE
heredoc_template_trim : HEREDOC_TEMPLATE_TRIM

function_call : identifier (COLONS identifier)* LPAR new_line_or_comment? arguments? new_line_or_comment? RPAR
arguments : (expression (new_line_or_comment? COMMA new_line_or_comment? expression)* (COMMA | ELLIPSIS)? new_line_or_comment?)

index_expr_term : expr_term index
get_attr_expr_term : expr_term get_attr
attr_splat_expr_term : expr_term attr_splat
full_splat_expr_term : expr_term full_splat
?index : braces_index | short_index
braces_index : LSQB new_line_or_comment? expression new_line_or_comment? RSQB
short_index : DOT INT_LITERAL
get_attr : DOT (identifier | literal_value)
attr_splat : ATTR_SPLAT (get_attr | index)*
full_splat : FULL_SPLAT_START (get_attr | index)*

!for_tuple_expr : LSQB new_line_or_comment? for_intro new_line_or_comment? expression new_line_or_comment? for_cond? new_line_or_comment? RSQB
!for_object_expr : LBRACE new_line_or_comment? for_intro new_line_or_comment? expression new_line_or_comment? FOR_OBJECT_ARROW new_line_or_comment? expression new_line_or_comment? ELLIPSIS? new_line_or_comment? for_cond? new_line_or_comment? RBRACE
!for_intro : FOR new_line_or_comment? identifier (COMMA identifier new_line_or_comment?)? new_line_or_comment? IN new_line_or_comment? expression new_line_or_comment? COLON new_line_or_comment?
!for_cond : IF new_line_or_comment? expression
"""


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser (built once; Lark caches the tables in the temporary directory)."""
    return Lark(GRAMMAR, parser="lalr", cache=True, propagate_positions=True, postlex=PostLexer())


def parse_tree(text: str) -> Tree[Token]:
    """``text``'s parse tree; raises lark's ``UnexpectedInput`` on a syntax error.

    A line break is appended, as python-hcl2 does (the grammar has no end-of-file token).
    """
    return parser().parse(text + "\n")
