"""Board errors as host ``OSError``: the errno a board's ``OSError`` message means.

Theory of operation: a board-side ``OSError`` reaches the host as a
:class:`~mpharness.errors.RemoteError`; :func:`os_error` turns it into the built-in subclass
with the host's errno: by number (``[Errno 2] ENOENT``, bare ``2``), by name, or by the
micro:bit's text (``file not found``). Every ``OSError`` ``board.fs`` raises carries the board
path as ``filename``: :func:`naming` adds it where the error came without one.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

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


class BoardOSError(OSError):
    """A board ``OSError`` whose message names no errno (``OSError('card not ready')``):
    ``errno`` is None, ``strerror`` the board's message, ``filename`` the board path."""

    def __str__(self) -> str:
        return f"{self.strerror}: {self.filename!r}"


def os_error(err: RemoteError, path: str) -> Exception:
    """The host exception for a board error: an ``OSError`` subclass with errno and path for
    board ``OSError``s, ``err`` itself otherwise."""
    if err.exc_type not in ("OSError", "IOError"):
        return err
    code = errno_of(err.message)
    if code is None:
        return BoardOSError(None, err.message, path)
    return OSError(code, os.strerror(code), path)


def with_path(err: OSError, path: str) -> None:
    """Make ``err`` name the board path ``path`` (it names none) and keep its text: an
    ``OSError`` made from a message alone (a ``BoardTimeout``) gets it as ``strerror``, and a
    ``TimeoutError`` the errno ``ETIMEDOUT``."""
    if err.strerror is None:
        err.strerror = str(err)
        if err.errno is None and isinstance(err, TimeoutError):
            err.errno = errno.ETIMEDOUT
    err.filename = path


@contextmanager
def naming(path: str) -> Iterator[None]:
    """Give an ``OSError`` that leaves the block without a file name (a ``BoardTimeout``,
    which is a ``TimeoutError``, or one raised on the host) the board path ``path``."""
    try:
        yield
    except OSError as err:
        if err.filename is None:
            with_path(err, path)
        raise
