"""Helpers shared by the plugin tests: inner pytest runs against virtual boards."""

from __future__ import annotations

import pytest

from tests.conftest import require_virtual_board

BOARDS = [
    pytest.param("unix", marks=pytest.mark.unix_board),
    pytest.param("microbit", marks=pytest.mark.microbit),
]

#: Plugins the inner runs do without (hypothesis' terminal summary alone costs ~0.5 s a run).
#: plugins of other libraries left out of in-process runs: labgrid's pytest plugin starts a
#: process-wide step logger in pytest_configure and refuses a second start (an inner run)
QUIET = ("-p", "no:randomly", "-p", "no:hypothesispytest", "-p", "no:labgrid")


def run(pytester: pytest.Pytester, device: str, *args: str) -> pytest.RunResult:
    """pytest in-process in ``pytester``'s directory with ``--device device``."""
    return pytester.runpytest("--device", device, *QUIET, *args)


def line_of(source: str, text: str) -> int:
    """1-based line of the first line of ``source`` containing ``text``."""
    return next(n for n, line in enumerate(source.splitlines(), 1) if text in line)


def need(board: str) -> str:
    """``board`` if it can run here; else skip (or fail in CI)."""
    require_virtual_board(board)
    return board
