"""Where a cell's results go, and the errors a cell can end with.

The kernel implements :class:`Output` by publishing Jupyter IOPub messages; tests and other
front ends may implement it with lists. :class:`CellError` carries exactly what an error reply
needs (``ename``, ``evalue``, ``traceback`` lines).
"""

from __future__ import annotations

from typing import Any, Protocol


class Output(Protocol):
    """Sink for what a cell produces."""

    def stream(self, name: str, text: str) -> None:
        """Text on ``stdout`` or ``stderr``."""

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        """A rich output (a MIME bundle)."""

    def result(self, data: dict[str, Any]) -> None:
        """The cell's value (shown as ``Out[n]``)."""


class CellError(Exception):
    """A cell failed; becomes the kernel's error reply.

    Attributes:
        ename: the exception type name (the device's, for code that raised on the board).
        evalue: the exception message.
        traceback: lines of the traceback shown to the user.
    """

    def __init__(self, ename: str, evalue: str, traceback: list[str] | None = None) -> None:
        super().__init__(f"{ename}: {evalue}" if evalue else ename)
        self.ename = ename
        self.evalue = evalue
        self.traceback = list(traceback) if traceback else [f"{ename}: {evalue}"]

    def content(self) -> dict[str, Any]:
        """The ``ename``/``evalue``/``traceback`` part of an error reply."""
        return {"ename": self.ename, "evalue": self.evalue, "traceback": self.traceback}


class UsageError(CellError):
    """A magic was called wrongly (unknown name, bad arguments)."""

    def __init__(self, message: str) -> None:
        super().__init__("UsageError", message)


class ListOutput:
    """An :class:`Output` that records everything (for tests and non-Jupyter callers)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []

    def stream(self, name: str, text: str) -> None:
        self.items.append((name, text))

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self.items.append(("display", data))

    def result(self, data: dict[str, Any]) -> None:
        self.items.append(("result", data))

    def text(self, name: str = "stdout") -> str:
        """All text streamed on ``name``."""
        return "".join(str(v) for k, v in self.items if k == name)
