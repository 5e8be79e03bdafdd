"""The link shaper: byte rate, latency, seeded noise, cut/restore, URLs, and a real board.

Most tests put the shaper in front of a loopback (bytes written come back), which isolates
the shaper's own timing; lower bounds on time are asserted, upper bounds only loosely (the CI
machine is shared).
"""

from __future__ import annotations

import threading
import time

import pytest

import mpharness
from mpharness.deadline import Deadline
from mpharness.errors import ConfigError, TransportClosed
from mpharness.transports import open_transport
from mpharness.transports.base import Transport
from mpharness.virtual import shaper
from mpharness.virtual.shaped_urls import parse_shaped_url, shaped_url
from mpharness.virtual.shaper import ShapedTransport
from tests.conftest import require_virtual_board


class Loopback(Transport):
    """A byte pipe whose far end echoes everything (no board involved)."""

    url = "loopback:"

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._buf = bytearray()
        self._closed = False
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        with self._cond:
            if self._closed:
                raise TransportClosed("loopback closed")
            self.writes.append(bytes(data))
            self._buf += data
            self._cond.notify_all()

    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        with self._cond:
            while not self._buf:
                if self._closed:
                    raise TransportClosed("loopback closed")
                remaining = deadline.remaining()
                if remaining is not None and remaining <= 0:
                    return b""
                self._cond.wait(remaining)
            data = bytes(self._buf[:size])
            del self._buf[:size]
            return data

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _read_exactly(transport: Transport, size: int, timeout: float = 10.0) -> bytes:
    deadline = Deadline.after(timeout)
    out = bytearray()
    while len(out) < size and not deadline.expired():
        out += transport.read(deadline, size - len(out))
    return bytes(out)


def test_clean_unlimited_link_passes_bytes_through() -> None:
    with ShapedTransport(Loopback()) as link:
        data = bytes(range(256)) * 40
        link.write(data)
        assert _read_exactly(link, len(data)) == data


def test_byte_rate_limits_both_directions() -> None:
    """2300 bytes at 115200 baud: 0.2 s up, and the echo needs as long again down."""
    with ShapedTransport(Loopback(), baudrate=115200) as link:
        data = b"x" * 2304
        start = time.monotonic()
        link.write(data)
        assert _read_exactly(link, len(data)) == data
        elapsed = time.monotonic() - start
        assert elapsed >= len(data) * 10 / 115200 * 0.95
        assert elapsed < 5.0


def test_latency_is_added_each_way() -> None:
    with ShapedTransport(Loopback(), latency_s=0.05) as link:
        start = time.monotonic()
        link.write(b"ping")
        assert _read_exactly(link, 4) == b"ping"
        assert time.monotonic() - start >= 0.095


def _round_trips(link: Transport, count: int) -> list[float]:
    """Seconds from writing a byte to reading it back, ``count`` times in a row."""
    times = []
    for index in range(count):
        token = bytes([65 + index % 26])
        start = time.monotonic()
        link.write(token)
        assert _read_exactly(link, 1) == token
        times.append(time.monotonic() - start)
    return times


def test_measured_round_trip_is_twice_the_latency() -> None:
    """The delay the shaper adds, measured: each round trip takes 2 x 150 ms (and not much more)."""
    with ShapedTransport(Loopback(), latency_s=0.15) as link:
        times = _round_trips(link, 5)
    assert min(times) >= 0.295
    assert sorted(times)[len(times) // 2] < 0.295 + 0.5  # loose: the machine is shared


def test_one_way_latency_holds_only_host_to_board_bytes() -> None:
    """``up_latency_s``: the relay that holds host->board bytes; replies come back at once."""
    with ShapedTransport(Loopback(), up_latency_s=0.3) as link:
        assert link.delays == (0.3, 0.0, 0.0)
        times = _round_trips(link, 3)
    assert min(times) >= 0.295
    assert max(times) < 0.3 + 0.5
    with ShapedTransport(Loopback(), latency_s=0.3, down_latency_s=0.0) as link:
        assert link.delays == (0.3, 0.0, 0.0)


def test_hold_delays_only_what_comes_in_the_first_moments() -> None:
    """``hold_s``: input written right after opening waits until the hold ends (QEMU's
    ``-serial pty`` noticing its client); later input flows at once."""
    start = time.monotonic()
    with ShapedTransport(Loopback(), hold_s=0.4) as link:
        link.write(b"early")
        assert _read_exactly(link, 5) == b"early"
        assert time.monotonic() - start >= 0.395
        assert max(_round_trips(link, 3)) < 0.3


def test_jitter_delays_within_its_range_and_keeps_order() -> None:
    """Every piece takes latency..latency+jitter each way, and the stream stays in order."""
    with ShapedTransport(Loopback(), latency_s=0.02, jitter_s=0.08, seed=5) as link:
        times = _round_trips(link, 12)
        assert min(times) >= 0.039
        assert max(times) - min(times) > 0.01  # jitter did vary the delay
        data = bytes(range(256)) * 4
        for start in range(0, len(data), 7):  # many small writes, each jittered on its own
            link.write(data[start : start + 7])
        assert _read_exactly(link, len(data)) == data


class Flood(Transport):
    """A board that prints without end: every read returns a full buffer at once."""

    url = "flood:"

    def __init__(self) -> None:
        self.produced = 0
        self._closed = False

    def write(self, data: bytes) -> None:
        pass

    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        if self._closed:
            raise TransportClosed("flood closed")
        self.produced += size
        return b"z" * size

    def close(self) -> None:
        self._closed = True


def test_an_unread_flood_is_held_in_bounded_memory() -> None:
    """Nobody reads a board that never stops printing behind a 1 s link: the shaper stops
    taking its output at RX_BUFFER (plus one read), instead of queueing it all."""
    inner = Flood()
    with ShapedTransport(inner, latency_s=1.0) as link:
        time.sleep(0.5)
        produced = inner.produced
        assert produced <= shaper.RX_BUFFER + 65536
        time.sleep(0.3)
        assert inner.produced == produced  # the receiver is waiting for room, not reading
        got = _read_exactly(link, 1000, timeout=3.0)
        assert got == b"z" * 1000
        deadline = Deadline.after(2.0)
        while inner.produced == produced and not deadline.expired():
            link.read(Deadline.after(0.1))  # reading makes room: the board's output flows again
        assert inner.produced > produced


def test_read_returns_empty_at_the_deadline_on_silence() -> None:
    with ShapedTransport(Loopback(), latency_s=0.01) as link:
        start = time.monotonic()
        assert link.read(Deadline.after(0.1)) == b""
        assert time.monotonic() - start >= 0.095


def test_a_lone_ctrl_c_is_written_whole() -> None:
    inner = Loopback()
    with ShapedTransport(inner, baudrate=9600) as link:
        link.write(b"a" * 100)
        link.write(b"\x03")
        assert _read_exactly(link, 101)[-1:] == b"\x03"
        assert inner.writes[-1] == b"\x03"
        assert max(len(w) for w in inner.writes) <= 32  # the long write trickled out


def _noisy_run(seed: int) -> tuple[bytes, int]:
    with ShapedTransport(Loopback(), drop_rate=0.05, corrupt_rate=0.05, seed=seed) as link:
        link.write(bytes(range(256)) * 8)
        got = bytearray()
        deadline = Deadline.after(0.3)
        while not deadline.expired():
            got += link.read(deadline)
        return bytes(got), link.stats.noise


def test_noise_is_reproducible_with_a_seed_and_counted() -> None:
    first, noise = _noisy_run(7)
    again, noise_again = _noisy_run(7)
    other, _ = _noisy_run(8)
    assert (first, noise) == (again, noise_again)
    assert first != other
    assert noise > 0
    assert first != bytes(range(256)) * 8


def test_cut_and_restore() -> None:
    with ShapedTransport(Loopback(), latency_s=0.2) as link:
        link.write(b"lost in transit")
        link.cut()
        assert link.is_cut
        with pytest.raises(TransportClosed, match="cut"):
            link.write(b"x")
        with pytest.raises(TransportClosed, match="cut"):
            link.read(Deadline.after(1.0))
        with pytest.raises(TransportClosed):
            link.hard_reset(Deadline.after(1.0))
        link.restore()
        assert link.read(Deadline.after(0.3)) == b""  # queued bytes were lost with the cut
        link.write(b"back")
        assert _read_exactly(link, 4) == b"back"


def test_cut_wakes_a_blocked_reader() -> None:
    with ShapedTransport(Loopback()) as link:
        threading.Timer(0.1, link.cut).start()
        start = time.monotonic()
        with pytest.raises(TransportClosed):
            link.read(Deadline.after(5.0))
        assert time.monotonic() - start < 2.0


def test_inner_failure_reaches_the_reader_after_queued_bytes() -> None:
    inner = Loopback()
    link = ShapedTransport(inner)
    link.write(b"last words")
    assert _read_exactly(link, 10) == b"last words"
    inner.close()
    with pytest.raises(TransportClosed, match="loopback"):
        link.read(Deadline.after(2.0))
    link.close()


def test_bad_options_are_config_errors() -> None:
    for kwargs in (
        {"baudrate": 0},
        {"latency_s": -1.0},
        {"latency_s": float("nan")},
        {"up_latency_s": -0.1},
        {"down_latency_s": float("inf")},
        {"jitter_s": -1.0},
        {"hold_s": -1.0},
        {"drop_rate": 2.0},
    ):
        with pytest.raises(ConfigError):
            ShapedTransport(Loopback(), **kwargs)  # type: ignore[arg-type]


def test_url_round_trip_and_errors() -> None:
    url = shaped_url("unix:", baudrate=115200, latency_s=0.002, drop_rate=0.01, seed=3)
    assert url == "shaped:baud=115200,latency_ms=2,drop=0.01,seed=3;unix:"
    inner, kwargs = parse_shaped_url(url)
    assert inner == "unix:"
    assert kwargs == {"baudrate": 115200, "latency_s": 0.002, "drop_rate": 0.01, "seed": "3"}
    assert parse_shaped_url("shaped:;socket://h:1?logging=debug") == (
        "socket://h:1?logging=debug",
        {},
    )
    url = shaped_url(
        "unix:", latency_s=0.3, jitter_s=0.05, up_latency_s=1.0, down_latency_s=0, hold_s=1
    )
    assert url == (
        "shaped:latency_ms=300,up_latency_ms=1000,down_latency_ms=0,jitter_ms=50,hold_ms=1000;unix:"
    )
    assert parse_shaped_url(url)[1] == {
        "latency_s": 0.3,
        "up_latency_s": 1.0,
        "down_latency_s": 0.0,
        "jitter_s": 0.05,
        "hold_s": 1.0,
    }
    for bad in ("shaped:baud=1", "shaped:speed=9;unix:", "shaped:baud=x;unix:", "shaped:;"):
        with pytest.raises(ConfigError):
            parse_shaped_url(bad)


def test_board_behind_a_115200_link_is_exact_and_rate_bound() -> None:
    require_virtual_board("unix")
    url = shaped_url("unix:", baudrate=115200, latency_s=0.001)
    with mpharness.open_board(url, rig=[]) as board:
        assert isinstance(board.transport, ShapedTransport)
        assert board.url == url
        start = time.monotonic()
        out = board.exec("print('y' * 4000)")
        elapsed = time.monotonic() - start
        assert out == "y" * 4000 + "\n"
        assert elapsed >= 4000 * 10 / 115200 * 0.95


def test_board_reply_is_late_by_the_host_to_board_latency() -> None:
    """The delay measured on a real board: its REPL answers a line 300 ms later than it would
    without the relay, and its output comes back untouched."""
    require_virtual_board("unix")
    url = shaped_url("unix:", up_latency_s=0.3)
    with open_transport(url) as link:
        assert isinstance(link, ShapedTransport)
        link.read(Deadline.after(5.0))  # the banner
        start = time.monotonic()
        link.write(b"6*7\r")
        out = bytearray()
        deadline = Deadline.after(10.0)
        while b"42" not in out and not deadline.expired():
            out += link.read(deadline)
        elapsed = time.monotonic() - start
    assert b"42" in out
    assert elapsed >= 0.295
