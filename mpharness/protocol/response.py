"""Locating the end of one exec reply in the device's byte stream.

Theory of operation
-------------------
After the code is accepted, the device sends ``stdout \\x04 error \\x04 >``. A program that
prints ``\\x04`` (or ``\\x04\\x04>``) can imitate that framing, so the host appends one
statement to every exec that prints a per-call random *end marker* (``\\x1e<nonce>\\x1f``).
The device can only print the marker by actually reaching the end of the code, so:

* ``<marker><EOL>\\x04 error \\x04 >`` is a completed run: certain, unforgeable.
* ``\\x04 error \\x04 >`` with a non-empty error and no marker is a run that raised.
* ``\\x04 \\x04`` followed by anything but ``>`` is SystemExit: the board is rebooting.
* ``\\x04\\x04>`` with no marker and no error cannot come from the device: it was printed
  by the program, so the scan goes on and those bytes count as stdout.

:func:`scan` is pure: it looks at everything received since the reply began and either
finds the end or says how many leading bytes are certainly stdout (safe to stream).
"""

from __future__ import annotations

from dataclasses import dataclass

_EOT = 0x04
_PROMPT = ord(">")
_EOLS = (b"\r\n", b"\n", b"")


@dataclass(frozen=True)
class ReplyEnd:
    """Where and how one exec reply ended."""

    stdout: bytes
    error: bytes
    completed: bool
    exited: bool
    consumed: int  #: number of bytes of the buffer that belong to this reply


def _strip_marker(out: bytes, marker: bytes) -> bytes | None:
    for eol in _EOLS:
        tail = marker + eol
        if out.endswith(tail):
            return out[: len(out) - len(tail)]
    return None


def _streamable(buf: bytes, limit: int, marker: bytes) -> int:
    """Bytes before ``limit`` that cannot be the start of the marker line."""
    window_start = max(0, limit - len(marker) - 2)
    lead = marker[:1]
    i = buf.rfind(lead, window_start, limit)
    if i >= 0 and (marker + b"\r\n").startswith(buf[i:limit]):
        return i
    return limit


def scan(buf: bytes, marker: bytes, start: int = 0) -> tuple[ReplyEnd | None, int, int]:
    """Look for the end of a reply in ``buf``.

    Args:
        buf: all bytes received since the reply began (after ``OK`` or the paste ack).
        marker: this exec's end marker.
        start: where to resume looking for the stdout terminator (a previous call's result).

    Returns:
        ``(end, streamable, resume)``: ``end`` is the finished reply or None; ``streamable`` is
        how many leading bytes are certainly stdout; ``resume`` is the ``start`` for the next call.
    """
    pos = start
    while True:
        p = buf.find(_EOT, pos)
        if p < 0:
            return None, _streamable(buf, len(buf), marker), pos
        q = buf.find(_EOT, p + 1)
        if q < 0 or q + 1 >= len(buf):
            return None, _streamable(buf, p, marker), pos
        error = buf[p + 1 : q]
        at_prompt = buf[q + 1] == _PROMPT
        stdout = _strip_marker(buf[:p], marker)
        if stdout is not None:
            return ReplyEnd(stdout, error, True, not at_prompt, q + 2 if at_prompt else q + 1), 0, p
        if marker not in buf[p:q]:
            if at_prompt and error:
                return ReplyEnd(buf[:p], error, False, False, q + 2), 0, p
            if not at_prompt and not error:
                return ReplyEnd(buf[:p], b"", False, True, q + 1), 0, p
        pos = p + 1  # a \x04 the program printed itself
