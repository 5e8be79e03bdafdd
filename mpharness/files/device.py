"""Board-side helper code for :mod:`mpharness.files.board_fs`, and board errors as host ``OSError``.

Theory of operation: the helpers are real ``.py`` files in ``mpharness/_device/`` (``fs_*.py``),
read with :mod:`importlib.resources` and compacted (comments and blank lines dropped,
indentation cut to one space per level) because every byte costs time on slow links.
:func:`device_code` joins the helper files an operation needs and appends one call whose
arguments are ``repr()`` literals. A board-side ``OSError`` reaches the host as a
:class:`~mpharness.errors.RemoteError`; :func:`os_error` turns it into the built-in subclass
with the host's errno: by number (``[Errno 2] ENOENT``, bare ``2``), by name, or by the
micro:bit's text (``file not found``).
"""

from __future__ import annotations

import errno
import functools
import importlib.resources
import os
import re

from mpharness.errors import RemoteError

#: MicroPython's errno numbers (py/mperrno.h, Linux values) -> names, so a host whose own
#: numbers differ (macOS, Windows) still gets the right exception class.
MP_ERRNO = {
    1: "EPERM",
    2: "ENOENT",
    5: "EIO",
    9: "EBADF",
    11: "EAGAIN",
    12: "ENOMEM",
    13: "EACCES",
    16: "EBUSY",
    17: "EEXIST",
    19: "ENODEV",
    20: "ENOTDIR",
    21: "EISDIR",
    22: "EINVAL",
    28: "ENOSPC",
    30: "EROFS",
    39: "ENOTEMPTY",
    95: "EOPNOTSUPP",
    110: "ETIMEDOUT",
}

#: messages of old firmware that carry no number
_TEXT_ERRNO = {"file not found": "ENOENT", "no space": "ENOSPC", "out of space": "ENOSPC"}

_NUMBER = re.compile(r"^\s*(?:\[Errno\s+)?(-?\d+)\]?")
_NAME = re.compile(r"\b(E[A-Z]{2,})\b")


@functools.cache
def helper_source(name: str) -> str:
    """The compacted source of ``mpharness/_device/<name>.py``."""
    text = importlib.resources.files("mpharness").joinpath("_device", f"{name}.py")
    lines = []
    for line in text.read_text("utf-8").split("\n"):
        stripped = line.lstrip(" ")
        if stripped and not stripped.startswith("#"):
            lines.append(" " * ((len(line) - len(stripped)) // 4) + stripped)
    return "\n".join(lines) + "\n"


def call(func: str, *args: object) -> str:
    """``func(arg, ...)`` with every argument a ``repr()`` literal."""
    return f"{func}({', '.join(repr(arg) for arg in args)})"


def device_code(helpers: tuple[str, ...], *statements: str) -> str:
    """The helper files named, then ``statements`` (one per line)."""
    return "".join(helper_source(h) for h in helpers) + "\n".join(statements) + "\n"


def errno_of(message: str) -> int | None:
    """The host errno for a board ``OSError`` message, or None when it names none."""
    name: str | None = None
    number = _NUMBER.match(message)
    if number:
        name = MP_ERRNO.get(int(number.group(1)))
        if name is None:
            return int(number.group(1))
    if name is None:
        found = _NAME.search(message)
        name = found.group(1) if found else None
    if name is None:
        name = _TEXT_ERRNO.get(message.strip().lower())
    return getattr(errno, name, None) if name else None


def os_error(err: RemoteError, path: str) -> Exception:
    """The host exception for a board error: an ``OSError`` subclass with errno and path for
    board ``OSError``s, ``err`` itself otherwise."""
    if err.exc_type not in ("OSError", "IOError"):
        return err
    code = errno_of(err.message)
    if code is None:
        return OSError(f"{err.message} (board {path!r})")
    return OSError(code, os.strerror(code), path)
