"""``${VAR}`` substitution in rig-file strings.

Theory of operation: a rig-file string is a template. ``parse`` splits it into literal text and
variable references; rig loading calls it once to reject bad syntax with a line number, and
``expand`` calls it again when the value is used, looking the variables up in an environment
mapping. The grammar is deliberately small:

``$$``                 a literal ``$``
``${NAME}``            the value of NAME; an error when NAME is not set (empty is fine)
``${NAME:-default}``   the value of NAME, or ``default`` when NAME is unset or empty;
                       ``default`` is literal text and may not contain ``}``
``$`` + anything else  a literal ``$`` (so a password such as ``pa$word`` needs no escaping)

With ``bare=True`` (IoT-Kernel device files, host paths only) ``$NAME`` is substituted too,
as IoT Kernel does for ``path: $IOT_PROJECTS``.

NAME is ``[A-Za-z_][A-Za-z0-9_]*``. Error messages never quote the template text: the caller
decides whether the value may be shown (a password must not be).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["MissingVariable", "TemplateSyntaxError", "check", "expand", "variables"]

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


class TemplateSyntaxError(ValueError):
    """A ``${...}`` reference is malformed.

    Attributes:
        column: 0-based offset of the offending ``$`` in the template.
    """

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column


class MissingVariable(LookupError):
    """A ``${NAME}`` without default names an unset environment variable.

    Attributes:
        name: the variable's name.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class _Var:
    name: str
    default: str | None


def _parse(text: str, bare: bool) -> list[str | _Var]:
    pieces: list[str | _Var] = []
    literal: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            literal.append(text[i:])
            break
        literal.append(text[i:j])
        follower = text[j + 1 : j + 2]
        var: _Var | None = None
        if follower == "$":
            literal.append("$")
            i = j + 2
        elif follower == "{":
            end = text.find("}", j + 2)
            if end < 0:
                raise TemplateSyntaxError("unterminated '${' (no closing '}')", j)
            match = _BRACED_RE.fullmatch(text, j + 2, end)
            if match is None:
                raise TemplateSyntaxError(
                    "bad substitution: write ${NAME} or ${NAME:-default} (and $$ for a '$')", j
                )
            var, i = _Var(match[1], match[2]), end + 1
        elif bare and (match := _NAME_RE.match(text, j + 1)) is not None:
            var, i = _Var(match[0], None), match.end()
        else:
            literal.append("$")
            i = j + 1
        if var is not None:
            pieces.append("".join(literal))
            literal.clear()
            pieces.append(var)
    pieces.append("".join(literal))
    return [piece for piece in pieces if piece != ""]


def check(text: str, *, bare: bool = False) -> None:
    """Raise TemplateSyntaxError if ``text`` is not a valid template."""
    _parse(text, bare)


def variables(text: str, *, bare: bool = False) -> list[str]:
    """The names of the variables ``text`` refers to, in order of appearance."""
    return [piece.name for piece in _parse(text, bare) if isinstance(piece, _Var)]


def expand(text: str, environ: Mapping[str, str], *, bare: bool = False) -> str:
    """Substitute the variables of ``text`` from ``environ``.

    Raises:
        TemplateSyntaxError: the template is malformed.
        MissingVariable: a variable without default is not set.
    """
    out: list[str] = []
    for piece in _parse(text, bare):
        if isinstance(piece, str):
            out.append(piece)
            continue
        value = environ.get(piece.name)
        if piece.default is not None and not value:
            out.append(piece.default)
        elif value is None:
            raise MissingVariable(piece.name)
        else:
            out.append(value)
    return "".join(out)
