"""Copying a rig entry's ``resources`` to the board before the first test (``--board-sync``).

Theory of operation: :func:`plan_resources` is pure: it turns the spec's resources into
(host file, board path) pairs with IoT Kernel's rules (a resource is looked up in its ``lib``,
else in the board's ``libs``, else next to the rig file; it goes into its ``install_dir``, else
the board's, else ``/``; a directory is unpacked unless it is a package, i.e. has
``__init__.py``, unless ``unpack`` says otherwise; include/exclude globs filter the files).
:func:`sync_resources` writes them through the engine's ``board.fs`` API. When the engine
grows a hash-based sync, this module should call it instead of rewriting every file.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import posixpath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mpharness import Board
    from mpharness.boardspec import BoardSpec, Resource

DEFAULT_EXCLUDE = ("__pycache__", "*.pyc", ".*")


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


def _wanted(rel: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    parts = rel.split("/")
    if any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in exclude):
        return False
    return not include or any(fnmatch.fnmatch(parts[-1], p) for p in include)


def plan_resources(spec: BoardSpec) -> list[tuple[str, str]]:
    """(host file, board path) for every file the spec's resources name.

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
            plan.append((host, posixpath.join(target, os.path.basename(host))))
            continue
        if not os.path.isdir(host):
            raise FileNotFoundError(f"rig resource {resource.path!r} not found at {host}")
        unpack = resource.unpack if resource.unpack is not None else spec.unpack
        if unpack is None:
            unpack = not os.path.exists(os.path.join(host, "__init__.py"))
        root = target if unpack else posixpath.join(target, os.path.basename(host.rstrip("/")))
        for folder, dirs, files in os.walk(host):
            dirs.sort()
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(folder, name), host).replace(os.sep, "/")
                if _wanted(rel, include, exclude):
                    plan.append((os.path.join(folder, name), posixpath.join(root, rel)))
    return plan


def sync_resources(board: Board, spec: BoardSpec) -> list[str]:
    """Copy the spec's resources to the board; returns one log line per file.

    Raises:
        OSError: a host file is missing or a board filesystem operation failed.
    """
    lines: list[str] = []
    made: set[str] = set()
    for host, target in plan_resources(spec):
        folder = posixpath.dirname(target)
        _make_dirs(board, folder, made)
        with open(host, "rb") as handle:
            data = handle.read()
        board.fs.write_bytes(target, data)
        lines.append(f"copied {host} -> {target} ({len(data)} bytes)")
    return lines


def _make_dirs(board: Board, folder: str, made: set[str]) -> None:
    path = ""
    for part in [p for p in folder.split("/") if p]:
        path += "/" + part
        if path in made:
            continue
        with contextlib.suppress(FileExistsError):
            board.fs.mkdir(path)
        made.add(path)
