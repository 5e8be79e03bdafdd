"""A byte-level fake board that follows a transcript, for protocol tests.

Theory of operation
-------------------
A script is a list of steps, in the order they happened on the wire:

* ``("host", bytes)``   - what the host must write next;
* ``("device", bytes)`` - what the board sends;
* ``("closed", b"")``   - the link drops here (the board was unplugged, the socket closed).

Device bytes become readable once every host step before them has been written in full: the
board "answers" only after it was asked. The host may write ahead of unread device output (as on
a real link) unless ``strict_order=True``. Host bytes are compared with the script as they
arrive, across step boundaries and in any chunking; the first wrong byte raises
:class:`ScriptMismatch` (an ``AssertionError``) showing the byte offset, the script step and the
expected and actual bytes, escaped.

``chunk_size`` limits each read to that many bytes (1 = byte by byte) to exercise reassembly.

Blocking: a read with nothing readable waits on a condition variable for the deadline's remaining
time, because a write from another thread (an interrupt) may release more device bytes. When the
script holds no more device bytes at all, a read still waits out its deadline and returns
``b""``, exactly as a silent board would (so timeout paths behave as on hardware); with an
unbounded deadline it raises :class:`ScriptMismatch` instead of hanging the test. After a
``closed`` step has been reached, reads and writes raise
:class:`~mpharness.errors.TransportClosed`. :meth:`reconnect` moves past it when the script goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from mpharness.deadline import Deadline
from mpharness.errors import TransportClosed
from mpharness.transports.base import Transport

__all__ = ["CLOSED", "DEVICE", "HOST", "ScriptMismatch", "ScriptedTransport", "escape_bytes"]

HOST = "host"
DEVICE = "device"
CLOSED = "closed"
_KINDS = (HOST, DEVICE, CLOSED)
#: Bytes of context shown around a mismatch.
_CONTEXT = 24


class ScriptMismatch(AssertionError):
    """The host wrote something the script did not expect (or read past its end forever)."""


def escape_bytes(data: bytes) -> str:
    """``data`` as a readable string: printable ASCII as is, ``\\r \\n \\t``, others ``\\xNN``."""
    out = []
    for byte in data:
        if byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append({0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t"}.get(byte, f"\\x{byte:02x}"))
    return "".join(out)


def _quote(data: bytes) -> str:
    return f'"{escape_bytes(data)}"'


class ScriptedTransport(Transport):
    """Plays the device side of a transcript and checks the host side against it."""

    def __init__(
        self,
        script: Iterable[tuple[str, bytes]],
        *,
        chunk_size: int | None = None,
        strict_order: bool = False,
        url: str = "scripted:",
    ) -> None:
        """Build from ``(kind, bytes)`` steps (see the module docstring).

        Args:
            script: the steps, e.g. from :func:`~mpharness.transports.recorder.load_transcript`.
            chunk_size: at most this many bytes per read (None: all that is readable).
            strict_order: fail a host write while scripted device bytes before it are unread.
            url: what ``url`` reports.
        """
        self.url = url
        self._steps: list[tuple[str, bytes]] = []
        for kind, data in script:
            if kind not in _KINDS:
                raise ValueError(f"unknown script step kind {kind!r} (expected one of {_KINDS})")
            if not isinstance(data, bytes | bytearray):
                raise TypeError(f"script step data must be bytes, not {type(data).__name__}")
            self._steps.append((kind, bytes(data)))
        if chunk_size is not None and chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self._close_steps = [i for i, (kind, _) in enumerate(self._steps) if kind == CLOSED]
        self._chunk = chunk_size
        self._strict = strict_order
        self._cond = threading.Condition()
        self._host = _Cursor(self._steps, HOST)
        self._device = _Cursor(self._steps, DEVICE)
        self._closed_at: int | None = None  # index of the "closed" step we stopped at
        self._passed_closes = 0
        self._user_closed = False
        self.host_written = 0  #: total host bytes accepted so far

    # -- Transport -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Check ``data`` against the script's next host bytes; ScriptMismatch if it differs."""
        with self._cond:
            self._check_open()
            if self._strict and self._device.index < self._host.index:
                unread = self._device.pending_before(self._host.index)
                if unread:
                    raise ScriptMismatch(
                        f"host wrote {_quote(data[:_CONTEXT])} while the device bytes "
                        f"{_quote(unread[:_CONTEXT])} were still unread (strict order)"
                    )
            view = memoryview(bytes(data))
            while view:
                taken = self._take_host(view)
                view = view[taken:]
            self._cond.notify_all()

    def _take_host(self, data: memoryview) -> int:
        if self._host.index >= self._limit():
            raise ScriptMismatch(self._overrun_message(bytes(data)))
        expected = self._host.peek(len(data))
        n = len(expected)
        if data[:n] != expected:
            first = next(i for i in range(n) if data[i] != expected[i])
            raise ScriptMismatch(self._diff_message(bytes(data), first))
        self._host.advance(n)
        self.host_written += n
        return n

    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        """Readable device bytes (at most ``size``, ``chunk_size``), waiting until the deadline."""
        with self._cond:
            while True:
                self._check_open()
                limit = min(size, self._chunk or size)
                data = self._device.take(limit, until=min(self._host.index, self._limit()))
                if data:
                    self._cond.notify_all()
                    return data
                if self._at_close():
                    self._closed_at = self._limit()
                    continue
                remaining = deadline.remaining()
                if remaining is None and not self._device.any_left(self._limit()):
                    raise ScriptMismatch(
                        "read() without a deadline, but the script has no more "
                        "device bytes: it would block forever"
                    )
                if remaining == 0:
                    return b""
                self._cond.wait(remaining)

    def close(self) -> None:
        """Mark the link closed. Idempotent. Does not check that the script was used up."""
        with self._cond:
            self._user_closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or once a ``closed`` step was reached."""
        with self._cond:
            return self._user_closed or self._stopped()

    @property
    def can_reconnect(self) -> bool:
        """True while stopped at a ``closed`` step."""
        with self._cond:
            return self._stopped()

    def reconnect(self, deadline: Deadline) -> None:
        """Go on past the ``closed`` step the link stopped at."""
        with self._cond:
            if not self._stopped():
                raise NotImplementedError("the script is not at a 'closed' step")
            self._closed_at = None
            self._passed_closes += 1
            self._cond.notify_all()

    # -- script position -----------------------------------------------------------------------

    def at_end(self) -> bool:
        """True when every host byte was written and every device byte read."""
        with self._cond:
            end = len(self._steps)
            return self._host.index >= end and self._device.index >= end

    def assert_at_end(self) -> None:
        """Raise ScriptMismatch describing what is left if :meth:`at_end` is False."""
        with self._cond:
            host_left = self._host.left_total()
            device_left = self._device.left_total()
        if host_left or device_left:
            raise ScriptMismatch(
                f"script not finished: host still has to write {_quote(host_left[: _CONTEXT * 2])} "
                f"({len(host_left)} bytes); device bytes not read: "
                f"{_quote(device_left[: _CONTEXT * 2])} ({len(device_left)} bytes)"
            )

    def _limit(self) -> int:
        """Index of the next ``closed`` step not yet passed (or the script's end)."""
        closes, passed = self._close_steps, self._passed_closes
        return closes[passed] if passed < len(closes) else len(self._steps)

    def _at_close(self) -> bool:
        limit = self._limit()
        return (
            limit < len(self._steps) and self._device.index >= limit and self._host.index >= limit
        )

    def _stopped(self) -> bool:
        return self._closed_at is not None or self._at_close()

    def _check_open(self) -> None:
        if self._user_closed:
            raise TransportClosed(f"{self.url} is closed")
        if self._closed_at is not None or self._at_close():
            self._closed_at = self._limit()
            raise TransportClosed(
                f"{self.url}: the script closes the link here (step {self._limit()})"
            )

    def _overrun_message(self, data: bytes) -> str:
        where = "at a 'closed' step" if self._limit() < len(self._steps) else "after the end"
        return (
            f"host wrote {_quote(data[:_CONTEXT])} {where} of the script "
            f"(host byte {self.host_written})"
        )

    def _diff_message(self, got: bytes, i: int) -> str:
        """Expected vs written bytes around the first difference, ``got[i]``."""
        step = self._steps[self._host.index][1]
        pos = self._host.offset + i  # where in the step it differs; step[:pos] was written
        start = max(0, pos - _CONTEXT)
        caret = " " * (len('  expected: "') + len(escape_bytes(step[start:pos]))) + "^"
        return (
            f"host write differs from the script at host byte {self.host_written + i} "
            f"(step {self._host.index}, offset {pos}):\n"
            f"  expected: {_quote(step[start : pos + _CONTEXT])}\n"
            f"  got:      {_quote(step[start:pos] + got[i : i + _CONTEXT])}\n"
            f"{caret}"
        )


class _Cursor:
    """A position in the steps of one kind (host or device)."""

    def __init__(self, steps: Sequence[tuple[str, bytes]], kind: str) -> None:
        self._steps = steps
        self._kind = kind
        self.index = 0
        self.offset = 0
        self._skip()

    def _skip(self) -> None:
        steps = self._steps
        while self.index < len(steps) and (
            steps[self.index][0] != self._kind or self.offset >= len(steps[self.index][1])
        ):
            self.index += 1
            self.offset = 0

    def peek(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the current step, from the current offset."""
        return self._steps[self.index][1][self.offset : self.offset + limit]

    def advance(self, n: int) -> None:
        self.offset += n
        self._skip()

    def take(self, limit: int, *, until: int) -> bytes:
        """Up to ``limit`` bytes from steps before index ``until``."""
        out = bytearray()
        while len(out) < limit and self.index < until:
            chunk = self.peek(limit - len(out))
            out += chunk
            self.advance(len(chunk))
        return bytes(out)

    def pending_before(self, until: int) -> bytes:
        out = bytearray()
        for i in range(self.index, min(until, len(self._steps))):
            kind, data = self._steps[i]
            if kind == self._kind:
                out += data[self.offset :] if i == self.index else data
        return bytes(out)

    def any_left(self, until: int) -> bool:
        return bool(self.pending_before(until))

    def left_total(self) -> bytes:
        return self.pending_before(len(self._steps))
