"""replace() with a /regex/: Go (RE2) syntax and Go's replacement rules.

Every expected value was printed by Terraform v1.11.4's ``terraform console``
for the same call; the error cases are patterns Terraform also refuses.
"""

from __future__ import annotations

import pathlib

import pytest

from mlform.engine.expr.functions import FunctionContext, FunctionError, call_function


def replace(s: str, pattern: str, replacement: str) -> str:
    result = call_function("replace", [s, pattern, replacement], FunctionContext(base_dir=pathlib.Path(".")))
    assert isinstance(result, str)
    return result


CASES = [
    # replacement templates: $0, $1, ${name}, $$; $1x means group "1x"; unknown groups are empty
    ("hello", "/l+/", "[$0]", "he[ll]o"),
    ("hello", "/(?P<x>l)/", "$x$1${x}z$xz$$-$", "helllz$-$lllz$-$o"),
    ("hello", "/(l)/", "$01|$1x|${1}x|${|${x", "he||lx|${|${x||lx|${|${xo"),
    ("hello", "/l/", "\\$0", "he\\l\\lo"),
    ("x-1 y-22", "/([a-z])-(\\d+)/", "${2}_$1", "1_x 22_y"),
    ("abc", "/(a)|(z)/", "[$2]", "[]bc"),
    ("aa", "/(?P<n>a)(?P<n>a)/", "<$n>", "<a>"),  # Go allows repeated names; the first wins
    ("a", "/(?<n>a)/", "[${n}]", "[a]"),
    ("a.b", "/\\./", "\\.", "a\\.b"),
    # empty matches: none right after a previous match
    ("abxd", "/x*/", "-", "-a-b-d-"),
    ("a", "/(|a)/", "-", "-a-"),
    ("aaa", "/a*?/", "-", "-a-a-a-"),
    ("hello", "//", "-", "-h-e-l-l-o-"),
    ("", "/^$/", "empty", "empty"),
    # a lone "/" is a plain substring
    ("hello", "/", "X", "hello"),
    # anchors: $ is end of text unless (?m); ^ likewise
    ("hello\n", "/o$/", "X", "hello\n"),
    ("hello\n", "/(?m)o$/", "X", "hellX\n"),
    ("a\nb\n", "/^/", ">", ">a\nb\n"),
    ("a\nb\n", "/(?m)^/", ">", ">a\n>b\n>"),
    ("abc", "/$/", "!", "abc!"),
    ("abc", "/\\z/", "!", "abc!"),
    # flags, including mid-pattern and ungreedy
    ("ab", "/(?i)A/", "X", "Xb"),
    ("ab", "/a(?i)B/", "X", "X"),
    ("aB|cD", "/a(?i)b|C/", "X", "X|XD"),
    ("ABC", "/(?i)a(?-i)B/", "x", "xC"),
    ("a\u212a", "/(?i)k/", "x", "ax"),
    ("hello", "/(?U)l+/", "X", "heXXo"),
    ("hello", "/(?U)l+?/", "X", "heXo"),
    ("a\nb", "/a.b/", "X", "a\nb"),
    ("a\nb", "/(?s)a.b/", "X", "X"),
    # classes: Perl classes and \b are ASCII-only; Unicode categories; POSIX classes
    ("a1\u0663", "/\\d/", "X", "aX\u0663"),
    ("a b\tc\u00a0d", "/\\s/", "_", "a_b_c\u00a0d"),
    ("héllo wörld", "/\\w+/", "W", "WéW WöW"),
    ("abc", "/\\b/", "|", "|abc|"),
    ("café bar", "/\\b/", "|", "|caf|é |bar|"),
    ("hello World", "/\\p{Lu}/", "X", "hello Xorld"),
    ("héllo", "/\\pL/", "X", "XXXXX"),
    ("hello", "/[[:alpha:]]/", "X", "XXXXX"),
    ("AbC", "/[[:^lower:]]/", "x", "xbx"),
    ("a]b", "/[]]/", "X", "aXb"),
    ("a-b", "/[a-]/", "X", "XXb"),
    # escapes and literals
    ("hel.lo", "/\\Q.\\E/", "X", "helXlo"),
    ("x--y", "/\\A\\QA.\\E*/", "-", "x--y"),  # the * applies to the last quoted character only
    ("\U0001F600x", "/\\x{1F600}/", "S", "Sx"),
    ("abc", "/\\x61/", "A", "Abc"),
    ("x{2}", "/x{/", "Y", "Y2}"),
    ("hello", "/l{2}/", "L", "heLo"),
]


@pytest.mark.parametrize(("s", "pattern", "replacement", "expected"), CASES)
def test_regex_replace_matches_terraform(s: str, pattern: str, replacement: str, expected: str) -> None:
    assert replace(s, pattern, replacement) == expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("/[/", r"missing closing \]"),
        ("/(?=l)/", r"invalid or unsupported Perl syntax: `\(\?=`"),
        ("/(?<=l)/", r"invalid or unsupported Perl syntax: `\(\?<`"),
        ("/(?>a)/", r"invalid or unsupported Perl syntax"),
        ("/(a)\\1/", r"invalid escape sequence: `\\1`"),
        ("/a++/", r"invalid nested repetition operator: `\+\+`"),
        ("/a**/", r"invalid nested repetition operator"),
        ("/*a/", r"missing argument to repetition operator: `\*`"),
        ("/a{1001}/", r"invalid repeat count"),
        ("/(a/", r"missing closing \)"),
        ("/a)/", r"unexpected \)"),
        ("/\\p{Greek}/", r"invalid character class range: .*not script names"),
        ("/[z-a]/", r"invalid character class range"),
    ],
)
def test_patterns_re2_refuses_are_errors(pattern: str, message: str) -> None:
    with pytest.raises(FunctionError, match=r'Invalid value for "substr" parameter: error parsing regexp: ' + message) as exc:
        replace("hello", pattern, "X")
    assert exc.value.arg_index == 1
