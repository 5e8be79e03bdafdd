"""A Python file's text as bytes, and edits that replace spans of it without moving lines.

Theory of operation
-------------------
The module image a board imports is the host file with some spans replaced
(``shipping.py``, ``assert_rewrite.py``). A span is given by the ``ast`` positions of its
nodes: lines count from 1, columns are *byte* offsets in the line's UTF-8 form, which is why
:class:`SourceText` keeps the lines as bytes. An :data:`Edit` is ``(first line, first column,
last line, end column, replacement)``; whoever makes one keeps the number of newlines the
same, so every line that is not edited stays where it was and board tracebacks need no map.
"""

from __future__ import annotations

import ast
import io
import tokenize

#: (first line, first byte column, last line, end byte column, replacement bytes)
Edit = tuple[int, int, int, int, bytes]


class SourceText:
    """The lines of a file as UTF-8 bytes, with the operations edits need."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.raw = [line.encode("utf-8") for line in text.splitlines(keepends=True)]

    def line(self, lineno: int) -> bytes:
        """Line ``lineno`` (from 1) as bytes, line end included."""
        return self.raw[lineno - 1]

    def slice(self, l1: int, c1: int, l2: int | None, c2: int | None) -> bytes:
        """The bytes from (``l1``, ``c1``) up to (``l2``, ``c2``); ``l2`` None: line ``l1``,
        ``c2`` None: to the end of line ``l2``."""
        l2 = l1 if l2 is None else l2
        if l1 == l2:
            return self.raw[l1 - 1][c1:c2]
        parts = [self.raw[l1 - 1][c1:], *self.raw[l1 : l2 - 1], self.raw[l2 - 1][:c2]]
        return b"".join(parts)

    def segment(self, node: ast.AST) -> bytes:
        """The exact source bytes of an expression node."""
        return self.slice(
            node.lineno,  # type: ignore[attr-defined]
            node.col_offset,  # type: ignore[attr-defined]
            node.end_lineno,  # type: ignore[attr-defined]
            node.end_col_offset,  # type: ignore[attr-defined]
        )

    def flat(self, node: ast.expr) -> bytes:
        """An expression's source on one line: as written, or re-generated if it spans lines.

        One line keeps a rewritten statement on its first line, which is the line a board
        (and CPython) reports for a failure.
        """
        text = self.segment(node)
        return text if b"\n" not in text else ast.unparse(node).encode("utf-8")

    def apply(self, edits: list[Edit]) -> bytes:
        """The whole file with non-overlapping edits applied (an edit inside another is
        dropped: the outer one replaces it)."""
        out: list[bytes] = []
        line, col = 1, 0
        for l1, c1, l2, c2, text in sorted(edits):
            if (l1, c1) < (line, col):
                continue  # inside an edit already applied
            out.append(self.slice(line, col, l1, c1))
            out.append(text)
            line, col = l2, c2
        if self.raw:
            out.append(self.slice(line, col, len(self.raw), None))
        return b"".join(out)

    def comments(self) -> list[tuple[int, int, int]]:
        """(line, start column in bytes, end column in bytes) of every comment."""
        out = []
        try:
            for tok in tokenize.generate_tokens(io.StringIO(self.text).readline):
                if tok.type == tokenize.COMMENT:
                    line = tok.line
                    start = len(line[: tok.start[1]].encode("utf-8"))
                    end = len(line[: tok.end[1]].encode("utf-8"))
                    out.append((tok.start[0], start, end))
        except (tokenize.TokenError, SyntaxError):
            return []
        return out
