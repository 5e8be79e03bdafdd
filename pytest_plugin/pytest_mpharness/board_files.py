"""The ``board_files`` fixture: data files placed on the board for one test, then put back.

Theory of operation
-------------------
An on-board test receives only literal values, so data it reads on the board (a calibration
table, a config file) must be a file there. :class:`BoardFiles` writes such files through
``board.fs`` (host side, before the test's program runs), remembers what each path held
before (its bytes, or that it did not exist), and at teardown puts every path back the way it
found it, last write first, so a test leaves the board's flash as it was. ``write`` returns
the board path: a fixture of yours returns it (a literal) to the on-board test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mpharness import Board


class BoardFiles:
    """Files a test placed on the board (see the module docstring)."""

    def __init__(self, board: Board) -> None:
        self.board = board
        #: board path -> its bytes before the test's first write (None: it did not exist)
        self._before: dict[str, bytes | None] = {}

    def write(self, path: str, data: bytes | str) -> str:
        """Write ``data`` (text is written as UTF-8) to the board file ``path``; returns
        ``path``. The file is restored (or removed) after the test.

        Raises:
            OSError, MPHarnessError: the board could not read or write it (the message names
                the path).
        """
        if path not in self._before:
            fs = self.board.fs
            self._before[path] = fs.read_bytes(path) if fs.exists(path) else None
        payload = data.encode("utf-8") if isinstance(data, str) else data
        self.board.fs.write_bytes(path, payload)
        return path

    def restore(self) -> list[str]:
        """Put every written path back as it was; returns the paths that could not be (their
        errors are the caller's to report)."""
        from mpharness import MPHarnessError

        failed: list[str] = []
        for path, before in reversed(list(self._before.items())):
            try:
                if before is None:
                    self.board.fs.remove(path)
                else:
                    self.board.fs.write_bytes(path, before)
            except (OSError, MPHarnessError) as err:  # every path gets its turn
                failed.append(f"{path}: {type(err).__name__}: {err}")
        self._before.clear()
        return failed
