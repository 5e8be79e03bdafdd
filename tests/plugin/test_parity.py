"""Parity: portable test files have the same per-test outcomes on the host and on a board.

Each file of ``tests/plugin/parity`` runs twice in pytester: with plain pytest on the host
(the plugin disabled, so the bodies run in CPython) and with ``--device BOARD``. Every test's
outcome (passed, failed, skipped, xfailed) must be the same, and must be the one its name
announces (``test_ok_*`` ...), so a board that passes a test pytest fails makes this fail.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.plugin.helpers import QUIET, need

PARITY = Path(__file__).parent / "parity"
FILES = sorted(p.name for p in PARITY.glob("parity_*.py"))
#: files the micro:bit cannot run, and why
_NO_ROOM = (
    "the micro:bit's ~9 KB heap cannot hold the pytest stand-in with its {} module and this "
    "test module together (MemoryError at import, reported as a failure)"
)
MICROBIT_CANNOT: dict[str, str] = {}
NAMED = {"ok": "passed", "bad": "failed", "skip": "skipped", "xfail": "xfailed"}


def outcomes(reprec: pytest.HookRecorder) -> dict[str, str]:
    """Test name -> passed / failed / skipped / xfailed, from the run's reports."""
    result: dict[str, str] = {}
    for report in reprec.getreports("pytest_runtest_logreport"):
        name = report.nodeid.split("::", 1)[1]
        if report.failed:
            result[name] = "failed"
        elif report.skipped:
            result[name] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        elif report.when == "call" and name not in result:
            result[name] = "xfailed" if hasattr(report, "wasxfail") else "passed"
    return result


def expected(name: str) -> str:
    """The outcome a test's name announces (``TestX::test_ok_y[1]`` -> passed)."""
    word = name.split("::")[-1].split("[")[0].split("_")[1]
    return NAMED[word]


def run_both(pytester: pytest.Pytester, filename: str, device: str) -> tuple[dict, dict]:
    for path in [PARITY / filename, PARITY / "paritylib.py"]:
        shutil.copy(path, pytester.path / path.name)
    common = ("-o", "python_files=parity_*.py", "-p", "no:cacheprovider", *QUIET)
    host = pytester.inline_run(*common, "-p", "no:mpharness", "-o", "markers=on_board", filename)
    board = pytester.inline_run(*common, "--device", device, filename)
    return outcomes(host), outcomes(board)


@pytest.mark.parametrize(
    "device",
    [
        pytest.param("unix", marks=pytest.mark.unix_board),
        pytest.param("microbit", marks=pytest.mark.microbit),
    ],
)
@pytest.mark.parametrize("filename", FILES)
def test_board_outcomes_equal_plain_pytest(pytester, filename, device):
    need(device)
    if device == "microbit" and filename in MICROBIT_CANNOT:
        pytest.skip(MICROBIT_CANNOT[filename])
    host, board = run_both(pytester, filename, device)
    assert host, f"{filename}: nothing ran on the host"
    assert host == {name: expected(name) for name in host}, "the parity file itself is wrong"
    assert board == host
