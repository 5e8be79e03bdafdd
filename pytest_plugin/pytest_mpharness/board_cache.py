"""Board module files of on-board tests, written once and kept while unchanged.

Theory of operation
-------------------
On-board tests import modules from the board's folder ``/_mph`` (the root on a flat
filesystem such as the micro:bit's; see ``shipping.py``): the pytest
board's pytest (``_mphpt<hash>``; ``_mphsk``, ``_mphrs``, ``_mphap`` on demand), the module image
``_mphm<path hash><content hash>`` and rootdir-local helper modules under their own names.
Files survive a soft reset, so each one is written when it is missing or changed and then
costs nothing per test.

The first time a board is seen (per :class:`~mpharness.Board` object: a reopened board is
listed again) its root folder is listed in one call. mpharness' own modules carry their
content hash in their name, so being listed means being current. A helper module keeps its
own name; next to it a one-byte *marker* file ``_mphk<name hash><content hash>`` records
which content the plugin wrote, so an unchanged helper is recognised by listing alone. Older
versions (other hashes of the same test file, of the stand-in, other markers of a helper)
are removed when a newer one is written, so files do not pile up on the board's flash.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pytest_mpharness.board_runtime import BoardModule, digest
from pytest_mpharness.shipping import MARKER_PREFIX

if TYPE_CHECKING:
    from mpharness import Board

log = logging.getLogger("pytest_mpharness")

#: Free heap (bytes, after a reset) below which a board gets one image per test
#: (``shipping.py``, ``only``) instead of one per test module.
SMALL_HEAP = 64 * 1024
#: Where the modules live on boards with folders (put first on ``sys.path`` by the program).
FOLDER = "/_mph"


def marker_name(module: BoardModule) -> str:
    """The marker file of a helper module's current content (its family is the prefix of
    all its markers)."""
    return module.family + digest(module.text, 6)


class BoardFileCache:
    """Which module files the current board has; writes the missing ones."""

    def __init__(self) -> None:
        self._board: Board | None = None
        self._names: set[str] = set()
        #: the board folder the modules live in (see :meth:`folder`)
        self.where = "/"
        #: the board's heap is small: one image per test (see :data:`SMALL_HEAP`)
        self.small = False
        #: files written during this run (for the report: "written" vs "cached")
        self.written = 0

    @staticmethod
    def folder(board: Board) -> str:
        """``/`` on a flat filesystem (micro:bit), else the folder :data:`FOLDER`."""
        return "/" if board.fs.caps().flat else FOLDER

    def forget(self) -> None:
        """List the board again at the next use (its files changed behind our back)."""
        self._board = None

    def prepare(self, board: Board) -> None:
        """Learn the board (folder, heap size, files) if it is not the one seen last."""
        self._listing(board)

    def _listing(self, board: Board) -> set[str]:
        if board is not self._board:
            # CPython boards (Linux over ssh) have no gc.mem_free: not small
            free = board.eval("getattr(__import__('gc'),'mem_free',lambda:-1)()", timeout=5.0)
            self.small = isinstance(free, int) and 0 <= free < SMALL_HEAP
            self.where = self.folder(board)
            if self.where != "/":
                board.fs.mkdir(self.where, exist_ok=True)
            self._names = set(board.fs.listdir(self.where))
            self._board = board
        return self._names

    def ensure(self, board: Board, modules: list[BoardModule]) -> list[str]:
        """Write the modules the board lacks, in order; returns one line per file written.

        Raises:
            MPHarnessError, OSError: a file could not be listed or written (the test fails).
        """
        names = self._listing(board)
        lines: list[str] = []
        for module in modules:
            data = module.text.encode("utf-8")
            if module.source is None or not module.family.startswith(MARKER_PREFIX):
                if module.filename in names:
                    continue
                self._write(board, module.filename, data, names)
                self._drop_stale(board, names, module.family, keep=module.filename)
            else:
                marker = marker_name(module)
                if marker in names and module.filename in names:
                    continue
                self._write(board, module.filename, data, names)
                self._drop_stale(board, names, module.family, keep=marker)
                self._write(board, marker, b"1", names)
            lines.append(f"wrote {module.filename} ({len(data)} bytes) to the board")
        return lines

    def _write(self, board: Board, filename: str, data: bytes, names: set[str]) -> None:
        board.fs.write_bytes(self._path(filename), data)
        names.add(filename)
        self.written += 1
        log.debug("wrote %s (%d bytes) to %s", filename, len(data), board.name)

    def _path(self, filename: str) -> str:
        return self.where.rstrip("/") + "/" + filename

    def _drop_stale(self, board: Board, names: set[str], prefix: str, keep: str) -> None:
        for stale in sorted(n for n in names if n.startswith(prefix) and n != keep):
            board.fs.remove(self._path(stale))
            names.discard(stale)
