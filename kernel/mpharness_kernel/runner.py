"""Running one cell: cell magics, line magics and board code, in order.

This is the kernel's logic without Jupyter: it takes a cell's source and an
:class:`~mpharness_kernel.output.Output` and either returns normally or raises
:class:`~mpharness_kernel.output.CellError`. The ipykernel glue in ``kernel.py`` only turns
those into messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mpharness import Board
from mpharness_kernel import magics
from mpharness_kernel.cellmap import CellMap, label
from mpharness_kernel.cells import cell_magic, split_segments
from mpharness_kernel.hostexec import HostNamespace
from mpharness_kernel.introspect import record_definitions
from mpharness_kernel.output import CellError, Output
from mpharness_kernel.session import BoardSession


class CellRunner:
    """Runs cells against a :class:`BoardSession` and a host namespace.

    Attributes:
        known_defs: signatures/docstrings of functions and classes seen in cells (for inspect).
    """

    def __init__(self, session: BoardSession, host: HostNamespace | None = None) -> None:
        self.session = session
        self.host = host or HostNamespace()
        self.known_defs: dict[str, str] = {}
        #: sources and function spans of the cells run so far (tracebacks name the cell)
        self.cells = CellMap()
        self._count = 0
        #: asks the user for a line when board code calls input() (None: no stdin); set by
        #: the kernel for each request
        self.ask: Callable[[str], str] | None = None

    def run_cell(self, source: str, out: Output, number: int | None = None) -> None:
        """Run a whole cell; the value of its final expression goes to ``out.result``.

        Args:
            number: the cell's execution count (tracebacks call it ``<cell-N>``); default:
                one more than the last.

        Raises:
            CellError: the cell failed (board exception, timeout, interrupt, bad magic).
        """
        self._count = number if number is not None else self._count + 1
        self.cells.add(self._count, source)
        ctx = magics.MagicContext(self, out, source, self._count)
        heading = cell_magic(source)
        if heading is not None:
            magics.run_cell_magic(
                ctx, heading.name, heading.args, heading.body, heading.body_first_line
            )
            return
        value = self.run_body(ctx, source, first_line=1)
        if value is not None:
            out.result({"text/plain": value})

    def run_body(
        self,
        ctx: magics.MagicContext,
        body: str,
        *,
        first_line: int,
        board: Board | None = None,
        timeout: float | str | None = "default",
    ) -> str | None:
        """Run code with line magics, starting at cell line ``first_line``.

        Returns:
            The repr of the final expression's value (None if there is none or it is None).
        """
        segments = split_segments(body)
        value: str | None = None
        for index, segment in enumerate(segments):
            line = first_line + segment.first_line - 1
            if segment.kind == "shell":
                ctx.runner.host.run(segment.text, ctx.out)
                value = None
                continue
            if segment.kind == "magic":
                if magics.takes_rest(segment.text):
                    rest = "\n".join(body.split("\n")[segment.first_line :])
                    magics.run_line_magic(ctx, segment.text, rest, line + 1)
                    return None
                magics.run_line_magic(ctx, segment.text)
                value = None
                continue
            value = self.session.run(
                segment.text,
                ctx.out,
                board=board,
                first_line=line,
                source=ctx.source,
                timeout=timeout,
                show_value=index == len(segments) - 1,
                label=label(ctx.number),
                locate=lambda name, at: self.cells.locate(ctx.number, name, at),
                ask=self.ask,
            )
            record_definitions(segment.text, self.known_defs)
        return None if value in (None, "None") else value

    def user_expressions(self, expressions: dict[str, str]) -> dict[str, Any]:
        """Evaluate ``user_expressions`` of an execute request on the current board."""
        results: dict[str, Any] = {}
        for key, expr in expressions.items():
            try:
                text = self.session.board().exec(f"print(repr({expr}))", timeout=5.0)
                results[key] = {
                    "status": "ok",
                    "data": {"text/plain": text.strip()},
                    "metadata": {},
                }
            except CellError as err:
                results[key] = {"status": "error", **err.content()}
            except Exception as err:
                results[key] = {
                    "status": "error",
                    "ename": type(err).__name__,
                    "evalue": str(err),
                    "traceback": [],
                }
        return results
