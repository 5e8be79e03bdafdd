"""Locating the end of one exec reply in the device's byte stream.

Theory of operation
-------------------
After the code is accepted, the device sends ``stdout \\x04 error \\x04 >``. A program that
prints ``\\x04`` (or ``\\x04\\x04>``) can imitate that framing, so the host appends one
statement to every exec that prints a per-call random *end marker* (``\\x1e<nonce>\\x1f``).
The device can only print the marker by actually reaching the end of the code, so:

* ``<marker><EOL>\\x04 error \\x04 >`` is a completed run: certain, unforgeable. Background
  output (a timer callback) that lands after the marker does not change that; the first
  ``\\x04`` after the marker is the device's, because the program has ended.
* ``\\x04 error \\x04 >`` with a non-empty error and no marker is a run that raised.
* ``\\x04 \\x04`` followed by anything but ``>`` is SystemExit, once the reboot text
  (``soft reboot``) or the raw banner follows before any other ``\\x04``: the board is
  rebooting. Another ``\\x04`` first means the program printed the pair, and the scan goes on.
* ``\\x04\\x04>`` with no marker and no error cannot come from modern firmware: it was
  printed by the program, so the scan goes on and those bytes count as stdout. Firmware
  older than v1.14 (``exit_returns_prompt``) answers SystemExit exactly so, without a
  reboot; there it is taken as SystemExit, which is reported as a failure: a forgery can
  only turn a result into a failure, never into a pass.

With an empty marker (the engine's own helper execs, which print nothing) the first
``\\x04 error \\x04 >`` ends the reply.

:func:`scan` is pure: it looks at everything received since the reply began and either
finds the end or says how many leading bytes are certainly stdout (safe to stream).
"""

from __future__ import annotations

from dataclasses import dataclass

_EOT = 0x04
_PROMPT = ord(">")
_EOLS = (b"\r\n", b"\n", b"")
#: Text that confirms a SystemExit frame: the reboot line, or the raw banner it ends with.
_REBOOT_SIGNS = (b"soft reboot", b"raw REPL; CTRL-B to exit\r\n>")


@dataclass(frozen=True)
class ReplyEnd:
    """Where and how one exec reply ended."""

    stdout: bytes
    error: bytes
    completed: bool
    exited: bool
    rebooting: bool  #: the board is soft-rebooting after SystemExit (no prompt came)
    consumed: int  #: number of bytes of the buffer that belong to this reply


def _strip_marker(out: bytes, marker: bytes) -> bytes | None:
    """``out`` without the marker line, or None when the marker is not in it.

    The marker and its line end normally close ``out``. Background output (a timer callback,
    a thread) may land after the marker or between it and its line end: it is kept.
    """
    i = out.rfind(marker)
    if i < 0:
        return None
    rest = out[i + len(marker) :]
    for eol in _EOLS[:2]:
        if rest.startswith(eol):
            return out[:i] + rest[len(eol) :]
    for eol in _EOLS[:2]:
        if rest.endswith(eol):
            return out[:i] + rest[: len(rest) - len(eol)]
    return out[:i] + rest


def _streamable(buf: bytes, limit: int, marker: bytes, streamed: int) -> int:
    """Bytes before ``limit`` that cannot belong to the marker line.

    Nothing at or after a complete marker is streamed (what follows it is its line end, or
    background output, released when the frame ends); a tail that could still grow into the
    marker line is held back.
    """
    whole = buf.find(marker, streamed, limit) if marker else -1
    if whole >= 0:
        return whole
    window_start = max(0, limit - len(marker) - 2)
    lead = marker[:1]
    i = buf.rfind(lead, window_start, limit)
    if i >= 0 and any((marker + eol).startswith(buf[i:limit]) for eol in _EOLS[:2]):
        return i
    return limit


def _reboot_follows(buf: bytes, start: int) -> bool | None:
    """After a ``\\x04\\x04`` pair: True if reboot text follows, False if another ``\\x04``
    comes first (the program printed the pair), None if the bytes so far cannot tell."""
    nxt = buf.find(_EOT, start)
    segment = buf[start:] if nxt < 0 else buf[start:nxt]
    if any(sign in segment for sign in _REBOOT_SIGNS):
        return True
    return None if nxt < 0 else False


def _completed(
    buf: bytes,
    stdout: bytes,
    error: bytes,
    q: int,
    at_prompt: bool,
    p: int,
    pos: int,
    marker: bytes,
    streamed: int,
) -> tuple[ReplyEnd | None, int, int]:
    """The end of a run whose marker arrived: the code ran to its end, so it neither raised
    nor exited. Background output (a thread, a timer) that lands in the error section or
    before the prompt is stdout, not an error; the reply ends at the prompt."""
    late = b""
    if not at_prompt:
        gt = buf.find(_PROMPT, q + 1)
        if gt < 0:  # background output before the prompt: wait for the prompt
            return None, _streamable(buf, p, marker, streamed), pos
        late = buf[q + 1 : gt]
    if error and not error.startswith(b"Traceback"):  # a KeyboardInterrupt stays an error
        stdout, error = stdout + error, b""
    end = q + 2 + len(late)
    return ReplyEnd(stdout + late, error, True, False, False, end), 0, p


def scan(
    buf: bytes,
    marker: bytes,
    start: int = 0,
    streamed: int = 0,
    exit_returns_prompt: bool = False,
) -> tuple[ReplyEnd | None, int, int]:
    """Look for the end of a reply in ``buf``.

    Args:
        buf: all bytes received since the reply began (after ``OK`` or the paste ack).
        marker: this exec's end marker.
        start: where to resume looking for the stdout terminator (a previous call's result).
        exit_returns_prompt: the firmware answers SystemExit with ``\\x04\\x04>`` (pre-1.14).
        streamed: how many leading bytes were already reported as streamable.

    Returns:
        ``(end, streamable, resume)``: ``end`` is the finished reply or None; ``streamable`` is
        how many leading bytes are certainly stdout; ``resume`` is the ``start`` for the next call.
    """
    pos = start
    while True:
        p = buf.find(_EOT, pos)
        if p < 0:
            return None, _streamable(buf, len(buf), marker, streamed), pos
        q = buf.find(_EOT, p + 1)
        if q < 0 or q + 1 >= len(buf):
            return None, _streamable(buf, p, marker, streamed), pos
        error = buf[p + 1 : q]
        at_prompt = buf[q + 1] == _PROMPT
        end = q + 2 if at_prompt else q + 1
        if not marker:
            return ReplyEnd(buf[:p], error, not error, False, not at_prompt, end), 0, p
        stdout = _strip_marker(buf[:p], marker)
        if stdout is not None:
            return _completed(buf, stdout, error, q, at_prompt, p, pos, marker, streamed)
        if marker not in buf[p:q]:
            if at_prompt and error:
                return ReplyEnd(buf[:p], error, False, False, False, end), 0, p
            if not error:
                rebooting = not at_prompt and _reboot_follows(buf, q + 1)
                if rebooting is None:  # \x04\x04 and no reboot text yet: wait for more bytes
                    return None, _streamable(buf, p, marker, streamed), pos
                if rebooting or (at_prompt and exit_returns_prompt):
                    return ReplyEnd(buf[:p], b"", False, True, rebooting, end), 0, p
        pos = p + 1  # a \x04 the program printed itself
