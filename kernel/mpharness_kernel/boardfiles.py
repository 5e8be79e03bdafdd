"""Board files for the file magics, built only on ``Board.exec`` (small helpers in ``_device/``).

Theory of operation
-------------------
Reads print the file as ``bytes`` literals, one per chunk, parsed on the host with
``ast.literal_eval`` (no binascii needed: the micro:bit lacks it). Writes open the file into a
board global, send ``write(b'...')`` statements in execs of bounded size (small for boards
without raw-paste), and close it. Listings fall back to ``os.size`` and argument-less
``os.listdir`` on flat filesystems without ``os.stat``. Comparing a host tree with the board
uses sizes, then SHA-256 on the board when it has ``hashlib``, else the file contents.

Reads and whole-file writes of absolute paths go through the engine's ``board.fs`` (base64,
big execs, verified writes); relative paths keep the board's current directory through the
helpers here.
"""

from __future__ import annotations

import ast
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from mpharness import Board
from mpharness_kernel.devicecode import device_call
from mpharness_kernel.output import CellError
from mpharness_kernel.session import BoardSession

#: Bytes per read chunk on the board.
READ_CHUNK = 256
#: Source bytes per write exec: boards with raw-paste take big ones, others small ones.
WRITE_EXEC_BYTES = {True: 8192, False: 480}
FILE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Entry:
    """One directory entry on the board."""

    name: str
    is_dir: bool
    size: int


def join(directory: str, name: str) -> str:
    """A board path: ``name`` inside ``directory`` ("" or "." = the current directory)."""
    if directory in ("", "."):
        return name
    return directory.rstrip("/") + "/" + name


class BoardFiles:
    """File operations on one board of a session (errors become CellError)."""

    def __init__(self, session: BoardSession, board: Board | None = None) -> None:
        self.session = session
        self.board = board or session.board()

    def _literal(self, code: str) -> object:
        return self.session.literal(code, board=self.board, timeout=FILE_TIMEOUT)

    def ls(self, path: str) -> list[Entry]:
        """Entries of a board directory."""
        rows = self._literal(device_call("ls", "_mph_ls", path))
        assert isinstance(rows, list)
        return [Entry(str(n), bool(d), int(s)) for n, d, s in rows]

    def walk(self, path: str) -> dict[str, int]:
        """Every file below ``path``: path relative to it -> size."""
        found: dict[str, int] = {}
        for entry in self.ls(path):
            if entry.is_dir:
                below = self.walk(join(path, entry.name))
                found.update({f"{entry.name}/{rel}": size for rel, size in below.items()})
            else:
                found[entry.name] = entry.size
        return found

    def _via_fs(self, func: Callable[[], bytes | None], path: str) -> bytes | None:
        """Run a ``board.fs`` operation; errors become CellError."""
        try:
            return self.session.call(func, self.board)  # type: ignore[no-any-return]
        except OSError as err:
            raise CellError(type(err).__name__, f"{path}: {err.strerror or err}") from None

    def read(self, path: str) -> bytes:
        """The contents of a board file."""
        if path.startswith("/"):
            data = self._via_fs(lambda: self.board.fs.read_bytes(path), path)
            assert data is not None
            return data
        out = self.session.exec(
            device_call("readfile", "_mph_read", path, READ_CHUNK),
            board=self.board,
            timeout=FILE_TIMEOUT,
        )
        chunks = [ast.literal_eval(line) for line in out.split("\n") if line.strip()]
        return b"".join(chunks)

    def write(self, path: str, data: bytes, *, append: bool = False) -> None:
        """Create or replace (or append to) a board file.

        Appending reads the file and writes it whole again: old firmware (the micro:bit's)
        has no append mode, and the write is then verified like any other.
        """
        if append:
            try:
                data = self.read(path) + data
            except CellError as err:
                if err.ename not in ("FileNotFoundError", "OSError"):
                    raise
        if path.startswith("/"):
            self._via_fs(lambda: self.board.fs.write_bytes(path, data), path)
            return
        limit = WRITE_EXEC_BYTES[self.board.machine.paste_supported is not False]
        self.session.exec(f"_mph_f = open({path!r}, 'wb')", board=self.board)
        try:
            statements: list[str] = []
            size = 0
            step = max(16, limit // 4)
            for start in range(0, len(data), step):
                statement = f"_mph_f.write({data[start : start + step]!r})"
                if statements and size + len(statement) > limit:
                    self.session.exec("\n".join(statements), board=self.board)
                    statements, size = [], 0
                statements.append(statement)
                size += len(statement) + 1
            if statements:
                self.session.exec("\n".join(statements), board=self.board)
        finally:
            self.session.exec("_mph_f.close()\ndel _mph_f", board=self.board)

    def remove(self, path: str, *, recursive: bool = False) -> None:
        """Remove a file, an empty directory, or a tree."""
        self.session.exec(
            device_call("rm", "_mph_rm", path, recursive), board=self.board, timeout=FILE_TIMEOUT
        )

    def mkdirs(self, path: str) -> None:
        """Create a directory and its missing parents."""
        self.session.exec(device_call("mkdirs", "_mph_mkdirs", path), board=self.board)

    def same_content(self, paths: list[str], host_files: list[str]) -> list[bool]:
        """Whether each board file has the bytes of the matching host file."""
        if not paths:
            return []
        digests = self._literal(device_call("hashfiles", "_mph_hash", paths))
        results = []
        for index, host in enumerate(host_files):
            with open(host, "rb") as handle:
                data = handle.read()
            if isinstance(digests, list):
                results.append(digests[index] == hashlib.sha256(data).hexdigest())
            else:
                results.append(self.read(paths[index]) == data)
        return results


@dataclass(frozen=True)
class TreeDiff:
    """How a host directory differs from a board directory (relative paths)."""

    only_host: list[str]
    only_board: list[str]
    changed: list[str]
    same: list[str]


def host_tree(directory: str) -> dict[str, int]:
    """Every file below a host directory: relative path (``/``-separated) -> size."""
    if not os.path.isdir(directory):
        raise CellError("FileNotFoundError", f"no such host directory: {directory!r}")
    found: dict[str, int] = {}
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        for name in sorted(names):
            full = os.path.join(root, name)
            found[os.path.relpath(full, directory).replace(os.sep, "/")] = os.path.getsize(full)
    return found


def diff_trees(files: BoardFiles, host_dir: str, board_dir: str) -> TreeDiff:
    """Compare a host directory with a board directory (sizes, then content)."""
    host = host_tree(host_dir)
    try:
        board = files.walk(board_dir)
    except CellError as err:
        if err.ename not in ("OSError", "FileNotFoundError"):
            raise
        board = {}
    common = sorted(set(host) & set(board))
    sized = [p for p in common if host[p] == board[p]]
    equal = files.same_content(
        [join(board_dir, p) for p in sized], [os.path.join(host_dir, p) for p in sized]
    )
    same = [p for p, ok in zip(sized, equal, strict=True) if ok]
    changed = sorted(set(common) - set(same))
    return TreeDiff(sorted(set(host) - set(board)), sorted(set(board) - set(host)), changed, same)
