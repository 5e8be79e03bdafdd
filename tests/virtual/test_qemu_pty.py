"""The QEMU micro:bit on QEMU's own ``-serial pty``: a double for a link whose input is late.

Checked at byte level: the board boots to its prompt and is left unattached; the first input
after opening its pty reaches the firmware late (QEMU's one-second pty timer), and the next
input does not (a second open right after is late again only if it falls in the timer's wrong
phase: not asserted); bytes come back exact; the URL form owns QEMU and resets it through QMP.
"""

from __future__ import annotations

import os
import select
import time
import tty
from collections.abc import Iterator

import pytest

from mpharness.deadline import Deadline
from mpharness.errors import ConfigError
from mpharness.transports import open_transport
from mpharness.virtual.qemu_pty import QemuPtyMicrobit, QemuPtyTransport
from tests.conftest import require_virtual_board

pytestmark = pytest.mark.microbit

PROMPT = b">>> "
#: the first input after an open waits for QEMU's 1 s pty timer (0.7 to 1.0 s measured)
LATE = 0.4


class Pty:
    """The pty's slave, opened raw, as a terminal program would."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)

    def ask(self, line: bytes, until: bytes = PROMPT, timeout: float = 5.0) -> tuple[bytes, float]:
        """Write ``line``; the reply up to ``until`` and the seconds it took."""
        start = time.monotonic()
        os.write(self.fd, line)
        out = b""
        deadline = Deadline.after(timeout)
        while not out.endswith(until):
            ready, _, _ = select.select([self.fd], [], [], deadline.remaining())
            if not ready:
                raise AssertionError(f"no {until!r} within {timeout} s; got {out!r}")
            out += os.read(self.fd, 4096)
        return out, time.monotonic() - start

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def pty_board() -> Iterator[QemuPtyMicrobit]:
    require_virtual_board("microbit")
    with QemuPtyMicrobit() as qemu:
        yield qemu


def test_boots_to_the_prompt_and_names_its_pty(pty_board: QemuPtyMicrobit) -> None:
    assert pty_board.path.startswith("/dev/pts/")
    assert os.path.exists(pty_board.path)
    assert pty_board.boot_output.endswith(b'Type "help()" for more information.\r\n>>> ')
    assert pty_board.pid is not None


def test_first_input_after_an_open_is_late_then_input_flows(pty_board: QemuPtyMicrobit) -> None:
    """The delay the double adds, measured: the first line after opening waits for QEMU to
    notice its client, the next ones do not."""
    pty = Pty(pty_board.path)
    try:
        first, first_s = pty.ask(b"6*7\r")
        second, second_s = pty.ask(b"'x'*3\r")
    finally:
        pty.close()
    assert first == b"6*7\r\n42\r\n>>> "
    assert second == b"'x'*3\r\n'xxx'\r\n>>> "
    assert first_s >= LATE
    assert second_s < first_s


def test_raw_repl_bytes_are_exact(pty_board: QemuPtyMicrobit) -> None:
    pty = Pty(pty_board.path)
    try:
        banner, _ = pty.ask(b"\r\x01", b"raw REPL; CTRL-B to exit\r\n>")
        assert banner.endswith(b"\r\n>>> \r\nraw REPL; CTRL-B to exit\r\n>")
        reply, _ = pty.ask(b"print(bytes(range(65, 70)))\x04", b"\x04>")
        assert reply == b"OKb'ABCDE'\r\n\x04\x04>"
    finally:
        pty.close()


def test_close_stops_qemu() -> None:
    require_virtual_board("microbit")
    qemu = QemuPtyMicrobit().start()
    pid = qemu.pid
    assert pid is not None
    qemu.close()
    qemu.close()
    assert qemu.pid is None
    with pytest.raises(ProcessLookupError):
        for _ in range(100):  # reaped by close(): gone at once, or within a moment
            os.kill(pid, 0)
            time.sleep(0.01)


def test_url_form_owns_qemu_and_resets_through_qmp() -> None:
    require_virtual_board("microbit")
    link = open_transport("qemu:microbit?serial=pty")
    try:
        assert isinstance(link, QemuPtyTransport)
        assert link.url == "qemu:microbit?serial=pty"
        assert link.can_hard_reset
        link.write(b"7*6\r")
        out = b""
        deadline = Deadline.after(5.0)
        while not out.endswith(b"42\r\n>>> ") and not deadline.expired():
            out += link.read(deadline)
        assert out.endswith(b"42\r\n>>> ")
        link.hard_reset(Deadline.after(5.0))
        out = b""
        deadline = Deadline.after(5.0)
        while not (b"MicroPython" in out and out.endswith(PROMPT)) and not deadline.expired():
            out += link.read(deadline)
        assert b"MicroPython v1.9.2" in out and out.endswith(PROMPT)
        pid = link.board.pid
    finally:
        link.close()
    assert link.closed
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="serial=pty"):
        open_transport("qemu:microbit?serial=socket")
    with pytest.raises(ConfigError, match="unknown QEMU board"):
        QemuPtyMicrobit("pyboard").start()
