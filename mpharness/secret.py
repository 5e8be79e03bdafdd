"""Keeping secrets out of text: a masked password type and URLs without credentials.

Theory of operation
-------------------
A WebREPL password travels from the rig file (or ``$MPHARNESS_WEBREPL_PASSWORD``) to the one
socket write that logs in. On the way it sits in dataclass fields, function arguments and local
variables, which ``repr``, ``pytest --tb=long -l``, JUnit XML and debuggers print. It therefore
travels as a :class:`Secret`, whose ``repr``/``str`` are a mask; only :meth:`Secret.reveal`
gives the value, and the login is the one place that calls it.

URLs may carry credentials too (``ws://user:pw@host``). :func:`redact_url` drops the user-info
part by text alone, so it also works on URLs that do not parse (a bad port, a bad IPv6 literal),
which is exactly when they end up in an error message.
"""

from __future__ import annotations

import hmac
import re

__all__ = ["MASK", "Secret", "redact_url", "reveal"]

#: What a secret looks like in any text.
MASK = "***"
#: ``scheme://userinfo@`` at the start of a URL (user-info ends at the last ``@`` before a
#: ``/``, ``?`` or ``#``).
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


class Secret:
    """A secret string that never shows itself (``repr``, ``str``, tracebacks' locals).

    Compares equal to an equal :class:`Secret` or ``str`` (in constant time), so code that
    only checks a value need not reveal it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        # a str subclass (a rig file's located template text) is kept as it is
        self._value: str = value.reveal() if isinstance(value, Secret) else value

    def reveal(self) -> str:
        """The secret itself: call it only where the value must leave the process."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            other = other.reveal()
        if not isinstance(other, str):
            return NotImplemented
        return hmac.compare_digest(self._value.encode("utf-8"), other.encode("utf-8"))

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    __str__ = __repr__


def reveal(value: str | Secret | None) -> str | None:
    """The plain value of a secret given as ``str``, :class:`Secret` or None."""
    return value.reveal() if isinstance(value, Secret) else value


def redact_url(url: str) -> str:
    """``url`` without its user-info part: ``ws://admin:pw@host/`` -> ``ws://host/``.

    Works on text that does not parse as a URL; anything without ``scheme://...@`` is
    returned unchanged.
    """
    return _USERINFO.sub(r"\1", url, count=1)
