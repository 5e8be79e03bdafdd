"""The QEMU micro:bit at transport level: exact bytes of MicroPython 1.9.2's REPL.

Most tests share one QEMU (module scope) and leave it idle at the raw prompt; tests that kill,
freeze or close their board start their own (a launch costs ~40 ms).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpharness.deadline import Deadline
from mpharness.errors import ConfigError, ConnectError, TransportClosed
from mpharness.transports import open_transport
from mpharness.transports.base import Transport
from mpharness.virtual.qemu_microbit import QemuBoardTransport, open_qemu_board
from tests.conftest import require_virtual_board

pytestmark = pytest.mark.microbit

BANNER_LINE = b"MicroPython v1.9.2-34-gd64154c73 on 2017-09-01; micro:bit v1.0.1 with nRF51822\r\n"
FRIENDLY = BANNER_LINE + b'Type "help()" for more information.\r\n>>> '
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
KBD_INTERRUPT = (
    b'\x04Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\n'
    b"KeyboardInterrupt: \r\n\x04>"
)
REPO = Path(__file__).resolve().parents[2]


def read_until(board: Transport, marker: bytes, timeout: float = 5.0) -> bytes:
    deadline = Deadline.after(timeout)
    out = b""
    while not out.endswith(marker):
        chunk = board.read(deadline)
        if not chunk:
            raise AssertionError(f"no {marker!r} within {timeout} s; got {out!r}")
        out += chunk
    return out


def exchange(board: Transport, data: bytes, marker: bytes = b"\x04>") -> bytes:
    board.write(data)
    return read_until(board, marker)


def enter_raw(board: Transport) -> None:
    assert exchange(board, b"\r\x01", RAW_BANNER) == b"\r\n>>> \r\n" + RAW_BANNER


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = Deadline.after(timeout)
    while not gone(pid):  # test helper only: the process is not ours to wait for
        if deadline.expired():
            return False
        time.sleep(0.01)
    return True


@pytest.fixture(scope="module")
def qemu() -> Iterator[QemuBoardTransport]:
    """One QEMU micro:bit for the module, idle at the raw prompt."""
    require_virtual_board("microbit")
    transport = open_qemu_board("microbit")
    assert isinstance(transport, QemuBoardTransport)
    try:
        assert read_until(transport, b">>> ") == b"\x00" + FRIENDLY
        enter_raw(transport)
        yield transport
    finally:
        transport.close()


@pytest.fixture
def own_board() -> Iterator[QemuBoardTransport]:
    """A QEMU micro:bit of the test's own, at the friendly prompt, boot output read."""
    require_virtual_board("microbit")
    transport = open_qemu_board("microbit")
    assert isinstance(transport, QemuBoardTransport)
    try:
        read_until(transport, b">>> ")
        yield transport
    finally:
        transport.close()


def test_boot_output_is_kept_for_the_first_read(own_board: QemuBoardTransport) -> None:
    assert own_board.boot_output == b"\x00" + FRIENDLY
    assert 0 < own_board.launch_seconds < 10
    assert own_board.pid is not None and own_board.url == "qemu:microbit"


def test_exec_framing(qemu: QemuBoardTransport) -> None:
    assert exchange(qemu, b"print(1+1)\x04") == b"OK2\r\n\x04\x04>"
    assert exchange(qemu, b"print(1)\nprint(2)\x04") == b"OK1\r\n2\r\n\x04\x04>"
    assert exchange(qemu, b" \x04") == b"OK\x04\x04>"


def test_exception_and_syntax_error_framing(qemu: QemuBoardTransport) -> None:
    assert exchange(qemu, b"1/0\x04") == (
        b'OK\x04Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\n'
        b"ZeroDivisionError: division by zero\r\n\x04>"
    )
    assert exchange(qemu, b"def\x04") == (
        b'OK\x04Traceback (most recent call last):\r\n  File "<stdin>", line 2\r\n'
        b"SyntaxError: invalid syntax\r\n\x04>"
    )


def test_raw_paste_request_is_answered_with_the_raw_banner(qemu: QemuBoardTransport) -> None:
    assert exchange(qemu, b"\x05A\x01", RAW_BANNER) == RAW_BANNER


def test_ctrl_c_clears_the_raw_buffer(qemu: QemuBoardTransport) -> None:
    assert exchange(qemu, b"print('lost')\x03print('kept')\x04") == b"OKkept\r\n\x04\x04>"


def test_ctrl_c_interrupts_a_loop(qemu: QemuBoardTransport) -> None:
    assert exchange(qemu, b"while True: pass\x04", b"OK") == b"OK"
    # "OK" comes before compiling; a Ctrl-C that lands before the code runs is taken as
    # raw-REPL input (about half the time when sent at once), so give it a moment
    assert qemu.read(Deadline.after(0.1)) == b""
    reply = exchange(qemu, b"\x03")
    assert reply == KBD_INTERRUPT
    assert exchange(qemu, b"print('alive')\x04") == b"OKalive\r\n\x04\x04>"


def test_system_exit_returns_to_the_raw_prompt_without_reset(qemu: QemuBoardTransport) -> None:
    assert exchange(qemu, b"kept = 5\nraise SystemExit\x04") == b"OK\x04\x04>"
    assert exchange(qemu, b"print(kept)\x04") == b"OK5\r\n\x04\x04>"


def test_soft_reset_bytes_and_clean_interpreter(qemu: QemuBoardTransport) -> None:
    assert exchange(qemu, b"gone = 1\x04") == b"OK\x04\x04>"
    assert exchange(qemu, b"\x04", RAW_BANNER) == b"OK\r\nsoft reboot\r\n" + RAW_BANNER
    assert b"NameError" in exchange(qemu, b"print(gone)\x04")


def test_read_returns_empty_at_the_deadline(qemu: QemuBoardTransport) -> None:
    assert qemu.read(Deadline.after(0.05)) == b""


def test_hard_reset_boots_to_the_friendly_repl(qemu: QemuBoardTransport) -> None:
    assert exchange(qemu, b"lost = 1\nwhile True: pass\x04", b"OK") == b"OK"
    qemu.hard_reset(Deadline.after(5))
    assert read_until(qemu, b">>> ") == b"\x00" + FRIENDLY
    enter_raw(qemu)
    assert b"NameError" in exchange(qemu, b"print(lost)\x04")


def test_hard_reset_relaunches_a_board_that_stopped_reading(own_board: QemuBoardTransport) -> None:
    own_board._qmp.command("stop", Deadline.after(5))  # type: ignore[union-attr]  # freeze the VM
    own_board.write(b"x" * 4096)  # stays queued: QEMU takes input only while the VM runs
    old_pid = own_board.pid
    assert old_pid is not None
    own_board.hard_reset(Deadline.after(10))
    assert own_board.pid != old_pid and wait_gone(old_pid)
    assert read_until(own_board, b">>> ") == b"\x00" + FRIENDLY
    enter_raw(own_board)


def test_killed_qemu_raises_transport_closed_promptly(own_board: QemuBoardTransport) -> None:
    assert own_board.pid is not None
    os.kill(own_board.pid, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(TransportClosed, match="SIGKILL"):
        own_board.read(Deadline.after(10))
    assert time.monotonic() - started < 3
    assert own_board.closed
    with pytest.raises(TransportClosed):
        own_board.write(b"\x03")
    own_board.hard_reset(Deadline.after(10))  # a dead QEMU is relaunched
    assert not own_board.closed
    assert read_until(own_board, b">>> ") == b"\x00" + FRIENDLY
    enter_raw(own_board)


def test_close_wakes_a_blocked_reader_and_leaves_no_process(own_board: QemuBoardTransport) -> None:
    pid = own_board.pid
    assert pid is not None
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            own_board.read(Deadline.after(30))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    own_board.close()
    thread.join(5)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], TransportClosed)
    assert gone(pid)
    own_board.close()  # idempotent


def test_qemu_survives_the_thread_that_opened_it() -> None:
    require_virtual_board("microbit")
    box: list[Transport] = []
    thread = threading.Thread(target=lambda: box.append(open_qemu_board("microbit")))
    thread.start()
    thread.join(30)
    with box[0] as transport:
        read_until(transport, b">>> ")
        assert exchange(transport, b"\x03", b">>> ") == b"\r\n>>> "


def test_qemu_dies_with_the_harness(tmp_path: Path) -> None:
    require_virtual_board("microbit")
    script = textwrap.dedent(
        """
        import os, sys
        from mpharness.virtual.qemu_microbit import open_qemu_board
        board = open_qemu_board("microbit")
        print(board.pid, flush=True)
        sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    pid = int(child.stdout.readline())
    assert not gone(pid)
    child.kill()  # SIGKILL: no cleanup code runs in the harness
    child.wait()
    assert wait_gone(pid)


def test_open_transport_dispatches_qemu_urls() -> None:
    require_virtual_board("microbit")
    with open_transport("qemu:microbit") as transport:
        assert isinstance(transport, QemuBoardTransport)
        assert read_until(transport, b">>> ").endswith(FRIENDLY)


def test_unknown_machine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="microbit"):
        open_qemu_board("pyboard")


def test_missing_qemu_names_the_packages() -> None:
    with pytest.raises(ConnectError, match="qemu-system-arm and firmware-microbit-micropython"):
        open_qemu_board("microbit", qemu="no-such-qemu-system-arm")


def test_missing_firmware_names_the_package(tmp_path: Path) -> None:
    require_virtual_board("microbit")
    with pytest.raises(ConnectError, match="firmware-microbit-micropython"):
        open_qemu_board("microbit", firmware=str(tmp_path / "none.hex"))


def test_broken_firmware_is_a_connect_error_quoting_qemu(tmp_path: Path) -> None:
    require_virtual_board("microbit")
    bad = tmp_path / "bad.hex"
    bad.write_text("not an intel hex file\n")
    with pytest.raises(ConnectError, match=r"did not start.*QEMU said"):
        open_qemu_board("microbit", firmware=str(bad), timeout=5)
