"""The host side of the kernel: an IPython shell whose output goes into the current cell.

Theory of operation
-------------------
``%%host`` cells, magics this kernel does not know (``%%writefile``, ``%env``, ``%pip``...),
and ``!cmd`` lines run in one IPython :class:`~IPython.core.interactiveshell.InteractiveShell`
per kernel, as IoT Kernel does, so everything IPython offers works on the host. The shell is
created on first use (importing IPython costs a few hundred milliseconds a plain board cell
must not pay).

While a piece of code runs, ``sys.stdout``/``sys.stderr`` are redirected into the cell's
output; IPython's display publisher and display hook are replaced by classes that hand MIME
bundles to the same :class:`~mpharness_kernel.output.Output`, so ``display()`` and the value
of a final expression arrive in order with the text. Errors do not print: the shell records
them and :meth:`HostShell.run` raises :class:`~mpharness_kernel.output.CellError` (IPython's
own traceback text, without colours), so a failing host cell fails a notebook test.

Matplotlib runs on the Agg backend (set by ``__main__``): figures left open by a cell are
sent as PNG images afterwards and closed. IPython's ``storemagic`` is loaded, so ``%store``
inside a ``%%host`` cell reads and writes the same store as the board's ``%store``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import sys
import warnings
from typing import TYPE_CHECKING, Any

from mpharness_kernel.cells import LiveOutput
from mpharness_kernel.output import CellError, Output

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

#: The prefix of the key under which IPython's ``%store`` keeps a variable in its database.
STORE_PREFIX = "autorestore/"


class _StreamWriter(io.TextIOBase):
    """A text file that forwards writes to a cell output stream."""

    def __init__(self, out: Output, name: str) -> None:
        self._out = out
        self._name = name

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if text:
            self._out.stream(self._name, text.replace("\r\n", "\n"))
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


def flush_figures(out: Output) -> None:
    """Send open matplotlib figures as PNG images and close them."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    for number in pyplot.get_fignums():
        out.display(_figure_bundle(pyplot.figure(number)))
    pyplot.close("all")


def _build_shell() -> InteractiveShell:
    """An IPython shell that reports to :class:`_Target` instead of printing."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Publisher(DisplayPublisher):
        def publish(
            self,
            data: dict[str, Any],
            metadata: dict[str, Any] | None = None,
            source: Any = None,
            *,
            transient: Any = None,
            update: bool = False,
            **kwargs: Any,
        ) -> None:
            out = _Target.current
            display_id = (transient or {}).get("display_id")
            if out is not None and display_id is not None and isinstance(out, LiveOutput):
                out.live(dict(data), str(display_id), update)
            elif out is not None:
                out.display(dict(data), dict(metadata or {}))

        def clear_output(self, wait: bool = False) -> None:
            out = _Target.current
            if out is not None and isinstance(out, LiveOutput):
                out.live(None, "", wait)

    class Hook(DisplayHook):
        def start_displayhook(self) -> None:
            return None

        def write_output_prompt(self) -> None:
            return None

        def write_format_data(
            self, format_dict: dict[str, Any], md_dict: dict[str, Any] | None = None
        ) -> None:
            out = _Target.current
            shell: Any = self.shell
            if out is not None and not _is_figure_list(shell.user_ns.get("_")):
                out.result(dict(format_dict))

        def finish_displayhook(self) -> None:
            return None

    class Shell(InteractiveShell):
        def _showtraceback(self, etype: Any, evalue: Any, stb: Any) -> None:
            _Target.traceback = list(stb) if isinstance(stb, list) else str(stb).split("\n")

        def show_usage_error(self, exc: BaseException) -> None:
            _Target.traceback = [f"UsageError: {exc}"]

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "NoColor"
    config.InteractiveShell.display_page = True
    # instance(): IPython's display() prints instead of publishing unless the singleton exists
    shell: Any = Shell.instance(config=config, display_pub_class=Publisher, displayhook_class=Hook)
    shell.extension_manager.load_extension("storemagic")
    return shell  # type: ignore[no-any-return]


def _is_figure_list(value: Any) -> bool:
    """``plt.plot(...)`` returns a list of artists: not worth showing, as in IPython."""
    return isinstance(value, list) and bool(value) and hasattr(value[0], "get_figure")


class _Target:
    """Where the running host code's displays go, and the traceback it left (one kernel
    thread runs host code at a time)."""

    current: Output | None = None
    traceback: list[str] | None = None


class HostNamespace:
    """The host-side IPython shell of one kernel (created on first use)."""

    def __init__(self) -> None:
        self._shell: InteractiveShell | None = None

    @property
    def shell(self) -> InteractiveShell:
        """The IPython shell (built on first use)."""
        if self._shell is None:
            self._shell = _build_shell()
        return self._shell

    @property
    def ns(self) -> dict[str, Any]:
        """The shell's user namespace."""
        return self.shell.user_ns  # type: ignore[no-any-return]

    @property
    def store(self) -> Any:
        """IPython's persistent store (``%store``), a PickleShareDB in the profile directory."""
        return self.shell.db

    def run(self, code: str, out: Output, *, first_line: int = 1) -> None:
        """Run IPython code (Python, ``%magics``, ``!cmd``); its value becomes the result.

        ``first_line`` is where the code starts in the notebook cell; IPython drops leading
        blank lines, so its tracebacks count lines from the code's first line.

        Raises:
            CellError: the code raised (``ename`` is the host exception's type).
        """
        shell = self.shell
        source = code
        writer, errors = _StreamWriter(out, "stdout"), _StreamWriter(out, "stderr")
        _Target.current, _Target.traceback = out, None
        try:
            with (
                contextlib.redirect_stdout(writer),
                contextlib.redirect_stderr(errors),
                warnings.catch_warnings(),
            ):
                warnings.filterwarnings("ignore", message=".*non-interactive.*")
                result = shell.run_cell(source, store_history=False)  # type: ignore[no-untyped-call]
                flush_figures(out)
        finally:
            _Target.current = None
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            if isinstance(error, KeyboardInterrupt):
                raise error
            lines = _Target.traceback or [f"{type(error).__name__}: {error}"]
            raise CellError(type(error).__name__, str(error), lines)
