"""Host-side framing helpers: the per-exec end marker and device tracebacks.

The end marker is what makes a completed run unforgeable (see ``response.py``): the code
sent to the board gets one more statement, on a line of its own after the user's code, that
prints ``\\x1e`` + a random nonce + ``\\x1f``. Appending (never prepending) keeps the user's
line numbers intact.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

MARKER_LEAD = b"\x1e"
MARKER_TAIL = b"\x1f"
_FRAME_LINE = re.compile(r"^\s+File ")
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$", re.S)


def make_marker(nonce: bytes) -> bytes:
    """The bytes the board prints when an exec with this ``nonce`` (hex digits) completes."""
    return MARKER_LEAD + nonce + MARKER_TAIL


def new_nonce() -> bytes:
    """A random nonce: 9 decimal digits, a small int on every MicroPython port (< 2**30)."""
    return str(secrets.randbelow(9 * 10**8) + 10**8).encode()


def with_end_marker(code: str | bytes, nonce: bytes) -> bytes:
    """``code`` (text, or source bytes as they go to the board) with the marker-printing
    statement appended on its own line.

    A decimal nonce travels as an int literal formatted into a constant string: MicroPython
    interns short string literals for good, so a fresh string literal per exec would leak
    a little heap on every call (fatal on a 10 KB micro:bit over a long session).
    """
    body = code.encode("utf-8") if isinstance(code, str) else code
    if body and not body.endswith(b"\n"):
        body += b"\n"
    if nonce.isdigit() and not nonce.startswith(b"0"):
        return body + b"print('\\x1e%d\\x1f'%" + nonce + b")"
    return body + b"print('\\x1e" + nonce + b"\\x1f')"


@dataclass(frozen=True)
class DeviceException:
    """An exception as the board printed it."""

    exc_type: str
    message: str
    traceback: str


def parse_exception(error: bytes) -> DeviceException:
    """Split the device's error section into exception type, message and full traceback.

    The traceback header and the indented ``File ...`` frame lines come first; the first
    line after them at column 0 names the exception (``ZeroDivisionError: divide by zero``),
    and everything after its ``: `` up to the end is the message (which may span lines).
    """
    text = error.decode("utf-8", "replace").replace("\r\n", "\n")
    lines = text.split("\n")
    i = 0
    if lines and lines[0].startswith("Traceback (most recent call last)"):
        i = 1
    while i < len(lines) and (_FRAME_LINE.match(lines[i]) or lines[i].startswith("    ")):
        i += 1
    rest = "\n".join(lines[i:]).rstrip("\n")
    match = _EXC_LINE.match(rest.split("\n", 1)[0]) if rest else None
    if match is None:
        return DeviceException("Exception", rest or text.strip(), text)
    head = match.group(1)
    message = rest[len(head) :]
    if message.startswith(":"):
        message = message[1:]
        message = message[1:] if message.startswith(" ") else message
    return DeviceException(head, message.rstrip(), text)
