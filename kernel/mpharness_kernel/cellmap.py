"""Which cell a frame of a board traceback belongs to, so tracebacks show the right source.

Theory of operation
-------------------
Every cell's code reaches the board as ``<stdin>`` with the cell's own line numbers, so a frame
``File "<stdin>", line 2, in check`` does not say *which* cell line 2 is: ``check`` may have
been defined three cells earlier. Tagging the code itself (a file name per cell, or a unique
line offset) would cost bytes on every cell, which slow boards feel. Instead the host keeps,
per kernel session, the source of each cell (``<cell-N>``, N the execution count) and the
line span of every function defined in it (parsed on the host, no board round trip). A frame
of a function ``NAME`` at line ``L`` belongs to the most recent cell that defines ``NAME`` over
a span containing ``L``; ``<module>`` frames and anything unknown belong to the running cell.
Memory is bounded: only the last :data:`MAX_CELLS` cells are kept.
"""

from __future__ import annotations

import ast
from collections import OrderedDict
from dataclasses import dataclass

from mpharness_kernel.cells import cell_magic, split_segments

#: Cells remembered per session (older definitions are shown as the running cell's).
MAX_CELLS = 500


@dataclass(frozen=True)
class _Span:
    cell: int
    first: int
    last: int


def label(number: int) -> str:
    """How tracebacks name cell ``number``."""
    return f"<cell-{number}>"


class CellMap:
    """Cell sources and function spans of one kernel session."""

    def __init__(self) -> None:
        self._sources: OrderedDict[int, list[str]] = OrderedDict()
        self._defs: dict[str, list[_Span]] = {}

    def add(self, number: int, source: str) -> None:
        """Remember cell ``number`` and the functions it defines (a ``%%magic`` cell's body
        counts as its code)."""
        self._sources[number] = source.split("\n")
        while len(self._sources) > MAX_CELLS:
            old, _ = self._sources.popitem(last=False)
            for name in list(self._defs):
                self._defs[name] = [s for s in self._defs[name] if s.cell != old]
        if "def" not in source:  # nothing to index: keep plain cells cheap
            return
        heading = cell_magic(source)
        first_line = 1 if heading is None else heading.body_first_line
        body = "\n".join(source.split("\n")[first_line - 1 :])
        for segment in split_segments(body):
            if segment.kind != "code":
                continue
            offset = first_line + segment.first_line - 2
            try:
                tree = ast.parse("\n" * offset + segment.text)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    span = _Span(number, node.lineno, node.end_lineno or node.lineno)
                    self._defs.setdefault(node.name, []).append(span)

    def locate(self, current: int, name: str, line: int) -> tuple[str, str]:
        """The label and the source line of a frame of function ``name`` at ``line``."""
        number = current
        if name != "<module>":
            for span in reversed(self._defs.get(name, [])):
                if span.first <= line <= span.last and span.cell in self._sources:
                    number = span.cell
                    break
        lines = self._sources.get(number, [])
        text = lines[line - 1].strip() if 1 <= line <= len(lines) else ""
        return label(number), text
