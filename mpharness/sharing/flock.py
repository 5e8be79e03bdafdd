"""flock helpers for :mod:`mpharness.sharing.leases`: try a lock, race blocking waits.

Lock files are opened by :meth:`mpharness.sharing.lock_dir.LockDir.open_lock` (safely: no
links, no chmod of other users' files).

Theory of operation: ``flock`` has no timeout, so :class:`Race` runs one blocking ``flock``
per candidate lock file in a daemon thread; the caller waits on :attr:`Race.done` with its
remaining time and then calls :meth:`Race.finish`. The first thread to lock wins; a thread
that locks after the caller gave up, or after another candidate won, unlocks and closes its
descriptor at once (it may stay blocked until the holder lets go: one thread, one descriptor).
"""

from __future__ import annotations

import fcntl
import os
import threading

__all__ = ["Race", "try_lock", "unlock"]


def try_lock(fd: int) -> bool:
    """Take the exclusive flock if it is free (never blocks)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def unlock(fd: int) -> None:
    """Drop the flock and close the descriptor."""
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class Race:
    """Blocking flocks on several lock files in helper threads; the first to lock wins."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.winner: tuple[str, int] | None = None
        self.over = False

    def start(self, key: str, fd: int) -> None:
        threading.Thread(
            target=self._run, args=(key, fd), name=f"mpharness-lease {key}", daemon=True
        ).start()

    def _run(self, key: str, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            os.close(fd)
            return
        with self.lock:
            if self.winner is None and not self.over:
                self.winner = (key, fd)
                self.done.set()
                return
        unlock(fd)  # too late: the caller gave up or took another

    def finish(self) -> tuple[str, int] | None:
        with self.lock:
            self.over = True
            return self.winner
