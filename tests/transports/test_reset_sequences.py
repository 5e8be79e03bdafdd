"""DTR/RTS reset sequences: their order as data, and as they reach a port over RFC 2217."""

from __future__ import annotations

import itertools
import socket
import threading
from typing import Any

import pytest
import serial
import serial.rfc2217
from serial.urlhandler.protocol_loop import Serial as LoopSerial

from mpharness.deadline import Deadline
from mpharness.transports.reset_sequences import (
    CLASSIC_RESET,
    HARD_RESET,
    HARD_RESET_USB_JTAG,
    SEQUENCES,
    Hold,
    ResetSequence,
    SetLine,
    apply_sequence,
    hard_reset_sequence_for,
)
from mpharness.transports.serial_link import open_serial
from tests.transports.conftest import read_exactly


class LineRecorder:
    """Records every line change and hold, in order (a byte-level fake of a port's lines)."""

    dtr: bool
    rts: bool

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("dtr", "rts"):
            self.events.append((name, value))
        object.__setattr__(self, name, value)

    def sleep(self, seconds: float) -> None:
        self.events.append(("hold", seconds))


def play(sequence: ResetSequence) -> list[tuple[str, Any]]:
    port = LineRecorder()
    apply_sequence(port, sequence, sleep=port.sleep)
    return port.events


def test_hard_reset_pulses_rts_with_dtr_low_then_restores_dtr_first() -> None:
    assert play(HARD_RESET) == [
        ("dtr", False),
        ("rts", True),
        ("hold", 0.1),
        ("rts", False),
        ("dtr", True),
        ("rts", True),
    ]


def test_usb_jtag_hard_reset_holds_longer() -> None:
    assert ("hold", 0.2) in play(HARD_RESET_USB_JTAG)


def test_classic_reset_holds_io0_low_while_en_rises() -> None:
    events = play(CLASSIC_RESET)
    release = events.index(("rts", False))  # EN rises here
    assert events[:release].count(("dtr", True)) == 1  # IO0 was pulled low just before
    assert events[release + 1] == ("hold", 0.05)


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_every_sequence_ends_with_both_lines_asserted_dtr_first(name: str) -> None:
    events = [e for e in play(SEQUENCES[name]) if e[0] != "hold"]
    assert events[-2:] == [("dtr", True), ("rts", True)]


@pytest.mark.parametrize("sequence", [HARD_RESET, HARD_RESET_USB_JTAG], ids=lambda s: s.name)
def test_hard_resets_never_step_from_reset_state_straight_to_boot_state(
    sequence: ResetSequence,
) -> None:
    # (RTS && !DTR) -> (DTR && !RTS) in one step makes MicroPython's TinyUSB CDC enter the
    # bootloader (protocols.md 4.1); a reset into the app must pass through another state.
    dtr, rts, states = True, True, [(True, True)]
    for step in sequence.steps:
        if isinstance(step, SetLine):
            dtr, rts = (step.level, rts) if step.line == "dtr" else (dtr, step.level)
            states.append((dtr, rts))
    assert (False, True) in states  # it does reset
    steps = list(itertools.pairwise(states))
    assert ((False, True), (True, False)) not in steps


def test_durations_are_the_sum_of_holds() -> None:
    assert HARD_RESET.duration == pytest.approx(0.1)
    assert ResetSequence("x", (Hold(0.2), SetLine("dtr", True), Hold(0.05))).duration == (
        pytest.approx(0.25)
    )


@pytest.mark.parametrize(
    ("vid", "pid", "expected"),
    [
        (0x10C4, 0xEA60, HARD_RESET),  # CP210x bridge
        (0x1A86, 0x7523, HARD_RESET),  # CH340 bridge
        (None, None, HARD_RESET),  # unknown
        (0x303A, 0x1001, HARD_RESET_USB_JTAG),  # ESP USB-Serial/JTAG
        (0x303A, 0x4001, None),  # ESP32-S2/S3 TinyUSB: DTR/RTS cannot reset into the app
        (0x2E8A, 0x0005, None),  # rp2
        (0xF055, 0x9802, None),  # MicroPython native USB
    ],
)
def test_sequence_by_usb_ids(vid: int | None, pid: int | None, expected: object) -> None:
    assert hard_reset_sequence_for(vid, pid) is expected


# -- end to end over RFC 2217 ------------------------------------------------------------------


class LineLoggingLoop(LoopSerial):  # type: ignore[misc]
    """loop:// that logs the modem line changes the RFC 2217 server applies to it."""

    line_log: list[tuple[str, bool]]

    def _update_dtr_state(self) -> None:
        self.line_log.append(("dtr", self._dtr_state))

    def _update_rts_state(self) -> None:
        self.line_log.append(("rts", self._rts_state))


class Rfc2217Board:
    """A minimal RFC 2217 server (pyserial's PortManager) in front of a loop port."""

    def __init__(self) -> None:
        self.port = LineLoggingLoop()
        self.port.line_log = []
        self.port.port = "loop://"
        self.port.open()
        self.port.line_log.clear()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"rfc2217://127.0.0.1:{self.server.getsockname()[1]}"
        self.manager: serial.rfc2217.PortManager | None = None
        self.conn: socket.socket | None = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        self.conn = conn
        self.manager = serial.rfc2217.PortManager(self.port, _Writer(conn))
        while data := conn.recv(4096):
            host_bytes = b"".join(self.manager.filter(data))
            if host_bytes:
                self.port.write(host_bytes)

    def send(self, data: bytes) -> None:
        assert self.manager is not None and self.conn is not None
        self.conn.sendall(b"".join(self.manager.escape(data)))

    def close(self) -> None:
        self.server.close()
        if self.conn is not None:
            self.conn.close()
        self.port.close()


class _Writer:
    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn

    def write(self, data: bytes) -> None:
        self._conn.sendall(data)


def test_rfc2217_hard_reset_reaches_the_remote_port_in_order() -> None:
    board = Rfc2217Board()
    try:
        link = open_serial(board.url)
        assert board.port.line_log[-2:] == [("dtr", True), ("rts", True)]  # asserted on open
        assert link.can_hard_reset
        board.send(b"\xffOK")  # an IAC byte must survive the escaping
        assert read_exactly(link, 3) == b"\xffOK"
        link.write(b"\x03")
        assert board.port.read(1) == b"\x03"
        board.port.line_log.clear()
        link.hard_reset(Deadline.after(5.0))
        assert board.port.line_log == [
            ("dtr", False),
            ("rts", True),
            ("rts", False),
            ("dtr", True),
            ("rts", True),
        ]
        board.port.line_log.clear()
        link.close()
        assert board.port.line_log == [("rts", False), ("dtr", False)]  # RTS drops first
    finally:
        board.close()
