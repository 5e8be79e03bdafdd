"""PtyBridge: virtual boards driven through a pty by pyserial and by mpremote's Python API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from mpharness.deadline import Deadline
from mpharness.errors import TransportClosed
from mpharness.transports.base import Transport
from mpharness.virtual.pty_bridge import PtyBridge, serve_pty
from mpharness.virtual.qemu_microbit import open_qemu_board
from tests.conftest import require_virtual_board

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
REPO = Path(__file__).resolve().parents[2]


def open_virtual(name: str) -> Transport:
    require_virtual_board(name)
    if name == "microbit":
        return open_qemu_board("microbit")
    unix_board = pytest.importorskip("mpharness.virtual.unix_board")
    transport: Transport = unix_board.open_unix_board(None)
    return transport


@pytest.fixture(scope="module", params=["microbit", "unix"])
def vtransport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    """Each virtual board's transport in turn, shared by this module's tests."""
    transport = open_virtual(request.param)
    try:
        yield transport
    finally:
        transport.close()


@pytest.fixture
def bridge(vtransport: Transport, tmp_path: Path) -> Iterator[PtyBridge]:
    with PtyBridge(vtransport, str(tmp_path / "ttyACM0")) as running:
        yield running


def serial_until(port: serial.Serial, marker: bytes) -> bytes:
    data: bytes = port.read_until(marker)
    assert data.endswith(marker), data
    return data


def test_pyserial_drives_the_board_through_the_link(bridge: PtyBridge) -> None:
    assert bridge.slave_path.startswith("/dev/pts/")
    assert bridge.link_path is not None and os.readlink(bridge.link_path) == bridge.slave_path
    with serial.Serial(bridge.link_path, timeout=5) as port:
        port.write(b"\r\x03")
        port.write(b"\r\x01")
        serial_until(port, RAW_BANNER)
        port.write(b"print(1+1)\x04")
        reply = serial_until(port, b"\x04>")
        assert reply.replace(b"\r\n", b"\n") == b"OK2\n\x04\x04>"
        port.write(b"\x04")  # soft reset: the unix board respawns behind the transport
        assert serial_until(port, RAW_BANNER).startswith(b"OK\r\n")
        port.write(b"print('again')\x04")
        assert serial_until(port, b"\x04>").replace(b"\r\n", b"\n") == b"OKagain\n\x04\x04>"
        port.write(b"\x02")
        serial_until(port, b">>> ")


def test_mpremote_execs_through_the_pty(bridge: PtyBridge) -> None:
    transport_serial = pytest.importorskip("mpremote.transport_serial")
    for path in (bridge.slave_path, bridge.link_path):
        mp = transport_serial.SerialTransport(path, baudrate=115200)
        try:
            mp.enter_raw_repl(soft_reset=True)
            out, err = mp.exec_raw("print(1+1)")
            assert (out.replace(b"\r\n", b"\n"), err) == (b"2\n", b"")
            mp.exit_raw_repl()
        finally:
            mp.close()


def test_stop_removes_the_link_and_closes_the_pty(vtransport: Transport, tmp_path: Path) -> None:
    link = tmp_path / "ttyUSB9"
    bridge = PtyBridge(vtransport, str(link)).start()
    slave = bridge.slave_path
    assert link.is_symlink()
    bridge.stop()
    bridge.stop()  # idempotent
    assert not link.exists() and not link.is_symlink()
    assert bridge.wait(0) and bridge.error is None
    assert not os.path.exists(slave)  # the pty is released


def test_refuses_to_replace_a_regular_file(vtransport: Transport, tmp_path: Path) -> None:
    path = tmp_path / "ttyACM0"
    path.write_text("mine")
    with pytest.raises(FileExistsError):
        PtyBridge(vtransport, str(path)).start()
    assert path.read_text() == "mine"


def test_bridge_stops_with_the_error_when_the_board_dies(tmp_path: Path) -> None:
    transport = open_virtual("microbit")
    try:
        with PtyBridge(transport, None) as bridge:
            pid = transport.pid  # type: ignore[attr-defined]
            os.kill(pid, 9)
            assert bridge.wait(10)
            assert isinstance(bridge.error, TransportClosed)
    finally:
        transport.close()


def test_serve_pty_reports_the_path_and_returns_on_failure(tmp_path: Path) -> None:
    transport = open_virtual("microbit")
    link = str(tmp_path / "ttyACM1")
    paths: list[str] = []

    def ready(path: str) -> None:
        paths.append(path)
        with serial.Serial(path, timeout=5) as port:
            port.write(b"\r\x01")
            serial_until(port, RAW_BANNER)
        threading.Thread(target=transport.close).start()  # the board goes away

    try:
        with pytest.raises(TransportClosed):
            serve_pty(transport, link, ready)
    finally:
        transport.close()
    assert paths == [link]
    assert not os.path.lexists(link)


def test_serve_pty_returns_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    require_virtual_board("microbit")
    link = tmp_path / "ttyACM2"
    script = textwrap.dedent(
        f"""
        from mpharness.virtual.pty_bridge import serve_pty
        from mpharness.virtual.qemu_microbit import open_qemu_board
        with open_qemu_board("microbit") as board:
            serve_pty(board, {str(link)!r}, lambda path: print(path, flush=True))
        print("bye", flush=True)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == str(link)
    with serial.Serial(str(link), timeout=5) as port:
        port.write(b"\r\x01")
        serial_until(port, RAW_BANNER)
    child.send_signal(signal.SIGINT)
    assert child.stdout.read().strip() == "bye"
    assert child.wait(10) == 0
    assert not link.is_symlink()


def test_board_output_before_a_client_opens_is_readable(vtransport: Transport) -> None:
    with PtyBridge(vtransport) as bridge:
        vtransport.write(b"\r\x03")  # the board answers while no client has the pty open
        fd = os.open(bridge.slave_path, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"\r\x01")
            data = b""
            deadline = Deadline.after(5)
            while not data.endswith(RAW_BANNER) and not deadline.expired():
                data += os.read(fd, 4096)
            assert data.endswith(RAW_BANNER)
            os.write(fd, b"\x02")
        finally:
            os.close(fd)
