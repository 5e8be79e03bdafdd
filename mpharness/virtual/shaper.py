"""A link shaper: any transport as if behind a slow, late, noisy or cut serial line.

Theory of operation
-------------------
:class:`ShapedTransport` wraps another :class:`~mpharness.transports.base.Transport`. Each
direction is a *lane*: a queue of byte pieces, each with the time it is "released" at the far
end. A piece of ``n`` bytes occupies the wire for ``n * 10 / baudrate`` seconds after the wire
is free (start bit, 8 data bits, stop bit), then travels the lane's latency (``latency_s``, or
``up_latency_s``/``down_latency_s`` for one direction: a relay that holds host->board bytes for
1 s is ``up_latency_s=1``) plus a random jitter in ``[0, jitter_s]``. A piece is never released
before the one ahead of it, so jitter delays bytes but never reorders them (a serial line, a TCP
relay and a USB bridge all keep order). ``hold_s`` holds every host->board byte until that
long after the link opened, and no longer: a link that is slow to notice its first client
(QEMU's ``-serial pty``, see :mod:`mpharness.virtual.qemu_pty`). Large writes are split into
pieces of :data:`PIECE` bytes so bytes trickle out as on a real line, but a short write (a lone
Ctrl-C, which the unix board turns into SIGINT) stays whole.

Memory is bounded in both directions, as on a real link whose buffers fill: ``write`` blocks
while more than :data:`TX_BUFFER` bytes wait to go up, and the receiver thread stops reading the
inner transport while more than :data:`RX_BUFFER` bytes wait to come down (the board then blocks
on its own output, as behind a full UART FIFO). A latency ``L`` therefore caps the board's
throughput at about ``RX_BUFFER / L`` bytes per second, like a window on a long line.

* host -> board: :meth:`ShapedTransport.write` queues (blocking while more than
  :data:`TX_BUFFER` bytes wait, like an OS serial buffer) and a sender thread writes each piece
  to the inner transport at its release time.
* board -> host: a receiver thread blocks in the inner ``read`` and queues what arrives;
  :meth:`ShapedTransport.read` blocks on a condition variable until the head piece's release
  time or the deadline (no sleep-polling).

Noise (``drop_rate``, ``corrupt_rate``) is applied per byte as bytes enter a lane, from a
seeded generator per direction, and counted in :attr:`ShapedTransport.stats`. :meth:`cut`
severs the link (queued bytes are lost, reads and writes raise
:class:`~mpharness.errors.TransportClosed`, the board's output is discarded) until
:meth:`restore`. Resets and reconnects go to the inner transport (they are out of band: reset
lines, a process, a socket) but fail while the link is cut. An inner failure is reported to the
reader after the bytes already "on the wire" and cleared by a successful hard reset/reconnect.

URL form (see :mod:`mpharness.virtual.shaped_urls`): ``shaped:baud=115200,latency_ms=2,
jitter_ms=1,drop=0.01,corrupt=0.01,seed=7;unix:`` wraps the board ``unix:``;
``shaped:up_latency_ms=1000;unix:`` is the unix board behind a relay that holds host->board bytes
for 1 s; ``shaped:hold_ms=1000;unix:`` delivers what the host writes in the first second only
after it.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from mpharness.deadline import Deadline
from mpharness.errors import ConfigError, TransportClosed, TransportError
from mpharness.transports.base import Transport

__all__ = ["BITS_PER_BYTE", "ShapedTransport", "ShaperStats", "check_delay", "check_options"]

log = logging.getLogger(__name__)

BITS_PER_BYTE = 10  #: start bit + 8 data bits + stop bit
PIECE = 32  #: bytes released together when a write or read is split by the rate limit
TX_BUFFER = 4096  #: bytes ``write`` may queue before it blocks (an OS serial buffer)
RX_BUFFER = 256 * 1024  #: bytes queued board->host before the shaper stops reading the board
RECV_CHECK = 0.5  #: s the receiver thread blocks in the inner read before checking for close
JOIN_WAIT = 2.0  #: s ``close`` waits for the helper threads
_CUT_MESSAGE = "the link is cut"


@dataclass
class ShaperStats:
    """Byte counts per direction (``up`` = host to board)."""

    up_bytes: int = 0
    up_dropped: int = 0
    up_corrupted: int = 0
    down_bytes: int = 0
    down_dropped: int = 0
    down_corrupted: int = 0

    @property
    def noise(self) -> int:
        """Bytes dropped or corrupted so far, both directions."""
        return self.up_dropped + self.up_corrupted + self.down_dropped + self.down_corrupted


class _Lane:
    """One direction's queue of (release time, bytes), under the shaper's lock.

    Release times never decrease along the queue (jitter delays a piece, and every piece
    behind it, but never lets one overtake another).
    """

    def __init__(self, byte_time: float, latency: float, jitter: float, seed: str | None) -> None:
        self.byte_time = byte_time
        self.latency = latency
        self.jitter = jitter
        self.rng = random.Random(seed)
        self.items: deque[tuple[float, bytes]] = deque()
        self.queued = 0
        self.wire_free = 0.0
        self.last_release = 0.0

    def push(self, data: bytes, now: float) -> None:
        step = PIECE if self.byte_time and len(data) > PIECE else max(len(data), 1)
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            self.wire_free = max(self.wire_free, now) + len(piece) * self.byte_time
            delay = self.latency + (self.rng.uniform(0.0, self.jitter) if self.jitter else 0.0)
            self.last_release = max(self.last_release, self.wire_free + delay)
            self.items.append((self.last_release, piece))
            self.queued += len(piece)

    def head_wait(self, now: float) -> float | None:
        """Seconds until the head piece is released (<= 0: now), or None if empty."""
        return self.items[0][0] - now if self.items else None

    def pop(self) -> bytes:
        piece = self.items.popleft()[1]
        self.queued -= len(piece)
        return piece

    def clear(self) -> None:
        self.items.clear()
        self.queued = 0
        self.wire_free = 0.0
        self.last_release = 0.0


class _Noise:
    """Per-byte drop/corruption from a seeded generator."""

    def __init__(self, drop: float, corrupt: float, seed: str | None) -> None:
        self.drop, self.corrupt = drop, corrupt
        self.rng = random.Random(seed)

    def apply(self, data: bytes) -> tuple[bytes, int, int]:
        """The bytes that survive, and how many were dropped and corrupted."""
        if not (self.drop or self.corrupt):
            return data, 0, 0
        out = bytearray()
        dropped = corrupted = 0
        for byte in data:
            roll = self.rng.random()
            if roll < self.drop:
                dropped += 1
            elif roll < self.drop + self.corrupt:
                corrupted += 1
                out.append(byte ^ self.rng.randrange(1, 256))
            else:
                out.append(byte)
        return bytes(out), dropped, corrupted


class ShapedTransport(Transport):
    """Wraps ``inner`` with a byte-rate limit, latency, jitter, noise and a cut switch.

    Args:
        inner: the transport to the board (closed by :meth:`close`).
        baudrate: line speed; bytes take ``10 / baudrate`` s each in both directions. None:
            no rate limit.
        latency_s: one-way delay added to every byte, each way.
        up_latency_s: host->board delay instead of ``latency_s`` (None: ``latency_s``).
        down_latency_s: board->host delay instead of ``latency_s`` (None: ``latency_s``).
        jitter_s: extra random delay in ``[0, jitter_s]`` per piece, each way (order kept).
        hold_s: host->board bytes written in the first ``hold_s`` seconds after the link opens
            reach the board only then (QEMU's ``-serial pty`` after a client opens it).
        drop_rate: probability that a byte is lost (each direction).
        corrupt_rate: probability that a byte is replaced by another value.
        seed: seed for the noise (reproducible runs); None: random.

    Attributes:
        stats: what the noise did so far (:class:`ShaperStats`).
    """

    def __init__(
        self,
        inner: Transport,
        *,
        baudrate: int | None = None,
        latency_s: float = 0.0,
        up_latency_s: float | None = None,
        down_latency_s: float | None = None,
        jitter_s: float = 0.0,
        hold_s: float = 0.0,
        drop_rate: float = 0.0,
        corrupt_rate: float = 0.0,
        seed: int | str | None = None,
    ) -> None:
        up_latency = latency_s if up_latency_s is None else up_latency_s
        down_latency = latency_s if down_latency_s is None else down_latency_s
        check_options(baudrate, latency_s, drop_rate, corrupt_rate)
        for key, delay in (("up_latency", up_latency), ("down_latency", down_latency)):
            check_delay(key, delay)
        check_delay("jitter", jitter_s)
        check_delay("hold", hold_s)
        self.inner = inner
        self.url = inner.url
        self.baudrate = baudrate
        self.stats = ShaperStats()
        byte_time = BITS_PER_BYTE / baudrate if baudrate else 0.0
        up_seed, down_seed = (None, None) if seed is None else (f"{seed}/up-j", f"{seed}/dn-j")
        self._up = _Lane(byte_time, up_latency, jitter_s, up_seed)
        self._down = _Lane(byte_time, down_latency, jitter_s, down_seed)
        self._up.last_release = time.monotonic() + hold_s  # nothing reaches the board before
        self._up_noise = _Noise(drop_rate, corrupt_rate, None if seed is None else f"{seed}/up")
        self._down_noise = _Noise(drop_rate, corrupt_rate, None if seed is None else f"{seed}/dn")
        self._cond = threading.Condition()
        self._cut = False
        self._closed = False
        self._up_error: TransportError | None = None
        self._down_error: TransportError | None = None
        self._threads = [
            threading.Thread(target=self._send_loop, name="mpharness-shaper-up", daemon=True),
            threading.Thread(target=self._recv_loop, name="mpharness-shaper-down", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -- switches -------------------------------------------------------------------------------

    def cut(self) -> None:
        """Sever the link: queued bytes are lost; reads and writes raise TransportClosed."""
        with self._cond:
            self._cut = True
            self._up.clear()
            self._down.clear()
            self._cond.notify_all()

    def restore(self) -> None:
        """Join the link again (bytes the board sent meanwhile are lost)."""
        with self._cond:
            self._cut = False
            self._cond.notify_all()

    def set_noise(
        self,
        drop_rate: float = 0.0,
        corrupt_rate: float = 0.0,
        seed: int | str | None = None,
        *,
        up: bool = True,
        down: bool = True,
    ) -> None:
        """Change the noise rates from now on (``up``: host to board, ``down``: back; a lane
        left out gets no noise); reseed if ``seed`` is given."""
        check_options(self.baudrate, 0.0, drop_rate, corrupt_rate)
        with self._cond:
            for noise, lane, on in ((self._up_noise, "up", up), (self._down_noise, "dn", down)):
                noise.drop, noise.corrupt = (drop_rate, corrupt_rate) if on else (0.0, 0.0)
                if seed is not None:
                    noise.rng.seed(f"{seed}/{lane}")

    @property
    def delays(self) -> tuple[float, float, float]:
        """The link's ``(up latency, down latency, jitter)`` in seconds."""
        return self._up.latency, self._down.latency, self._up.jitter

    @property
    def is_cut(self) -> bool:
        """Whether the link is cut."""
        return self._cut

    # -- Transport ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed or self.inner.closed

    def write(self, data: bytes) -> None:
        with self._cond:
            while True:
                self._raise_if_down(self._up_error)
                if self._up.queued < TX_BUFFER:
                    break
                self._cond.wait()  # the sender thread notifies as it takes each piece
            self.stats.up_bytes += len(data)
            data, dropped, corrupted = self._up_noise.apply(data)
            self.stats.up_dropped += dropped
            self.stats.up_corrupted += corrupted
            if data:
                self._up.push(data, time.monotonic())
                self._cond.notify_all()

    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        with self._cond:
            while True:
                self._raise_if_down(None)
                wait = self._down.head_wait(time.monotonic())
                if wait is not None and wait <= 0:
                    return self._take_released(size)
                if wait is None and self._down_error is not None:
                    raise self._down_error
                remaining = deadline.remaining()
                if remaining is not None and remaining <= 0:
                    return b""
                timeouts = [t for t in (wait, remaining) if t is not None]
                self._cond.wait(min(timeouts) if timeouts else None)

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self.inner.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(JOIN_WAIT)

    @property
    def may_corrupt(self) -> bool:
        """True: the shaper plays a serial line, which may be noisy."""
        return True

    @property
    def binary_clean(self) -> bool:
        return self.inner.binary_clean

    @property
    def can_hard_reset(self) -> bool:
        return self.inner.can_hard_reset

    def hard_reset(self, deadline: Deadline) -> None:
        self._out_of_band(lambda: self.inner.hard_reset(deadline))

    @property
    def can_reconnect(self) -> bool:
        return self.inner.can_reconnect

    def reconnect(self, deadline: Deadline) -> None:
        self._out_of_band(lambda: self.inner.reconnect(deadline))

    def __repr__(self) -> str:
        parts = [f"baud={self.baudrate}"] if self.baudrate else []
        up, down, jitter = self.delays
        if up or down:
            parts.append(f"latency={up:g}s" if up == down else f"latency={up:g}s/{down:g}s")
        parts += [f"jitter={jitter:g}s"] if jitter else []
        parts += ["cut"] if self._cut else []
        return f"<ShapedTransport {' '.join(parts)} over {self.inner!r}>"

    # -- internals ------------------------------------------------------------------------------

    def _raise_if_down(self, error: TransportError | None) -> None:
        if self._closed:
            raise TransportClosed(f"{self.url} (shaped) transport is closed")
        if self._cut:
            raise TransportClosed(f"{self.url}: {_CUT_MESSAGE}")
        if error is not None:
            raise error

    def _out_of_band(self, action: Callable[[], None]) -> None:
        """Run a reset/reconnect on the inner transport; on success the link is fresh."""
        with self._cond:
            self._raise_if_down(None)
        action()
        with self._cond:
            self._up_error = self._down_error = None
            self._up.clear()
            self._cond.notify_all()

    def _take_released(self, size: int) -> bytes:
        now = time.monotonic()
        out = bytearray()
        while self._down.items and self._down.items[0][0] <= now and len(out) < size:
            piece = self._down.pop()
            if len(out) + len(piece) > size:  # return the rest to the head of the queue
                keep = size - len(out)
                self._down.items.appendleft((now, piece[keep:]))
                self._down.queued += len(piece) - keep
                piece = piece[:keep]
            out += piece
        if out:
            self._cond.notify_all()  # the receiver thread may wait for room
        return bytes(out)

    def _send_loop(self) -> None:
        """Sender thread: write each queued piece to the inner transport at its release time."""
        while True:
            with self._cond:
                piece = self._next_to_send()
                if piece is None:
                    return
            try:
                self.inner.write(piece)
            except TransportError as exc:
                with self._cond:
                    self._up_error = exc if not self._closed else None
                    self._up.clear()
                    self._cond.notify_all()

    def _next_to_send(self) -> bytes | None:
        """Under the lock: the next released piece (blocking until one is due); None on close."""
        while not self._closed:
            wait = self._up.head_wait(time.monotonic())
            if wait is not None and wait <= 0:
                piece = self._up.pop()
                self._cond.notify_all()  # a writer may wait for room
                return piece
            self._cond.wait(wait)
        return None

    def _recv_loop(self) -> None:
        """Receiver thread: read the inner transport and queue what arrives (or drop it if cut)."""
        while True:
            with self._cond:
                while not self._closed and (
                    self._down_error is not None or self._down.queued >= RX_BUFFER
                ):
                    # the inner link failed (wait for a reset or close), or the host is behind:
                    # leave the board's output where it is until the reader catches up
                    self._cond.wait()
                if self._closed:
                    return
            try:
                data = self.inner.read(Deadline.after(RECV_CHECK))
            except TransportError as exc:
                with self._cond:
                    self._down_error = exc
                    self._cond.notify_all()
                continue
            if data:
                self._receive(data)

    def _receive(self, data: bytes) -> None:
        with self._cond:
            if self._cut or self._closed:
                return
            self.stats.down_bytes += len(data)
            data, dropped, corrupted = self._down_noise.apply(data)
            self.stats.down_dropped += dropped
            self.stats.down_corrupted += corrupted
            if data:
                self._down.push(data, time.monotonic())
                self._cond.notify_all()


def check_delay(key: str, seconds: float) -> None:
    """Refuse a negative or non-finite delay (``key`` names the option)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"shaper {key} must be a finite delay >= 0, not {seconds}", key=key)


def check_options(
    baudrate: int | None, latency_s: float, drop_rate: float, corrupt_rate: float
) -> None:
    if baudrate is not None and baudrate <= 0:
        raise ConfigError(f"shaper baudrate must be positive, not {baudrate}", key="baud")
    check_delay("latency", latency_s)
    for key, rate in (("drop", drop_rate), ("corrupt", corrupt_rate)):
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"shaper {key} rate must be within 0..1, not {rate}", key=key)
    if drop_rate + corrupt_rate > 1.0:
        raise ConfigError("shaper drop + corrupt rates exceed 1")
