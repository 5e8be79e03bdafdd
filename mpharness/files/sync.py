"""Hash-based sync of a host directory (or a rig's resources) to a board.

Theory of operation
-------------------
:func:`plan_sync` asks the board for every file below the target directory with its size and
SHA-256 in **one** round trip (:meth:`BoardFS.hash_tree`), hashes the host files, and sorts
them into upload / delete / unchanged. It changes nothing, so a dry run is the plan printed
(:func:`format_plan`, IoT Kernel's ``%rdiff``). On firmware without ``hashlib`` (micro:bit)
files of equal size are read back and compared. :func:`apply_sync` creates missing
directories, uploads (each write is itself checked on the board), verifies every uploaded
file against a second ``hash_tree`` (sizes and read-back where there are no hashes), and
deletes extras only when the plan was made with ``delete=True``. :func:`sync_resources` does
the same for a rig entry's ``resources`` with IoT Kernel's rules (:func:`plan_resources`).
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mpharness.files.board_fs import BoardFS, norm_path

if TYPE_CHECKING:
    from mpharness.rigs.boardspec import BoardSpec, Resource


class Board(Protocol):
    """What sync needs of a board: its filesystem (:class:`mpharness.Board` has one)."""

    @property
    def fs(self) -> BoardFS:
        """The board's filesystem."""
        ...


Progress = Callable[[int, int], None]

#: files never copied unless include patterns say otherwise (caches, hidden files)
DEFAULT_EXCLUDE = ("__pycache__", "*.pyc", ".*")


@dataclass(frozen=True)
class SyncItem:
    """One file of a plan: host path (None for board-only files), board path, size in bytes."""

    local: str | None
    remote: str
    size: int


@dataclass(frozen=True)
class SyncPlan:
    """What a sync would do. Build it with :func:`plan_sync` or :func:`plan_resource_sync`."""

    remote_dir: str
    to_upload: tuple[SyncItem, ...]
    to_delete: tuple[SyncItem, ...]
    unchanged: tuple[SyncItem, ...]

    @property
    def upload_bytes(self) -> int:
        """Bytes the uploads move."""
        return sum(item.size for item in self.to_upload)


@dataclass(frozen=True)
class SyncResult:
    """What :func:`apply_sync` did: files uploaded, uploads verified on the board, deletions."""

    uploaded: int
    verified: int
    deleted: int
    bytes_uploaded: int

    def summary(self, seconds: float) -> str:
        """``3 uploaded, 3 verified, 0 deleted in 0.12 s``."""
        return (
            f"{self.uploaded} uploaded, {self.verified} verified, {self.deleted} deleted "
            f"in {seconds:.2f} s"
        )


def wanted(rel: str, include: Iterable[str] = (), exclude: Iterable[str] = DEFAULT_EXCLUDE) -> bool:
    """Whether a relative path passes the globs (exclude: any part; include: the file name)."""
    parts = rel.split("/")
    if any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in exclude):
        return False
    include = tuple(include)
    return not include or any(fnmatch.fnmatch(parts[-1], p) for p in include)


def local_files(
    local_dir: str, remote_dir: str, include: Iterable[str] = (), exclude: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """(host file, board path) for every wanted file below ``local_dir``, sorted."""
    if not os.path.isdir(local_dir):
        raise FileNotFoundError(errno.ENOENT, "no such host directory", local_dir)
    include, exclude = tuple(include), tuple(exclude) or DEFAULT_EXCLUDE
    pairs = []
    for folder, dirs, names in os.walk(local_dir):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
            if wanted(rel, include, exclude):
                pairs.append((full, norm_path(posixpath.join(remote_dir, rel))))
    return pairs


def _sha256_file(path: str) -> tuple[int, str]:
    with open(path, "rb") as handle:
        data = handle.read()
    return len(data), hashlib.sha256(data).hexdigest()


def _board_tree(board: Board, root: str) -> dict[str, tuple[int, str | None]]:
    try:
        return board.fs.hash_tree(root)
    except (FileNotFoundError, NotADirectoryError):
        return {}


def plan_files(
    board: Board, pairs: list[tuple[str, str]], remote_dir: str, *, delete: bool = False
) -> SyncPlan:
    """Plan copying (host file, board path) pairs, all below ``remote_dir`` on the board."""
    remote_dir = norm_path(remote_dir)
    tree = _board_tree(board, remote_dir)
    upload: list[SyncItem] = []
    same: list[SyncItem] = []
    for local, remote in pairs:
        size, digest = _sha256_file(local)
        item = SyncItem(local, remote, size)
        have = tree.get(remote)
        if have is None or have[0] != size:
            upload.append(item)
        elif have[1] is not None:
            (same if have[1] == digest else upload).append(item)
        else:  # no hashlib on the board: compare the contents
            with open(local, "rb") as handle:
                equal = board.fs.read_bytes(remote) == handle.read()
            (same if equal else upload).append(item)
    targets = {remote for _, remote in pairs}
    extra = [SyncItem(None, p, s) for p, (s, _) in sorted(tree.items()) if p not in targets]
    return SyncPlan(remote_dir, tuple(upload), tuple(extra) if delete else (), tuple(same))


def plan_sync(
    board: Board,
    local_dir: str,
    remote_dir: str = "/",
    *,
    delete: bool = False,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> SyncPlan:
    """Compare a host directory with a board directory; changes nothing.

    Args:
        board: an open board.
        local_dir: host directory whose files should be on the board.
        remote_dir: board directory they go to.
        delete: also plan deleting board files that are not on the host.
        include: globs of file names to copy (empty: all).
        exclude: globs of path parts to skip (empty: caches and hidden files).
    """
    pairs = local_files(local_dir, remote_dir, include, exclude)
    return plan_files(board, pairs, remote_dir, delete=delete)


def apply_sync(board: Board, plan: SyncPlan, *, progress: Progress | None = None) -> SyncResult:
    """Carry out a plan: make directories, upload, verify every upload, delete extras.

    Returns:
        The counts of what was done (every upload verified, or an error raised).

    Raises:
        OSError: a board operation failed, or an uploaded file does not match its source.
    """
    fs = board.fs
    flat = fs.caps().flat
    made: set[str] = set()
    for item in plan.to_upload:
        folder = posixpath.dirname(item.remote)
        if not flat and folder not in made and folder != "/":
            fs.mkdir(folder, parents=True, exist_ok=True)
            made.add(folder)
    files = []
    for item in plan.to_upload:
        assert item.local is not None
        with open(item.local, "rb") as handle:
            files.append((item.remote, handle.read()))
    fs.write_files(files, progress=progress)
    verified = _verify(board, plan)
    for item in plan.to_delete:
        fs.remove(item.remote)
    return SyncResult(len(plan.to_upload), verified, len(plan.to_delete), plan.upload_bytes)


def _verify(board: Board, plan: SyncPlan) -> int:
    """Every uploaded file is on the board with the source's size and hash; their number."""
    if not plan.to_upload:
        return 0
    tree = _board_tree(board, plan.remote_dir)
    for item in plan.to_upload:
        assert item.local is not None
        size, digest = _sha256_file(item.local)
        have = tree.get(item.remote)
        if have is None or have[0] != size or have[1] not in (None, digest):
            raise OSError(errno.EIO, "uploaded file differs from its source", item.remote)
    return len(plan.to_upload)


def format_plan(plan: SyncPlan) -> str:
    """The plan as text, one line per change (IoT Kernel's ``%rdiff``)."""
    lines = [f"upload  {item.remote} ({item.size} B)" for item in plan.to_upload]
    lines += [f"delete  {item.remote} ({item.size} B)" for item in plan.to_delete]
    lines.append(
        f"{len(plan.to_upload)} to upload ({plan.upload_bytes} B), "
        f"{len(plan.to_delete)} to delete, {len(plan.unchanged)} unchanged"
    )
    return "\n".join(lines) + "\n"


def format_done(plan: SyncPlan) -> str:
    """What a carried-out plan did, one line per change (past tense, unlike the plan)."""
    lines = [f"uploaded {item.remote} ({item.size} B)" for item in plan.to_upload]
    lines += [f"deleted  {item.remote}" for item in plan.to_delete]
    if plan.unchanged:
        lines.append(f"{len(plan.unchanged)} unchanged")
    return "".join(line + "\n" for line in lines)


# ---------------------------------------------------------------------- rig resources
def _host_path(resource: Resource, spec: BoardSpec) -> str:
    """Where a resource is on the host; relative directories are taken from the rig file's."""
    base = spec.base_dir or os.getcwd()
    if resource.lib:
        return os.path.join(base, os.path.expanduser(resource.lib), resource.path)
    for lib in spec.libs:
        candidate = os.path.join(base, os.path.expanduser(lib), resource.path)
        if os.path.exists(candidate):
            return candidate
    return os.path.join(base, resource.path)


def plan_resources(spec: BoardSpec) -> list[tuple[str, str]]:
    """(host file, board path) for every file the spec's ``resources`` name (IoT Kernel rules:
    looked up in the resource's ``lib``, the board's ``libs``, then next to the rig file; put
    in its ``install_dir``, the board's, else ``/``; a directory is unpacked unless it is a
    package (has ``__init__.py``), unless ``unpack`` says otherwise; globs filter).

    Raises:
        FileNotFoundError: a resource does not exist on the host.
    """
    plan: list[tuple[str, str]] = []
    for resource in spec.resources:
        host = _host_path(resource, spec)
        target = resource.install_dir or spec.install_dir or "/"
        include = resource.include_patterns or spec.include_patterns
        exclude = resource.exclude_patterns or spec.exclude_patterns or DEFAULT_EXCLUDE
        if os.path.isfile(host):
            plan.append((host, norm_path(posixpath.join(target, os.path.basename(host)))))
            continue
        if not os.path.isdir(host):
            raise FileNotFoundError(f"rig resource {resource.path!r} not found at {host}")
        unpack = resource.unpack if resource.unpack is not None else spec.unpack
        if unpack is None:
            unpack = not os.path.exists(os.path.join(host, "__init__.py"))
        root = target if unpack else posixpath.join(target, os.path.basename(host.rstrip("/")))
        plan += local_files(host, root, include, exclude)
    return plan


def plan_resource_sync(board: Board, spec: BoardSpec) -> SyncPlan:
    """Plan copying a rig entry's resources (never deletes)."""
    pairs = plan_resources(spec)
    roots = {posixpath.dirname(remote) for _, remote in pairs} or {"/"}
    return plan_files(board, pairs, posixpath.commonpath(sorted(roots)))


def sync_resources(board: Board, spec: BoardSpec, *, progress: Progress | None = None) -> list[str]:
    """Copy the spec's resources to the board, skipping unchanged files.

    Returns:
        One line per file: ``copied HOST -> BOARD (N bytes)`` or ``unchanged BOARD``.
    """
    plan = plan_resource_sync(board, spec)
    apply_sync(board, plan, progress=progress)
    lines = [f"copied {i.local} -> {i.remote} ({i.size} bytes)" for i in plan.to_upload]
    return lines + [f"unchanged {item.remote}" for item in plan.unchanged]
