"""Board leases: one session per board at a time, across the processes of a host.

Theory of operation
-------------------
A lease is an exclusive ``fcntl.flock`` on a lock file named after the board's *lease key*
(``board:NAME``, ``port:/dev/ttyUSB0``, ``url:...``; see ``mpharness.sharing.board_pool``) in
the lock directory (``$MPHARNESS_LOCK_DIR``, default ``/tmp/mpharness-locks``). The kernel drops a
flock when the last descriptor of the open file goes away, so a holder that crashes or is
SIGKILLed never leaves a blocking lock behind. Lock files are never deleted (deleting one
races with a process about to lock it).
After locking, the holder writes a JSON *holder record* (pid, host, since, purpose) next to
the lock file, atomically (temporary file + rename), and removes it when it releases. The
record is only ever read to explain a busy board; a record left by a dead holder is simply
overwritten by the next one.

``flock`` has no timeout. Waiting is done by blocking ``flock`` calls in daemon helper threads
(``mpharness.sharing.flock``), one per candidate lock file, while the caller waits on an event with
the remaining time (no sleep-polling). The first thread to lock wins; a thread that locks
after the caller gave up (or after another candidate won) unlocks and closes its descriptor
at once. Such an abandoned thread stays blocked until the holder lets go, which costs one
thread and one descriptor.

*Wants*: a holder may :meth:`Lease.listen` on a datagram socket beside the lock file; a
caller about to wait sends it its ``want`` token (any bytes, e.g. the test run's id). The
holder decides what to do with it (the pytest plugin lets an idle worker of the same run hand
its board over); holders that do not listen simply keep the board until they are done.

Lock descriptors are opened close-on-exec, so programs started with ``subprocess`` do not
inherit leases; a bare ``os.fork`` does (the child keeps the lock until it exits).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mpharness.deadline import Deadline
from mpharness.errors import BoardBusy
from mpharness.sharing.flock import Race, open_lock, try_lock, unlock

__all__ = [
    "DEFAULT_LOCK_DIR",
    "LOCK_DIR_ENV",
    "WAIT_ENV",
    "Handover",
    "Lease",
    "acquire",
    "acquire_all",
    "acquire_first",
    "lock_dir",
    "read_holder",
    "wait_from_env",
]

log = logging.getLogger("mpharness.sharing.leases")

#: Environment variable naming the lock directory.
LOCK_DIR_ENV = "MPHARNESS_LOCK_DIR"
#: Environment variable with the default lease wait in seconds (``inf``: wait for ever).
WAIT_ENV = "MPHARNESS_LEASE_WAIT_S"
DEFAULT_LOCK_DIR = "/tmp/mpharness-locks"
_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


def lock_dir() -> str:
    """The lock directory (created world-writable and sticky, like ``/tmp``, if missing)."""
    path = os.environ.get(LOCK_DIR_ENV) or DEFAULT_LOCK_DIR
    if not os.path.isdir(path):
        os.makedirs(path, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o1777)
    return path


def _lock_path(key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    readable = _SAFE_RE.sub("_", key).strip("_")[:48]
    return os.path.join(lock_dir(), f"{readable}-{digest}.lock")


def _holder_path(lock_path: str) -> str:
    return lock_path[: -len(".lock")] + ".holder.json"


def _want_path(key: str) -> str:
    # short: AF_UNIX paths are limited to ~100 bytes
    return os.path.join(lock_dir(), hashlib.sha256(key.encode()).hexdigest()[:12] + ".want")


def _send_want(key: str, token: bytes) -> None:
    """Tell the key's holder, if it listens, that someone waits for it (best effort)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.sendto(token, _want_path(key))


def wait_from_env(default: float | None) -> float | None:
    """The lease wait from ``$MPHARNESS_LEASE_WAIT_S`` (``inf``: None, unbounded), else default."""
    raw = os.environ.get(WAIT_ENV, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        log.warning("ignoring %s=%r: not a number of seconds", WAIT_ENV, raw)
        return default
    return None if value == float("inf") else max(0.0, value)


def _program_name() -> str:
    """``mpharness``, ``pytest`` (also for ``python -m pytest``), else ``python``."""
    path = sys.argv[0] if sys.argv and sys.argv[0] else ""
    name = os.path.basename(path)
    if name == "__main__.py":
        name = os.path.basename(os.path.dirname(path))
    return name if name and name != "-c" else "python"


def read_holder(key: str) -> dict[str, Any]:
    """The holder record of a lease key ({} when there is none or it is unreadable)."""
    try:
        with open(_holder_path(_lock_path(key)), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


class Lease:
    """A held lease on one board key; release it with :meth:`release` or a ``with`` block.

    Attributes:
        key: the lease key.
        purpose: what the holder said it is for (e.g. ``pytest``).
        since: when it was acquired (``time.time()``).
    """

    def __init__(self, key: str, fd: int, purpose: str) -> None:
        self.key = key
        self.purpose = purpose or _program_name()
        self.since = time.time()
        self._fd: int | None = fd
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._write_record()

    @property
    def held(self) -> bool:
        """Whether the lease is still held."""
        return self._fd is not None

    def _write_record(self) -> None:
        record = {
            "key": self.key,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": self.since,
            "purpose": self.purpose,
        }
        path = _holder_path(_lock_path(self.key))
        temp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(temp, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            os.replace(temp, path)
        except OSError as err:  # the record only explains; the flock is what counts
            log.warning("cannot write the lease record %s: %s", path, err)

    def listen(self, on_want: Callable[[bytes], None]) -> bool:
        """Call ``on_want(token)`` (from a helper thread) whenever someone waits for this key.

        Returns:
            False if the want socket could not be made (the lease works all the same).
        """
        path = _want_path(self.key)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # left by an earlier holder; only the holder binds
            sock.bind(path)
        except OSError as err:
            sock.close()
            log.debug("cannot listen for wants of %s: %s", self.key, err)
            return False
        with self._lock:
            if self._fd is None:
                sock.close()
                return False
            self._listener = sock
        threading.Thread(
            target=self._listen,
            args=(sock, on_want),
            name=f"mpharness-want {self.key}",
            daemon=True,
        ).start()
        return True

    @staticmethod
    def _listen(sock: socket.socket, on_want: Callable[[bytes], None]) -> None:
        while True:
            try:
                token = sock.recv(256)
            except OSError:  # closed by release()
                return
            if not token:  # the empty datagram release() sends to wake this thread
                return
            try:
                on_want(token)
            except Exception:  # a callback bug must not kill the listener silently
                log.exception("lease want callback failed")

    def release(self) -> None:
        """Let the board go (idempotent)."""
        with self._lock:
            fd, self._fd = self._fd, None
            listener, self._listener = self._listener, None
        if fd is None:
            return
        if listener is not None:
            path = _want_path(self.key)
            with contextlib.suppress(OSError):
                listener.sendto(b"", path)  # wakes the listening thread
            with contextlib.suppress(OSError):
                os.unlink(path)
            listener.close()
        with contextlib.suppress(OSError):
            os.unlink(_holder_path(_lock_path(self.key)))
        unlock(fd)
        log.debug("released lease %s", self.key)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self.held else "released"
        return f"<Lease {self.key!r} {state} ({self.purpose or 'no purpose'})>"


@dataclass(frozen=True)
class Handover:
    """Cooperation between sessions that may hand boards to each other (e.g. the xdist
    workers of one pytest run).

    Attributes:
        token: sent to a busy board's holder before waiting for it.
        on_want: a lease taken with this handover calls it (from a helper thread) with the
            token of whoever waits for the board; None: the lease does not listen.
    """

    token: bytes
    on_want: Callable[[bytes], None] | None = None


def _new_lease(key: str, fd: int, purpose: str, handover: Handover | None) -> Lease:
    lease = Lease(key, fd, purpose)
    if handover is not None and handover.on_want is not None:
        lease.listen(handover.on_want)  # at once: a want sent from now on is not lost
    return lease


def acquire_first(
    keys: Sequence[str],
    *,
    wait_s: float | None,
    purpose: str = "",
    what: str = "",
    handover: Handover | None = None,
) -> Lease:
    """Lease the first free key of ``keys`` (in order), waiting up to ``wait_s`` for any.

    Args:
        keys: candidate lease keys (e.g. the boards of a pool).
        wait_s: seconds to wait when all are taken (None: for ever; 0: not at all).
        purpose: stored in the holder record (shown to whoever waits for the board).
        what: how to name the board(s) in a BoardBusy message (default: from the keys).
        handover: token sent to the holders before waiting, and the callback the new lease
            listens with (see :class:`Handover`).

    Raises:
        BoardBusy: every key stayed taken for ``wait_s`` seconds.
    """
    if not keys:
        raise ValueError("no lease keys given")
    deadline = Deadline.after(wait_s)
    fds: list[tuple[str, int]] = []
    for key in keys:
        fd = open_lock(_lock_path(key))
        if try_lock(fd):
            for _, other in fds:
                os.close(other)
            return _new_lease(key, fd, purpose, handover)
        fds.append((key, fd))
    winner = None
    if wait_s is None or wait_s > 0:
        race = Race()
        for key, fd in fds:
            race.start(key, fd)
            if handover is not None:
                _send_want(key, handover.token)
        fds = []  # the threads own the descriptors now
        try:
            race.done.wait(deadline.remaining())
        except BaseException:  # e.g. Ctrl-C while waiting: hold nothing
            won = race.finish()
            if won is not None:
                unlock(won[1])
            raise
        winner = race.finish()
    for _, fd in fds:
        os.close(fd)
    if winner is None:
        raise _busy(keys, wait_s, what)
    return _new_lease(winner[0], winner[1], purpose, handover)


def acquire(
    board_key: str, *, wait_s: float | None, purpose: str = "", handover: Handover | None = None
) -> Lease:
    """Lease one board key, waiting up to ``wait_s`` seconds (None: for ever).

    Raises:
        BoardBusy: another session held it all that time; the message names the holder.
    """
    return acquire_first([board_key], wait_s=wait_s, purpose=purpose, handover=handover)


def acquire_all(
    keys: Iterable[str],
    *,
    wait_s: float | None,
    purpose: str = "",
    handover: Handover | None = None,
) -> list[Lease]:
    """Lease every key, all or none, in sorted order (two callers never deadlock).

    Raises:
        BoardBusy: one of them stayed taken; none is held then.
    """
    deadline = Deadline.after(wait_s)
    leases: list[Lease] = []
    try:
        for key in sorted(set(keys)):
            leases.append(
                acquire(key, wait_s=deadline.remaining(), purpose=purpose, handover=handover)
            )
    except BaseException:
        for lease in leases:
            lease.release()
        raise
    return leases


def describe_holder(record: dict[str, Any]) -> str:
    """``held by PID 1234 on host H since 12:03:04 (pytest)``, or a vaguer text."""
    if not record.get("pid"):
        return "held by another process (no holder record)"
    text = f"held by PID {record['pid']} on host {record.get('host', '?')}"
    since = record.get("since")
    if isinstance(since, (int, float)):
        fmt = "%H:%M:%S" if time.time() - since < 12 * 3600 else "%Y-%m-%d %H:%M:%S"
        text += " since " + time.strftime(fmt, time.localtime(since))
    if record.get("purpose"):
        text += f" ({record['purpose']})"
    return text


def _busy(keys: Sequence[str], wait_s: float | None, what: str) -> BoardBusy:
    waited = f" after waiting {wait_s:.3g} s" if wait_s else ""
    if len(keys) == 1:
        name = what or keys[0].split(":", 1)[-1]
        record = read_holder(keys[0])
        return BoardBusy(
            f"board {name!r} is busy: {describe_holder(record)}{waited}",
            key=keys[0],
            holder=record,
        )
    held = "; ".join(f"{k.split(':', 1)[-1]}: {describe_holder(read_holder(k))}" for k in keys)
    return BoardBusy(f"all boards of the {what or 'pool'} are busy{waited} ({held})", key=keys[0])
