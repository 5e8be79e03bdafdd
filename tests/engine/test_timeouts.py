"""Every call ends: timeouts interrupt the board and leave it usable."""

from __future__ import annotations

import threading
import time

import pytest

import mpharness


def test_infinite_loop_times_out_and_board_recovers(vboard: mpharness.Board) -> None:
    start = time.monotonic()
    with pytest.raises(mpharness.BoardTimeout) as info:
        vboard.exec("while True: pass", timeout=1)
    elapsed = time.monotonic() - start
    assert isinstance(info.value, TimeoutError)
    assert info.value.phase == "exec"
    assert 0.9 <= elapsed < 4.0
    assert vboard.exec("print('alive')") == "alive\n"


def test_timeout_keeps_partial_output(vboard: mpharness.Board) -> None:
    with pytest.raises(mpharness.BoardTimeout) as info:
        vboard.exec("print('started')\nwhile True: pass", timeout=1)
    assert info.value.partial_output == "started\n"
    assert "KeyboardInterrupt" in info.value.traceback


def test_interrupt_from_another_thread(vboard: mpharness.Board) -> None:
    timer = threading.Timer(0.3, vboard.interrupt)
    timer.start()
    try:
        with pytest.raises(mpharness.RemoteError) as info:
            vboard.exec("while True: pass", timeout=10)
    finally:
        timer.cancel()
    assert info.value.exc_type == "KeyboardInterrupt"
    assert vboard.eval("3") == 3
