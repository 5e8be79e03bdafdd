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

Background output (another thread, a timer) goes out whenever the device releases its
output lock, which is at every write: between the sections of the frame and between the
pieces of a traceback (the header, ``  File "``, the file name, ``", line ``, ...). So:

* bytes between the closing ``\\x04`` and the ``>`` of a run that raised (its error section
  holds a traceback) or of a helper exec are background stdout, and the reply ends at the
  ``>``; a ``Traceback`` header before any ``>`` means that was not the frame's end;
* an error section with no traceback followed by reboot text is SystemExit with background
  output between its two ``\\x04``;
* in the error section, what precedes ``Traceback (most recent call last):`` is stdout, and
  whole lines that split a traceback's pieces apart are taken out of it
  (:func:`split_error`), so the exception's type stays exact. Limits: text that lands in
  or after the message cannot be told from a message that spans lines, and stays in it;
  text that is not whole lines (a thread's ``print()`` writes the newline separately) or
  that starts with a word character right after a function name stays where it landed.

None of this touches the marker rule: a completed result still needs the marker.

A ``\x04`` followed by more than :data:`FRAME_LIMIT` bytes without the frame's closing
``\x04`` (or, after ``\x04\x04``, without reboot text or another ``\x04``) was printed by the
program: no error section or reboot line is that long. The scan moves on, so a program that
prints ``\x04`` and then floods is streamed, and memory stays bounded. (A board exception
whose message is longer than that would be read as output, and the exec ends at its deadline.)

:func:`scan` is pure: it looks at everything received since the reply began and either
finds the end or says how many leading bytes are certainly stdout (safe to stream).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EOT = 0x04
_PROMPT = ord(">")
_EOLS = (b"\r\n", b"\n", b"")
#: Text that confirms a SystemExit frame: the reboot line, or the raw banner it ends with.
_REBOOT_SIGNS = (b"soft reboot", b"raw REPL; CTRL-B to exit\r\n>")
_TRACEBACK = b"Traceback (most recent call last):"
#: bytes after a candidate ``\x04`` that an error section or reboot line never reaches
FRAME_LIMIT = 64 * 1024


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


def _gap(name: str) -> bytes:
    """A slot for background output inside a traceback: a few whole lines, fewest first
    (bounded, so that a section that does not parse fails fast)."""
    return b"(?P<" + name.encode() + rb">(?:[^\n]*\n){0,%d}?)" % _GAP_LINES


_GAP_LINES = 3
_TRACEBACK_HEAD = re.compile(rb"Traceback \(most recent call last\):\r?\n")
#: A traceback as MicroPython prints it, with nothing else in it: the fast path.
_CLEAN = re.compile(
    rb"Traceback \(most recent call last\):\r?\n"
    rb'(?:  File "[^"\r\n]*"(?:, line \d+)?(?:, in [^\r\n]*)?\r?\n|    [^\r\n]*\r?\n)*'
    rb"[A-Za-z_][\w.]*(?::.*)?\r?\n",
    re.S,
)
#: One frame line; a gap wherever the device writes a new piece of it. Names of the usual
#: shapes (``<stdin>``, ``*.py``) are preferred, so a background line is not glued to them.
_FRAME = re.compile(
    _gap("a")
    + b'  File "'
    + _gap("b")
    + rb'(?:<\w+>|[^"\r\n]*?\.m?py|[^"\r\n]*)'
    + _gap("c")
    + b'"(?:, line '
    + _gap("d")
    + rb"\d+"
    + _gap("e")
    + b")?(?:, in "
    + _gap("f")
    + rb"(?:<\w+>|[A-Za-z_]\w*)"
    + _gap("g")
    + rb")?\r?\n"
)
#: The exception line (MicroPython always prints the ``: ``, even with no message); a name
#: with a usual suffix is preferred, and the message runs to the end (it may span lines).
_EXCEPTION = re.compile(
    _gap("a")
    + rb"(?:[A-Za-z_][\w.]*?(?:Error|Exception|Interrupt|Exit|Iteration|Warning)|[A-Za-z_][\w.]*)"
    + _gap("b")
    + rb":(?P<message>.*)\r?\n",
    re.S,
)
#: Longer error sections are left as they are (the gaps' backtracking grows with the size).
_UNTANGLE_LIMIT = 8192


def split_error(error: bytes) -> tuple[bytes, bytes]:
    """Take background output out of an error section.

    Returns:
        ``(background, error)``: what precedes the traceback header plus the whole lines that
        split the traceback's pieces apart; and the traceback without them. A section with
        no traceback header, or one that does not parse even with gaps, is returned as it is.
    """
    at = error.find(_TRACEBACK)
    if at < 0:
        return b"", error
    background, tb = error[:at], error[at:]
    if len(tb) > _UNTANGLE_LIMIT or _CLEAN.fullmatch(tb):
        return background, tb
    kept, moved, last = [], [background], 0
    for start, end in _background_spans(tb):
        kept.append(tb[last:start])
        moved.append(tb[start:end])
        last = end
    kept.append(tb[last:])
    return b"".join(moved), b"".join(kept)


def _background_spans(tb: bytes) -> list[tuple[int, int]]:
    """Where background lines sit in a traceback, in order; [] if it does not parse."""
    head = _TRACEBACK_HEAD.match(tb)
    if head is None:
        return []
    pos, spans = head.end(), []
    while (frame := _FRAME.match(tb, pos)) is not None:
        spans += _gaps(frame)
        pos = frame.end()
    exception = _EXCEPTION.fullmatch(tb, pos)
    return spans + _gaps(exception) if exception is not None else []


def _gaps(match: re.Match[bytes]) -> list[tuple[int, int]]:
    return [
        match.span(name)
        for name in match.groupdict()
        if name != "message" and match.start(name) < match.end(name)
    ]


def _completed(
    buf: bytes,
    stdout: bytes,
    error: bytes,
    q: int,
    p: int,
    pos: int,
    marker: bytes,
    streamed: int,
) -> tuple[ReplyEnd | None, int, int]:
    """The end of a run whose marker arrived: the code ran to its end, so it neither raised
    nor exited. Background output (a thread, a timer) that lands in the error section or
    before the prompt is stdout, not an error; the reply ends at the prompt."""
    gt = buf.find(_PROMPT, q + 1)
    if gt < 0:  # background output before the prompt: wait for the prompt
        return None, _streamable(buf, p, marker, streamed), pos
    background = b""
    if error:
        background, error = split_error(error)
        if not error.startswith(_TRACEBACK):  # a KeyboardInterrupt stays an error
            background, error = background + error, b""
    return ReplyEnd(stdout + background + buf[q + 1 : gt], error, True, False, False, gt + 1), 0, p


def _not_completed(
    buf: bytes, p: int, q: int, marker: bytes, exit_returns_prompt: bool
) -> tuple[ReplyEnd | None, bool]:
    """A frame ``\\x04 error \\x04`` without this exec's marker before it.

    Returns:
        ``(end, wait)``: the reply's end, or None with ``wait`` True when the bytes so far
        cannot tell, False when the frame was printed by the program (scan on).
    """
    background, error = split_error(buf[p + 1 : q])
    stdout = buf[:p] + background
    helper = not marker
    if buf[q + 1] == _PROMPT:
        if error or helper:  # a run that raised, or a helper exec's frame
            return ReplyEnd(stdout, error, not error, False, False, q + 2), False
        if exit_returns_prompt:
            return ReplyEnd(stdout, b"", False, True, False, q + 2), False
        return None, False
    nxt = buf.find(_EOT, q + 1)
    segment = buf[q + 1 :] if nxt < 0 else buf[q + 1 : nxt]
    raised = error.startswith(_TRACEBACK)
    if not raised and any(sign in segment for sign in _REBOOT_SIGNS):
        # SystemExit: the board reboots (what sat in the error section was background output)
        return ReplyEnd(stdout + error, b"", helper, not helper, True, q + 1), False
    gt = segment.find(_PROMPT)
    if gt >= 0 and (raised or helper) and _TRACEBACK not in segment[:gt]:
        # background output between the frame and its prompt (not the next error section)
        end = q + 1 + gt
        return ReplyEnd(stdout + buf[q + 1 : end], error, not error, False, False, end + 1), False
    if helper and nxt >= 0:
        return ReplyEnd(stdout, error, not error, False, True, q + 1), False
    return None, nxt < 0


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
        if p < 0:  # no \x04 up to here: the next scan starts at the end
            return None, _streamable(buf, len(buf), marker, streamed), len(buf)
        q = buf.find(_EOT, p + 1)
        if q < 0 and len(buf) - p > FRAME_LIMIT:
            pos = p + 1  # no error section is that long: the program printed this \x04
            continue
        if q < 0 or q + 1 >= len(buf):
            return None, _streamable(buf, p, marker, streamed), pos
        if marker:
            stdout = _strip_marker(buf[:p], marker)
            if stdout is not None:
                return _completed(buf, stdout, buf[p + 1 : q], q, p, pos, marker, streamed)
        if not marker or marker not in buf[p:q]:
            end, wait = _not_completed(buf, p, q, marker, exit_returns_prompt)
            if end is not None:
                return end, 0, p
            if wait and len(buf) - q <= FRAME_LIMIT:
                return None, _streamable(buf, p, marker, streamed), pos
        pos = p + 1  # a \x04 the program printed itself
