"""Boards in awkward states are still entered and driven; dead boards fail fast."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import mpharness
from mpharness.deadline import Deadline
from tests.conftest import require_virtual_board


@pytest.mark.parametrize("name", ["unix", "microbit"])
def test_board_running_a_printing_loop_in_friendly_mode_is_entered(name: str) -> None:
    """Like a board whose main.py prints forever: open_board must still take it over."""
    require_virtual_board(name)
    with mpharness.open_board(name, rig=[], timeout=60) as first:
        first._write(b"\x02")  # friendly REPL, then type a loop as a user would
        first.transport.write(b"import time\r")
        first.transport.write(b"while True:\r print('tick')\r\r")
        first.transport.read(Deadline.after(0.5))
        board = mpharness.Board(first.transport, name=name, url=first.url)
        board.recover(timeout=10)
        assert board.exec("print('driven')") == "driven\n"


def test_killed_unix_board_raises_promptly_and_reopens() -> None:
    require_virtual_board("unix")
    board = mpharness.open_board("unix", rig=[])
    pid = board.transport.pid  # type: ignore[attr-defined]
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
    start = time.monotonic()
    with pytest.raises(mpharness.TransportClosed):
        board.exec("while True: pass", timeout=10)
    assert time.monotonic() - start < 5
    board.close()
    with mpharness.open_board("unix", rig=[]) as again:
        assert again.eval("1 + 1") == 2


def test_killed_qemu_raises_promptly_and_reopens() -> None:
    require_virtual_board("microbit")
    board = mpharness.open_board("microbit", rig=[], timeout=60)
    pid = board.transport.pid  # type: ignore[attr-defined]
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
    start = time.monotonic()
    with pytest.raises(mpharness.TransportClosed):
        board.exec("while True: pass", timeout=10)
    assert time.monotonic() - start < 5
    board.close()
    with mpharness.open_board("microbit", rig=[], timeout=60) as again:
        assert again.eval("1 + 1") == 2


def test_unrecoverable_board_is_reported_broken() -> None:
    """Ctrl-C disabled and a link that cannot reset: the board is reported broken."""
    require_virtual_board("unix")
    with mpharness.open_board("unix", rig=[]) as board:
        board.timeouts = mpharness.Timeouts(recovery=3.0, interrupt=0.5)
        transport = board.transport
        type(transport).can_hard_reset  # noqa: B018 - the real property exists
        board.transport = _NoReset(transport)  # type: ignore[assignment]
        with pytest.raises(mpharness.BoardBroken) as info:
            board.exec("import micropython\nmicropython.kbd_intr(-1)\nwhile True: pass", timeout=1)
        assert info.value.attempts, "BoardBroken must say what was tried"
        with pytest.raises(mpharness.BoardBroken):
            board.exec("print(1)")


class _NoReset:
    """Wraps a transport and hides its reset abilities (a serial link without DTR/RTS)."""

    can_hard_reset = False
    can_reconnect = False

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_board_reset_during_exec_is_reported_at_once() -> None:
    """machine.reset() mid-exec: the boot banner ends the exec with BoardReset, not a timeout."""
    require_virtual_board("microbit")
    with mpharness.open_board("microbit", rig=[], timeout=60) as board:
        start = time.monotonic()
        with pytest.raises(mpharness.BoardReset, match="rebooted"):
            board.exec("import machine\nmachine.reset()", timeout=20)
        assert time.monotonic() - start < 5
        assert board.exec("print('back')") == "back\n"
