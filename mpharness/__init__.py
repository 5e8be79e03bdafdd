"""mpharness: a hardware-in-the-loop test harness for MicroPython boards.

>>> import mpharness
>>> with mpharness.open_board("unix") as board:
...     board.exec("print(1)")
'1\\n'
"""

from __future__ import annotations

from mpharness.board import Board, ExecResult, Timeouts
from mpharness.connect import open_board, resolve_board
from mpharness.errors import (
    BoardBroken,
    BoardBusy,
    BoardReset,
    BoardTimeout,
    ConfigError,
    ConnectError,
    LinkCorrupted,
    MPHarnessError,
    ProtocolError,
    RemoteError,
    TransportClosed,
    TransportError,
)

__version__ = "0.1.0"

__all__ = [
    "Board",
    "BoardBroken",
    "BoardBusy",
    "BoardReset",
    "BoardTimeout",
    "ConfigError",
    "ConnectError",
    "ExecResult",
    "LinkCorrupted",
    "MPHarnessError",
    "ProtocolError",
    "RemoteError",
    "Timeouts",
    "TransportClosed",
    "TransportError",
    "open_board",
    "resolve_board",
]
