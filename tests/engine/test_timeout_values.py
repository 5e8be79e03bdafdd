"""What ``timeout=`` accepts: seconds >= 0, None (no limit), -1 (the default budget)."""

from __future__ import annotations

import math

import pytest

import mpharness


@pytest.mark.parametrize("bad", [-5, -0.5, math.nan])
def test_negative_and_nan_timeouts_are_refused(unix_board: mpharness.Board, bad: float) -> None:
    for call in (unix_board.exec, unix_board.eval):
        with pytest.raises(ValueError, match="timeout must be None or a number of seconds"):
            call("1", timeout=bad)
    with pytest.raises(ValueError, match="timeout must be"):
        unix_board.soft_reset(timeout=bad)
    assert unix_board.eval("1 + 1") == 2  # nothing was sent


def test_default_none_and_zero(unix_board: mpharness.Board) -> None:
    assert unix_board.exec("print(1)", timeout=-1) == "1\n"
    assert unix_board.exec("print(2)", timeout=None) == "2\n"
    with pytest.raises(mpharness.BoardTimeout):
        unix_board.exec("import time\ntime.sleep(1)", timeout=0)
    assert unix_board.exec("print(3)") == "3\n"
