"""Code that never ends, Ctrl-C switched off, output from background threads.

Pass means: every hang ends in BoardTimeout (then recovery) or BoardBroken (saying what was
tried) within its budget, and results of execs are exact while other code prints.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import mpharness
from mpharness.transports import open_transport
from mpharness.virtual.pty_bridge import PtyBridge
from tests.conftest import require_virtual_board
from tests.faults.helpers import DEAF_TIMEOUTS, fault_timeouts, hang_budget, timed

LOOP = "n = 0\nwhile True:\n    n += 1\n"
#: a board that can never recover uses its whole budget: keep it short
BROKEN_TIMEOUTS = mpharness.Timeouts(interrupt=0.3, recovery=1.2)
NO_CTRL_C = "import micropython\nmicropython.kbd_intr(-1)\n" + LOOP


@pytest.fixture(scope="module", params=["unix", "microbit"])
def fboard(request: pytest.FixtureRequest) -> Iterator[mpharness.Board]:
    """Each virtual board, with the fault suite's short recovery budgets."""
    require_virtual_board(request.param)
    with mpharness.open_board(request.param, rig=[], timeout=60) as opened, fault_timeouts(opened):
        yield opened


def test_infinite_loop_times_out_and_recovers(fboard: mpharness.Board, run: int) -> None:
    timeout = 0.3 + 0.1 * run
    with timed() as watch, pytest.raises(mpharness.BoardTimeout) as info:
        fboard.exec("print('looping')\n" + LOOP, timeout=timeout)
    assert watch.seconds <= hang_budget(fboard, timeout)
    assert info.value.partial_output == "looping\n"
    assert fboard.exec(f"print({run} * 3)") == f"{run * 3}\n"


def test_ctrl_c_disabled_recovered_by_hard_reset(
    fboard: mpharness.Board, run: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Ctrl-C does nothing: recovery climbs to the hard reset (respawn / QMP reset)."""
    caplog.set_level(logging.INFO, logger="mpharness.session.recovery")
    timeout = 0.3
    with fault_timeouts(fboard, DEAF_TIMEOUTS), timed() as watch:
        with pytest.raises(mpharness.BoardTimeout):
            fboard.exec(NO_CTRL_C, timeout=timeout)
        assert watch.seconds <= hang_budget(fboard, timeout)
    assert "recovered by hard reset" in caplog.text
    assert fboard.exec(f"print({run} + 1)") == f"{run + 1}\n"
    fboard.exec("import micropython\nmicropython.kbd_intr(3)")


def test_ctrl_c_disabled_without_reset_is_reported_broken(run: int) -> None:
    """The same on a serial line without reset lines (a pty): BoardBroken with attempts."""
    require_virtual_board("unix")
    with PtyBridge(open_transport("unix:")) as bridge:
        try:
            with (
                mpharness.open_board(bridge.slave_path, rig=[]) as board,
                fault_timeouts(board, BROKEN_TIMEOUTS),
            ):
                assert not board.transport.can_hard_reset
                timeout = 0.2 + 0.1 * run
                with timed() as watch, pytest.raises(mpharness.BoardBroken) as info:
                    board.exec(NO_CTRL_C, timeout=timeout)
                assert watch.seconds <= hang_budget(board, timeout)
                assert info.value.attempts, "BoardBroken must list what was tried"
                assert any("soft reset" in attempt for attempt in info.value.attempts)
                with pytest.raises(mpharness.BoardBroken):  # stays broken, fails fast
                    board.exec("print(1)")
        finally:
            bridge.transport.close()


BACKGROUND = (
    "import _thread, time, sys\n_bg_run = [True]\n"
    "def _bg():\n    while _bg_run[0]:\n"
    "        sys.stdout.write('~\\n')\n        time.sleep_ms(1)\n"
    "_thread.start_new_thread(_bg, ())\n"
)


def test_background_thread_output_keeps_results_exact(run: int) -> None:
    """A thread prints every millisecond; each exec's own output arrives whole and in order,
    and the exception type of a failing exec stays exact (the thread's lines can land between
    the pieces of the traceback, and between the frame's last ``\\x04`` and its prompt)."""
    require_virtual_board("unix")
    with mpharness.open_board("unix", rig=[]) as board:
        board.exec(BACKGROUND)
        for i in range(20):
            value = (run + 1) * 1000 + i
            out = board.exec(f"sys.stdout.write('%d\\n' % {value})\nsys.stdout.write('end\\n')")
            mine = [line for line in out.split("\n") if line and line != "~"]
            assert mine == [str(value), "end"], out
        for _ in range(5):
            with pytest.raises(mpharness.RemoteError) as info:
                board.exec("1/0")
            assert info.value.exc_type == "ZeroDivisionError", info.value.traceback
            # a thread's line that lands in or after the message stays in it (response.py)
            assert "divide by zero" in info.value.message, info.value.traceback
        board.soft_reset()  # stops the thread (respawn), as before each test
        assert board.exec("print('quiet')") == "quiet\n"


def test_background_output_on_microbit() -> None:
    pytest.skip(
        "micro:bit MicroPython 1.9.2 has no _thread, machine.Timer or micropython.schedule: "
        "nothing can print in the background"
    )
