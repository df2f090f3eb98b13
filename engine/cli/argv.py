"""Read the command line as a Terraform user types it, before the parser sees it.

Terraform spells its flags with one dash (``-chdir=DIR``, ``-out=FILE``,
``-var 'k=v'``, ``-refresh=false``); mlform's are GNU style (``--out``).
:func:`normalize` walks argv along the command tree and rewrites

- a one-dash word that names a long flag of the command in hand to its
  two-dash form (``-out=p.plan`` -> ``--out=p.plan``); short flags that
  exist (``-h``) stay as they are;
- ``--refresh=false`` / ``--lock=true`` (Terraform's boolean spelling) to
  the flag pair (``--no-refresh`` / ``--lock``); another value is an error;
- ``--no-color`` after the command (Terraform takes ``-no-color`` on every
  command) to the front, where the global flag is parsed.

Only words in flag position are touched: the value of a flag that takes
one (``--var x=-1``, ``--var -x``) and everything after ``--`` pass as they
are. A flag the command does not have is reported here, as a diagnostic
that suggests the closest one (``Did you mean "--out"?``); the parser's own
errors (a missing argument, a bad number) become diagnostics too
(:func:`report_usage_error`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from mlform.engine.cli.diagnostics import render
from mlform.engine.diagnostics import DiagnosticsError, error

PROG = "mlform"
HELP_NAMES = ("-h", "--help")
_NUMBER = re.compile(r"^-\d")  # a negative number is a value, not a flag
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_HOISTED = ("--no-color",)  # global flags a Terraform user gives after the command


@dataclass(frozen=True)
class Flag:
    """One option of a command, as far as reading argv needs it."""

    opts: tuple[str, ...]  # --refresh
    secondary: tuple[str, ...]  # --no-refresh
    is_flag: bool  # takes no value
    default: Any


def flags_of(command: Any) -> dict[str, Flag]:
    """Every spelling of every option of a click command (help included) -> the option."""
    out: dict[str, Flag] = {}
    for p in getattr(command, "params", ()):
        if getattr(p, "param_type_name", "") != "option":
            continue
        f = Flag(tuple(p.opts), tuple(p.secondary_opts), bool(p.is_flag), p.default)
        for name in f.opts + f.secondary:
            out[name] = f
    help_flag = Flag(HELP_NAMES, (), True, False)
    out.update({n: help_flag for n in HELP_NAMES})
    return out


def normalize(root: Any, argv: list[str]) -> list[str]:
    """``argv`` with Terraform's spellings rewritten to the ones the parser reads (see module doc).

    Raises DiagnosticsError for a flag the command does not have.
    """
    out: list[str] = []
    hoisted: list[str] = []
    command, path = root, [PROG]
    known, global_flags = flags_of(root), flags_of(root)
    i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok == "--":
            out += argv[i - 1:]
            break
        if not tok.startswith("-") or tok == "-" or _NUMBER.match(tok):
            subs = getattr(command, "commands", None)
            if subs is not None and tok not in subs:  # not a command: the parser says so
                out += argv[i - 1:]
                break
            if subs is not None:
                command, known = subs[tok], flags_of(subs[tok])
                path.append(tok)
            out.append(tok)
            continue
        name, eq, value = tok.partition("=")
        spelled = name
        if name not in known and not name.startswith("--") and len(name) > 2 and "-" + name in known:
            name = "-" + name  # -out -> --out
        if name not in known and command is not root and _gnu(name) in global_flags:
            g = _gnu(name)
            if g in _HOISTED and not eq:
                hoisted.append(g)
                continue
            raise DiagnosticsError(error(
                f'Global flag "{spelled}" after the command',
                f'{g} applies to every command, so it goes before the command: '
                f"`{PROG} {g}{'=' + value if eq else ' VALUE'} {' '.join(path[1:])} ...`."))
        f = known.get(name)
        if f is None:
            raise DiagnosticsError(_unknown(spelled, known, path))
        if f.is_flag:
            if eq:
                as_flag = _bool_flag(f, name, value)
                if as_flag is not None:
                    out.append(as_flag)
            else:
                out.append(name)
        elif eq:
            out.append(f"{name}={value}")
        else:
            out.append(name)
            if i < len(argv):  # its value, whatever it looks like
                out.append(argv[i])
                i += 1
    return hoisted + out


def _gnu(name: str) -> str:
    return "--" + name.lstrip("-")


def _bool_flag(f: Flag, name: str, value: str) -> str | None:
    """``--refresh=false`` -> ``--no-refresh``; None when the value is the flag's default."""
    v = value.strip().lower()
    if v not in _TRUE + _FALSE:
        raise DiagnosticsError(error(f"Invalid value for {name}", f'"{value}" is not a boolean. '
                                     f"Write {name}=true or {name}=false."))
    on = (v in _TRUE) == (name in f.opts)  # --no-lock=false means --lock
    if on:
        return f.opts[0]
    if f.secondary:
        return f.secondary[0]
    if not f.default:
        return None
    raise DiagnosticsError(error(f"Invalid value for {name}", f"{name} cannot be turned off."))


def suggest(name: str, known: dict[str, Flag]) -> str | None:
    """The long flag closest to ``name`` (``-outt`` -> ``--out``), if one is close."""
    bare = name.lstrip("-")
    longs = sorted({k[2:] for k in known if k.startswith("--")})
    close = difflib.get_close_matches(bare, longs, n=1, cutoff=0.6)
    if close:
        return "--" + close[0]
    starting = [k for k in longs if bare and k.startswith(bare)]
    return "--" + starting[0] if len(starting) == 1 else None


def _unknown(spelled: str, known: dict[str, Flag], path: list[str]) -> Any:
    cmd = " ".join(path)
    close = suggest(spelled, known)
    hint = f' Did you mean "{close}"?' if close else ""
    how = "" if spelled.startswith("--") or len(spelled) <= 2 else (
        f" (a one-dash flag is read as its two-dash spelling, {_gnu(spelled)})")
    return error(f'Unknown flag "{spelled}"',
                 f'`{cmd}` has no flag "{spelled}"{how}.{hint}\nRun `{cmd} --help` for the flags it takes.')


def parser_exceptions() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """Usage-error and abort classes of the command-line parser.

    Recent typer releases carry their own copy of click, whose exceptions
    are not ``click.exceptions.*``; a bad option must still read as a usage
    error, not as an internal error.
    """
    import click
    import typer

    usage: list[type[BaseException]] = [click.exceptions.ClickException]
    aborts: list[type[BaseException]] = [click.exceptions.Abort]
    typer_exc = getattr(typer, "TyperException", None)
    if isinstance(typer_exc, type):
        usage.append(typer_exc)
    typer_abort = getattr(typer, "Abort", None)
    if isinstance(typer_abort, type):
        aborts.append(typer_abort)
    return tuple(usage), tuple(aborts)


def report_usage_error(e: BaseException) -> None:
    """A parser error (missing argument, bad value) as a diagnostic, like every other error."""
    if any(c.__name__ == "NoArgsIsHelpError" for c in type(e).__mro__):
        getattr(e, "show")()  # `mlform` or `mlform state` alone: the help
        return
    fmt = getattr(e, "format_message", None)
    message = str(fmt() if fmt is not None else e).strip()
    summary, _, rest = message.partition(". ")
    ctx = getattr(e, "ctx", None)
    where = getattr(ctx, "command_path", None) or "mlform"
    render([error(summary.rstrip("."), (rest + "\n" if rest else "") + f"Run `{where} --help` for usage.")])
