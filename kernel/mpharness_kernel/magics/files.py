"""File magics: list, show, copy, remove, make directories, compare and sync with the host.

Board paths in ``%cp`` start with ``:`` (as in mpremote): ``%cp main.py :main.py`` uploads,
``%cp :log.txt log.txt`` downloads. ``%rsync``/``%rdiff`` without a directory work on the
board's ``resources`` with IoT Kernel's rules (:mod:`mpharness.files.sync`). Cell bodies go to
board files with ``%sendtofile`` (jupyter_micropython_kernel's name, in ``jmk.py``);
``%%writefile`` is IPython's and writes a host file.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from mpharness_kernel.boardfiles import BoardFiles, diff_trees, join
from mpharness_kernel.magics import MagicContext, MagicParser, magic
from mpharness_kernel.output import CellError, UsageError


def _rlist_args(parser: MagicParser) -> None:
    parser.add_argument("path", nargs="?", default="", help="board directory (default: current)")
    parser.add_argument("-r", "--recursive", action="store_true", help="list subdirectories too")


@magic("rlist", "List files on the board with their sizes.", build=_rlist_args)
def _rlist(ctx: MagicContext, args: argparse.Namespace) -> None:
    files = BoardFiles(ctx.session)
    _list(ctx, files, args.path, "", args.recursive)


def _list(ctx: MagicContext, files: BoardFiles, path: str, indent: str, deep: bool) -> None:
    for entry in sorted(files.ls(path), key=lambda e: (not e.is_dir, e.name)):
        if entry.is_dir:
            ctx.print(f"{indent}{'':>9}  {entry.name}/")
            if deep:
                _list(ctx, files, join(path, entry.name), indent + "    ", deep)
        else:
            ctx.print(f"{indent}{entry.size:>9}  {entry.name}")


def _path_arg(parser: MagicParser) -> None:
    parser.add_argument("path", help="board file")


@magic("cat", "Print a board file (as UTF-8 text).", build=_path_arg)
def _cat(ctx: MagicContext, args: argparse.Namespace) -> None:
    text = BoardFiles(ctx.session).read(args.path).decode("utf-8", "replace")
    ctx.out.stream("stdout", ctx.session.scrub(text if text.endswith("\n") else text + "\n"))


def _cp_args(parser: MagicParser) -> None:
    parser.add_argument("source", help="file to copy (':path' for a board file)")
    parser.add_argument(
        "dest",
        help="destination (':path' for the board; ':' or a directory ending in '/' keeps the name)",
    )


@magic("cp", "Copy a file between host and board (board paths start with ':').", build=_cp_args)
def _cp(ctx: MagicContext, args: argparse.Namespace) -> None:
    src_board, dst_board = args.source.startswith(":"), args.dest.startswith(":")
    if not (src_board or dst_board):
        raise UsageError(
            "%cp: one side must be a board path starting with ':' (use %%bash for host copies)"
        )
    src = args.source[1:] if src_board else args.source
    dst = args.dest[1:] if dst_board else args.dest
    if dst in ("",) or dst.endswith("/"):
        dst += os.path.basename(src.rstrip("/"))
    files = BoardFiles(ctx.session)
    if src_board:
        data = files.read(src)
    else:
        try:
            with open(src, "rb") as handle:
                data = handle.read()
        except OSError as err:
            raise CellError(type(err).__name__, f"{src}: {err.strerror}") from None
    if dst_board:
        files.write(dst, data)
    else:
        with open(dst, "wb") as handle:
            handle.write(data)
    ctx.print(f"copied {len(data)} bytes {args.source} -> {':' if dst_board else ''}{dst}")


def _rm_args(parser: MagicParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="board files or directories")
    parser.add_argument(
        "-r", "--recursive", action="store_true", help="remove directories with their contents"
    )


@magic("rm", "Remove files (or, with -r, directory trees) on the board.", build=_rm_args)
def _rm(ctx: MagicContext, args: argparse.Namespace) -> None:
    files = BoardFiles(ctx.session)
    for path in args.paths:
        files.remove(path, recursive=args.recursive)


@magic("mkdirs", "Create a board directory and any missing parents.", build=_path_arg)
def _mkdirs(ctx: MagicContext, args: argparse.Namespace) -> None:
    BoardFiles(ctx.session).mkdirs(args.path)


def _tree_args(parser: MagicParser) -> None:
    parser.add_argument(
        "host_dir",
        nargs="?",
        help="host directory (default: the board's resources from its rig/device file)",
    )
    parser.add_argument(
        "board_dir",
        nargs="?",
        default="",
        help="board directory (default: the board's current directory)",
    )
    parser.add_argument(
        "-u",
        "--upload-only",
        action="store_true",
        help="resources: keep board files that are not on the host (default: delete them)",
    )


def _sync_args(parser: MagicParser) -> None:
    _tree_args(parser)
    parser.add_argument(
        "--delete", action="store_true", help="with HOST_DIR: remove board files not on the host"
    )
    parser.add_argument("-n", "--dry-run", action="store_true", help="only say what would change")


def _resource_plan(ctx: MagicContext, upload_only: bool) -> tuple[Any, Any]:
    """The current board and the plan that makes it hold its rig entry's resources."""
    from mpharness.files import sync

    board = ctx.session.board()
    spec = board.spec
    if spec is None or not spec.resources:
        raise UsageError(
            f"board {board.name!r} declares no resources (add `resources:` to its rig or device "
            "file), or name a HOST_DIR"
        )
    try:
        return board, ctx.session.call(
            lambda: sync.plan_resource_sync(board, spec, delete=not upload_only), board
        )
    except FileNotFoundError as err:
        raise CellError("FileNotFoundError", str(err)) from None


@magic(
    "rdiff",
    "Show how the board differs from its resources (IoT Kernel), or from HOST_DIR.",
    build=_tree_args,
)
def _rdiff(ctx: MagicContext, args: argparse.Namespace) -> None:
    if args.host_dir is None:
        from mpharness.files import sync

        ctx.out.stream("stdout", sync.format_changes(_resource_plan(ctx, args.upload_only)[1]))
        return
    diff = diff_trees(BoardFiles(ctx.session), args.host_dir, args.board_dir)
    for path in diff.only_host:
        ctx.print(f"+ {path}   (only on host)")
    for path in diff.only_board:
        ctx.print(f"- {path}   (only on board)")
    for path in diff.changed:
        ctx.print(f"M {path}")
    ctx.print(
        f"{len(diff.same)} same, {len(diff.changed)} changed, "
        f"{len(diff.only_host)} only on host, {len(diff.only_board)} only on board"
    )


@magic(
    "rsync",
    "Make the board hold its resources (IoT Kernel; -u keeps extra files), or mirror HOST_DIR.",
    build=_sync_args,
)
def _rsync(ctx: MagicContext, args: argparse.Namespace) -> None:
    if args.host_dir is None:
        _rsync_resources(ctx, args)
        return
    files = BoardFiles(ctx.session)
    diff = diff_trees(files, args.host_dir, args.board_dir)
    made: set[str] = set()
    for rel in diff.only_host + diff.changed:
        ctx.print(f"{'would write' if args.dry_run else 'write'} {rel}")
        if args.dry_run:
            continue
        parent = rel.rpartition("/")[0]
        if parent and parent not in made:
            files.mkdirs(join(args.board_dir, parent))
            made.add(parent)
        with open(os.path.join(args.host_dir, rel), "rb") as handle:
            files.write(join(args.board_dir, rel), handle.read())
    for rel in diff.only_board if args.delete else []:
        ctx.print(f"{'would remove' if args.dry_run else 'remove'} {rel}")
        if not args.dry_run:
            files.remove(join(args.board_dir, rel))
    ctx.print(f"{len(diff.same)} files already up to date")


def _rsync_resources(ctx: MagicContext, args: argparse.Namespace) -> None:
    from mpharness.files import sync

    board, plan = _resource_plan(ctx, args.upload_only)
    ctx.out.stream("stdout", sync.format_changes(plan))
    if args.dry_run:
        return
    try:
        ctx.session.call(lambda: sync.apply_sync(board, plan), board)
    except OSError as err:
        raise CellError(type(err).__name__, f"sync failed: {err}") from None
