"""The engine over WebREPL: ``open_board("webrepl")`` end to end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

import mpharness
from mpharness.transports.webrepl import WebReplTransport
from tests.conftest import require_virtual_board


@pytest.fixture(scope="module")
def wboard() -> Iterator[mpharness.Board]:
    require_virtual_board("unix")
    with mpharness.open_board("webrepl", rig=[], timeout=30.0) as opened:
        yield opened


def server_of(board: mpharness.Board):  # the virtual board's WebReplServer
    assert isinstance(board.transport, WebReplTransport)
    return board.transport.server


def test_exec_eval_streaming(wboard: mpharness.Board) -> None:
    board = wboard
    assert board.url == "webrepl:" and board.transport.url.startswith("ws://127.0.0.1:")
    seen: list[str] = []
    assert board.exec("for i in range(3): print(i)", on_output=seen.append) == "0\n1\n2\n"
    assert "".join(seen) == "0\n1\n2\n"
    assert board.eval("{'a': [1, 2.5, None], 'b': b'\\x80\\x00\\x01'}") == {
        "a": [1, 2.5, None],
        "b": b"\x80\x00\x01",
    }
    big = "x = " + repr("y" * 5000) + "\nprint(len(x))"  # raw-paste with many windows
    assert board.exec(big) == "5000\n"


def test_exception(wboard: mpharness.Board) -> None:
    board = wboard
    with pytest.raises(mpharness.RemoteError) as info:
        board.exec("print('before')\nraise ValueError('boom')")
    assert info.value.exc_type == "ValueError" and info.value.message == "boom"
    assert info.value.stdout == "before\n"
    assert board.eval("1 + 1") == 2


def test_timeout_then_usable(wboard: mpharness.Board) -> None:
    board = wboard
    with pytest.raises(mpharness.BoardTimeout) as info:
        board.exec("print('spin')\nwhile True: pass", timeout=0.5)
    assert "spin" in info.value.partial_output
    assert board.eval("'still here'") == "still here"


def test_interrupt_from_another_thread(wboard: mpharness.Board) -> None:
    board = wboard
    timer = threading.Timer(0.3, board.interrupt)
    timer.start()
    with pytest.raises(mpharness.RemoteError) as info:
        board.exec("import time\nwhile True: time.sleep(0.01)", timeout=10)
    timer.join()
    assert info.value.exc_type == "KeyboardInterrupt"
    assert board.eval("3") == 3


def test_soft_reset_drops_and_reconnects(wboard: mpharness.Board) -> None:
    board = wboard
    server = server_of(board)
    board.exec("marker = 1")
    before = server.sessions
    board.soft_reset(timeout=10)
    assert server.sessions == before + 1  # the socket dropped; the session logged in again
    assert board.eval("'marker' in globals()") is False
    board.exec("marker = 2")
    with pytest.raises(mpharness.RemoteError, match="SystemExit"):
        board.exec("import sys\nsys.exit()")  # a SystemExit reboots the board, too
    assert server.sessions == before + 2
    assert board.eval("'marker' in globals()") is False


def test_file_protocol_through_the_board(wboard: mpharness.Board) -> None:
    board = wboard
    transport = board.transport
    assert isinstance(transport, WebReplTransport)
    data = bytes(range(256)) * 4
    transport.put_file("/via_ws.bin", data)
    assert board.eval("open('/via_ws.bin','rb').read() == bytes(range(256)) * 4") is True
    assert transport.get_file("/via_ws.bin") == data
    assert board.eval("4") == 4


def test_recovery_reconnects_a_dropped_link(wboard: mpharness.Board) -> None:
    board = wboard
    server = server_of(board)
    before = server.sessions
    server._drop_client(None)  # the Wi-Fi link drops
    start = time.monotonic()
    with pytest.raises(mpharness.MPHarnessError):
        board.exec("print(5)", timeout=5)
    board.recover(timeout=8)
    assert time.monotonic() - start < 8
    assert server.sessions == before + 1
    assert board.eval("6") == 6
