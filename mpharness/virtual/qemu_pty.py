"""The QEMU micro:bit behind QEMU's own ``-serial pty``: a board whose input arrives late.

Theory of operation
-------------------
:mod:`mpharness.virtual.qemu_microbit` gives QEMU socket pairs because QEMU's pty backend is
slow to notice a client: while nobody has the pty's slave open, QEMU sees a hang-up and stops
reading the pty; it looks again on a one-second timer. So the first bytes a client writes after
opening the slave reach the firmware up to about 1 s later (measured 0.7 to 1.0 s for a client
that opens right after the previous one closed), and its answer comes back only then; after
that, bytes flow at once until the next open. That is exactly a link whose input arrives late
(issue 11's first failing case: mpremote copes, the engine's 0.25 s resends did not), so this
module keeps it as a double.

:class:`QemuPtyMicrobit` starts QEMU paused (``-S``) with the UART on ``-chardev pty`` and the
QMP monitor on a socket pair, asks QMP (``query-chardev``) for the pty's path, opens the slave,
lets the firmware run (``cont``) up to its ``>>> `` prompt, and closes the slave again: the board
then waits at its prompt with nobody attached, like one a user started by hand. Tools open
:attr:`QemuPtyMicrobit.path` (``open_board(path)``, mpremote, ``screen``).

The board URL ``qemu:microbit?serial=pty`` is the same board as one transport
(:class:`QemuPtyTransport`): the pty is opened as the ordinary serial port it is, through the
URL dispatcher (passed in, as for shaped links); closing the transport stops QEMU, and a hard
reset is QMP ``system_reset``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import subprocess
import tempfile
import tty
from collections.abc import Callable
from types import TracebackType
from typing import IO

from mpharness.deadline import Deadline
from mpharness.errors import BoardTimeout, ConfigError, ConnectError, TransportError
from mpharness.transports.base import Transport
from mpharness.virtual.launcher import spawn_tied
from mpharness.virtual.qemu_microbit import (
    EXIT_WAIT,
    FIRMWARE_HEX,
    FRIENDLY_PROMPT,
    QEMU_BINARY,
    QmpClient,
    locate_qemu,
)

__all__ = ["PTY_OPTION", "QemuPtyMicrobit", "QemuPtyTransport", "open_qemu_pty"]

log = logging.getLogger(__name__)

PTY_OPTION = "serial=pty"  #: the URL option: ``qemu:microbit?serial=pty``
_UART_LABEL = "uart0"
_PTY_PREFIX = "pty:"


class QemuPtyMicrobit:
    """A QEMU micro:bit whose UART is a pty QEMU made (context manager; see the module doc).

    Attributes:
        path: the pty's slave path (``/dev/pts/N``), valid after :meth:`start`.
        boot_output: what the firmware printed up to its first prompt.
    """

    def __init__(
        self, machine: str = "microbit", *, qemu: str = QEMU_BINARY, firmware: str = FIRMWARE_HEX
    ) -> None:
        self.machine = machine
        self._qemu = qemu
        self._firmware = firmware
        self._proc: subprocess.Popen[bytes] | None = None
        self._qmp: QmpClient | None = None
        self._stderr: IO[bytes] | None = None
        self.path = ""
        self.boot_output = b""

    @property
    def pid(self) -> int | None:
        """QEMU's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float | None = 30.0) -> QemuPtyMicrobit:
        """Start QEMU, boot the firmware to its prompt and leave the pty unattached.

        Raises:
            ConfigError: an unknown machine.
            ConnectError: QEMU or the firmware is missing, or the board did not come up.
        """
        deadline = Deadline.after(timeout)
        path = locate_qemu(self.machine, self._qemu, self._firmware)
        qmp, qmp_theirs = socket.socketpair()
        self._qmp = QmpClient(qmp)
        self._stderr = tempfile.TemporaryFile(prefix="mpharness-qemu-pty-")  # noqa: SIM115
        argv = [
            path, "-M", self.machine, "-nodefaults", "-display", "none", "-S",
            "-device", f"loader,file={self._firmware}",
            "-chardev", f"pty,id={_UART_LABEL}", "-serial", f"chardev:{_UART_LABEL}",
            "-chardev", f"socket,id=qmp0,fd={qmp_theirs.fileno()}",
            "-mon", "chardev=qmp0,mode=control",
        ]  # fmt: skip
        try:
            try:
                self._proc = spawn_tied(argv, pass_fds=(qmp_theirs.fileno(),), output=self._stderr)
            finally:
                qmp_theirs.close()
            self._qmp.greet(deadline)
            self.path = self._pty_path(deadline)
            self.boot_output = self._boot(deadline)
        except BaseException as exc:
            why = self._stderr_text()
            self.close()
            if isinstance(exc, (OSError, BoardTimeout)) or (
                isinstance(exc, TransportError) and not isinstance(exc, ConnectError)
            ):
                raise ConnectError(
                    f"the QEMU micro:bit on -serial pty did not start: {exc}"
                    + (f"; QEMU said: {why}" if why else "")
                ) from exc
            raise
        log.debug("QEMU micro:bit pid %s on %s", self.pid, self.path)
        return self

    def reset(self, deadline: Deadline) -> None:
        """Reset the micro:bit (QMP ``system_reset``); it boots to the friendly REPL."""
        if self._qmp is None:
            raise ConnectError("the QEMU micro:bit on -serial pty is not running")
        self._qmp.command("system_reset", deadline)

    def close(self) -> None:
        """Stop QEMU and release its monitor socket. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(EXIT_WAIT)
        if self._qmp is not None:
            self._qmp.sock.close()
            self._qmp = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> QemuPtyMicrobit:
        return self.start() if self._proc is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------

    def _pty_path(self, deadline: Deadline) -> str:
        assert self._qmp is not None
        for chardev in self._qmp.command("query-chardev", deadline):
            if chardev.get("label") == _UART_LABEL:
                filename = str(chardev.get("filename", ""))
                if filename.startswith(_PTY_PREFIX):
                    return filename[len(_PTY_PREFIX) :]
        raise ConnectError(f"QEMU reported no pty for its UART ({_UART_LABEL})")

    def _boot(self, deadline: Deadline) -> bytes:
        """Run the paused firmware with the slave open until its prompt; then let go of it."""
        assert self._qmp is not None
        fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            tty.setraw(fd)
            self._qmp.command("cont", deadline)
            seen = bytearray()
            while FRIENDLY_PROMPT not in seen:
                ready, _, _ = select.select([fd], [], [], deadline.remaining())
                if not ready:
                    raise ConnectError(
                        f"the QEMU micro:bit did not reach its REPL prompt within "
                        f"{deadline.budget} s (output so far: {bytes(seen)!r})"
                    )
                with contextlib.suppress(BlockingIOError):
                    seen += os.read(fd, 4096)
            return bytes(seen)
        finally:
            os.close(fd)

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0)
            return self._stderr.read(400).decode(errors="replace").strip()
        return ""


class QemuPtyTransport(Transport):
    """The serial link to a :class:`QemuPtyMicrobit`'s pty, owning the QEMU behind it."""

    def __init__(self, url: str, inner: Transport, board: QemuPtyMicrobit) -> None:
        self.url = url
        self.inner = inner
        self.board = board

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        return self.inner.read(deadline, size)

    @property
    def closed(self) -> bool:
        return self.inner.closed

    @property
    def may_corrupt(self) -> bool:
        return self.inner.may_corrupt

    @property
    def can_hard_reset(self) -> bool:
        return True

    def hard_reset(self, deadline: Deadline) -> None:
        """QMP ``system_reset``: the firmware reboots to its friendly REPL (flash kept)."""
        self.board.reset(deadline)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.board.close()

    def __repr__(self) -> str:
        return f"<QemuPtyTransport {self.url} on {self.board.path} pid={self.board.pid}>"


def open_qemu_pty(
    url: str, *, timeout: float | None = 30.0, open_inner: Callable[..., Transport]
) -> QemuPtyTransport:
    """Open ``qemu:microbit?serial=pty``: a fresh QEMU micro:bit on ``-serial pty`` and its pty.

    ``open_inner`` opens the pty's path (the URL dispatcher passes itself).

    Raises:
        ConfigError: an option other than ``serial=pty``, or an unknown machine.
        ConnectError: QEMU or the firmware is missing, or the board did not come up.
    """
    machine, _, options = url[len("qemu:") :].partition("?")
    if options != PTY_OPTION:
        raise ConfigError(
            f"unknown QEMU board option {options!r} in {url!r}: the one option is {PTY_OPTION}"
        )
    deadline = Deadline.after(timeout)
    board = QemuPtyMicrobit(machine).start(deadline.remaining())
    try:
        inner = open_inner(board.path, timeout=deadline.remaining())
    except BaseException:
        board.close()
        raise
    return QemuPtyTransport(url, inner, board)
