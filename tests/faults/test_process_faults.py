"""The board's process dies under the harness: mid-exec and mid-file-write.

Pass means: the call ends in TransportClosed within its budget (never a result), a hard reset
(respawn / QEMU relaunch) or a fresh open brings the board back, and no file is ever reported
written that differs from what was sent.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import signal
import threading

import pytest

import mpharness
from tests.conftest import require_virtual_board
from tests.faults.helpers import SLACK, timed

#: seconds from the kill to the TransportClosed, at most
DEATH_NOTICE = 1.0 + SLACK


def _kill(pid: int | None) -> None:
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


def _kill_on_output(board: mpharness.Board) -> tuple[threading.Event, object]:
    """An on_output callback that SIGKILLs the board's process on its first output."""
    fired = threading.Event()

    def callback(_text: str) -> None:
        if not fired.is_set():
            fired.set()
            _kill(board.transport.pid)  # type: ignore[attr-defined]

    return fired, callback


@pytest.mark.parametrize("name", ["unix", "microbit"])
def test_killed_mid_exec(name: str, run: int) -> None:
    require_virtual_board(name)
    with mpharness.open_board(name, rig=[], timeout=60) as board:
        fired, callback = _kill_on_output(board)
        code = "print('go')\nn = 0\nwhile True:\n    n += 1\n"
        with timed() as watch, pytest.raises(mpharness.TransportClosed):
            board.exec(code, timeout=10, on_output=callback)  # type: ignore[arg-type]
        assert fired.is_set()
        assert watch.seconds < DEATH_NOTICE
        board.hard_reset(timeout=30)  # respawn / relaunch: the board comes back
        assert board.exec(f"print({run} + 40)") == f"{run + 40}\n"


def _payload(run: int, size: int) -> bytes:
    return random.Random(run).randbytes(size)


def _board_sha256(board: mpharness.Board, path: str) -> str | None:
    """sha256 of a board file computed on the board (unix port has hashlib), or None if absent."""
    code = (
        "import os, hashlib, binascii\n"
        f"try:\n f = open({path!r}, 'rb')\nexcept OSError:\n print('absent')\nelse:\n"
        " h = hashlib.sha256()\n while True:\n  b = f.read(4096)\n  if not b: break\n"
        "  h.update(b)\n f.close()\n print(binascii.hexlify(h.digest()).decode())\n"
    )
    out = board.exec(code, timeout=10).strip()
    return None if out == "absent" else out


def test_killed_mid_raw_file_write(run: int) -> None:
    """A board-side write loop killed part-way: a success is only reported for a whole file."""
    require_virtual_board("unix")
    chunks = 600 + 200 * run
    code = (
        "print('start')\nf = open('/big.bin', 'wb')\nb = bytes(range(256)) * 16\n"
        f"for i in range({chunks}):\n    f.write(b)\nf.close()\nprint('written')\n"
    )
    expected = hashlib.sha256(bytes(range(256)) * 16 * chunks).hexdigest()
    with mpharness.open_board("unix", rig=[]) as board:
        fired, callback = _kill_on_output(board)
        try:
            out = board.exec(code, timeout=10, on_output=callback)  # type: ignore[arg-type]
        except mpharness.TransportClosed:
            out = None
        assert fired.is_set()
        board.hard_reset(timeout=30)
        if out is not None:  # reported written: it must be exactly what was sent
            assert out == "start\nwritten\n"
            assert _board_sha256(board, "/big.bin") == expected
        assert board.exec(code, timeout=30) == "start\nwritten\n"  # and it works again
        assert _board_sha256(board, "/big.bin") == expected


@pytest.mark.skipif(
    importlib.util.find_spec("mpharness.files.board_fs") is None,
    reason="mpharness.files.board_fs (board.fs) not built yet",
)
def test_killed_mid_fs_write(run: int) -> None:
    """``board.fs.write_bytes`` killed part-way: it raises, or the file reads back exactly."""
    require_virtual_board("unix")
    data = _payload(run, 120_000)
    with mpharness.open_board("unix", rig=[]) as board:
        timer = threading.Timer(0.01 + 0.03 * run, _kill, (board.transport.pid,))  # type: ignore[attr-defined]
        timer.start()
        try:
            board.fs.write_bytes("/blob.bin", data)
            reported = True
        except mpharness.MPHarnessError:
            reported = False
        timer.join()
        board.hard_reset(timeout=30)
        if reported:
            assert board.fs.read_bytes("/blob.bin") == data
        board.fs.write_bytes("/blob.bin", data)
        assert board.fs.read_bytes("/blob.bin") == data
