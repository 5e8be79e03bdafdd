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
deletes extras only when the plan was made with ``delete=True``. Temporary files of
interrupted writes (``NAME.mph~``, :data:`~mpharness.files.transfers.TMP_SUFFIX`) are never
user files: host ones are not uploaded, board ones below the target are not compared or
listed as extras but planned as ``stale`` and removed by every :func:`apply_sync`.
:func:`sync_resources` does the same for a rig entry's ``resources`` with IoT Kernel's rules
(:func:`plan_resources`: ``$IOT_LIBS``, ``$IOT_SECRETS``, ``/lib`` by default);
:func:`format_changes` words a plan as IoT Kernel's ``%rdiff`` does.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mpharness.files.board_fs import BoardFS, norm_path
from mpharness.files.transfers import TMP_SUFFIX

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
    """What a sync would do. Build it with :func:`plan_sync` or :func:`plan_resource_sync`.

    ``replaced`` names the uploads that overwrite a different file already on the board;
    ``stale`` the temporary files interrupted writes left below ``remote_dir`` (removed by
    :func:`apply_sync` whether or not the plan deletes extras).
    """

    remote_dir: str
    to_upload: tuple[SyncItem, ...]
    to_delete: tuple[SyncItem, ...]
    unchanged: tuple[SyncItem, ...]
    replaced: frozenset[str] = frozenset()
    stale: tuple[str, ...] = ()

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
    """Whether a relative path passes the globs (exclude: any part; include: the file name).
    A write's temporary file (``*.mph~``) never does."""
    if rel.endswith(TMP_SUFFIX):
        return False
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
    board: Board,
    pairs: list[tuple[str, str]],
    remote_dir: str,
    *,
    delete: bool = False,
    delete_below: Iterable[str] | None = None,
) -> SyncPlan:
    """Plan copying (host file, board path) pairs, all below ``remote_dir`` on the board.

    With ``delete``, board files that are not targets are planned for deletion: all of them
    below ``remote_dir``, or only those below one of ``delete_below`` when it is given.
    """
    remote_dir = norm_path(remote_dir)
    tree = _board_tree(board, remote_dir)
    stale = tuple(sorted(p for p in tree if p.endswith(TMP_SUFFIX)))
    for path in stale:
        del tree[path]
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
    roots = None if delete_below is None else [r.rstrip("/") + "/" for r in delete_below]
    extra = [
        SyncItem(None, p, s)
        for p, (s, _) in sorted(tree.items())
        if p not in targets and (roots is None or p.startswith(tuple(roots)))
    ]
    replaced = frozenset(item.remote for item in upload if item.remote in tree)
    return SyncPlan(
        remote_dir, tuple(upload), tuple(extra) if delete else (), tuple(same), replaced, stale
    )


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
    """Carry out a plan: remove stale temporary files, make directories, upload, verify every
    upload, delete extras.

    Returns:
        The counts of what was done (every upload verified, or an error raised).

    Raises:
        OSError: a board operation failed, or an uploaded file does not match its source.
    """
    fs = board.fs
    for path in plan.stale:  # first: they may hold space the uploads need
        with contextlib.suppress(FileNotFoundError):
            fs.remove(path)
    files = []
    for item in plan.to_upload:
        assert item.local is not None
        with open(item.local, "rb") as handle:
            files.append((item.remote, handle.read()))
    fs.write_files(files, parents=True, progress=progress)
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
    lines += [f"remove  {path} (temporary file of an interrupted write)" for path in plan.stale]
    lines.append(
        f"{len(plan.to_upload)} to upload ({plan.upload_bytes} B), "
        f"{len(plan.to_delete)} to delete, {len(plan.unchanged)} unchanged"
    )
    return "\n".join(lines) + "\n"


def format_done(plan: SyncPlan) -> str:
    """What a carried-out plan did, one line per change (past tense, unlike the plan)."""
    lines = [f"uploaded {item.remote} ({item.size} B)" for item in plan.to_upload]
    lines += [f"deleted  {item.remote}" for item in plan.to_delete]
    lines += [f"removed  {path} (temporary file of an interrupted write)" for path in plan.stale]
    if plan.unchanged:
        lines.append(f"{len(plan.unchanged)} unchanged")
    return "".join(line + "\n" for line in lines)


# ---------------------------------------------------------------------- rig resources
#: Board directory resources go to when neither the entry nor the board names one (IoT Kernel).
DEFAULT_INSTALL_DIR = "/lib"
#: IoT Kernel's environment: host folders of MicroPython libraries, and where secrets.py is.
IOT_LIBS_ENV = "IOT_LIBS"
IOT_SECRETS_ENV = "IOT_SECRETS"
SECRETS_NAME = "secrets.py"


def _iot49(environ: Mapping[str, str]) -> str:
    return environ.get("IOT49") or os.path.join(environ.get("IOT") or "~", "iot49")


def _path_list(value: str, environ: Mapping[str, str]) -> list[str]:
    """An IoT Kernel path list (``os.pathsep``-separated), ``~`` and ``$VAR`` expanded,
    relative entries taken from the current directory."""
    found = []
    for entry in value.split(os.pathsep):
        entry = entry.strip()
        if entry:
            expanded = os.path.expanduser(_expand(entry, environ))
            found.append(os.path.abspath(expanded))
    return found


_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _expand(text: str, environ: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced from ``environ`` (unknown names stay as written)."""
    return _VAR.sub(lambda m: environ.get(m.group(1) or m.group(2), m.group(0)), text)


def iot_libs(environ: Mapping[str, str] | None = None) -> list[str]:
    """Host folders along ``$IOT_LIBS`` (default ``./lib``, ``.``, ``$IOT49/lib``)."""
    env = os.environ if environ is None else environ
    default = os.pathsep.join(["lib", ".", os.path.join(_iot49(env), "lib")])
    return _path_list(env.get(IOT_LIBS_ENV) or default, env)


def iot_secrets(environ: Mapping[str, str] | None = None) -> str | None:
    """The first ``secrets.py`` along ``$IOT_SECRETS`` (default ``./lib/secrets.py``,
    ``./secrets.py``, ``$IOT49/libs/secrets.py``), None if there is none."""
    env = os.environ if environ is None else environ
    default = os.pathsep.join(
        ["lib/secrets.py", "secrets.py", os.path.join(_iot49(env), "libs", "secrets.py")]
    )
    for path in _path_list(env.get(IOT_SECRETS_ENV) or default, env):
        if os.path.isfile(path):
            return path
    return None


def _host_path(resource: Resource, spec: BoardSpec, environ: Mapping[str, str]) -> str:
    """Where a resource is on the host: the entry's ``lib``; for ``secrets.py`` the file
    ``$IOT_SECRETS`` names; else the board's ``libs``, the folders of ``$IOT_LIBS``, and the
    rig file's directory, first found. Relative ``lib``/``libs`` are taken from the rig file's
    directory."""
    base = spec.base_dir or os.getcwd()
    if resource.lib:
        return os.path.join(base, os.path.expanduser(resource.lib), resource.path)
    if resource.path == SECRETS_NAME:
        secrets = iot_secrets(environ)
        if secrets is not None:
            return secrets
    folders = [os.path.join(base, os.path.expanduser(lib)) for lib in spec.libs]
    for folder in [*folders, *iot_libs(environ), base]:
        candidate = os.path.join(folder, resource.path)
        if os.path.exists(candidate):
            return candidate
    return os.path.join(base, resource.path)


def _install_dir(resource: Resource, spec: BoardSpec) -> str:
    return norm_path(resource.install_dir or spec.install_dir or DEFAULT_INSTALL_DIR)


def plan_resources(
    spec: BoardSpec, environ: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(host file, board path) for every file the spec's ``resources`` name (IoT Kernel rules:
    found as :func:`_host_path` says; put in the entry's ``install_dir``, the board's, else
    ``/lib``; a directory is unpacked unless it is a package (has ``__init__.py``), unless
    ``unpack`` says otherwise; globs filter).

    Raises:
        FileNotFoundError: a resource does not exist on the host (the message names where it
            was looked for).
    """
    env = os.environ if environ is None else environ
    plan: list[tuple[str, str]] = []
    for resource in spec.resources:
        host = _host_path(resource, spec, env)
        target = _install_dir(resource, spec)
        include = resource.include_patterns or spec.include_patterns
        exclude = resource.exclude_patterns or spec.exclude_patterns or DEFAULT_EXCLUDE
        if os.path.isfile(host):
            plan.append((host, norm_path(posixpath.join(target, os.path.basename(host)))))
            continue
        if not os.path.isdir(host):
            raise FileNotFoundError(
                f"rig resource {resource.path!r} of board {spec.name!r} not found (looked in "
                f"the board's libs, ${IOT_LIBS_ENV} and {spec.base_dir or os.getcwd()})"
            )
        unpack = resource.unpack if resource.unpack is not None else spec.unpack
        if unpack is None:
            unpack = not os.path.exists(os.path.join(host, "__init__.py"))
        root = target if unpack else posixpath.join(target, os.path.basename(host.rstrip("/")))
        plan += local_files(host, root, include, exclude)
    return plan


def plan_resource_sync(
    board: Board,
    spec: BoardSpec,
    *,
    delete: bool = False,
    environ: Mapping[str, str] | None = None,
) -> SyncPlan:
    """Plan copying a rig entry's resources. With ``delete`` (IoT Kernel's ``%rsync``
    without ``-u``), board files below the resources' install directories that are not
    resources are deleted too; the root directory is never swept (``boot.py`` lives there).
    """
    pairs = plan_resources(spec, environ)
    roots = {posixpath.dirname(remote) for _, remote in pairs} or {DEFAULT_INSTALL_DIR}
    sweep = {_install_dir(r, spec) for r in spec.resources} - {"/"}
    remote_dir = posixpath.commonpath(sorted(roots | sweep))
    return plan_files(board, pairs, remote_dir, delete=delete, delete_below=sweep)


def format_changes(plan: SyncPlan) -> str:
    """The plan in IoT Kernel's words: ``ADD``/``UPDATE``/``DELETE`` lines, or
    ``Directories match``."""
    lines = []
    for item in plan.to_upload:
        lines.append(f"{'UPDATE' if item.remote in plan.replaced else 'ADD'} {item.remote}")
    lines += [f"DELETE {item.remote}" for item in plan.to_delete]
    return "\n".join(lines or ["Directories match"]) + "\n"


def sync_resources(board: Board, spec: BoardSpec, *, progress: Progress | None = None) -> list[str]:
    """Copy the spec's resources to the board, skipping unchanged files (never deletes).

    Returns:
        One line per file: ``copied HOST -> BOARD (N bytes)`` or ``unchanged BOARD``.
    """
    plan = plan_resource_sync(board, spec)
    apply_sync(board, plan, progress=progress)
    lines = [f"copied {i.local} -> {i.remote} ({i.size} bytes)" for i in plan.to_upload]
    return lines + [f"unchanged {item.remote}" for item in plan.unchanged]
