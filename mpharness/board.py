"""``Board``: the public type of an open board, a REPL session with a filesystem.

:class:`~mpharness.session.repl_session.ReplSession` (``session/``) does everything that talks
the REPL protocol; this layer adds ``board.fs`` (``files/``), which is built only on the
session's public methods. Keeping the two apart keeps the session layer free of imports from
the layers above it.
"""

from __future__ import annotations

from mpharness.files.board_fs import BoardFS
from mpharness.session.repl_session import ExecResult, ReplSession, Timeouts

__all__ = ["Board", "ExecResult", "Timeouts"]


class Board(ReplSession):
    """An open session with one MicroPython board.

    Use :func:`mpharness.open_board` rather than constructing this directly. Besides the REPL
    calls (:meth:`exec`, :meth:`eval`, :meth:`soft_reset`...), ``board.fs`` gives the board's
    filesystem.
    """

    _fs: BoardFS | None = None

    @property
    def fs(self) -> BoardFS:
        """Filesystem operations on the board (see :mod:`mpharness.files.board_fs`)."""
        if self._fs is None:
            self._fs = BoardFS(self)
        return self._fs
