"""A session with one board's REPL: the facade over the link, the exec strategies and recovery.

Theory of operation
-------------------
``ReplSession`` composes the session layer; it imports the pieces, none of them imports it
(:class:`mpharness.Board` adds the filesystem on top, one layer up):

* :class:`~mpharness.session.link.Link` runs the one I/O loop over the transport and keeps the
  session state (protocol machine, Ctrl-C retries, whether the integrity helper is defined);
* exec strategies take the link: :mod:`~mpharness.session.frame_exec` (one framed exec,
  recovery when it runs out of time), :mod:`~mpharness.session.small_upload` (boards without
  raw-paste: paced writes, code uploaded by echo), :mod:`~mpharness.session.checked_exec`
  (code that runs only if it arrived intact);
* :mod:`~mpharness.session.recovery` climbs the escalation ladder after a timeout.

Every public call turns its ``timeout`` into a :class:`~mpharness.deadline.Deadline` shared by
everything it does, picks the strategy (raw-paste or not, checked or not; large code for small
boards split at top-level statements by :mod:`~mpharness.session.chunking`) and turns the
framed result into a return value or an exception.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from mpharness.deadline import Deadline
from mpharness.errors import BoardBroken
from mpharness.protocol import new_nonce, parse_exception
from mpharness.protocol.machine import OUTPUT_KEEP
from mpharness.session import checked_exec, recovery
from mpharness.session.chunking import split_for_small_boards
from mpharness.session.frame_exec import run_code, run_frame, run_quiet
from mpharness.session.link import Link, Timeouts
from mpharness.session.output import BytesCallback, OutputCallback, TextSink, decode_output
from mpharness.session.results import (
    ExecResult,
    ExitReportFilter,
    exit_code_wrapper,
    raise_for_error,
    take_exit_code,
)
from mpharness.session.small_upload import exec_small, feed_lines
from mpharness.session.tracebacks import as_sent_whole
from mpharness.session.values import read_value, value_statement

if TYPE_CHECKING:
    from mpharness.protocol import RawReplMachine
    from mpharness.transports.base import Transport

__all__ = ["ExecResult", "ReplSession", "Timeouts"]

_Session = TypeVar("_Session", bound="ReplSession")

#: ``keep_output=None``: no limit
KEEP_ALL = 1 << 62
#: ``timeout=DEFAULT`` (exec, eval): the session's default budget for the phase
DEFAULT = -1.0


def _budget(
    timeout: float | None, default: float | None, sentinel: float | None = DEFAULT
) -> float | None:
    """The seconds a call may take: ``sentinel`` means ``default``; None means no limit.

    Raises:
        ValueError: a negative timeout (other than the sentinel) or NaN.
    """
    if timeout == sentinel:
        return default
    if timeout is not None and not timeout >= 0:  # also NaN
        raise ValueError(f"timeout must be None or a number of seconds >= 0, got {timeout!r}")
    return timeout


def _check_encodable(code: str, board: str) -> None:
    """Refuse code that has no UTF-8 form (lone surrogates, e.g. from ``'\\udcff'`` written
    unescaped), before anything is sent.

    Raises:
        ValueError: naming the character, its line and column.
    """
    try:
        code.encode("utf-8")
    except UnicodeEncodeError as err:
        line = code.count("\n", 0, err.start) + 1
        column = err.start - (code.rfind("\n", 0, err.start) + 1) + 1
        raise ValueError(
            f"code for board {board!r} cannot be sent: character {code[err.start]!r} at line "
            f"{line}, column {column} has no UTF-8 form ({err.reason}); nothing was sent"
        ) from None


def _ran_before(pieces: list[str], index: int) -> str:
    """What of the code ran before ``pieces[index]``: "lines 1-N" (pieces carry their line
    numbers as leading blank lines; a piece without them is not counted)."""
    last = pieces[index - 1]
    if index > 1 and not last.startswith("\n"):
        return "earlier top-level statements"
    return f"lines 1-{last.count(chr(10)) + (0 if last.endswith(chr(10)) else 1)}"


class ReplSession:
    """An open session with one MicroPython board's REPL (exec, eval, resets, recovery).

    The public type is :class:`mpharness.Board`, which adds ``fs``; use
    :func:`mpharness.open_board` rather than constructing either directly.

    Attributes:
        name: the board's name (rig name, built-in name or URL).
        url: the URL it was opened by.
        spec: the rig's :class:`~mpharness.rigs.boardspec.BoardSpec`, when it came from one.
        link: the session's I/O loop (for the engine's own layers; tests and tools use the
            methods below).
        integrity: ``"checked"``: code runs only if it arrived intact, values come back
            checksummed (:mod:`mpharness.session.integrity`); ``"off"``: plain raw REPL.
        leases: the leases held for this board (:class:`mpharness.sharing.leases.Lease`),
            released by :meth:`close`.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        name: str,
        url: str,
        timeouts: Timeouts | None = None,
        spec: Any = None,
    ) -> None:
        self.link = Link(transport, name=name, url=url, timeouts=timeouts or Timeouts())
        self.name = name
        self.url = url
        self.spec = spec
        self.integrity = "off"
        self.leases: list[Any] = []
        self._info: dict[str, Any] | None = None
        self._info_restarts = -1

    # ----------------------------------------------------------------- session state
    @property
    def transport(self) -> Transport:
        """The byte link to the board."""
        return self.link.transport

    @transport.setter
    def transport(self, value: Transport) -> None:
        self.link.transport = value

    @property
    def machine(self) -> RawReplMachine:
        """The raw REPL protocol state (``machine.paste_supported`` tells the firmware)."""
        return self.link.machine

    @property
    def timeouts(self) -> Timeouts:
        """Default budgets for the phases of the session (replace to change them)."""
        return self.link.timeouts

    @timeouts.setter
    def timeouts(self, value: Timeouts) -> None:
        self.link.timeouts = value

    @property
    def broken(self) -> BoardBroken | None:
        """Set when recovery failed: every later call raises it. Clear it to try again."""
        return self.link.broken

    @broken.setter
    def broken(self, value: BoardBroken | None) -> None:
        self.link.broken = value

    @property
    def last_boot_output(self) -> str:
        """What the board printed before its last raw banner (boot.py output)."""
        return self.link.last_boot_output

    @property
    def helper_ready(self) -> bool:
        """Whether the integrity helper of checked execs is defined on the board."""
        return self.link.helper_ready

    @property
    def interrupt_sent(self) -> bool:
        """Whether Ctrl-C was sent during the current (or last) exec."""
        return self.link.interrupt_sent

    @property
    def small_input(self) -> int:
        """Boards without raw-paste: most bytes ever in flight."""
        return self.link.small_input

    @small_input.setter
    def small_input(self, value: int) -> None:
        self.link.small_input = value

    # ----------------------------------------------------------------- life cycle
    def __enter__(self: _Session) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Leave the board alone, close the link and release its leases (idempotent)."""
        try:
            self.transport.close()
        finally:
            leases, self.leases = self.leases, []
            for lease in leases:
                lease.release()

    def __repr__(self) -> str:
        return f"<Board {self.name!r} at {self.url!r} state={self.machine.state.value}>"

    # ----------------------------------------------------------------- public API
    def exec(
        self,
        code: str,
        *,
        timeout: float | None = -1.0,
        on_output: OutputCallback | None = None,
        exit_code: bool = False,
    ) -> str:
        """Run ``code`` on the board and return what it printed.

        Args:
            code: MicroPython source.
            timeout: seconds for the whole call (None: no limit; default: ``timeouts.exec``).
            on_output: called with stdout text as it streams in.
            exit_code: learn a SystemExit's code (``RemoteError.exit_code``); see
                :meth:`exec_raw`.

        Raises:
            RemoteError: the code raised on the board (also SystemExit, after the reboot).
            ValueError: ``code`` has no UTF-8 form (a lone surrogate); nothing was sent.
            BoardTimeout: the deadline passed; the board was interrupted and is usable again.
            BoardBroken: the board could not be recovered after a timeout.
        """
        result = self.exec_raw(code, timeout=timeout, on_output=on_output, exit_code=exit_code)
        raise_for_error(result)
        return decode_output(result.stdout)

    def eval(self, expr: str, *, timeout: float | None = -1.0) -> Any:
        """Evaluate ``expr`` on the board and return its value (a Python literal).

        Raises:
            RemoteError: evaluating raised on the board.
            LinkCorrupted: in checked mode, the value came back damaged.
            ValueError: the value's repr is not a Python literal (e.g. a function object).
        """
        checked = self.integrity == "checked"
        out = self.exec(value_statement(expr, checked), timeout=timeout)
        return read_value(out, expr, checked, self.name)

    def exec_raw(
        self,
        code: str | bytes,
        *,
        timeout: float | None = -1.0,
        on_output: OutputCallback | None = None,
        on_bytes: BytesCallback | None = None,
        checked: bool | None = None,
        keep_output: int | None = OUTPUT_KEEP,
        exit_code: bool = False,
    ) -> ExecResult:
        """Run ``code`` and return the raw framed result without raising for board errors.

        ``code`` may be bytes: source sent as it is (a bytes literal may then hold raw 8-bit
        data; the bytes 0x00-0x04 must still be escaped). Boards without raw-paste take UTF-8.
        ``on_bytes`` gets stdout bytes as they stream in, undecoded (binary output).
        ``checked``: run it as a checked exec or not (default: the board's ``integrity``);
        bulk data whose result is verified anyway (a file's hash) may skip the envelope.
        ``keep_output``: of a longer stdout, the result keeps this many bytes at each end and
        says how many it left out (the callbacks see every byte); None keeps everything
        (for output whose size the caller knows, such as a file being read).
        ``exit_code``: learn a SystemExit's code (``ExecResult.exit_code``; the raw REPL does
        not report it): on boards with raw-paste the code then runs inside ``exec`` under a
        ``try`` (one stack frame and a copy of the source more; tracebacks read as if the code
        were sent whole). Boards without raw-paste leave it None (unknown): their 63-byte
        input has no room for the wrapper.

        Raises:
            ValueError: ``code`` has no UTF-8 form (a lone surrogate); nothing was sent.
        """
        if isinstance(code, str):
            _check_encodable(code, self.name)
        deadline = Deadline.after(_budget(timeout, self.timeouts.exec))
        link = self.link
        link.ensure_ready(deadline)
        self.machine.output_keep = KEEP_ALL if keep_output is None else keep_output
        sink = TextSink(on_output, on_bytes)
        if self.machine.paste_supported is None:
            self._learn_paste_support(deadline)
        small = self.machine.paste_supported is False
        check = self.integrity == "checked" if checked is None else checked
        if small and isinstance(code, bytes):
            code = code.decode("utf-8")
        exit_nonce = new_nonce() if exit_code and not small else None
        if exit_nonce is not None:
            code = exit_code_wrapper(code, exit_nonce)
            sink = ExitReportFilter(sink, exit_nonce)  # type: ignore[assignment]
        pieces = split_for_small_boards(code) if small else [code]
        stdout = b""
        result = ExecResult(b"", b"", True, False)
        ran = ""  # what of the code already ran in earlier pieces (boards without raw-paste)
        for index, piece in enumerate(pieces):
            if index:
                ran = _ran_before(pieces, index)
            if small:
                run = checked_exec.run_small_checked if check else exec_small
                result = run(link, piece, deadline, sink)  # type: ignore[arg-type]
            elif check:
                body = piece.encode("utf-8") if isinstance(piece, str) else piece
                result = checked_exec.run_checked(link, body, deadline, sink)
            else:
                result = run_code(link, piece, deadline, sink)
            stdout += result.stdout
            if result.error or result.exited or not result.completed:
                break
        sink.flush()
        error, code_of_exit = result.error, None
        if exit_nonce is not None:
            # The wrapper's report is written in the same print as the exit: the sink has it.
            stdout, code_of_exit = take_exit_code(stdout, exit_nonce)
            error = as_sent_whole(error) if error else error
        if not (error and ran and parse_exception(error).exc_type == "SyntaxError"):
            ran = ""  # only a piece that did not compile makes the earlier pieces' run news
        return ExecResult(
            stdout, error, result.completed, result.exited, result.rebooted, code_of_exit, ran
        )

    def feed_lines(self, loader: str, lines: list[str], *, timeout: float | None = -1.0) -> None:
        """Run ``loader`` (at most 63 bytes: a loop reading ``input()`` lines until ``~~``)
        and send it ``lines`` (printable ASCII), flow controlled by their echo: the way to
        move data onto boards without raw-paste without overrunning their input buffer."""
        deadline = Deadline.after(_budget(timeout, self.timeouts.exec))
        self.link.ensure_ready(deadline)
        feed_lines(self.link, lines, deadline, loader=loader)

    def soft_reset(self, *, timeout: float | None = None) -> str:
        """Soft-reset the board into a clean interpreter at the raw REPL.

        Returns:
            The boot output printed between the reboot line and the raw banner (boot.py).
        """
        deadline = Deadline.after(_budget(timeout, self.timeouts.soft_reset, None))
        self.link.ensure_ready(deadline)
        return self.link.soft_reset(deadline)

    def hard_reset(self, *, timeout: float | None = None) -> str:
        """Reset the MCU (DTR/RTS on serial, respawn on virtual boards) and re-enter raw REPL."""
        deadline = Deadline.after(_budget(timeout, self.timeouts.soft_reset, None))
        return self.link.hard_reset(deadline)

    def enter_raw_repl(self, *, timeout: float | None = None) -> None:
        """Bring the board from any state to an idle raw REPL (Ctrl-C, Ctrl-A)."""
        deadline = Deadline.after(_budget(timeout, self.timeouts.enter_raw, None))
        self.link.enter_raw(deadline)

    def leave_raw_repl(self) -> None:
        """Switch the board to its friendly REPL (for a terminal); the next call re-enters
        the raw REPL."""
        self.link.leave_raw()

    def interrupt(self) -> None:
        """Send Ctrl-C to the board. Safe to call from another thread while an exec runs.

        The running exec's I/O loop notices the request and stops releasing code bytes.
        """
        self.link.request_interrupt()

    def recover(self, *, timeout: float | None = None) -> None:
        """Bring the board back to an idle raw REPL, escalating as needed.

        Raises:
            BoardBroken: nothing worked; ``.attempts`` lists what was tried.
        """
        budget = _budget(timeout, None, None)
        if budget is None:  # the session's budget, enough round trips on a slow link
            budget = recovery.recovery_budget(self.link)
        recovery.recover(self.link, Deadline.after(budget))

    def info(self, *, refresh: bool = False) -> dict[str, Any]:
        """Firmware facts: implementation name/version, sys.version, sys.platform, machine."""
        if self._info is None or refresh or self._info_restarts != self.link.restarts:
            info = self.eval(
                "(lambda s:{'implementation':s.implementation.name,"
                "'version':'.'.join(str(v) for v in s.implementation.version),"
                "'sys_version':s.version,'platform':s.platform,"
                "'machine':getattr(s.implementation,'_machine','')})(__import__('sys'))",
                timeout=5.0,
            )
            self._info, self._info_restarts = info, self.link.restarts
        return self._info

    # ----------------------------------------------------------------- internals
    def _learn_paste_support(self, deadline: Deadline) -> None:
        """Learn whether the firmware has raw-paste; a refusal is asked twice (noise on the
        link can garble the request into one, and this choice lasts the session)."""
        run_quiet(self.link, " ", deadline)
        if self.machine.paste_supported is False:
            self.machine.paste_supported = None
            run_quiet(self.link, " ", deadline)

    # ----------------------------------------------------------------- for tests of the protocol
    def _write(self, data: bytes) -> None:
        """Raw bytes to the board, past the protocol (tests that play a user at the REPL)."""
        self.link.write(data)

    def _exec_frame(
        self, body: bytes, marker: bytes, deadline: Deadline, sink: TextSink | None
    ) -> ExecResult:
        """One hand-made frame, with recovery on timeout (tests that send damaged envelopes)."""
        return run_frame(self.link, body, marker, deadline, sink)
