"""Start helper processes that die with the harness (``PR_SET_PDEATHSIG``), from any thread.

Theory of operation
-------------------
``PR_SET_PDEATHSIG`` makes the kernel signal a child when its parent goes away, but "parent"
means the *thread* that forked it: a process started from a short-lived worker thread would be
killed when that thread ends. So every process is forked by one long-lived daemon thread (one
per harness process, restarted after a ``fork``), which lives until the harness exits. The
child sets the signal (SIGKILL) between fork and exec and exits at once if the harness already
died in between. Children get their own session, so a terminal's Ctrl-C reaches only the
harness, which then cleans up in order.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from typing import IO

__all__ = ["spawn_tied"]

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class _Request:
    argv: list[str]
    pass_fds: tuple[int, ...]
    output: IO[bytes] | None
    done: threading.Event = field(default_factory=threading.Event)
    proc: subprocess.Popen[bytes] | None = None
    error: BaseException | None = None


class _Launcher:
    """The thread that forks every tied process of this harness process."""

    def __init__(self) -> None:
        self.owner_pid = os.getpid()
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        thread = threading.Thread(target=self._run, name="mpharness-launcher", daemon=True)
        thread.start()

    def _run(self) -> None:
        parent = os.getpid()

        def die_with_parent() -> None:  # runs in the child between fork and exec
            _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            if os.getppid() != parent:  # the harness died before prctl took effect
                os._exit(1)

        while True:
            request = self._requests.get()
            try:
                request.proc = subprocess.Popen(
                    request.argv,
                    pass_fds=request.pass_fds,
                    stdin=subprocess.DEVNULL,
                    stdout=request.output,
                    stderr=request.output,
                    preexec_fn=die_with_parent,
                    start_new_session=True,
                )
            except BaseException as exc:  # handed to the caller's thread
                request.error = exc
            request.done.set()

    def popen(
        self, argv: list[str], pass_fds: tuple[int, ...], output: IO[bytes] | None
    ) -> subprocess.Popen[bytes]:
        request = _Request(argv, pass_fds, output)
        self._requests.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.proc is not None
        return request.proc


_launcher: _Launcher | None = None
_launcher_lock = threading.Lock()


def spawn_tied(
    argv: list[str], *, pass_fds: tuple[int, ...] = (), output: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` so that it is SIGKILLed when this process dies, whichever thread asks.

    Args:
        argv: the command line.
        pass_fds: file descriptors the child inherits (same numbers).
        output: file for the child's stdout and stderr (None: inherit ours).

    Raises:
        OSError: the program could not be started.
    """
    global _launcher
    with _launcher_lock:
        if _launcher is None or _launcher.owner_pid != os.getpid():  # none yet, or we forked
            _launcher = _Launcher()
        launcher = _launcher
    return launcher.popen(argv, pass_fds, output)
