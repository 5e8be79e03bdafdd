"""Harness side of the fork server that starts unix-port interpreters.

Theory of operation
-------------------
One zygote process (:mod:`mpharness.virtual.zygote`) serves every unix board of this harness
process. It is started lazily by :func:`attach` from a dedicated daemon thread that then waits
for it: ``PR_SET_PDEATHSIG`` fires when the *thread* that forked a process ends, so the zygote
must not be started from a short-lived worker thread. That thread lives exactly as long as the
zygote and reaps it.

Each board gets its own :class:`BoardChannel`, a ``SOCK_SEQPACKET`` socket pair whose far end is
handed to the zygote over the control socket (``socket.send_fds``). Boards never share a
channel, so boards used from different threads do not contend. If the harness dies, even by
SIGKILL, the zygote sees EOF on the control socket (and gets its death signal), kills every
interpreter and exits; interpreters carry their own death signal against the zygote.
"""

from __future__ import annotations

import array
import contextlib
import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

from mpharness.deadline import Deadline

__all__ = ["BoardChannel", "ForkServer", "attach", "fork_server", "shutdown_fork_server"]

log = logging.getLogger(__name__)

Message = dict[str, Any]

_ZYGOTE_SCRIPT = Path(__file__).with_name("zygote.py")
_MAX_PACKET = 65536


class ForkServer:
    """The zygote process serving this harness process."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._control = ours
        self._lock = threading.Lock()
        self.owner_pid = os.getpid()
        try:
            self._proc, self._thread = _start_zygote(theirs, self.owner_pid)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        # Once nothing refers to this server (no module global, no board channel), closing the
        # control socket makes the zygote exit (e.g. after pytester's sys.modules restore).
        self._finalizer = weakref.finalize(self, ours.close)
        log.debug("started fork server pid %d", self._proc.pid)

    @property
    def pid(self) -> int:
        """The zygote's process id."""
        return self._proc.pid

    @property
    def alive(self) -> bool:
        """False once the zygote exited or the control socket was closed."""
        return self._control.fileno() >= 0 and self._proc.returncode is None

    def attach(self) -> BoardChannel:
        """A new channel to the zygote for one board.

        Raises:
            OSError: the zygote is gone.
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self._lock:
                socket.send_fds(self._control, [b'{"op": "attach"}'], [theirs.fileno()])
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        return BoardChannel(ours, self)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Close the control socket; the zygote kills its interpreters and exits."""
        self._finalizer()
        self._thread.join(timeout)


def _start_zygote(
    control: socket.socket, owner_pid: int
) -> tuple[subprocess.Popen[bytes], threading.Thread]:
    """Start the zygote from a thread that then waits for it (its death signal's anchor)."""
    started = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(_ZYGOTE_SCRIPT),
                    str(owner_pid),
                    str(control.fileno()),
                    "--deathsig",
                ],
                pass_fds=(control.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException as exc:
            box["error"] = exc
            started.set()
            return
        box["proc"] = proc
        started.set()
        proc.wait()

    thread = threading.Thread(target=run, name="mpharness-forkserver", daemon=True)
    thread.start()
    started.wait()
    if "error" in box:
        raise box["error"]
    return box["proc"], thread


class _Registry:
    """The process-wide fork server slot.

    It lives as an attribute of :mod:`sys`, not in this module, so that one zygote serves the
    whole process even when this module is imported afresh (pytester's inline runs restore
    ``sys.modules`` after each run; a module-level singleton would start one zygote per run).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.server: Any = None  # a ForkServer, possibly from an earlier import of this module


def _registry() -> _Registry:
    registry: _Registry | None = getattr(sys, _REGISTRY_ATTR, None)
    if registry is None:  # (first import; a race here only costs one extra zygote)
        registry = _Registry()
        setattr(sys, _REGISTRY_ATTR, registry)
    return registry


_REGISTRY_ATTR = "_mpharness_fork_server"


def fork_server() -> ForkServer:
    """This process's fork server, started on first use (or again after it died)."""
    registry = _registry()
    with registry.lock:
        server = registry.server
        if server is None or server.owner_pid != os.getpid() or not server.alive:
            registry.server = server = ForkServer()
        return server  # type: ignore[no-any-return]


def attach() -> BoardChannel:
    """A channel to the fork server for one new board (restarts a dead fork server once)."""
    server = fork_server()
    try:
        return server.attach()
    except (BrokenPipeError, ConnectionError):  # the zygote died since it was last used
        registry = _registry()
        with registry.lock:
            if registry.server is server:
                registry.server = None
        server.shutdown(0)
        return fork_server().attach()


def shutdown_fork_server(timeout: float = 5.0) -> None:
    """Stop this process's fork server (and every interpreter it runs), if one is running."""
    registry = _registry()
    with registry.lock:
        server, registry.server = registry.server, None
    if server is not None and server.owner_pid == os.getpid():
        server.shutdown(timeout)


def _close_passed_fds(ancillary: list[tuple[int, int, bytes]]) -> None:
    """Close any fds the peer passed (none are expected on a board channel)."""
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            for fd in fds:
                os.close(fd)


class BoardChannel:
    """One board's message channel to the fork server (see zygote.py for the messages)."""

    def __init__(self, sock: socket.socket, server: ForkServer) -> None:
        self._sock = sock
        self._server = server  # keeps the zygote running while this board lives
        #: True once the fork server closed the channel (it died)
        self.dead = False

    def fileno(self) -> int:
        """The socket's fd, for ``select``."""
        return self._sock.fileno()

    def _send(self, message: Message, fds: tuple[int, ...] = ()) -> None:
        data = json.dumps(message).encode()
        try:
            if fds:
                socket.send_fds(self._sock, [data], list(fds))
            else:
                self._sock.send(data)
        except OSError:
            self.dead = True

    def spawn(
        self,
        token: int,
        argv: list[str],
        *,
        slave_fd: int,
        status_fd: int | None = None,
        exec_path: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        """Ask for a child running ``argv`` on ``slave_fd``; replies ``spawned``/``error``.

        ``status_fd`` (``run_main`` children only) is the write end of a pipe on which the
        child reports its exit code just before it closes its pty and exits.
        """
        request = {
            "op": "spawn",
            "token": token,
            "argv": argv,
            "exec": exec_path,
            "env": env or {},
            "cwd": cwd,
        }
        self._send(request, (slave_fd,) if status_fd is None else (slave_fd, status_fd))

    def adopt(self, path: str) -> None:
        """Have the fork server remove ``path`` when this channel ends (e.g. the harness died)."""
        self._send({"op": "adopt", "path": path})

    def kill(self, pid: int) -> None:
        """SIGKILL one of this board's children (ignored if it already ended)."""
        self._send({"op": "kill", "pid": pid})

    def receive(self) -> list[Message]:
        """All messages available now, without blocking. Sets :attr:`dead` on EOF."""
        messages: list[Message] = []
        while not self.dead:
            try:  # (socket.recv_fds ignores its flags argument, hence recvmsg)
                data, ancillary, _, _ = self._sock.recvmsg(
                    _MAX_PACKET, socket.CMSG_SPACE(4 * 4), socket.MSG_DONTWAIT
                )
            except BlockingIOError:
                break
            except OSError:
                data, ancillary = b"", []
            _close_passed_fds(ancillary)
            if not data:
                self.dead = True
                break
            messages.append(json.loads(data))
        return messages

    def close(self, timeout: float = 2.0) -> None:
        """Kill and reap this board's children, waiting up to ``timeout`` for the zygote."""
        if self._sock.fileno() < 0:
            return
        self._send({"op": "close"})
        deadline = Deadline.after(timeout)
        while not self.dead and not deadline.expired():
            ready, _, _ = select.select([self._sock], [], [], deadline.remaining())
            if ready and any(m.get("op") == "closed" for m in self.receive()):
                break
        with contextlib.suppress(OSError):
            self._sock.close()
