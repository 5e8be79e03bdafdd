"""The engine on links whose bytes arrive late in other ways than a fixed delay each way
(that is ``test_latency.py``).

Each case runs the same short session a user would (open_board, exec, eval, soft reset,
exec again) on a real virtual board behind a late link, with a budget on every call:

* the unix board behind a jittery link, and behind a relay that holds only host->board bytes
  for 1 s;
* the QEMU micro:bit on QEMU's own ``-serial pty``, whose first input after an open reaches
  the firmware about 1 s late, opened by its pty path as a user would (and by its URL); and
  the same lateness on a modern MicroPython (the unix port behind ``hold_ms=1000``), where the
  entry sequence is resent meanwhile and every copy is answered.

Every case also checks that the whole session kept its budgets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import mpharness
from mpharness.virtual.qemu_pty import QemuPtyMicrobit
from mpharness.virtual.shaped_urls import shaped_url
from tests.conftest import require_virtual_board

OPEN_BUDGET = 30.0  #: s for open_board (entering the raw REPL, the first soft reset)
CALL_BUDGET = 15.0  #: s for each exec, eval and soft reset
#: the session's whole budget: the open, four calls, and slack for a shared CI machine
SESSION_BUDGET = OPEN_BUDGET + 4 * CALL_BUDGET + 5.0


def _session(target: str) -> None:
    """open_board + exec + eval + soft_reset + exec, each call within its budget."""
    with mpharness.open_board(target, rig=[], timeout=OPEN_BUDGET) as board:
        assert board.exec("print(1)", timeout=CALL_BUDGET) == "1\n"
        assert board.eval("1 + 2", timeout=CALL_BUDGET) == 3
        board.soft_reset(timeout=CALL_BUDGET)
        assert board.exec("print('after reset')", timeout=CALL_BUDGET) == "after reset\n"


def _timed_session(target: str) -> float:
    start = time.monotonic()
    try:
        _session(target)
    finally:
        elapsed = time.monotonic() - start
        assert elapsed < SESSION_BUDGET, f"the session took {elapsed:.1f} s"
    return elapsed


def test_session_through_a_jittery_link() -> None:
    require_virtual_board("unix")
    _timed_session(shaped_url("unix:", latency_s=0.04, jitter_s=0.04, seed=11))


def test_session_behind_a_relay_holding_input_1s() -> None:
    """The issue's second case: host->board bytes held 1 s, the board's answers come at once."""
    require_virtual_board("unix")
    _timed_session(shaped_url("unix:", up_latency_s=1.0))


def test_sessions_with_input_held_1s_after_open() -> None:
    """A modern MicroPython (the unix port) behind what QEMU's ``-serial pty`` does to input:
    what the host writes in the link's first second arrives only then. The entry sequence is
    resent meanwhile; the board answers every copy at once, and about one session in seven
    then takes a stale answer for the next step's (exec times out). Several sessions, so the
    case shows reliably."""
    require_virtual_board("unix")
    for _ in range(8):
        _timed_session(shaped_url("unix:", hold_s=1.0))


@pytest.fixture
def microbit_on_pty() -> Iterator[QemuPtyMicrobit]:
    require_virtual_board("microbit")
    with QemuPtyMicrobit() as board:
        yield board


def test_session_on_qemu_serial_pty_by_path(microbit_on_pty: QemuPtyMicrobit) -> None:
    """The issue's first case, opened as a user would: ``open_board('/dev/pts/N')``."""
    _timed_session(microbit_on_pty.path)


def test_session_on_qemu_serial_pty_by_url() -> None:
    require_virtual_board("microbit")
    _timed_session("qemu:microbit?serial=pty")
