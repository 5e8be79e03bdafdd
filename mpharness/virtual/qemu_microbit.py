"""The QEMU micro:bit virtual board: MicroPython 1.9.2 for the BBC micro:bit in ``qemu-system-arm``.

Theory of operation
-------------------
QEMU runs the Debian ``firmware-microbit-micropython`` image on its ``microbit`` machine. The
board's UART and QEMU's QMP monitor are both connected to ``socketpair``\\ s handed to QEMU as
inherited fds (``-chardev socket,fd=N``), not to a pty: QEMU's pty backend throws away the
board's output while no one has the slave open, and after the slave is opened it only starts
reading input when a one-second reconnect timer fires (measured: boot banner lost, first reply
~1 s late). A socket has none of that: output waits in the socket until we read it, input flows
at once, QEMU's UART back-pressures (it only takes what the firmware's 6-byte FIFO can hold),
and QEMU's death shows as EOF within a few milliseconds. Tools that want a tty use
:mod:`mpharness.virtual.pty_bridge`.

QEMU is started by :func:`mpharness.virtual.launcher.spawn_tied`, so it dies with the harness
(even a SIGKILLed one) whichever thread opened the board, and a terminal's Ctrl-C reaches only
the harness.

Hard reset is QMP ``system_reset`` (the flash filesystem survives, as on a real board); if the
board has stopped reading its input (crashed firmware), bytes still queued for it would reach the
fresh firmware, so then QEMU is relaunched instead (fresh flash). Firmware facts: design.md §5.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import termios
import threading
import time
from typing import IO, Any

from mpharness.deadline import Deadline
from mpharness.errors import (
    BoardTimeout,
    ConfigError,
    ConnectError,
    TransportClosed,
    TransportError,
)
from mpharness.transports.base import Transport
from mpharness.virtual.launcher import spawn_tied

__all__ = [
    "FIRMWARE_HEX",
    "QEMU_BINARY",
    "QemuBoardTransport",
    "QmpClient",
    "locate_qemu",
    "open_qemu_board",
]

log = logging.getLogger(__name__)

QEMU_BINARY = "qemu-system-arm"
FIRMWARE_HEX = "/usr/share/firmware-microbit-micropython/firmware.hex"
MACHINES = ("microbit",)
FRIENDLY_PROMPT = b">>> "  #: the firmware is up once this arrived
WRITE_STALL = 10.0  #: s a write may wait for the board to take input before giving up
RESET_SETTLE = 0.02  #: s a hard reset waits for QEMU to take input written just before
EXIT_WAIT = 2.0  #: s to wait for QEMU's exit status after its socket closed or we killed it
_STDERR_TAIL = 400  #: characters of QEMU's stderr (its start) quoted in error messages


# -- QMP --------------------------------------------------------------------------------------


class QmpClient:
    """A minimal QMP client on a connected socket: one command at a time; events are skipped."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = b""

    def _message(self, deadline: Deadline) -> dict[str, Any]:
        while b"\n" not in self._buf:
            ready, _, _ = select.select([self.sock], [], [], deadline.remaining())
            if not ready:
                raise BoardTimeout("QEMU monitor reply", deadline.budget)
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise TransportClosed("QEMU closed its monitor socket")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def greet(self, deadline: Deadline) -> None:
        self._message(deadline)  # {"QMP": {...}}
        self.command("qmp_capabilities", deadline)

    def command(
        self, name: str, deadline: Deadline, arguments: dict[str, Any] | None = None
    ) -> Any:
        """Run one QMP command; its ``return`` value (raises TransportError if refused)."""
        request: dict[str, Any] = {"execute": name}
        if arguments:
            request["arguments"] = arguments
        try:
            self.sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError as exc:
            raise TransportClosed(f"QEMU monitor socket: {exc}") from exc
        while True:
            message = self._message(deadline)
            if "return" in message:
                return message["return"]
            if "error" in message:
                raise TransportError(f"QEMU refused {name}: {message['error'].get('desc')}")
            log.debug("QMP event %s", message.get("event"))


# -- the transport ----------------------------------------------------------------------------


class QemuBoardTransport(Transport):
    """A micro:bit in QEMU, seen as a byte link to its UART (115200-baud console).

    Attributes:
        launch_seconds: time from starting QEMU to the firmware's first ``>>> `` prompt.
        boot_output: what the firmware printed up to that prompt (also returned by the first reads).
    """

    def __init__(self, machine: str, qemu: str, firmware: str) -> None:
        self.url = f"qemu:{machine}"
        self._argv = [
            qemu, "-M", machine, "-nodefaults", "-display", "none",
            "-device", f"loader,file={firmware}",
            "-chardev", "socket,id=uart0,fd={uart}", "-serial", "chardev:uart0",
            "-chardev", "socket,id=qmp0,fd={qmp}", "-mon", "chardev=qmp0,mode=control",
        ]  # fmt: skip
        self._lock = threading.RLock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._proc: subprocess.Popen[bytes] | None = None
        self._uart: socket.socket | None = None
        self._qmp: QmpClient | None = None
        self._stderr: IO[bytes] | None = None
        self._pending = bytearray()
        self._error: str | None = None
        self._closed = False
        self.launch_seconds = 0.0
        self.boot_output = b""

    # -- public API ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """QEMU's process id (changes if a hard reset had to relaunch it)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def closed(self) -> bool:
        return self._closed or self._error is not None

    @property
    def can_hard_reset(self) -> bool:
        return True

    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        while True:
            with self._lock:
                self._raise_if_closed()
                if self._pending:
                    data = bytes(self._pending[:size])
                    del self._pending[:size]
                    return data
                uart = self._uart
            assert uart is not None
            try:
                ready, _, _ = select.select(
                    [uart.fileno(), self._wake_r], [], [], deadline.remaining()
                )
            except (OSError, ValueError):  # closed under us by another thread
                ready = [self._wake_r]
            if not ready:
                return b""
            with self._lock:
                if self._wake_r in ready or uart is not self._uart:
                    self._drain_wakeups()
                    continue  # closed, or relaunched by a hard reset: look again
                data = self._recv(size)
                if data:
                    return data

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        stalled = Deadline.after(WRITE_STALL)
        while view:
            with self._lock:
                self._raise_if_closed()
                uart = self._uart
                assert uart is not None
                try:
                    view = view[uart.send(view) :]
                    stalled = Deadline.after(WRITE_STALL)
                    continue
                except BlockingIOError:
                    pass
                except OSError as exc:
                    self._died(f"the link broke ({exc})")
                    self._raise_if_closed()
            try:
                _, writable, _ = select.select([], [uart], [], stalled.remaining())
            except (OSError, ValueError):  # closed by another thread: the loop raises
                continue
            if not writable and stalled.expired():
                raise TransportError(
                    f"the QEMU micro:bit has not read its input for {WRITE_STALL:g} s"
                )

    def hard_reset(self, deadline: Deadline) -> None:
        """Reset the micro:bit (QMP ``system_reset``); it boots to the friendly REPL.

        A QEMU that died, or whose firmware stopped taking input, is relaunched instead
        (fresh flash filesystem; :attr:`pid` changes).
        """
        with self._lock:
            if self._closed:
                raise TransportClosed(f"{self.url} transport is closed")
            if self._error is None and _unread_by_peer(self._uart):
                select.select([self._wake_r], [], [], RESET_SETTLE)  # QEMU may just be slow
            if self._error is not None or _unread_by_peer(self._uart):
                log.info("relaunching QEMU micro:bit: %s", self._error or "it stopped reading")
                self._shutdown()
                self._wake_readers()
                self.start(deadline)
                return
            assert self._qmp is not None
            self._discard_output()
            self._qmp.command("system_reset", deadline)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake_readers()
            self._shutdown()
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __repr__(self) -> str:
        return f"<QemuBoardTransport {self.url} pid={self.pid}>"

    # -- start and stop -----------------------------------------------------------------------

    def start(self, deadline: Deadline) -> None:
        """Launch QEMU and wait for the friendly prompt; keep the boot output for ``read``."""
        started = time.monotonic()
        uart, uart_theirs = socket.socketpair()
        qmp, qmp_theirs = socket.socketpair()
        self._uart, self._qmp = uart, QmpClient(qmp)
        self._stderr = tempfile.TemporaryFile(prefix="mpharness-qemu-")  # noqa: SIM115
        fds = (uart_theirs.fileno(), qmp_theirs.fileno())
        argv = [a.format(uart=fds[0], qmp=fds[1]) for a in self._argv]
        self._error = None
        try:
            self._proc = spawn_tied(argv, pass_fds=fds, output=self._stderr)
        except OSError as exc:
            self._error = f"cannot start QEMU ({self._argv[0]}): {exc}"
            raise ConnectError(self._error) from exc
        finally:
            uart_theirs.close()
            qmp_theirs.close()
        uart.setblocking(False)
        log.debug("started QEMU micro:bit pid %d", self._proc.pid)
        try:
            self._qmp.greet(deadline)
            self.boot_output = self._await_prompt(deadline)
        except (TransportClosed, BoardTimeout, ConnectError, OSError) as exc:
            self._died(str(exc), wait=0.0 if self._proc.poll() is None else EXIT_WAIT)
            raise ConnectError(f"the QEMU micro:bit did not start: {self._error}") from exc
        self._pending = bytearray(self.boot_output)
        self.launch_seconds = time.monotonic() - started

    def _await_prompt(self, deadline: Deadline) -> bytes:
        seen = bytearray()
        while FRIENDLY_PROMPT not in seen:
            assert self._uart is not None
            ready, _, _ = select.select([self._uart], [], [], deadline.remaining())
            if not ready:
                raise ConnectError(
                    f"the QEMU micro:bit did not reach its REPL prompt within {deadline.budget} s"
                    f" (output so far: {bytes(seen)!r})"
                )
            data = self._recv(65536)
            seen += data
        return bytes(seen)

    def _recv(self, size: int) -> bytes:
        """Read what the UART socket has (``b""`` if nothing); EOF marks the board dead."""
        assert self._uart is not None
        try:
            data = self._uart.recv(size)
        except BlockingIOError:
            return b""
        except OSError as exc:
            data = b""
            log.debug("QEMU uart socket: %s", exc)
        if not data:
            self._died("its UART link closed")
            self._raise_if_closed()
        return data

    def _wake_readers(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _drain_wakeups(self) -> None:
        if not self._closed:
            with contextlib.suppress(OSError):
                os.read(self._wake_r, 64)

    def _discard_output(self) -> None:
        self._pending.clear()
        with contextlib.suppress(BlockingIOError):
            while self._recv(65536):
                pass

    def _died(self, why: str, wait: float = EXIT_WAIT) -> None:
        """Record why the board is gone: QEMU's exit status and the end of its stderr."""
        if self._error is not None or self._proc is None:
            return
        proc = self._proc
        try:
            status = proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait()
        how = (
            f"was killed by {signal.Signals(-status).name}"
            if status < 0
            else f"exited with status {status}"
        )
        self._error = f"QEMU micro:bit (pid {proc.pid}) {how}: {why}{self._stderr_tail()}"
        log.info("%s", self._error)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip()
            if text:
                return f"; QEMU said: {text[:_STDERR_TAIL]}"
        return ""

    def _shutdown(self) -> None:
        """Kill and reap QEMU and release its sockets (no error recorded)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(EXIT_WAIT)
        for sock in (self._uart, self._qmp.sock if self._qmp else None):
            if sock is not None:
                sock.close()
        if self._stderr is not None:
            self._stderr.close()
        self._uart, self._qmp, self._stderr = None, None, None
        self._pending.clear()

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise TransportClosed(f"{self.url} transport is closed")
        if self._error is not None:
            raise TransportClosed(self._error)


def _unread_by_peer(sock: socket.socket | None) -> int:
    """Bytes we sent that QEMU has not read yet (``SIOCOUTQ`` on a unix socket)."""
    if sock is None:
        return 0
    buf = bytearray(4)
    try:
        fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
    except OSError:
        return 0
    return int.from_bytes(buf, "little")


def locate_qemu(machine: str, qemu: str = QEMU_BINARY, firmware: str = FIRMWARE_HEX) -> str:
    """The path of the QEMU executable, once ``machine`` and the firmware are known good.

    Raises:
        ConfigError: ``machine`` is not ``"microbit"``.
        ConnectError: QEMU or the firmware is missing.
    """
    if machine not in MACHINES:
        raise ConfigError(f"unknown QEMU board {machine!r}: supported: {', '.join(MACHINES)}")
    path = shutil.which(qemu)
    if path is None:
        raise ConnectError(
            f"{qemu!r} not found on PATH: install the Debian/Ubuntu packages "
            "qemu-system-arm and firmware-microbit-micropython"
        )
    if not os.path.isfile(firmware):
        raise ConnectError(
            f"micro:bit MicroPython firmware {firmware!r} not found: install the Debian/Ubuntu "
            "package firmware-microbit-micropython"
        )
    return path


def open_qemu_board(
    machine: str,
    *,
    timeout: float | None = 10.0,
    qemu: str = QEMU_BINARY,
    firmware: str = FIRMWARE_HEX,
) -> Transport:
    """Start a QEMU micro:bit virtual board (fresh flash filesystem) and wait for its REPL.

    Args:
        machine: the QEMU machine; only ``"microbit"`` is supported.
        timeout: budget in seconds for QEMU to start and the firmware to print ``>>> ``.
        qemu: the QEMU executable (name on PATH or path).
        firmware: the MicroPython ``.hex`` image.

    Returns:
        A :class:`QemuBoardTransport` at the friendly REPL (its boot output is the first output).

    Raises:
        ConfigError: ``machine`` is not ``"microbit"``.
        ConnectError: QEMU or the firmware is missing, or the board did not come up.
    """
    path = locate_qemu(machine, qemu, firmware)
    transport = QemuBoardTransport(machine, path, firmware)
    try:
        transport.start(Deadline.after(timeout))
    except BaseException:
        transport.close()
        raise
    return transport
