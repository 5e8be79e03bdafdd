"""The kernel's boards: which one is current, opening on first use, running cell code.

Theory of operation
-------------------
``BoardSession`` keeps the boards this kernel opened (by the name or URL the user gave) and
which one is current. The default comes from ``MPHARNESS_DEVICE``; nothing is opened until a
cell needs the board, so a kernel starts instantly and a board that cannot be opened gives an
error reply instead of a dead kernel. A board that broke or lost its link is dropped, so the
next cell reconnects.

``run`` sends code keeping the cell's line numbers, streams stdout through
:class:`~mpharness_kernel.cells.OutputDemux`, and turns every way a cell can end on the board
into a :class:`~mpharness_kernel.output.CellError`: the device's exception (its type as
``ename``, traceback in cell lines), a timeout (the engine already interrupted the board), a
host interrupt (the engine stopped the board code before re-raising), a broken board.

When the test runner pins the device (``MPHARNESS_DEVICE_PINNED=1``), ``%connect NAME`` keeps
the pinned board, so a notebook written against ``unix`` runs on whatever ``--device`` names.
"""

from __future__ import annotations

import ast
import functools
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import mpharness
from mpharness import Board
from mpharness.errors import (
    BoardBroken,
    BoardTimeout,
    MPHarnessError,
    RemoteError,
    TransportError,
)
from mpharness.secret import reveal
from mpharness_kernel.cells import (
    LiveOutput,
    OutputDemux,
    format_board_traceback,
    new_display_key,
    rewrite_last_expression,
)
from mpharness_kernel.devicecode import device_define, device_source
from mpharness_kernel.output import CellError, Output

if TYPE_CHECKING:
    from mpharness.rigs.boardspec import BoardSpec

log = logging.getLogger("mpharness_kernel.session")

ENV_DEVICE = "MPHARNESS_DEVICE"
ENV_PINNED = "MPHARNESS_DEVICE_PINNED"
ENV_CELL_TIMEOUT = "MPHARNESS_CELL_TIMEOUT"
ENV_OPEN_TIMEOUT = "MPHARNESS_OPEN_TIMEOUT"
DEFAULT_CELL_TIMEOUT = 60.0
DEFAULT_OPEN_TIMEOUT = 30.0
#: Budget for opening the board when a completion or inspection is the first request.
INTROSPECT_OPEN_TIMEOUT = 10.0
PASSWORD_ENV = "MPHARNESS_WEBREPL_PASSWORD"
MASK = "********"
CELL_LABEL = "<cell>"
#: Asks the board about its global ``display`` (0: none, 1: callable, 2: something else, such
#: as the micro:bit's LED screen) and whether the screen wrapper is defined (MicroPython 1.9.2
#: has no ``type.__name__``).
_DISPLAY_STATE_QUERY = (
    "_d=globals().get('display')\n"
    "print(0 if _d is None else 1 if callable(_d) else 2, int('_mph_Screen' in globals()))\n"
    "del _d"
)
#: ``from microbit import *`` rebinds ``display`` to the LED screen: wrap it again at once (on
#: the same line, so line numbers stay).
_STAR_IMPORT = re.compile(r"^([ \t]*from[ \t]+microbit[ \t]+import[ \t]+\*)", re.MULTILINE)
_KEEP_DISPLAY = r"\1;display=_mph_Screen(display)"
#: Words in a cell that need the board-side live display helpers (``_device/live.py``).
_LIVE_WORDS = ("display_id", "update_display", "clear_output")
#: After live.py: the plain display helper becomes the one that takes ``display_id``.
_USE_LIVE_DISPLAY = "if globals().get('display') is _mph_rich:\n display = _mph_show\n"
#: What the board's ``input()`` reads when the frontend allows no stdin (it raises EOFError).
EOF_LINE = b"\x04\n"
#: How tracebacks name code the kernel itself sent (magics, introspection).
HELPER_LABEL = "<mpharness helper>"


def _spec_secret(name: str) -> str | None:
    """The WebREPL password a board name resolves to (None if none or unresolvable)."""
    try:
        return reveal(mpharness.resolve_board(name).webrepl_password())
    except MPHarnessError:
        return None


def _open_spec(spec: BoardSpec, timeout: float) -> Board:
    """Open a board from a spec built here (leased like :func:`mpharness.open_board`)."""
    from mpharness.connect import open_leased
    from mpharness.sharing import leases
    from mpharness.sharing.board_pool import lease_keys

    held = leases.acquire_all(lease_keys(spec), wait_s=leases.wait_from_env(0.0))
    return open_leased(spec, held, timeout=timeout)


#: Strings shorter than this in secrets.py are not masked (they would mask ordinary words).
MIN_SECRET_CHARS = 4
#: Seconds a look for secrets.py stays valid (masking runs for every output message).
SECRETS_RECHECK_S = 1.0
_secrets_cache: dict[tuple[str, float], list[str]] = {}
_secrets_checked: list[Any] = [-SECRETS_RECHECK_S, []]


def _secrets_py_values() -> list[str]:
    """The string values in IoT Kernel's ``secrets.py`` (``$IOT_SECRETS``), to be masked."""
    now = time.monotonic()
    if now - _secrets_checked[0] < SECRETS_RECHECK_S:
        return _secrets_checked[1]  # type: ignore[no-any-return]
    values = _read_secrets_py()
    _secrets_checked[:] = [now, values]
    return values


def _read_secrets_py() -> list[str]:
    from mpharness.files.sync import iot_secrets

    path = iot_secrets()
    if path is None:
        return []
    try:
        key = (path, os.path.getmtime(path))
        if key not in _secrets_cache:
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), path)
            _secrets_cache[key] = sorted(
                {
                    node.value
                    for node in ast.walk(tree)
                    if isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and len(node.value) >= MIN_SECRET_CHARS
                },
                key=len,
                reverse=True,
            )
        return _secrets_cache[key]
    except (OSError, SyntaxError, ValueError):
        log.warning("could not read %s to mask its values", path)
        return []


def _mask(text: str, secret: str | None) -> str:
    return text.replace(secret, MASK) if secret else text


def parse_timeout(text: str) -> float | None:
    """Seconds from ``text``; ``none``/``off``/``0`` mean no limit.

    Raises:
        ValueError: not a number or negative.
    """
    if text.strip().lower() in ("none", "off", "0", "inf"):
        return None
    value = float(text)
    if value < 0:
        raise ValueError("a timeout cannot be negative")
    return value


class BoardSession:
    """The boards of one kernel.

    Args:
        device: the default board (name or URL); None: a ``%connect`` is needed.
        pinned: keep ``device`` even when a notebook asks to ``%connect`` elsewhere.
        cell_timeout: default budget in seconds of one cell on the board (None: no limit).
        open_timeout: budget for opening a board (connect, raw REPL, soft reset).
    """

    def __init__(
        self,
        device: str | None = None,
        *,
        pinned: bool = False,
        cell_timeout: float | None = DEFAULT_CELL_TIMEOUT,
        open_timeout: float = DEFAULT_OPEN_TIMEOUT,
    ) -> None:
        self.device = device
        self.pinned = pinned and device is not None
        #: the secret display frames must carry (see ``mpharness_kernel.cells``)
        self.display_key = new_display_key()
        self.cell_timeout = cell_timeout
        self.open_timeout = open_timeout
        self.boards: dict[str, Board] = {}
        self.current: str | None = None
        #: specs given by a magic (``%serialconnect --baud``, ``%websocketconnect --password``)
        #: for names that are URLs, used instead of resolving the name
        self.overrides: dict[str, BoardSpec] = {}
        #: after ``%disconnect``: no board until the next connect
        self.detached = False
        #: ``%esptool erase`` was asked for: the next flash erases first
        self.pending_erase = False
        self._introspect_failed = False
        self._secret_values: list[str] = []

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> BoardSession:
        """A session configured from ``MPHARNESS_DEVICE`` and friends."""
        env = os.environ if environ is None else environ
        device = env.get(ENV_DEVICE, "").strip() or None
        timeout: float | None = DEFAULT_CELL_TIMEOUT
        if env.get(ENV_CELL_TIMEOUT, "").strip():
            timeout = parse_timeout(env[ENV_CELL_TIMEOUT])
        open_timeout = float(env.get(ENV_OPEN_TIMEOUT, "") or DEFAULT_OPEN_TIMEOUT)
        pinned = env.get(ENV_PINNED, "") == "1"
        return cls(device, pinned=pinned, cell_timeout=timeout, open_timeout=open_timeout)

    # ------------------------------------------------------------------ boards
    @property
    def current_name(self) -> str | None:
        """The name of the board cells run on (opened or not)."""
        return self.current or self.device

    def board(self) -> Board:
        """The current board, opened on first use.

        Raises:
            CellError: no board configured, or it could not be opened.
        """
        name = self.current_name
        if self.detached:
            raise CellError(
                "NoBoard", "disconnected: %connect NAME_OR_URL (or %serialconnect) to go on"
            )
        if name is None:
            raise CellError("NoBoard", "no board: set MPHARNESS_DEVICE or run %connect NAME_OR_URL")
        return self.get(name)

    def opened(self) -> Board | None:
        """The current board if it is already open (never opens one)."""
        name = self.current_name
        return None if name is None else self.boards.get(name)

    def for_introspection(self) -> Board | None:
        """The current board for completion/inspection: opened now if configured, else None.

        A board that fails to open here is not retried by later completions until a cell
        (or ``%connect``) opens it, so a missing board does not stall every keystroke.
        """
        board = self.opened()
        name = self.current_name
        if board is not None or name is None or self._introspect_failed or self.detached:
            return board
        try:
            return self.get(name, timeout=min(self.open_timeout, INTROSPECT_OPEN_TIMEOUT))
        except CellError:
            self._introspect_failed = True
            return None

    def get(self, name: str, *, timeout: float | None = None) -> Board:
        """The board called ``name``, opening (and soft-resetting) it if needed."""
        board = self.boards.get(name)
        if board is not None:
            return board
        try:
            override = self.overrides.get(name)
            if override is not None:
                board = _open_spec(override, timeout or self.open_timeout)
            else:
                board = mpharness.open_board(name, timeout=timeout or self.open_timeout)
        except MPHarnessError as err:
            message = self.scrub(f"cannot open board {name!r}: {err}")
            raise CellError(type(err).__name__, _mask(message, _spec_secret(name))) from None
        self.boards[name] = board
        self._introspect_failed = False
        log.info("opened board %s at %s", board.name, board.url)
        return board

    def connect(self, name: str | None, spec: BoardSpec | None = None) -> tuple[Board, str]:
        """Make ``name`` (default: ``MPHARNESS_DEVICE``) current; returns it and a note.

        Boards opened before are closed, so their leases are free for the CLI and other
        notebooks. ``spec`` opens ``name`` with these settings instead of resolving it.
        """
        note = ""
        if name is None:
            name = self.device
            if name is None:
                raise CellError("UsageError", "%connect needs a board name or URL")
        if self.pinned and name != self.device:
            note = f"device pinned to {self.device!r} by the test run; not switching to {name!r}"
            name = self.device
            spec = None
        assert name is not None
        if spec != self.overrides.get(name):  # other settings than the open board's
            self.drop(name)
        if spec is not None:
            self.overrides[name] = spec
        else:
            self.overrides.pop(name, None)
        for other in [n for n in self.boards if n != name]:
            self.drop(other)
        self.detached = False
        try:
            board = self.get(name)
        except CellError:
            self.overrides.pop(name, None)
            raise
        self.current = name
        return board, note

    def disconnect(self) -> str | None:
        """Close every board (releasing its lease); cells need a connect again. Returns the
        name of the board that was current, if one was open."""
        name = self.current_name if self.opened() is not None else None
        self.close_all()
        self.current = None
        self.detached = True
        return name

    def add_secret(self, value: str) -> None:
        """Mask ``value`` in everything shown from now on (a password given in a cell)."""
        if value and value not in self._secret_values:
            self._secret_values.append(value)

    def drop(self, name: str | None = None) -> None:
        """Close and forget a board (default: the current one)."""
        name = name or self.current_name
        board = self.boards.pop(name, None) if name else None
        if board is not None:
            try:
                board.close()
            except Exception:  # closing is best effort
                log.debug("closing %s failed", name, exc_info=True)

    def close_all(self) -> None:
        """Close every board."""
        for name in list(self.boards):
            self.drop(name)

    def secrets(self) -> list[str]:
        """Passwords of the boards in use (to be masked in anything shown)."""
        found = [os.environ.get(PASSWORD_ENV, ""), *self._secret_values, *_secrets_py_values()]
        for board in self.boards.values():
            spec = getattr(board, "spec", None)
            try:
                found.append(reveal(spec.webrepl_password()) or "" if spec is not None else "")
            except MPHarnessError:
                continue
        return [s for s in found if s]

    def scrub(self, text: str) -> str:
        """``text`` with every known secret masked."""
        for secret in self.secrets():
            text = text.replace(secret, MASK)
        return text

    # ------------------------------------------------------------------ running code
    def run(
        self,
        code: str,
        out: Output,
        *,
        board: Board | None = None,
        first_line: int = 1,
        source: str | None = None,
        timeout: float | str | None = "default",
        show_value: bool = True,
        label: str = CELL_LABEL,
        locate: Callable[[str, int], tuple[str, str]] | None = None,
        ask: Callable[[str], str] | None = None,
    ) -> str | None:
        """Run cell code on a board, streaming its output; returns the value's repr, if any.

        Args:
            code: the code (a segment of the cell starting at ``first_line``).
            out: where stdout and rich outputs go.
            board: the board to use (default: the current one).
            first_line: the cell line the code starts at (tracebacks use cell lines).
            source: the whole cell, to show source lines in tracebacks.
            timeout: seconds, None for no limit, ``"default"`` for :attr:`cell_timeout`.
            show_value: rewrite a final expression so its value comes back.
            label: how tracebacks name the cell.
            locate: names the cell of a traceback frame (``function, line -> label, text``);
                see :class:`mpharness_kernel.cellmap.CellMap`.
            ask: asks the user for a line of input (a Jupyter ``input_request``); None: the
                frontend allows no stdin, so ``input()`` on the board raises ``EOFError``.

        Raises:
            CellError: the code raised on the board, timed out, was interrupted, or the board
                is unusable.
        """
        board = board or self.board()
        budget = self.cell_timeout if timeout == "default" else timeout
        assert not isinstance(budget, str)
        body = "\n" * (first_line - 1) + code
        expect = False
        if show_value:
            body, expect = rewrite_last_expression(body)
        on_live = None
        if "display" in code or "clear_output" in code:
            self.ensure_display_helper(board)
            body = _STAR_IMPORT.sub(_KEEP_DISPLAY, body)
            if any(word in code for word in _LIVE_WORDS):
                self.ensure_helper(board, "live", "update_display", _USE_LIVE_DISPLAY)
            if isinstance(out, LiveOutput):
                on_live = out.live
        on_input = None
        if "input(" in code:
            # input frames carry the session key too (a forged one stays text)
            keyed = device_define("input", "input", "_mph_input", self.display_key)
            self.ensure_helper(board, "input", code=keyed)
            on_input = functools.partial(self._answer_input, board, ask)
        demux = OutputDemux(
            lambda text: out.stream("stdout", text),
            out.display,
            expect_value=expect,
            display_key=self.display_key,
            on_input=on_input,
            on_live=on_live,
        )
        try:
            board.exec(body, timeout=budget, on_output=demux.feed)
        except BaseException as err:
            demux.finish()
            text = source if source is not None else body
            raise self._cell_error(err, board, text, label, locate) from None
        return demux.finish()

    def exec(
        self,
        code: str,
        *,
        board: Board | None = None,
        timeout: float | None = 10.0,
        out: Output | None = None,
    ) -> str:
        """Run helper code (not the user's cell) on a board; errors become CellError."""
        board = board or self.board()
        on_output = None if out is None else (lambda text: out.stream("stdout", text))
        try:
            return board.exec(code, timeout=timeout, on_output=on_output)
        except BaseException as err:
            raise self._cell_error(err, board, "", HELPER_LABEL) from None

    def literal(self, code: str, *, board: Board | None = None, timeout: float = 10.0) -> Any:
        """Run helper code that prints a Python literal last; returns that value."""
        text = self.exec(code, board=board, timeout=timeout).rstrip("\n").rsplit("\n", 1)[-1]
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise CellError("ValueError", f"the board answered {text[:200]!r}") from None

    def call(self, func: Callable[[], Any], board: Board) -> Any:
        """Call an engine method of ``board``; its errors become CellError."""
        try:
            return func()
        except BaseException as err:
            raise self._cell_error(err, board, "", HELPER_LABEL) from None

    def _cell_error(
        self,
        err: BaseException,
        board: Board,
        source: str,
        label: str = CELL_LABEL,
        locate: Callable[[str, int], tuple[str, str]] | None = None,
    ) -> BaseException:
        if isinstance(err, RemoteError):
            lines = format_board_traceback(err.traceback, source, label, locate)
            return CellError(err.exc_type, err.message, [self.scrub(x) for x in lines])
        if isinstance(err, KeyboardInterrupt):
            return CellError("KeyboardInterrupt", "interrupted; the board code was stopped")
        if isinstance(err, BoardTimeout):
            budget = f"{err.timeout:g} s " if err.timeout is not None else ""
            if err.phase != "exec":
                return CellError("BoardTimeout", f"the board did not answer ({err})")
            return CellError(
                "BoardTimeout",
                f"the cell ran past its {budget}timeout and was interrupted on the board "
                "(change it with %timeout SECONDS, or %%timeout SECONDS for one cell)",
            )
        if isinstance(err, (BoardBroken, TransportError)):
            self._forget(board)
            message = f"{err}; the board was closed, the next cell reconnects"
            return CellError(type(err).__name__, self.scrub(message))
        if isinstance(err, MPHarnessError):
            return CellError(type(err).__name__, self.scrub(str(err)))
        if isinstance(err, NotImplementedError):
            return CellError("NotImplementedError", f"board {board.name!r} cannot do that: {err}")
        return err

    def _forget(self, board: Board) -> None:
        for name, known in list(self.boards.items()):
            if known is board:
                self.drop(name)

    def ensure_display_helper(self, board: Board) -> None:
        """Define the board-side ``display()`` helper unless the board already has one.

        A ``display`` that is not callable (the micro:bit's LED screen after ``from microbit
        import *``) is wrapped so that it takes both ``display(data)`` and ``display.show()``;
        a function the user defined is kept.
        """
        state = board.exec(_DISPLAY_STATE_QUERY, timeout=5.0).split()
        if state == ["1", "1"]:
            return
        # the session key lives only in _mph_rich's closure: the factory is deleted
        code = device_define("display", "_mph_Screen", "_mph_display", self.display_key)
        code += "_mph_rich = _mph_Screen()\n"
        if state[:1] == ["2"]:
            code += "display = _mph_Screen(display)\n"
        elif state[:1] != ["1"]:  # no display yet (a function the user defined is kept)
            code += "display = _mph_rich\n"
        board.exec(code, timeout=10.0)

    def ensure_helper(
        self,
        board: Board,
        name: str,
        defines: str | None = None,
        then: str = "",
        code: str | None = None,
    ) -> None:
        """Run the board-side helper ``_device/NAME.py`` (and the code ``then``), or ``code``,
        unless the board's globals already have the function it defines (``defines``, default
        ``name``)."""
        marker = defines or name
        defined = board.exec(f"print({marker!r} in globals())", timeout=5.0).strip()
        if defined != "True":
            board.exec(code or device_source(name) + then, timeout=10.0)

    def _answer_input(self, board: Board, ask: Callable[[str], str] | None, prompt: str) -> None:
        """Answer the board's ``input()``: the user's line, or EOF when there is no stdin."""
        answer = None
        if ask is not None:
            try:
                answer = ask(self.scrub(prompt))
            except KeyboardInterrupt:
                raise
            except Exception:  # the frontend went away: the board gets EOF
                log.warning("input request failed", exc_info=True)
        line = EOF_LINE if answer is None else answer.replace("\n", " ").encode("utf-8") + b"\n"
        board.transport.write(line)

    def describe(self, board: Board) -> dict[str, Any]:
        """Name, URL and firmware facts of ``board`` (no secrets)."""
        facts: dict[str, Any] = {"name": board.name, "url": board.url}
        try:
            facts.update(board.info())
        except (MPHarnessError, ValueError) as err:
            facts["info_error"] = str(err)
        return facts
