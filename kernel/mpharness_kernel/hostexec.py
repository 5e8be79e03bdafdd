"""``%%host``: Python on the host, in one namespace per kernel, shown like IPython shows it.

Theory of operation
-------------------
The cell is parsed on the host; all statements but a final expression are executed, the
expression is evaluated and its value shown as the cell's result (IPython's formatters give
the MIME bundle). stdout/stderr are redirected to the cell's output while the code runs, so
text and rich outputs arrive in order. Matplotlib runs on the Agg backend: figures left open
by the cell are sent as PNG images afterwards and closed. ``display(obj)`` is predefined, and
``%store`` moves board values into this namespace (e.g. to plot board data).
"""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import linecache
import sys
import traceback
import warnings
from typing import Any

from mpharness_kernel.output import CellError, Output

HOST_LABEL = "<host cell>"


class _StreamWriter(io.TextIOBase):
    """A text file that forwards writes to a cell output stream."""

    def __init__(self, out: Output, name: str) -> None:
        self._out = out
        self._name = name

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            self._out.stream(self._name, text)
        return len(text)


def mime_bundle(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Jupyter MIME bundle (and metadata) for a host object."""
    if hasattr(obj, "savefig") and hasattr(obj, "canvas"):  # a matplotlib figure
        return _figure_bundle(obj), {}
    from IPython.core.formatters import DisplayFormatter

    data, metadata = DisplayFormatter().format(obj)  # type: ignore[no-untyped-call]
    return dict(data), dict(metadata)


def _figure_bundle(figure: Any) -> dict[str, Any]:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return {
        "image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "text/plain": f"<Figure {figure.get_figwidth():g}x{figure.get_figheight():g} in>",
    }


class HostNamespace:
    """The host-side Python namespace of one kernel."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        self._out: Output | None = None
        self.ns["display"] = self._display

    def _display(self, *objs: Any) -> None:
        for obj in objs:
            data, metadata = mime_bundle(obj)
            if self._out is not None:
                self._out.display(data, metadata)

    def run(self, code: str, out: Output, *, first_line: int = 1) -> None:
        """Run ``code`` in the namespace; its value becomes the cell's result.

        Raises:
            CellError: the code raised (``ename`` is the host exception's type).
        """
        source = "\n" * (first_line - 1) + code
        try:
            tree = ast.parse(source, HOST_LABEL)
        except SyntaxError as err:
            raise CellError("SyntaxError", str(err)) from None
        linecache.cache[HOST_LABEL] = (len(source), None, source.splitlines(True), HOST_LABEL)
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if last is not None:
            tree.body.pop()
        self._out = out
        writer, errors = _StreamWriter(out, "stdout"), _StreamWriter(out, "stderr")
        try:
            with (
                contextlib.redirect_stdout(writer),
                contextlib.redirect_stderr(errors),
                warnings.catch_warnings(),
            ):
                warnings.filterwarnings("ignore", message=".*non-interactive.*")
                self._execute(tree, last, out)
        except BaseException as err:
            raise _host_error(err) from None
        finally:
            self._out = None

    def _execute(self, tree: ast.Module, last: ast.Expr | None, out: Output) -> None:
        exec(compile(tree, HOST_LABEL, "exec"), self.ns)
        value = None
        if last is not None:
            value = eval(compile(ast.Expression(last.value), HOST_LABEL, "eval"), self.ns)
        if value is not None and not _is_figure_list(value):
            self.ns["_"] = value
            data, _ = mime_bundle(value)
            out.result(data)
        self.flush_figures(out)

    @staticmethod
    def flush_figures(out: Output) -> None:
        """Send open matplotlib figures as PNG images and close them."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return
        for number in pyplot.get_fignums():
            out.display(_figure_bundle(pyplot.figure(number)))
        pyplot.close("all")


def _is_figure_list(value: Any) -> bool:
    """``plt.plot(...)`` returns a list of artists: not worth showing, as in IPython."""
    return isinstance(value, list) and bool(value) and hasattr(value[0], "get_figure")


def _host_error(err: BaseException) -> CellError:
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if f.filename == HOST_LABEL or not f.filename.startswith("<")]
    start = next((i for i, f in enumerate(ours) if f.filename == HOST_LABEL), 0)
    lines = ["Traceback (most recent call last):"]
    for chunk in [
        *traceback.format_list(ours[start:]),
        *traceback.format_exception_only(type(err), err),
    ]:
        lines += chunk.rstrip("\n").split("\n")
    return CellError(type(err).__name__, str(err), lines)
