"""The Jupyter kernel: ipykernel's ``Kernel`` base around :class:`CellRunner`.

Theory of operation
-------------------
Requests are handled on the kernel's main thread, one at a time. ``do_execute`` runs the cell
synchronously: board output is published on IOPub as it streams in (from inside
``Board.exec``), rich outputs and the final value follow, and any :class:`CellError` becomes
an ``error`` message plus an error reply (``ename`` = the device's exception type), so
nbclient fails the notebook exactly when the board raised.

Interrupts use ``interrupt_mode: signal``: ipykernel installs Python's default SIGINT handler
while a request is handled, so the interrupt arrives as ``KeyboardInterrupt`` inside
``Board.exec``, which stops the board code (Ctrl-C, bounded wait) and re-raises; the cell
reports ``KeyboardInterrupt`` and the next cell runs normally.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

from ipykernel.kernelbase import Kernel

from mpharness_kernel import __version__, introspect
from mpharness_kernel.magics import magic_names
from mpharness_kernel.output import CellError
from mpharness_kernel.runner import CellRunner
from mpharness_kernel.session import BoardSession

log = logging.getLogger("mpharness_kernel")

#: Budget in seconds for the soft reset done when the frontend restarts the kernel.
RESTART_RESET_TIMEOUT = 5.0
#: Longest time in seconds board output waits to be coalesced into one stream message.
STREAM_FLUSH_DELAY = 0.05
#: Stream text of at least this many characters is sent at once.
STREAM_FLUSH_SIZE = 8192


class _IOPubOutput:
    """Publishes a cell's outputs as IOPub messages (secrets masked).

    Board output often arrives a few bytes at a time (slow UARTs), so stream text is
    coalesced: sent at the end of a line, when large, or at most :data:`STREAM_FLUSH_DELAY`
    after it arrived (a timer thread; the parent header is captured up front for it).
    Rich outputs, results and the end of the cell flush pending text first, keeping order.
    """

    def __init__(self, kernel: MPHarnessKernel, silent: bool) -> None:
        self._kernel = kernel
        self._silent = silent
        self._parent = kernel.get_parent("shell")  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str]] = []
        self._timer: threading.Timer | None = None

    def _send(self, msg_type: str, content: dict[str, Any]) -> None:
        session = self._kernel.session
        if not self._silent and session is not None:
            session.send(self._kernel.iopub_socket, msg_type, content, self._parent)

    def stream(self, name: str, text: str) -> None:
        with self._lock:
            if self._pending and self._pending[-1][0] != name:
                self._flush_locked()
            previous = self._pending.pop()[1] if self._pending else ""
            self._pending.append((name, previous + text))
            buffered = self._pending[-1][1]
            if buffered.endswith("\n") or len(buffered) >= STREAM_FLUSH_SIZE:
                self._flush_locked()
            elif self._timer is None:
                self._timer = threading.Timer(STREAM_FLUSH_DELAY, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Send pending stream text now."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for name, text in self._pending:
            text = self._kernel.boards.scrub(text)
            if text:
                self._send("stream", {"name": name, "text": text})
        self._pending = []

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        data = self._scrub_bundle(data)
        with self._lock:
            self._flush_locked()
            self._send("display_data", {"data": data, "metadata": metadata or {}, "transient": {}})

    def live(self, data: dict[str, Any] | None, display_id: str, update: bool) -> None:
        """An output updated in place (``display_id``), or, with ``data`` None, a
        ``clear_output`` (``update`` = wait)."""
        with self._lock:
            self._flush_locked()
            if data is None:
                self._send("clear_output", {"wait": update})
                return
            content = {
                "data": self._scrub_bundle(data),
                "metadata": {},
                "transient": {"display_id": display_id},
            }
            self._send("update_display_data" if update else "display_data", content)

    def result(self, data: dict[str, Any]) -> None:
        data = self._scrub_bundle(data)
        content = {"execution_count": self._kernel.execution_count, "data": data, "metadata": {}}
        with self._lock:
            self._flush_locked()
            self._send("execute_result", content)

    def _scrub_bundle(self, data: dict[str, Any]) -> dict[str, Any]:
        """The bundle with secrets masked in its text and JSON (images are left alone)."""
        if not self._kernel.boards.secrets():
            return data
        return {
            mime: value if mime.startswith("image/") else _scrub_value(self._kernel, value)
            for mime, value in data.items()
        }

    def error(self, content: dict[str, Any]) -> None:
        """Publish the cell's error (after any pending text)."""
        with self._lock:
            self._flush_locked()
            self._send("error", content)


def _scrub_value(kernel: MPHarnessKernel, value: Any) -> Any:
    """``value`` (text, or JSON data) with every known secret masked."""
    if isinstance(value, str):
        return kernel.boards.scrub(value)
    if isinstance(value, list):
        return [_scrub_value(kernel, item) for item in value]
    if isinstance(value, dict):
        return {k: _scrub_value(kernel, v) for k, v in value.items()}
    return value


class MPHarnessKernel(Kernel):
    """MicroPython on a board (through mpharness) as a Jupyter kernel."""

    implementation = "mpharness"
    implementation_version = __version__
    language = "python"
    language_version = "3.4"
    language_info = {
        "name": "python",
        "version": "3.4",
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "codemirror_mode": {"name": "python", "version": 3},
        "pygments_lexer": "python3",
    }
    banner = (
        "mpharness kernel: cells run on a MicroPython board "
        "(MPHARNESS_DEVICE or %connect NAME_OR_URL; %lsmagic lists the magics)"
    )
    #: ipykernel sleeps this long before each execute reply so that ``sys.stdout`` output
    #: flushed by its IOPub thread lands first; this kernel publishes (and flushes) its own
    #: outputs before replying, so it does not need the 0.5 ms pause.
    _execute_sleep = 0.0
    help_links = [{"text": "MicroPython documentation", "url": "https://docs.micropython.org"}]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self.boards = BoardSession.from_environ()
        self.runner = CellRunner(self.boards)

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, str] | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: Any = None,
        cell_id: Any = None,
    ) -> dict[str, Any]:
        out = _IOPubOutput(self, silent)

        def ask(prompt: str) -> str:
            out.flush()
            return self.raw_input(prompt)  # type: ignore[no-untyped-call,no-any-return]

        self._allow_stdin = allow_stdin  # raw_input() checks it (IPythonKernel sets it likewise)
        self.runner.ask = ask if allow_stdin else None
        try:
            try:
                self.runner.run_cell(code, out, self.execution_count)
                expressions = self.runner.user_expressions(user_expressions or {})
            except KeyboardInterrupt:
                raise CellError("KeyboardInterrupt", "interrupted") from None
            except CellError:
                raise
            except Exception as err:
                log.exception("internal error running a cell")
                lines = traceback.format_exception(type(err), err, err.__traceback__)
                raise CellError(
                    type(err).__name__, f"mpharness kernel error: {err}", "".join(lines).split("\n")
                ) from None
        except CellError as err:
            content = err.content()
            content["evalue"] = self.boards.scrub(content["evalue"])
            content["traceback"] = [self.boards.scrub(x) for x in content["traceback"]]
            out.error(content)
            return {"status": "error", "execution_count": self.execution_count, **content}
        finally:
            out.flush()
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": expressions,
        }

    async def do_complete(self, code: str, cursor_pos: int | None) -> dict[str, Any]:
        pos = len(code) if cursor_pos is None else cursor_pos
        return introspect.complete(self.boards.for_introspection(), code, pos, magic_names())

    async def do_inspect(
        self,
        code: str,
        cursor_pos: int | None,
        detail_level: int = 0,
        omit_sections: Any = (),
    ) -> dict[str, Any]:
        pos = len(code) if cursor_pos is None else cursor_pos
        return introspect.inspect(
            self.boards.for_introspection(), code, pos, self.runner.known_defs
        )

    async def do_is_complete(self, code: str) -> dict[str, Any]:
        return introspect.is_complete(code)

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        if restart:
            for board in list(self.boards.boards.values()):
                try:
                    board.soft_reset(timeout=RESTART_RESET_TIMEOUT)
                except Exception:
                    log.info("soft reset on restart failed", exc_info=True)
        self.boards.close_all()
        return {"status": "ok", "restart": restart}
