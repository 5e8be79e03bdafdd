"""``mpharness repl``: lines on screen start at the left margin, and Ctrl-] ends the line.

The board's unix port ends lines with a bare LF; a raw terminal turns that into a staircase
unless the terminal code writes CR LF. The end-to-end test runs the real command on a pty,
as a user's terminal would.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import sys
import time

from mpharness.transports.terminal import Screen
from tests.conftest import require_virtual_board


def _screen(data: list[bytes], translate: bool = True) -> bytes:
    out = io.BytesIO()
    screen = Screen(out, translate=translate)  # type: ignore[arg-type]
    for piece in data:
        screen.write(piece)
    screen.finish()
    return out.getvalue()


def test_lone_line_feeds_become_crlf() -> None:
    assert _screen([b"a\nb\n>>> "]) == b"a\r\nb\r\n>>> \r\n"


def test_board_crlf_is_kept_even_when_split_between_reads() -> None:
    assert _screen([b"a\r\nb\r", b"\nc\r\r\n"]) == b"a\r\nb\r\nc\r\r\n"


def test_finish_adds_nothing_at_a_line_start() -> None:
    assert _screen([b"done\n"]) == b"done\r\n"
    assert _screen([]) == b""


def test_no_translation_when_not_a_terminal() -> None:
    assert _screen([b"a\nb"], translate=False) == b"a\nb\n"


def _read_until(fd: int, marker: bytes, timeout: float = 20.0) -> bytes:
    out = b""
    end = time.monotonic() + timeout
    while marker not in out:
        remaining = end - time.monotonic()
        assert remaining > 0, f"no {marker!r} in {out!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:  # EIO: the command exited
                break
    return out


def test_repl_on_a_terminal_has_no_staircase_and_leaves_cleanly() -> None:
    require_virtual_board("unix")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, on the pty as its terminal
        os.execv(sys.executable, [sys.executable, "-m", "mpharness.cli.main", "repl", "unix"])
    try:
        _read_until(fd, b">>> ")
        os.write(fd, b"for i in range(3): print('line', i)\r")
        os.write(fd, b"\r")
        seen = _read_until(fd, b"line 2")
        if b">>> " not in seen.split(b"line 2", 1)[1]:
            seen += _read_until(fd, b">>> ")
        os.write(fd, b"\x1d")  # Ctrl-]
        tail = _read_until(fd, b"\x00never", timeout=10.0)  # read to EOF
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.WEXITSTATUS(status) == 0
    lines = re.findall(rb"line \d[^\n]*\n", seen)
    assert lines == [b"line 0\r\n", b"line 1\r\n", b"line 2\r\n"]
    assert re.search(rb"(?<!\r)\n", seen) is None  # no line feed without its carriage return
    assert tail.endswith(b"\r\n")  # the shell's prompt will start on a fresh line
