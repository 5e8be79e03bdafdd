"""SerialTransport over ptys (standing in for USB serial ports), socket://, loop:// and spy://."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from mpharness.deadline import Deadline
from mpharness.errors import ConfigError, ConnectError, TransportClosed
from mpharness.transports import open_transport, usb_ports
from mpharness.transports.serial_link import SerialTransport, is_pseudo_terminal, open_serial
from tests.transports.conftest import PtyPort, make_pty, read_exactly

# Generous bounds: the machine is shared, so only "did not return far too early or far too late".
SLACK = 2.0


# -- local ports (pty) ---------------------------------------------------------------------------


def test_bytes_flow_both_ways_through_a_symlinked_port(pty_port: PtyPort) -> None:
    with open_serial(pty_port.link) as link:
        assert link.url == pty_port.link
        link.write(b"\r\x03\r\x01")
        assert pty_port.receive(4) == b"\r\x03\r\x01"
        pty_port.send(b"raw REPL; CTRL-B to exit\r\n>")
        assert read_exactly(link, 27) == b"raw REPL; CTRL-B to exit\r\n>"


def test_binary_bytes_are_not_translated(pty_port: PtyPort) -> None:
    every_byte = bytes(range(256))
    with open_serial(pty_port.path) as link:
        link.write(every_byte)
        assert pty_port.receive(256) == every_byte
        pty_port.send(every_byte)
        assert read_exactly(link, 256) == every_byte


def test_read_returns_empty_at_the_deadline_on_silence(pty_port: PtyPort) -> None:
    with open_serial(pty_port.path) as link:
        start = time.monotonic()
        assert link.read(Deadline.after(0.3)) == b""
        elapsed = time.monotonic() - start
    assert 0.29 <= elapsed < 0.3 + SLACK


def test_read_returns_as_soon_as_data_arrives(pty_port: PtyPort) -> None:
    with open_serial(pty_port.path) as link:
        timer = threading.Timer(0.05, pty_port.send, args=(b"OK",))
        timer.start()
        start = time.monotonic()
        data = link.read(Deadline.after(30.0))
        elapsed = time.monotonic() - start
        timer.join()
    assert data in (b"O", b"OK")
    assert elapsed < SLACK


def test_read_with_an_expired_deadline_returns_what_is_waiting(pty_port: PtyPort) -> None:
    with open_serial(pty_port.path) as link:
        pty_port.send(b"abc")
        assert read_exactly(link, 3) == b"abc"
        assert link.read(Deadline.after(0)) == b""


def test_read_respects_size(pty_port: PtyPort) -> None:
    with open_serial(pty_port.path) as link:
        pty_port.send(b"0123456789")
        assert read_exactly(link, 4) == b"0123"
        assert read_exactly(link, 6) == b"456789"


def test_second_open_of_a_port_is_busy(pty_port: PtyPort) -> None:
    with open_serial(pty_port.path), pytest.raises(ConnectError, match="is busy"):
        open_serial(pty_port.link)


def test_port_is_free_again_after_close(pty_port: PtyPort) -> None:
    open_serial(pty_port.path).close()
    with open_serial(pty_port.path) as link:
        assert not link.closed


def test_missing_port_names_the_ports_that_exist() -> None:
    def lister() -> list[SimpleNamespace]:
        return [SimpleNamespace(device="/dev/ttyACM3", description="Board in FS mode")]

    with pytest.raises(ConnectError) as info:
        SerialTransport("/dev/ttyUSB_mpharness_missing", port_lister=lister)
    message = str(info.value)
    assert "no such port /dev/ttyUSB_mpharness_missing" in message
    assert "/dev/ttyACM3 (Board in FS mode)" in message


def test_missing_port_through_open_transport() -> None:
    with pytest.raises(ConnectError, match="no such port"):
        open_transport("/dev/ttyUSB_mpharness_missing")


def test_regular_file_is_not_a_serial_port(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ConnectError, match="not a serial port"):
        open_serial(str(path))


def test_1200_baud_is_refused_before_opening(pty_port: PtyPort) -> None:
    with pytest.raises(ConfigError, match="1200 baud"):
        open_serial(pty_port.path, baudrate=1200)
    with open_serial(pty_port.path) as link:  # nothing was left open
        assert not link.closed


def test_unknown_url_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        open_serial("nosuchproto://x")


def test_unplugged_device_raises_transport_closed_naming_the_port(pty_port: PtyPort) -> None:
    link = open_serial(pty_port.link)
    pty_port.unplug()
    with pytest.raises(TransportClosed, match="ttyACM0"):
        link.read(Deadline.after(5.0))
    assert link.closed
    with pytest.raises(TransportClosed):
        link.write(b"x")
    link.close()
    link.close()


def test_close_is_idempotent_and_reads_after_close_fail(pty_port: PtyPort) -> None:
    link = open_serial(pty_port.path)
    link.close()
    link.close()
    assert link.closed
    with pytest.raises(TransportClosed, match="closed"):
        link.read(Deadline.after(0.1))


def test_a_pty_is_memory_not_a_wire(pty_port: PtyPort) -> None:
    """A pseudo-terminal (socat, ``mpharness pty``, QEMU's ``-serial pty``) loses nothing, by
    its path or through a symlink with a serial-port name: ``integrity: auto`` stays off."""
    for path in (pty_port.path, pty_port.link):
        assert is_pseudo_terminal(path)
        link = SerialTransport(path, port_lister=FakeUsb(None))
        try:
            assert not link.may_corrupt
        finally:
            link.close()


def test_what_is_not_a_pty_is_told_apart(tmp_path: Path) -> None:
    (tmp_path / "pts").mkdir()
    fake = tmp_path / "pts" / "3"  # a pty's name on a regular file
    fake.write_text("")
    assert not is_pseudo_terminal(str(fake))
    assert not is_pseudo_terminal("/dev/null")  # a character device, but not a pty
    assert not is_pseudo_terminal(str(tmp_path / "missing"))


def test_a_usb_bridge_may_corrupt(pty_port: PtyPort) -> None:
    """A port with a USB identity that is not the board's own MCU (a UART bridge) is taken as
    a line that can damage bytes: ``integrity: auto`` turns checked execs on for it."""
    bridge = FakeUsb(pty_port)
    link = SerialTransport(
        pty_port.path,
        port_lister=lambda: [
            SimpleNamespace(**{**vars(bridge()[0]), "vid": 0x10C4, "pid": 0xEA60})
        ],
    )
    try:
        assert link.may_corrupt
    finally:
        link.close()


def test_a_pty_has_no_modem_lines_so_no_hard_reset(pty_port: PtyPort) -> None:
    with open_serial(pty_port.path) as link:
        assert not link.can_hard_reset
        assert not link.can_reconnect
        with pytest.raises(NotImplementedError):
            link.hard_reset(Deadline.after(1.0))


def test_spy_url_reads_through_select(pty_port: PtyPort, tmp_path: Path) -> None:
    log = tmp_path / "spy.txt"
    with open_serial(f"spy://{pty_port.path}?file={log}") as link:
        link.write(b"ping")
        assert pty_port.receive(4) == b"ping"
        pty_port.send(b"pong")
        assert read_exactly(link, 4) == b"pong"
    assert "ping" in log.read_text()


# -- reconnect by USB serial number ------------------------------------------------------------


class FakeUsb:
    """A port lister in which the board's USB identity sits on whichever pty is current."""

    def __init__(self, port: PtyPort | None) -> None:
        self.port = port

    def __call__(self) -> list[SimpleNamespace]:
        if self.port is None:
            return []
        return [
            SimpleNamespace(
                device=self.port.path,
                serial_number="E6614C311B7A4F2E",
                vid=0x2E8A,
                pid=0x0005,
                location="1-1.2:1.0",
                description="Board in FS mode",
            )
        ]


def test_reconnect_finds_the_board_under_its_new_name(tmp_path: Path) -> None:
    first = make_pty(tmp_path, "ttyACM0")
    second = make_pty(tmp_path, "ttyACM1")
    usb = FakeUsb(first)
    link = SerialTransport(first.link, port_lister=usb)
    try:
        assert link.can_reconnect
        assert not link.can_hard_reset  # rp2: native USB, DTR/RTS cannot reset it
        assert not link.may_corrupt  # ...and USB checks every packet: integrity auto = off
        first.unplug()
        with pytest.raises(TransportClosed):
            link.read(Deadline.after(5.0))
        usb.port = second  # re-enumerated as another device
        link.reconnect(Deadline.after(5.0))
        assert link.port == second.path
        assert link.url == first.link
        link.write(b"hi")
        assert second.receive(2) == b"hi"
    finally:
        link.close()
        second.unplug()


def test_reconnect_waits_for_the_device_to_come_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usb_ports, "RESCAN_INTERVAL", 0.02)
    first = make_pty(tmp_path, "ttyACM0")
    second = make_pty(tmp_path, "ttyACM1")
    usb = FakeUsb(first)
    link = SerialTransport(first.link, port_lister=usb)
    try:
        usb.port = None  # off the bus
        timer = threading.Timer(0.2, setattr, args=(usb, "port", second))
        timer.start()
        link.reconnect(Deadline.after(10.0))
        timer.join()
        assert link.port == second.path
    finally:
        link.close()
        first.unplug()
        second.unplug()


def test_reconnect_gives_up_at_the_deadline(
    pty_port: PtyPort, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usb_ports, "RESCAN_INTERVAL", 0.02)
    usb = FakeUsb(pty_port)
    link = SerialTransport(pty_port.path, port_lister=usb)
    usb.port = None
    start = time.monotonic()
    with pytest.raises(ConnectError, match=r"E6614C311B7A4F2E.*did not come back within 0\.3 s"):
        link.reconnect(Deadline.after(0.3))
    assert 0.29 <= time.monotonic() - start < 0.3 + SLACK
    assert link.closed


# -- network and virtual URLs ----------------------------------------------------------------


class TcpBoard:
    """A TCP server playing a board behind ser2net's raw mode (socket://)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self._accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.conn, _ = self.server.accept()
        self._accepted.set()

    def connection(self) -> socket.socket:
        assert self._accepted.wait(5.0)
        assert self.conn is not None
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


def test_socket_url_carries_bytes_and_reports_the_peer_closing() -> None:
    board = TcpBoard()
    try:
        link = open_serial(f"socket://127.0.0.1:{board.port}")
        conn = board.connection()
        link.write(b"\x05A\x01")
        assert conn.recv(16) == b"\x05A\x01"
        conn.sendall(b"R\x01\x80\x00\x01")
        assert read_exactly(link, 5) == b"R\x01\x80\x00\x01"
        assert link.read(Deadline.after(0.1)) == b""
        assert link.can_reconnect and not link.can_hard_reset
        conn.close()
        board.conn = None
        with pytest.raises(TransportClosed, match=r"127\.0\.0\.1"):
            link.read(Deadline.after(5.0))
        link.close()
    finally:
        board.close()


def test_refused_socket_url() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(ConnectError, match="connection refused"):
        open_serial(f"socket://127.0.0.1:{port}")


def test_loop_url_echoes_and_times_out() -> None:
    with open_serial("loop://") as link:
        assert not link.can_hard_reset and not link.can_reconnect
        link.write(b"hello")
        assert read_exactly(link, 5) == b"hello"
        start = time.monotonic()
        assert link.read(Deadline.after(0.2)) == b""
        assert 0.19 <= time.monotonic() - start < 0.2 + SLACK


def test_loop_url_read_returns_all_waiting_bytes_at_once() -> None:
    with open_serial("loop://") as link:
        link.write(b"0123456789")
        assert link.read(Deadline.after(1.0), 4) == b"0123"
        assert link.read(Deadline.after(1.0)) == b"456789"


def test_loop_url_read_blocks_until_a_write_from_another_thread() -> None:
    with open_serial("loop://") as link:
        timer = threading.Timer(0.05, link.write, args=(b"\x03",))
        timer.start()
        assert link.read(Deadline.after(30.0)) == b"\x03"
        timer.join()


@pytest.mark.skipif(not os.path.exists("/dev/ptmx"), reason="needs ptys")
def test_open_transport_dispatches_device_paths(pty_port: PtyPort) -> None:
    with open_transport(pty_port.link) as link:
        assert isinstance(link, SerialTransport)
