"""Progress bars: quiet off a terminal and for short transfers; drawn on a tty for long ones."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from mpharness.cli.progress import ProgressBar
from tests.conftest import require_virtual_board


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_quiet_when_not_a_terminal() -> None:
    stream, clock = io.StringIO(), Clock()
    with ProgressBar(stream, clock=clock) as bar:
        clock.now += 5
        bar(10, 100)
        bar(100, 100)
    assert stream.getvalue() == ""


def test_quiet_for_transfers_under_a_second_then_drawn() -> None:
    stream, clock = FakeTty(), Clock()
    with ProgressBar(stream, "sync", clock=clock) as bar:
        clock.now += 0.5
        bar(50 * 1024, 200 * 1024)
        assert stream.getvalue() == ""
        clock.now += 1.5
        bar(100 * 1024, 200 * 1024)
        drawn = stream.getvalue()
        assert drawn.startswith("\rsync [" + "#" * 15 + "." * 15 + "] 100/200 KiB 50.0 KiB/s")
        clock.now += 0.01
        bar(101 * 1024, 200 * 1024)  # too soon: not redrawn
        assert stream.getvalue() == drawn
        clock.now += 1
        bar(200 * 1024, 200 * 1024)
    assert stream.getvalue().endswith("] 200/200 KiB 66.4 KiB/s\n")  # 200 KiB in 3.01 s


def test_short_transfer_leaves_no_line_behind() -> None:
    stream, clock = FakeTty(), Clock()
    with ProgressBar(stream, clock=clock) as bar:
        bar(1, 1)
    assert stream.getvalue() == ""


def _read_all(fd: int, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    data = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
    return data


def _sync_with_stderr_on(tmp_path: Path, tty: bool) -> tuple[int, bytes, bytes]:
    """``mpharness sync`` of 24 KB over a 115200-baud shaped link (about 2 s)."""
    (tmp_path / "big.bin").write_bytes(os.urandom(24 * 1024))
    board = "shaped:baud=115200;unix:"
    argv = [sys.executable, "-m", "mpharness.cli", "sync", board, str(tmp_path)]
    if not tty:
        proc = subprocess.run(argv, capture_output=True, timeout=60, check=False)
        return proc.returncode, proc.stdout, proc.stderr
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        err = _read_all(master, proc, 60)
        out = proc.stdout.read() if proc.stdout else b""
        proc.wait(10)
    finally:
        os.close(master)
    return proc.returncode, out, err


def test_sync_draws_a_bar_on_a_tty_only(tmp_path: Path) -> None:
    require_virtual_board("unix")
    code, out, err = _sync_with_stderr_on(tmp_path, tty=True)
    assert code == 0, err
    assert b"\rsync [" in err and b"/24 KiB" in err
    assert b"1 uploaded, 1 verified, 0 deleted in" in out
    seconds = float(out.rsplit(b" in ", 1)[1].split()[0])
    assert seconds > 1.0  # else the bar would rightly stay hidden
    code, out, err = _sync_with_stderr_on(tmp_path, tty=False)
    assert code == 0, err
    assert err == b""
    assert b"1 uploaded, 1 verified" in out
