"""Moving source code onto boards without raw-paste, leak-free and never overrunning them.

Theory of operation
-------------------
The micro:bit's UART ring buffer holds 63 bytes and drops the rest, and plain raw mode has no
flow control. So code too long for one small write is uploaded into a board-side list
``_mph`` and then run with ``exec``. Two ways:

* **input() loader** (preferred): one raw exec runs a tiny loop that appends ``input()``
  lines to ``_mph`` until a ``~~`` line. ``input()`` echoes every character, and the host
  waits for the echo of each piece (at most :data:`ECHO_PIECE` bytes) before sending the next:
  flow control by echo. The lines arrive as data, not as string literals, so nothing is
  interned: MicroPython interns short string literals (qstrs) for good, and uploading source
  as literals would slowly eat a 10 KB heap. Only lines of printable ASCII qualify.
* **literal appends** (fallback for other characters): ``_mph.append('...')`` execs of at
  most 63 bytes each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpharness.chunking import source_literals
from mpharness.deadline import Deadline
from mpharness.errors import BoardTimeout, ProtocolError
from mpharness.protocol import ExecFinished, State

if TYPE_CHECKING:
    from mpharness.board import Board

LOADER = "_mph=[]\nl=input()\nwhile l!='~~':_mph.append(l);l=input()"
END_LINE = "~~"
#: bytes sent before waiting for their echo (the ring buffer holds 63)
ECHO_PIECE = 48


def _printable(line: str) -> bool:
    return all(" " <= ch <= "~" for ch in line)


def upload_source(board: Board, text: str, deadline: Deadline) -> None:
    """Leave ``text`` in the board-side global ``_mph`` (a str).

    Leading blank lines (the padding that keeps line numbers) are not sent one by one: the
    board prepends them itself.
    """
    body = text.lstrip("\n")
    pad = len(text) - len(body)
    lines = body.split("\n")
    if all(_printable(line) and line != END_LINE for line in lines):
        _upload_by_echo(board, lines, deadline)
        board._exec_quiet(f"_mph='\\n'*{pad}+'\\n'.join(_mph)\ngc.collect()", deadline)
        return
    limit = board.small_input - len("_mph.append()") - 1
    for literal in source_literals(body, limit):
        board._exec_quiet(f"_mph.append({literal})", deadline)
    board._exec_quiet(f"_mph='\\n'*{pad}+''.join(_mph)\ngc.collect()", deadline)


def _feed(board: Board, deadline: Deadline) -> tuple[int, ExecFinished | None]:
    """Read once; give the bytes to the machine; returns how many arrived, and the loader's
    end if it came. A loader that ended with an error is raised as ProtocolError."""
    data = board.transport.read(deadline)
    if not data:
        if deadline.expired():
            raise BoardTimeout("code upload", deadline.budget)
        return 0, None
    for event in board.machine.receive(data):
        if isinstance(event, ExecFinished):
            if event.error:
                detail = event.error.decode("utf-8", "replace").strip()
                raise ProtocolError(f"board {board.name!r} failed to load code: {detail[-300:]}")
            return len(data), event
    return len(data), None


def _upload_by_echo(
    board: Board, lines: list[str], deadline: Deadline, loader: str = LOADER
) -> None:
    """Send ``lines`` (printable ASCII, never ``~~``) to a running ``input()`` loop, flow
    controlled by their echo. ``loader`` (≤ 63 bytes) reads lines until ``~~``."""
    board._write(board.machine.begin_exec(loader.encode(), b""))
    board._flush_code()
    while board.machine.state is not State.REPLY:
        _feed(board, deadline)
    # Lines are packed back to back: flow control counts echoed bytes, not lines.
    data = "".join(line + "\r" for line in lines).encode("ascii")
    for i in range(0, len(data), ECHO_PIECE):
        piece = data[i : i + ECHO_PIECE]
        board._write(piece)
        expected = len(piece) + piece.count(b"\r")  # "\r" echoes as "\r\n"
        while expected > 0:
            count, finished = _feed(board, deadline)
            if finished is not None:
                raise ProtocolError(f"board {board.name!r} stopped taking code early")
            expected -= count
    board._write((END_LINE + "\r").encode("ascii"))
    while _feed(board, deadline)[1] is None:
        pass
