"""Interpreter processes of one unix board: start, watch, reap (no REPL knowledge here).

Theory of operation
-------------------
:class:`Launcher` asks the fork server (over the board's own channel) for interpreters, each on
a fresh pty whose master it keeps. An :class:`Interp` records what is known about one process:
its pid (from the ``spawned`` reply), its output read on the side, whether its byte stream has
ended (EIO on the master) and how it ended.

How it ended comes from two places. The fork server reports every child's wait status (normal
exit code or killing signal). That report only comes after the kernel has torn the process down,
so ``run_main`` children also get an *exit-status pipe*: on a normal return they write their exit
code to it and close their pty before exiting, and :meth:`Launcher.drain` reads the code as soon
as it sees EIO. A killed child writes nothing; the fork server's report then says which signal.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import shutil
import signal
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from mpharness.deadline import Deadline
from mpharness.virtual import forkserver
from mpharness.virtual.pty_link import open_pty, read_some

__all__ = ["EOF_GRACE", "Interp", "Launcher"]

EOF_GRACE = 0.25  #: s to wait for a pty's EOF once its process is known to have ended


@dataclass(eq=False)
class Interp:
    """One interpreter process and the master side of its pty."""

    token: int
    master: int
    status_fd: int | None = None  # read end of the exit-status pipe (run_main children)
    pid: int | None = None
    output: bytearray = field(default_factory=bytearray)  # bytes read on the side
    eof: bool = False  # its byte stream has ended
    exit_code: int | None = None
    exit_signal: int | None = None
    error: str | None = None  # the fork server could not start it
    ended_at: float | None = None  # monotonic time its end became known
    sent_ctrl_b: bool = False

    @property
    def ended(self) -> bool:
        """The process is known to be gone (or never started)."""
        return self.exit_code is not None or self.exit_signal is not None or self.error is not None

    @property
    def dead(self) -> bool:
        """Ended, and every byte it wrote has been read."""
        return self.ended and self.eof

    @property
    def killed(self) -> bool:
        """Ended by a signal, or never started."""
        return self.exit_signal is not None or self.error is not None

    def describe_end(self) -> str:
        """How it ended, as the tail of a sentence ("was killed by SIGKILL")."""
        if self.error is not None:
            return f"could not be started: {self.error}"
        if self.exit_signal is not None:
            return f"was killed by {signal.Signals(self.exit_signal).name}"
        return f"exited with code {self.exit_code}"


class Launcher:
    """Starts and tracks one board's interpreters (all calls under the transport's lock)."""

    def __init__(self, argv: list[str], executable: str | None, root_dir: str, env: dict[str, str]):
        self.argv = argv
        self.executable = executable
        self.root_dir = root_dir
        self.env = env
        self._tokens = itertools.count(1)
        self._interps: dict[int, Interp] = {}
        self._fds: set[int] = set()  # every fd we own, for the finalizer
        # Dropped without close(): the channel's socket closes on collection (the fork server
        # then kills the interpreters); the finalizer releases the rest.
        self._finalizer = weakref.finalize(self, _release, self._fds, root_dir)
        self.chan = forkserver.attach()
        self.chan.adopt(root_dir)

    @property
    def pids(self) -> tuple[int, ...]:
        """Pids of the interpreters that are (as far as is known) still running."""
        return tuple(i.pid for i in self._interps.values() if i.pid is not None and not i.ended)

    def spawn(self, queued_input: bytes = b"") -> Interp:
        """Request a new interpreter; ``queued_input`` waits on its pty before it starts."""
        master, slave = open_pty()
        status_w = None
        try:
            if queued_input:
                os.write(master, queued_input)
            interp = Interp(next(self._tokens), master)
            self._fds.add(master)
            if self.executable is None:
                interp.status_fd, status_w = os.pipe()
                os.set_blocking(interp.status_fd, False)
                self._fds.add(interp.status_fd)
            self.chan.spawn(
                interp.token,
                self.argv,
                slave_fd=slave,
                status_fd=status_w,
                exec_path=self.executable,
                env=self.env,
                cwd=self.root_dir,
            )
        finally:
            os.close(slave)
            if status_w is not None:
                os.close(status_w)
        self._interps[interp.token] = interp
        return interp

    def forget(self, interp: Interp) -> None:
        """Stop tracking ``interp`` and close its fds (its process ends on its own or at close)."""
        self._interps.pop(interp.token, None)
        for fd in (interp.master, interp.status_fd):
            if fd is not None and fd in self._fds:
                self._fds.discard(fd)
                os.close(fd)
        interp.status_fd = None

    def kill(self, interp: Interp) -> None:
        """SIGKILL ``interp`` through the fork server (safe against pid reuse)."""
        if interp.pid is not None and not interp.ended:
            self.chan.kill(interp.pid)

    def reattach(self) -> None:
        """Forget everything and attach to a (restarted) fork server."""
        for interp in list(self._interps.values()):
            self.forget(interp)
        self.chan.close(0)  # the old fork server is gone: nothing is sent, nothing waited for
        self.chan = forkserver.attach()
        self.chan.adopt(self.root_dir)

    def close(self) -> None:
        """Kill and reap every interpreter, close every fd, remove the root directory."""
        self.chan.close()
        self._interps.clear()
        self._finalizer()

    def pump(self) -> None:
        """Apply every message the fork server sent (non-blocking)."""
        for message in self.chan.receive():
            op = message.get("op")
            if op in ("spawned", "error"):
                interp = self._interps.get(message.get("token", -1))
                if interp is not None and op == "spawned":
                    interp.pid = message["pid"]
                elif interp is not None:
                    interp.error, interp.eof = str(message.get("message")), True
            elif op == "exited":
                for interp in self._interps.values():
                    if interp.pid == message["pid"]:
                        interp.exit_code = message.get("code")
                        interp.exit_signal = message.get("signal")
                        interp.ended_at = time.monotonic()

    def drain(self, interp: Interp, sink: bytearray, limit: int | None = None) -> None:
        """Move what ``interp``'s pty has now into ``sink`` (at most about ``limit`` bytes: a
        program that prints as fast as we read never leaves the pty empty); notice the end
        of its stream."""
        while not interp.eof and (limit is None or len(sink) < limit):
            data = read_some(interp.master)
            if data is None:
                interp.eof = True
                self._read_exit_status(interp)
            elif not data:
                break
            else:
                sink += data
        if interp.ended_at is not None and time.monotonic() > interp.ended_at + EOF_GRACE:
            interp.eof = True  # something else holds the pty slave; stop waiting for it

    def _read_exit_status(self, interp: Interp) -> None:
        fd = interp.status_fd
        if fd is None or interp.ended:
            return
        try:
            report = os.read(fd, 16)
        except BlockingIOError:  # the program closed its own stdio: the fork server will tell
            return
        if report:
            interp.exit_code = int(report)
            interp.ended_at = time.monotonic()
        # empty: killed before it could report; the fork server will say by which signal
        self._fds.discard(fd)
        os.close(fd)
        interp.status_fd = None

    def wait(self, interp: Interp, done: Callable[[], object], deadline: Deadline) -> bool:
        """Collect ``interp``'s output in ``interp.output`` until ``done()`` (True), or until
        it is dead, the fork server is gone or the deadline passed (False)."""
        while True:
            self.pump()
            self.drain(interp, interp.output)
            if done():
                return True
            if interp.dead or self.chan.dead or deadline.expired():
                return False
            select.select(self.wait_fds(interp), [], [], self.wait_timeout(interp, deadline))

    def wait_fds(self, interp: Interp) -> list[int]:
        """What to select on while waiting for ``interp``."""
        return [self.chan.fileno()] + ([] if interp.eof else [interp.master])

    @staticmethod
    def wait_timeout(interp: Interp, deadline: Deadline) -> float | None:
        """The deadline's remaining time, cut short while waiting for a late EOF."""
        timeout = deadline.remaining()
        if interp.ended_at is not None:
            grace = max(0.0, interp.ended_at + EOF_GRACE - time.monotonic())
            timeout = grace if timeout is None else min(timeout, grace)
        return timeout


def _release(fds: set[int], root_dir: str) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()
    shutil.rmtree(root_dir, ignore_errors=True)
