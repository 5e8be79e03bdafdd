"""The lock directory: which one, whether it is safe, and opening files in it safely.

Theory of operation
-------------------
Sharing model. A serial port is locked on the device itself: local ports are opened with
pyserial's ``exclusive=True`` (an ``flock`` on the open tty descriptor), which every user of the
host sees and which needs no shared directory. Leases (:mod:`mpharness.sharing.leases`) add
waiting, holder records and pools on top; they live in a *lock directory*:

* ``$MPHARNESS_LOCK_DIR`` when set: a directory an administrator made for the users who share
  the rig's boards (owned by root, group-owned by their group and setgid, e.g.
  ``install -d -o root -g lab -m 2775 /var/lib/mpharness-locks``; or sticky like ``/tmp``),
  or any directory of the user's own;
* otherwise a per-user directory, ``$XDG_RUNTIME_DIR/mpharness-locks`` or
  ``/tmp/mpharness-locks-UID``, created mode 0700. Sessions of one user exclude each other;
  other users only through the serial port's own lock.

Checks. The directory is opened with ``O_DIRECTORY | O_NOFOLLOW`` (never through a symbolic
link) and kept open; every file in it is opened relative to that descriptor, so renaming
directories afterwards cannot redirect us. It must be owned by root or by the current user and
must not be writable by everyone unless it is sticky; its ancestors must satisfy the same rule.
Files in it are opened with ``O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK`` and must be
regular files with a single link (``fstat`` after opening, so there is no window between check
and use); a file is created with ``O_EXCL`` and only a file this process created is ever
``fchmod``-ed. A check that fails raises :class:`~mpharness.errors.LeaseError`: one line naming
the path, its owner, what is wrong and what to do.

Names. A lease key becomes a file name made of a readable part and a hash; URLs in keys never
carry credentials (:func:`~mpharness.secret.redact_url` is applied again here).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import socket
import stat

from mpharness.errors import LeaseError
from mpharness.secret import redact_url

__all__ = [
    "DEFAULT_LOCK_DIR_NAME",
    "LOCK_DIR_ENV",
    "LockDir",
    "default_lock_dir",
    "file_stem",
    "lock_dir_path",
    "owner_name",
]

#: Environment variable naming the lock directory.
LOCK_DIR_ENV = "MPHARNESS_LOCK_DIR"
#: Name of the per-user default directory (under ``$XDG_RUNTIME_DIR``, else ``/tmp`` + uid).
DEFAULT_LOCK_DIR_NAME = "mpharness-locks"
#: Largest holder record read (a record is ~150 bytes; a bigger file is not ours).
MAX_RECORD = 4096
_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")
_OPEN_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK


def _fix() -> str:
    """What to do instead, for the end of an error message."""
    if os.environ.get(LOCK_DIR_ENV):
        return f"set {LOCK_DIR_ENV} to a directory of yours (or unset it: a private default)"
    return f"set {LOCK_DIR_ENV} to a directory of yours"


def owner_name(uid: int) -> str:
    """``user NAME (uid N)``, or ``uid N`` when the name is unknown."""
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def default_lock_dir() -> str:
    """The per-user default: ``$XDG_RUNTIME_DIR/mpharness-locks``, else
    ``/tmp/mpharness-locks-UID``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        with contextlib.suppress(OSError):
            info = os.stat(runtime)
            if info.st_uid == os.getuid() and stat.S_ISDIR(info.st_mode):
                return os.path.join(runtime, DEFAULT_LOCK_DIR_NAME)
    return f"/tmp/{DEFAULT_LOCK_DIR_NAME}-{os.getuid()}"


def lock_dir_path() -> str:
    """The lock directory's path: ``$MPHARNESS_LOCK_DIR``, else :func:`default_lock_dir`."""
    return os.environ.get(LOCK_DIR_ENV) or default_lock_dir()


def file_stem(key: str) -> str:
    """The file name stem of a lease key: readable part + hash, never credentials."""
    if key.startswith("url:"):
        key = "url:" + redact_url(key[len("url:") :])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    readable = _SAFE_RE.sub("_", key).strip("_")[:48]
    return f"{readable}-{digest}"


def _trusted_owner(uid: int) -> bool:
    return uid in (0, os.getuid())


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a directory"


def _problem(info: os.stat_result) -> str | None:
    """What is unsafe about a directory we are about to trust, or None."""
    if not _trusted_owner(info.st_uid):
        return f"belongs to {owner_name(info.st_uid)}, not to you or root"
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        return (
            f"is writable by every user without the sticky bit "
            f"(mode {stat.S_IMODE(info.st_mode):04o}, owner {owner_name(info.st_uid)})"
        )
    return None


def _check_ancestors(path: str) -> None:
    for ancestor in _parents(os.path.realpath(os.path.dirname(path))):
        try:
            info = os.stat(ancestor)
        except OSError as err:
            raise LeaseError(
                f"lock directory {path}: cannot inspect {ancestor}: {err.strerror}; {_fix()}"
            ) from None
        problem = _problem(info)
        if problem is not None:
            raise LeaseError(
                f"lock directory {path} is unsafe: its parent {ancestor} {problem}, so that user "
                f"could swap it; {_fix()}"
            )


def _parents(path: str) -> list[str]:
    out = [path]
    while os.path.dirname(path) != path:
        path = os.path.dirname(path)
        out.append(path)
    return out


class LockDir:
    """The checked, open lock directory (a descriptor every file is opened relative to).

    Use :meth:`open`; close with :meth:`close` (or a ``with`` block).

    Attributes:
        path: the directory's path (for messages and socket addresses).
        shared_group: whether the directory is group-writable and setgid (an administrator's
            shared directory): lock files created in it are made group-writable too.
    """

    def __init__(self, path: str, fd: int, info: os.stat_result) -> None:
        self.path = path
        self.fd = fd
        self.shared_group = bool(info.st_mode & stat.S_IWGRP and info.st_mode & stat.S_ISGID)

    @classmethod
    def open(cls, path: str | None = None) -> LockDir:
        """Open and check the lock directory (creating the default one, mode 0700, if missing).

        Raises:
            LeaseError: the directory is unsafe or unusable; the message says whose it is, what
                is wrong and what to do.
        """
        path = os.path.abspath(path or lock_dir_path())
        _check_ancestors(path)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as err:
            raise LeaseError(
                f"cannot create the lock directory {path}: {err.strerror}; {_fix()}"
            ) from None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as err:
            raise cls._not_a_dir(path, err) from None
        info = os.fstat(fd)
        problem = _problem(info)
        if problem is not None:
            os.close(fd)
            hint = "remove it (someone else made it, maybe to attack your runs) or " + _fix()
            if "sticky" in problem:
                hint = f"make it sticky (chmod +t {path}) or " + _fix()
            raise LeaseError(f"lock directory {path} {problem}: {hint}")
        return cls(path, fd, info)

    @staticmethod
    def _not_a_dir(path: str, err: OSError) -> LeaseError:
        try:
            info = os.lstat(path)
        except OSError:
            return LeaseError(f"cannot open the lock directory {path}: {err.strerror}; {_fix()}")
        if stat.S_ISDIR(info.st_mode):
            return LeaseError(
                f"cannot open the lock directory {path} (owner {owner_name(info.st_uid)}, mode "
                f"{stat.S_IMODE(info.st_mode):04o}): {err.strerror}; {_fix()}"
            )
        return LeaseError(
            f"lock directory {path} is {_kind(info.st_mode)} owned by "
            f"{owner_name(info.st_uid)}, not a directory: remove it or {_fix()}"
        )

    def close(self) -> None:
        """Close the directory descriptor (idempotent)."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> LockDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def where(self, name: str) -> str:
        """The path of ``name`` in the directory (for messages and socket addresses)."""
        return os.path.join(self.path, name)

    # -- lock files -------------------------------------------------------------------------

    def open_lock(self, name: str) -> int:
        """A descriptor of the lock file ``name`` (created if missing), safe to ``flock``.

        Opened read-write when allowed, else read-only (``flock`` needs no write access).

        Raises:
            LeaseError: the file is a link, not a regular file, or cannot be opened at all.
        """
        for _ in range(8):  # the file may be removed or created between our tries
            for access in (os.O_RDWR, os.O_RDONLY):
                try:
                    fd = os.open(name, access | _OPEN_FLAGS, dir_fd=self.fd)
                except FileNotFoundError:
                    break
                except PermissionError:
                    continue
                except OSError as err:
                    raise self._bad_file(name, err) from None
                self._check_file(fd, name)
                return fd
            else:
                raise self._blocked(name)
            try:
                fd = os.open(
                    name, os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o600, dir_fd=self.fd
                )
            except FileExistsError:
                continue
            except OSError as err:
                raise self._cannot_create(name, err) from None
            os.fchmod(fd, 0o664 if self.shared_group else 0o644)  # ours: we just created it
            return fd
        raise LeaseError(f"lock file {self.where(name)} keeps appearing and vanishing")

    def _check_file(self, fd: int, name: str) -> None:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
            return
        os.close(fd)
        what = _kind(info.st_mode) if not stat.S_ISREG(info.st_mode) else "a hard link"
        raise LeaseError(
            f"lock file {self.where(name)} is {what} (owner {owner_name(info.st_uid)}), not a "
            f"lock file of ours: refusing to use it; remove it or {_fix()}"
        )

    def _bad_file(self, name: str, err: OSError) -> LeaseError:
        try:
            info = os.lstat(name, dir_fd=self.fd)
        except OSError:
            return LeaseError(f"cannot open the lock file {self.where(name)}: {err.strerror}")
        if err.errno == errno.ELOOP or stat.S_ISLNK(info.st_mode):
            return LeaseError(
                f"lock file {self.where(name)} is a symbolic link (owner "
                f"{owner_name(info.st_uid)}): refusing to follow it; remove it or {_fix()}"
            )
        return LeaseError(
            f"cannot open the lock file {self.where(name)} (owner {owner_name(info.st_uid)}): "
            f"{err.strerror}; remove it or {_fix()}"
        )

    def _blocked(self, name: str) -> LeaseError:
        try:
            info = os.lstat(name, dir_fd=self.fd)
            whose = f"belongs to {owner_name(info.st_uid)} (mode {stat.S_IMODE(info.st_mode):04o})"
        except OSError:
            whose = "cannot be read"
        return LeaseError(
            f"lock file {self.where(name)} {whose} and you may not open it: ask its owner or "
            f"root to remove it, or {_fix()}"
        )

    def _cannot_create(self, name: str, err: OSError) -> LeaseError:
        info = os.fstat(self.fd)
        return LeaseError(
            f"cannot create lock files in {self.path} (owner {owner_name(info.st_uid)}, mode "
            f"{stat.S_IMODE(info.st_mode):04o}): {err.strerror}; ask its owner to make it "
            f"writable for your group (chgrp GROUP, chmod 2775), or {_fix()}"
        )

    # -- holder records -----------------------------------------------------------------------

    def read_small(self, name: str) -> bytes | None:
        """The content of the regular file ``name`` (at most :data:`MAX_RECORD` bytes), or
        None if it is missing, not a regular file, or unreadable."""
        try:
            fd = os.open(name, os.O_RDONLY | _OPEN_FLAGS, dir_fd=self.fd)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return os.read(fd, MAX_RECORD)
        except OSError:
            return None
        finally:
            os.close(fd)

    def replace(self, name: str, data: bytes) -> None:
        """Write ``name`` atomically: a new file of ours (random name, ``O_EXCL``), renamed over.

        Raises:
            OSError: it could not be written (e.g. the old file belongs to another user in a
                sticky directory).
        """
        temp = f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(
            temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o600, dir_fd=self.fd
        )
        try:
            try:
                os.fchmod(fd, 0o644)  # ours: readable by whoever finds the board busy
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=self.fd)
            raise

    def remove(self, name: str) -> None:
        """Remove ``name`` if it is there and we may (never follows a link: unlink does not)."""
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=self.fd)

    # -- want sockets -------------------------------------------------------------------------

    def send_datagram(self, name: str, data: bytes) -> None:
        """Send ``data`` to the datagram socket ``name`` if it is one (never through a link).

        On Linux the socket is opened with ``O_PATH | O_NOFOLLOW`` and addressed through
        ``/proc/self/fd``, so the inode checked is the inode written to; elsewhere an
        ``lstat`` check comes first.
        """
        if not hasattr(os, "O_PATH"):
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.lstat(name, dir_fd=self.fd).st_mode):
                    _send(self.where(name), data)
            return
        try:
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
        except OSError:  # missing, or a link
            return
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                _send(f"/proc/self/fd/{fd}", data)  # the very inode checked
        finally:
            os.close(fd)


def _send(address: str, data: bytes) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.sendto(data, address)
