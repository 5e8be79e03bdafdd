"""WebReplTransport against hostile peers (issue 11): deadlines hold, memory stays bounded.

The peer (:mod:`tests.webrepl.hostile`) does a real websocket upgrade and then misbehaves.
Before the transport parsed frames itself, a chattering peer kept the 3 s login going for
40 s, a 2**62-byte header was believed (the process blocked reading it), a binary flood grew
the process to 1.9 GB and an endless fragmented message never returned.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator

import pytest

from mpharness.deadline import Deadline
from mpharness.errors import ConnectError, TransportClosed
from mpharness.transports.webrepl import CLOSE_WAIT, WebReplTransport, open_webrepl
from mpharness.transports.ws_frames import MAX_BINARY
from tests.webrepl.hostile import ENDLESS, HUGE, PASSWORD, HostilePeer

SLACK = 1.0  #: s beyond a budget allowed for a busy CI machine
MEMORY_BOUND = 8 * 1024 * 1024  #: bytes of Python allocations a read loop may peak at


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> Iterator[HostilePeer]:
    with HostilePeer(request.param) as hostile:
        yield hostile


def _login(peer: HostilePeer) -> WebReplTransport:
    return open_webrepl(peer.url, password=PASSWORD, timeout=3.0)


def _read_for(
    link: WebReplTransport, seconds: float, step: float = 0.2, enough: int | None = None
) -> tuple[int, float]:
    """Read for ``seconds`` (or until ``enough`` bytes came) in ``step``-second reads: bytes
    got, and the slowest read's time."""
    got, slowest = 0, 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end and (enough is None or got < enough):
        start = time.monotonic()
        data = link.read(Deadline.after(step))
        slowest = max(slowest, time.monotonic() - start)
        assert len(data) <= 65536
        got += len(data)
    return got, slowest


@pytest.mark.parametrize(
    ("peer", "what"),
    [("chatter", "password prompt"), ("chatter_login", "login answer")],
    indirect=["peer"],
)
def test_login_deadline_holds_while_the_peer_keeps_sending(peer: HostilePeer, what: str) -> None:
    start = time.monotonic()
    with pytest.raises(ConnectError, match=rf"{what} did not come within 1\.5 s"):
        open_webrepl(peer.url, password=PASSWORD, timeout=1.5)
    assert time.monotonic() - start < 1.5 + CLOSE_WAIT + SLACK
    assert peer.sent > 0  # it really was talking all along


@pytest.mark.parametrize("peer", ["huge_header"], indirect=True)
def test_a_header_announcing_2_to_the_62_bytes_is_refused(peer: HostilePeer) -> None:
    link = _login(peer)
    try:
        start = time.monotonic()
        with pytest.raises(TransportClosed, match=rf"announces {HUGE} bytes.*refused"):
            _read_for(link, 5.0)
        assert time.monotonic() - start < 1.0 + SLACK
    finally:
        link.close()


@pytest.mark.parametrize("peer", ["endless_frame", "endless_fragments"], indirect=True)
def test_huge_frames_stream_through_in_bounded_memory(peer: HostilePeer) -> None:
    """A 200 MB frame, or a message whose fragments never end: every read ends by its deadline
    and hands bytes on as they come; nothing holds the frame."""
    link = _login(peer)
    tracemalloc.start()
    try:
        got, slowest = _read_for(link, 30.0, enough=ENDLESS + 4 * MEMORY_BOUND)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        link.close()
    assert got > ENDLESS  # the whole 200 MB (and more) passed through...
    assert peak < MEMORY_BOUND  # ...while little was ever held
    assert slowest < 0.2 + SLACK


@pytest.mark.parametrize("peer", ["binary_flood"], indirect=True)
def test_unasked_binary_frames_are_bounded(peer: HostilePeer) -> None:
    link = _login(peer)
    tracemalloc.start()
    try:
        with pytest.raises(TransportClosed, match="unasked binary"):
            _read_for(link, 5.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        link.close()
    assert peak < 2 * MAX_BINARY + MEMORY_BOUND


@pytest.mark.parametrize("peer", ["dribble"], indirect=True)
def test_a_dribbled_frame_never_blocks_a_read(peer: HostilePeer) -> None:
    """A frame sent a byte every 0.2 s: reads return what came, each within its deadline."""
    link = _login(peer)
    try:
        got, slowest = _read_for(link, 1.5, step=0.1)
    finally:
        link.close()
    assert 2 <= got <= 100
    assert slowest < 0.1 + SLACK


@pytest.mark.parametrize("peer", ["endless_fragments"], indirect=True)
def test_close_is_bounded_on_a_peer_that_never_stops(peer: HostilePeer) -> None:
    link = _login(peer)
    _read_for(link, 0.2)
    start = time.monotonic()
    link.close()
    assert time.monotonic() - start < CLOSE_WAIT + SLACK
    assert link.closed
