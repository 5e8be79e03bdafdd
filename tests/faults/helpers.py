"""Shared pieces of the fault suite: budgets, short recovery timeouts, a timer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import mpharness

#: Extra seconds allowed on top of a budget: the CI machine has 2 cores shared with others.
SLACK = 2.0
#: Recovery budgets used by the fault cases (shorter than the defaults, to keep runs quick).
FAULT_TIMEOUTS = mpharness.Timeouts(interrupt=0.5, recovery=4.0)
#: ...and for boards that ignore Ctrl-C, where only the last rung (hard reset) can work.
DEAF_TIMEOUTS = mpharness.Timeouts(interrupt=0.3, recovery=2.5)


def hang_budget(board: mpharness.Board, exec_timeout: float) -> float:
    """Seconds a hung exec may take to end in an error: its timeout, Ctrl-C, recovery, slack."""
    return exec_timeout + board.timeouts.interrupt + board.timeouts.recovery + SLACK


class Stopwatch:
    """Elapsed seconds since creation (``.seconds``), set when the ``timed`` block ends."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.seconds = 0.0

    def stop(self) -> float:
        self.seconds = time.monotonic() - self.start
        return self.seconds


@contextmanager
def timed() -> Iterator[Stopwatch]:
    """Measure a block, also when it raises."""
    watch = Stopwatch()
    try:
        yield watch
    finally:
        watch.stop()


@contextmanager
def fault_timeouts(
    board: mpharness.Board, timeouts: mpharness.Timeouts = FAULT_TIMEOUTS
) -> Iterator[mpharness.Board]:
    """Use ``timeouts`` (default :data:`FAULT_TIMEOUTS`) on ``board`` for a block."""
    saved = board.timeouts
    board.timeouts = timeouts
    try:
        yield board
    finally:
        board.timeouts = saved
