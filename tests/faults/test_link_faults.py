"""Faults of the link itself: noise, a cut cable, a second program on the same port.

Pass means: never a false success (a result is exact, or the call raises; a wrong printed
result may only come from noise the shaper injected on the way back in that very call, see
``test_noisy_link``), every
failure ends within its budget, and the board works again once the link is clean.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

import mpharness
from mpharness.transports import open_transport
from mpharness.virtual.pty_bridge import PtyBridge
from mpharness.virtual.shaped_urls import shaped_url
from mpharness.virtual.shaper import ShapedTransport
from tests.conftest import require_virtual_board
from tests.faults.helpers import SLACK, fault_timeouts, hang_budget, timed

#: noise rate per byte and direction on the noisy link
NOISE_RATE = 0.002
NOISY_EXECS = 12


@pytest.fixture
def shaped_board() -> Iterator[mpharness.Board]:
    """A unix board behind a (so far clean) shaped link."""
    require_virtual_board("unix")
    with mpharness.open_board(shaped_url("unix:"), rig=[]) as board, fault_timeouts(board):
        assert isinstance(board.transport, ShapedTransport)
        yield board


def _shaper(board: mpharness.Board) -> ShapedTransport:
    assert isinstance(board.transport, ShapedTransport)
    return board.transport


def _down_noise(shaper: ShapedTransport) -> int:
    return shaper.stats.down_dropped + shaper.stats.down_corrupted


def test_noisy_link(shaped_board: mpharness.Board, run: int) -> None:
    """Dropped and corrupted bytes: each exec gives the exact result or raises in budget.

    The shaper plays a serial line, so the board runs checked execs (``integrity: auto``): code
    runs only if it arrived intact, and values come back checksummed. A value is therefore
    exact or an error, always. Free-form stdout is not checksummed: a wrong printed result is
    accepted only when the shaper damaged bytes on the way back in that very call (counted).
    """
    shaper = _shaper(shaped_board)
    assert shaped_board.integrity == "checked"
    shaper.set_noise(drop_rate=NOISE_RATE, corrupt_rate=NOISE_RATE, seed=run)
    outcomes: Counter[str] = Counter()
    timeout = 1.0
    for i in range(NOISY_EXECS):
        value = (run * 100 + i) * 7919
        before = _down_noise(shaper)
        with timed() as watch:
            try:
                if i % 2:
                    out = shaped_board.eval(f"{run * 100 + i} * 7919", timeout=timeout)
                    assert out == value, f"eval gave {out!r}, not {value}"
                else:
                    out = shaped_board.exec(f"print({run * 100 + i} * 7919)", timeout=timeout)
            except mpharness.MPHarnessError as err:
                outcomes[type(err).__name__] += 1
                if isinstance(err, mpharness.BoardBroken):
                    shaped_board.broken = None  # keep trying: the link may clear up
                out = None
        assert watch.seconds <= hang_budget(shaped_board, timeout)
        if isinstance(out, str) and out != f"{value}\n":
            assert _down_noise(shaper) > before, f"wrong output {out!r}, no noise on the way back"
            outcomes["wrong stdout (noise on the way back)"] += 1
        elif out is not None:
            outcomes["exact"] += 1
    shaper.set_noise(0.0, 0.0)
    shaped_board.broken = None
    shaped_board.recover()
    assert shaped_board.exec("print('clean')") == "clean\n"
    assert sum(outcomes.values()) == NOISY_EXECS
    print(f"noisy link run {run}: {dict(outcomes)}; {shaper.stats}")


def test_cut_link_mid_exec(shaped_board: mpharness.Board, run: int) -> None:
    shaper = _shaper(shaped_board)
    threading.Timer(0.05 + 0.05 * run, shaper.cut).start()
    with timed() as watch, pytest.raises((mpharness.TransportClosed, mpharness.BoardTimeout)):
        shaped_board.exec(
            "import time\nwhile True:\n    print('.')\n    time.sleep_ms(5)", timeout=5
        )
    assert watch.seconds < 0.15 + 0.05 * run + SLACK
    with timed() as watch, pytest.raises(mpharness.TransportClosed):
        shaped_board.exec("print(1)", timeout=2)  # still cut: fails at once
    assert watch.seconds < SLACK
    shaper.restore()
    shaped_board.recover()
    assert shaped_board.exec(f"print({run} - 1)") == f"{run - 1}\n"


def test_slow_link_keeps_results_exact(run: int) -> None:
    """At 115200 baud with latency, results (and a larger upload) are exact."""
    require_virtual_board("unix")
    url = shaped_url("unix:", baudrate=115200, latency_s=0.001 * (run + 1))
    with mpharness.open_board(url, rig=[]) as board:
        text = "x" * (500 + 500 * run)
        assert board.exec(f"s = {text!r}\nprint(len(s), s[-3:])") == f"{len(text)} xxx\n"


_SECOND_OPEN = """
import sys, mpharness
from mpharness.transports import open_transport
try:
    if sys.argv[2] == "board":
        mpharness.open_board(sys.argv[1], rig=[], timeout=5)
    else:
        open_transport(sys.argv[1], timeout=5)
except mpharness.MPHarnessError as err:
    print(type(err).__name__, err)
    sys.exit(3)
print("opened")
"""


@pytest.mark.parametrize("how", ["board", "transport"])
def test_second_process_gets_busy(how: str, run: int) -> None:
    """Two programs on one serial port: the second is told the port is busy, whether it
    opens a board (the session lease) or just the port (the exclusive serial lock)."""
    require_virtual_board("unix")
    with PtyBridge(open_transport("unix:")) as bridge:
        try:
            with mpharness.open_board(bridge.slave_path, rig=[]) as first:
                second = subprocess.run(
                    [sys.executable, "-c", _SECOND_OPEN, bridge.slave_path, how],
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                assert second.returncode == 3, second.stdout + second.stderr
                kind, _, message = second.stdout.partition(" ")
                assert issubclass(getattr(mpharness.errors, kind), mpharness.ConnectError)
                assert "busy" in message
                assert first.exec(f"print({run})") == f"{run}\n"  # the first is undisturbed
        finally:
            bridge.transport.close()
