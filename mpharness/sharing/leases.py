"""Board leases: one session per board at a time, across the processes of a host.

Theory of operation
-------------------
A lease is an exclusive ``fcntl.flock`` on a lock file named after the board's *lease key*
(``board:NAME``, ``port:/dev/ttyUSB0``, ``url:...``; see ``mpharness.sharing.board_pool``) in
the lock directory (``$MPHARNESS_LOCK_DIR``, else a per-user default; which directories are
accepted, the sharing model and how files in it are opened without following links are in
``mpharness.sharing.lock_dir``). The kernel drops a
flock when the last descriptor of the open file goes away, so a holder that crashes or is
SIGKILLed never leaves a blocking lock behind. Lock files are never deleted (deleting one
races with a process about to lock it).
After locking, the holder writes a JSON *holder record* (pid, host, since, purpose) next to
the lock file, atomically (a new randomly named file + rename), and removes it when it
releases. The record is only ever read to explain a busy board, and only its known fields, as
short printable text (whoever may write in the directory may forge one); a record left by a
dead holder is simply overwritten by the next one.

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

import hashlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mpharness.deadline import Deadline
from mpharness.errors import BoardBusy, LeaseError
from mpharness.secret import redact_url
from mpharness.sharing.flock import Race, try_lock, unlock
from mpharness.sharing.lock_dir import LOCK_DIR_ENV, LockDir, file_stem, lock_dir_path

__all__ = [
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

#: Environment variable with the default lease wait in seconds (``inf``: wait for ever).
WAIT_ENV = "MPHARNESS_LEASE_WAIT_S"
#: Longest host or purpose text shown from a holder record (records may be forged).
_MAX_SHOWN = 80


def lock_dir() -> str:
    """The lock directory's path (``$MPHARNESS_LOCK_DIR``, else the per-user default; see
    :mod:`mpharness.sharing.lock_dir`)."""
    return lock_dir_path()


def _lock_name(key: str) -> str:
    return file_stem(key) + ".lock"


def _holder_name(key: str) -> str:
    return file_stem(key) + ".holder.json"


def _want_name(key: str) -> str:
    # short: AF_UNIX paths are limited to ~100 bytes
    return hashlib.sha256(file_stem(key).encode()).hexdigest()[:12] + ".want"


def _shown_key(key: str) -> str:
    """The key as it may be written down: URLs without credentials."""
    return "url:" + redact_url(key[len("url:") :]) if key.startswith("url:") else key


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


def _read_holder(directory: LockDir, key: str) -> dict[str, Any]:
    raw = directory.read_small(_holder_name(key))
    if raw is None:
        return {}
    try:
        record = json.loads(raw.decode("utf-8"))
    except ValueError:
        return {}
    return _clean_record(record) if isinstance(record, dict) else {}


def _clean_record(record: dict[str, Any]) -> dict[str, Any]:
    """The fields of a holder record we show, of the right types, as printable short text
    (anyone who may write in the lock directory may forge a record)."""
    clean: dict[str, Any] = {}
    pid = record.get("pid")
    if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
        clean["pid"] = pid
    since = record.get("since")
    if isinstance(since, (int, float)) and not isinstance(since, bool) and 0 < since < 1e11:
        clean["since"] = float(since)
    for field in ("key", "host", "purpose"):
        value = record.get(field)
        if isinstance(value, str):
            clean[field] = "".join(c if c.isprintable() else "?" for c in value)[:_MAX_SHOWN]
    return clean


def read_holder(key: str) -> dict[str, Any]:
    """The holder record of a lease key ({} when there is none or it is unreadable)."""
    try:
        with LockDir.open() as directory:
            return _read_holder(directory, key)
    except LeaseError:
        return {}


class Lease:
    """A held lease on one board key; release it with :meth:`release` or a ``with`` block.

    Attributes:
        key: the lease key.
        purpose: what the holder said it is for (e.g. ``pytest``).
        since: when it was acquired (``time.time()``).
    """

    def __init__(self, key: str, fd: int, purpose: str, directory: LockDir) -> None:
        self.key = key
        self.purpose = purpose or _program_name()
        self.since = time.time()
        self._fd: int | None = fd
        self._dir = directory  # this lease's own descriptor of the lock directory
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._write_record()

    @property
    def held(self) -> bool:
        """Whether the lease is still held."""
        return self._fd is not None

    def _write_record(self) -> None:
        record = {
            "key": _shown_key(self.key),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": self.since,
            "purpose": self.purpose,
        }
        name = _holder_name(self.key)
        try:
            self._dir.replace(name, json.dumps(record).encode("utf-8"))
        except OSError as err:  # the record only explains; the flock is what counts
            log.warning("cannot write the lease record %s: %s", self._dir.where(name), err)

    def listen(self, on_want: Callable[[bytes], None]) -> bool:
        """Call ``on_want(token)`` (from a helper thread) whenever someone waits for this key.

        Returns:
            False if the want socket could not be made (the lease works all the same).
        """
        name = _want_name(self.key)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._dir.remove(name)  # left by an earlier holder; only the holder binds
            sock.bind(self._dir.where(name))
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
            name = _want_name(self.key)
            self._dir.send_datagram(name, b"")  # wakes the listening thread
            self._dir.remove(name)
            listener.close()
        self._dir.remove(_holder_name(self.key))
        try:
            unlock(fd)
        finally:
            self._dir.close()
        log.debug("released lease %s", self.key)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self.held else "released"
        return f"<Lease {_shown_key(self.key)!r} {state} ({self.purpose or 'no purpose'})>"


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


def _new_lease(
    key: str, fd: int, purpose: str, handover: Handover | None, directory: LockDir
) -> Lease:
    lease = Lease(key, fd, purpose, directory)
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
        LeaseError: the lock directory or a lock file is unsafe or blocked by another user.
    """
    if not keys:
        raise ValueError("no lease keys given")
    deadline = Deadline.after(wait_s)
    directory = LockDir.open()
    try:
        return _acquire_in(directory, keys, deadline, wait_s, purpose, what, handover)
    except BaseException:
        directory.close()
        raise


def _acquire_in(
    directory: LockDir,
    keys: Sequence[str],
    deadline: Deadline,
    wait_s: float | None,
    purpose: str,
    what: str,
    handover: Handover | None,
) -> Lease:
    """:func:`acquire_first` in an open lock directory (which the lease takes over)."""
    fds: list[tuple[str, int]] = []
    free: tuple[str, int] | None = None
    try:
        for key in keys:
            fd = directory.open_lock(_lock_name(key))
            if try_lock(fd):
                free = (key, fd)
                break
            fds.append((key, fd))
    finally:
        if free is not None or sys.exc_info()[0] is not None:
            for _, other in fds:
                os.close(other)
    if free is not None:
        return _new_lease(free[0], free[1], purpose, handover, directory)
    winner = None
    if wait_s is None or wait_s > 0:
        race = Race()
        for key, fd in fds:
            race.start(key, fd)
            if handover is not None:
                directory.send_datagram(_want_name(key), handover.token)
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
        raise _busy(directory, keys, wait_s, what)
    return _new_lease(winner[0], winner[1], purpose, handover, directory)


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


def _busy(directory: LockDir, keys: Sequence[str], wait_s: float | None, what: str) -> BoardBusy:
    waited = f" after waiting {wait_s:.3g} s" if wait_s else ""
    if len(keys) == 1:
        name = what or _shown_key(keys[0]).split(":", 1)[-1]
        record = _read_holder(directory, keys[0])
        return BoardBusy(
            f"board {name!r} is busy: {describe_holder(record)}{waited}",
            key=_shown_key(keys[0]),
            holder=record,
        )
    held = "; ".join(
        f"{_shown_key(k).split(':', 1)[-1]}: {describe_holder(_read_holder(directory, k))}"
        for k in keys
    )
    return BoardBusy(
        f"all boards of the {what or 'pool'} are busy{waited} ({held})", key=_shown_key(keys[0])
    )
