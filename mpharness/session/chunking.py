"""Splitting large code for boards without raw-paste (small RAM, small UART buffers).

Plain raw mode stores the whole program in RAM before compiling it, so a micro:bit
(16 KB RAM) raises MemoryError on bodies over about 1 KB. Top-level statements can run as
separate execs with the same globals, so the code is cut between top-level statements
into pieces of at most ``limit`` bytes. Each piece is preceded by blank lines so the board
reports the line numbers of the original code. A single statement larger than the limit
is sent whole (the board may then run out of memory, and says so).
"""

from __future__ import annotations

import ast
import io

#: Largest piece run at once on boards without raw-paste, in bytes of source.
PIECE_LIMIT = 500
#: Bytes a board without raw-paste can take in one go (micro:bit: a 64-byte ring buffer).
SMALL_BOARD_INPUT = 63
#: Pad with blank lines only up to this many (each costs a byte of the board's RAM).
MAX_PADDING = 1500


def _statement_starts(code: str) -> list[int] | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None  # let the board report its own syntax error
    starts = []
    for node in tree.body:
        line = node.lineno
        for decorator in getattr(node, "decorator_list", []):
            line = min(line, decorator.lineno)
        starts.append(line - 1)
    return starts


def split_for_small_boards(code: str, limit: int = PIECE_LIMIT) -> list[str]:
    """Cut ``code`` into runnable pieces of about ``limit`` bytes, keeping line numbers."""
    if len(code.encode("utf-8")) <= limit:
        return [code]
    starts = _statement_starts(code)
    if not starts:
        return [code]
    lines = io.StringIO(code, newline="").readlines()
    bounds = [*starts[1:], len(lines)]
    pieces: list[str] = []
    first, size = starts[0], 0
    for start, end in zip(starts, bounds, strict=False):
        stmt = "".join(lines[start:end])
        if size and size + len(stmt.encode("utf-8")) > limit:
            pieces.append(_padded(lines, first, start))
            first, size = start, 0
        size += len(stmt.encode("utf-8"))
    pieces.append(_padded(lines, first, len(lines)))
    return pieces


def _padded(lines: list[str], first: int, end: int) -> str:
    padding = "\n" * first if first <= MAX_PADDING else ""
    return padding + "".join(lines[first:end])


def source_literals(text: str, limit: int) -> list[str]:
    """``text`` cut into Python string literals of at most ``limit`` UTF-8 bytes each."""
    literals: list[str] = []
    i = 0
    while i < len(text):
        n = min(len(text) - i, limit)
        while n > 1 and len(repr(text[i : i + n]).encode("utf-8")) > limit:
            n -= 1 if n < 8 else max(1, n // 8)
        literals.append(repr(text[i : i + n]))
        i += n
    return literals
