"""RFC 2217 serving: a unix board shared on loopback, opened as ``rfc2217://`` like any board."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

import mpharness
from mpharness.deadline import Deadline
from mpharness.tools.serve import served_board
from mpharness.transports.reset_sequences import (
    CLASSIC_RESET,
    HARD_RESET,
    SetLine,
    apply_sequence,
)
from mpharness.transports.rfc2217_server import Rfc2217Server, ServedLines
from mpharness.transports.serial_link import open_serial
from mpharness.virtual.pty_bridge import PtyBridge
from mpharness.virtual.unix_board import open_unix_board
from tests.conftest import require_virtual_board

REPO = Path(__file__).resolve().parents[2]
OPEN_LINES = [SetLine("dtr", True), SetLine("rts", True)]  # pyserial asserts both on open


def line_steps(steps: tuple[object, ...]) -> list[SetLine]:
    return [step for step in steps if isinstance(step, SetLine)]


@pytest.fixture
def server() -> Iterator[Rfc2217Server]:
    require_virtual_board("unix")
    with served_board("unix") as srv:
        yield srv


def test_board_over_rfc2217_exec_eval_soft_reset(server: Rfc2217Server) -> None:
    with mpharness.open_board(server.url) as board:
        assert board.exec("print('a\\xffb', 6 * 7)") == "a\xffb 42\n"  # IAC-free UTF-8 round trip
        assert board.eval("bytes(range(250, 256))") == bytes(range(250, 256))
        board.exec("x = 1")
        board.soft_reset()
        assert board.eval("'x' in globals()") is False
        with pytest.raises(mpharness.RemoteError) as info:
            board.exec("raise ValueError('over the wire')")
        assert info.value.exc_type == "ValueError"


def test_hard_reset_sequence_arrives_in_order_and_restarts(server: Rfc2217Server) -> None:
    with mpharness.open_board(server.url) as board:
        board.exec("x = 1")
        assert board.transport.can_hard_reset
        board.hard_reset()
        assert board.eval("'x' in globals()") is False  # a fresh interpreter
    expected = OPEN_LINES + line_steps(HARD_RESET.steps)
    assert server.lines.changes[: len(expected)] == expected
    assert server.lines.resets == 1


def test_classic_reset_sequence_on_the_wire(server: Rfc2217Server) -> None:
    port = serial.serial_for_url(server.url, timeout=1)
    try:
        apply_sequence(port, CLASSIC_RESET, sleep=lambda s: None)
    finally:
        port.rts = False
        port.dtr = False
        port.close()
    expected = OPEN_LINES + line_steps(CLASSIC_RESET.steps)
    assert server.lines.changes[: len(expected)] == expected
    assert server.lines.resets == 1  # EN low (RTS, not DTR) then released once


def test_second_client_is_refused_while_one_is_served(server: Rfc2217Server) -> None:
    first = open_serial(server.url)
    try:
        with pytest.raises(mpharness.MPHarnessError):
            second = open_serial(server.url)
            second.write(b"\r\x01")
            second.read(Deadline.after(1.0))  # the server closed it: TransportClosed
    finally:
        first.close()
    with mpharness.open_board(server.url) as board:  # the port is free again
        assert board.eval("1") == 1


class RecordingPort:
    """Stands in for a real pyserial port: records what the served lines forward to it."""

    def __init__(self) -> None:
        object.__setattr__(self, "log", [])
        for name, level in (("cts", True), ("dsr", True), ("cd", True), ("ri", False)):
            object.__setattr__(self, name, level)

    def __setattr__(self, name: str, value: object) -> None:
        self.log.append((name, value))
        object.__setattr__(self, name, value)


def test_served_lines_forward_to_a_real_port_without_emulating() -> None:
    require_virtual_board("unix")
    transport = open_unix_board(None)
    try:
        port = RecordingPort()
        lines = ServedLines(transport, port)
        lines.baudrate = 9600
        apply_sequence(lines, HARD_RESET, sleep=lambda s: None)
        assert port.log[0] == ("baudrate", 9600)
        assert port.log[1:] == [(s.line, s.level) for s in line_steps(HARD_RESET.steps)]
        assert lines.resets == 0 and lines.baudrate == 9600
        with pytest.raises(AttributeError):
            lines.anything = 1
    finally:
        transport.close()


def test_board_behind_a_pty_bridge_served(tmp_path: Path) -> None:
    require_virtual_board("unix")
    transport = open_unix_board(None)
    try:
        with (
            PtyBridge(transport) as bridge,
            served_board(bridge.slave_path) as srv,
            mpharness.open_board(srv.url) as board,
        ):
            assert board.exec("print(2 ** 10)") == "1024\n"
            assert not srv.lines.resets  # a pty has no lines: nothing emulated
    finally:
        transport.close()


def test_cli_serve_until_ctrl_c(tmp_path: Path) -> None:
    require_virtual_board("unix")
    with served_board("unix") as probe:  # find a free port, then release it
        port = probe.address[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mpharness.cli.main",
            "serve",
            "unix",
            "--rfc2217",
            str(port),
            "--bind",
            "127.0.0.1",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"rfc2217://127.0.0.1:{port}" in line
        with mpharness.open_board(f"rfc2217://127.0.0.1:{port}") as board:
            assert board.eval("3 + 4") == 7
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
