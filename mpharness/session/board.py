"""A session with one board: the raw-REPL protocol run over a transport under deadlines.

Theory of operation
-------------------
``Board`` owns a :class:`~mpharness.transports.base.Transport` and a sans-I/O
:class:`~mpharness.protocol.RawReplMachine`. Every public call turns its ``timeout`` into a
:class:`~mpharness.deadline.Deadline` and runs :meth:`Board._pump`, the only I/O loop in the
engine: write what the machine releases, block in ``transport.read`` for the remaining time,
feed the bytes to the machine, react to its events. Nothing sleeps-polls.

Every exec carries a random end marker (``protocol/framing.py``), so a result can only be
"completed" if the code really ran to its end. After a timeout, a host Ctrl-C or garbage,
:mod:`mpharness.session.recovery` brings the board back (Ctrl-C, re-enter raw REPL, soft reset,
hard reset, reconnect) within its own budget, or marks the board broken and says what it
tried. Firmware without raw-paste (the micro:bit) gets plain raw mode with paced writes and
large code split at top-level statements (``mpharness/session/chunking.py``).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mpharness.deadline import Deadline
from mpharness.errors import (
    BoardBroken,
    BoardReset,
    BoardTimeout,
    ProtocolError,
    TransportClosed,
)
from mpharness.protocol import (
    Event,
    ExecFinished,
    Noise,
    RawReplMachine,
    RebootDone,
    State,
    Stdout,
    make_marker,
    new_nonce,
    with_end_marker,
)
from mpharness.protocol import constants as c
from mpharness.session import checked_exec, recovery
from mpharness.session.chunking import SMALL_BOARD_INPUT, split_for_small_boards
from mpharness.session.output import BytesCallback, OutputCallback, TextSink, decode_output
from mpharness.session.results import ExecResult, raise_for_error
from mpharness.session.small_upload import exec_small
from mpharness.session.values import read_value, value_statement
from mpharness.transports.base import Transport

if TYPE_CHECKING:
    from mpharness.files.board_fs import BoardFS

log = logging.getLogger("mpharness.session.board")

#: what a board prints when it boots into the friendly REPL (MicroPython and CircuitPython)
BOOT_BANNER = b'Type "help()" for more information.'
FRIENDLY_PROMPT = b">>> "

#: machine states in which the board has not yet accepted the code
_ACCEPT_STATES = (State.PASTE_REQUEST, State.AWAIT_OK)

#: seconds to wait for the answer to a Ctrl-C before sending it again, and how often
CTRL_C_RETRY_S = 0.25
CTRL_C_RETRIES = 3


@dataclass(frozen=True)
class Timeouts:
    """Default budgets in seconds for the phases of a session."""

    enter_raw: float = 5.0
    soft_reset: float = 10.0
    exec: float | None = 60.0
    recovery: float = 8.0
    interrupt: float = 1.5
    #: from sending code to the board accepting it ("OK", or the raw-paste reply)
    accept: float = 3.0


class Board:
    """An open session with one MicroPython board.

    Use :func:`mpharness.open_board` rather than constructing this directly.
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
        self.transport = transport
        self.name = name
        self.url = url
        self.spec = spec
        self.timeouts = timeouts or Timeouts()
        self.machine = RawReplMachine()
        self.broken: BoardBroken | None = None
        self.last_boot_output = ""
        self._write_lock = threading.Lock()
        self._fs: BoardFS | None = None
        self._info: dict[str, Any] | None = None
        #: boards without raw-paste: most bytes ever in flight (the micro:bit's UART ring
        #: buffer holds 63 and silently drops the rest)
        self.small_input = SMALL_BOARD_INPUT
        self._interrupt_pending = False
        #: Ctrl-C was sent during the current exec (a KeyboardInterrupt is then an answer,
        #: not noise: a checked exec is not resent)
        self.interrupt_sent = False
        self._ctrl_c_retry: Deadline | None = None
        self._ctrl_c_left = 0
        self._resync_needed = False
        self._backlog: deque[Event] = deque()
        #: "checked": code runs only if it arrived intact, values come back checksummed
        #: (:mod:`mpharness.session.integrity`); "off": plain raw REPL
        self.integrity = "off"
        self.helper_ready = False
        #: the leases held for this board (:class:`mpharness.sharing.leases.Lease`), released
        #: by close()
        self.leases: list[Any] = []

    # ----------------------------------------------------------------- life cycle
    def __enter__(self) -> Board:
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
        self, code: str, *, timeout: float | None = -1.0, on_output: OutputCallback | None = None
    ) -> str:
        """Run ``code`` on the board and return what it printed.

        Args:
            code: MicroPython source.
            timeout: seconds for the whole call (None: no limit; default: ``timeouts.exec``).
            on_output: called with stdout text as it streams in.

        Raises:
            RemoteError: the code raised on the board (also SystemExit, after the reboot).
            BoardTimeout: the deadline passed; the board was interrupted and is usable again.
            BoardBroken: the board could not be recovered after a timeout.
        """
        result = self.exec_raw(code, timeout=timeout, on_output=on_output)
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
    ) -> ExecResult:
        """Run ``code`` and return the raw framed result without raising for board errors.

        ``code`` may be bytes: source sent as it is (a bytes literal may then hold raw 8-bit
        data; the bytes 0x00-0x04 must still be escaped). Boards without raw-paste take UTF-8.
        ``on_bytes`` gets stdout bytes as they stream in, undecoded (binary output).
        ``checked``: run it as a checked exec or not (default: the board's ``integrity``);
        bulk data whose result is verified anyway (a file's hash) may skip the envelope.
        """
        deadline = Deadline.after(self.timeouts.exec if timeout == -1.0 else timeout)
        self._ensure_ready(deadline)
        sink = TextSink(on_output, on_bytes)
        if self.machine.paste_supported is None:
            self._learn_paste_support(deadline)
        small = self.machine.paste_supported is False
        check = self.integrity == "checked" if checked is None else checked
        if small and isinstance(code, bytes):
            code = code.decode("utf-8")
        pieces = split_for_small_boards(code) if small else [code]
        stdout = b""
        result = ExecResult(b"", b"", True, False)
        for piece in pieces:
            if small:
                run = checked_exec.run_small_checked if check else exec_small
                result = run(self, piece, deadline, sink)
            else:
                result = self._exec_once(piece, deadline, sink, check)
            stdout += result.stdout
            if result.error or result.exited or not result.completed:
                break
        sink.flush()
        return ExecResult(stdout, result.error, result.completed, result.exited, result.rebooted)

    def soft_reset(self, *, timeout: float | None = None) -> str:
        """Soft-reset the board into a clean interpreter at the raw REPL.

        Returns:
            The boot output printed between the reboot line and the raw banner (boot.py).
        """
        deadline = Deadline.after(self.timeouts.soft_reset if timeout is None else timeout)
        self._ensure_ready(deadline)
        self._write(self.machine.begin_soft_reset())
        return self._await_reboot(deadline)

    def hard_reset(self, *, timeout: float | None = None) -> str:
        """Reset the MCU (DTR/RTS on serial, respawn on virtual boards) and re-enter raw REPL."""
        deadline = Deadline.after(self.timeouts.soft_reset if timeout is None else timeout)
        self.transport.hard_reset(deadline)
        self.machine.forget()
        self._info = None
        self.helper_ready = False
        recovery.enter_raw(self, deadline)
        return self.last_boot_output

    def interrupt(self) -> None:
        """Send Ctrl-C to the board. Safe to call from another thread while an exec runs.

        The running exec's I/O loop notices the request and stops releasing code bytes.
        """
        with self._write_lock:
            self._interrupt_pending = True
            self.interrupt_sent = True
            self.transport.write(c.CTRL_C)

    def recover(self, *, timeout: float | None = None) -> None:
        """Bring the board back to an idle raw REPL, escalating as needed.

        Raises:
            BoardBroken: nothing worked; ``.attempts`` lists what was tried.
        """
        budget = self.timeouts.recovery if timeout is None else timeout
        recovery.recover(self, Deadline.after(budget))

    @property
    def fs(self) -> BoardFS:
        """Filesystem operations on the board (see :mod:`mpharness.files.board_fs`)."""
        if self._fs is None:
            from mpharness.files.board_fs import BoardFS

            self._fs = BoardFS(self)
        return self._fs

    def info(self, *, refresh: bool = False) -> dict[str, Any]:
        """Firmware facts: implementation name/version, sys.version, sys.platform, machine."""
        if self._info is None or refresh:
            self._info = self.eval(
                "(lambda s:{'implementation':s.implementation.name,"
                "'version':'.'.join(str(v) for v in s.implementation.version),"
                "'sys_version':s.version,'platform':s.platform,"
                "'machine':getattr(s.implementation,'_machine','')})(__import__('sys'))",
                timeout=5.0,
            )
        return self._info

    # ----------------------------------------------------------------- internals
    def _exec_once(
        self, code: str | bytes, deadline: Deadline, sink: TextSink, checked: bool = False
    ) -> ExecResult:
        if checked:
            body = code.encode("utf-8") if isinstance(code, str) else code
            return checked_exec.run_checked(self, body, deadline, sink)
        nonce = new_nonce()
        return self._exec_frame(with_end_marker(code, nonce), make_marker(nonce), deadline, sink)

    def _exec_frame(
        self, body: bytes, marker: bytes, deadline: Deadline, sink: TextSink | None
    ) -> ExecResult:
        self.interrupt_sent = False
        self._write(self.machine.begin_exec(body, marker))
        try:
            self._await_accept(deadline)
            event = self._pump(deadline, ExecFinished, "exec", sink)
        except BoardTimeout as timeout:
            recovery.after_exec_timeout(self, timeout)
            raise
        except KeyboardInterrupt:
            recovery.after_host_interrupt(self)
            raise
        assert isinstance(event, ExecFinished)
        if event.rebooting:
            # The exec's own deadline bounds the wait (noise can hide the reboot's end): a
            # reboot not seen through in time is finished by the next call's resync.
            try:
                self._await_reboot(deadline.sooner(self.timeouts.soft_reset))
            except BoardTimeout:
                self.machine.forget()
        return ExecResult(event.stdout, event.error, event.completed, event.exited, event.rebooting)

    def _await_accept(self, deadline: Deadline) -> None:
        """Wait (briefly) until the board accepts the code: a board that lost the code (a
        stray Ctrl-C wiped its buffer, bytes dropped) is found out in seconds, not at the end
        of the exec budget. Events that arrive meanwhile are kept for :meth:`_pump`."""
        accept = deadline.sooner(self.timeouts.accept)
        while self.machine.state in _ACCEPT_STATES and not self._backlog:
            self._flush_code()
            data = self.transport.read(accept)
            if data:
                self._backlog.extend(self.machine.receive(data))
            elif accept.expired():
                raise BoardTimeout("exec acknowledgement", accept.budget)

    def _learn_paste_support(self, deadline: Deadline) -> None:
        """Learn whether the firmware has raw-paste; a refusal is asked twice (noise on the
        link can garble the request into one, and this choice lasts the session)."""
        self._exec_quiet(" ", deadline)
        if self.machine.paste_supported is False:
            self.machine.paste_supported = None
            self._exec_quiet(" ", deadline)

    def _exec_quiet(self, code: str, deadline: Deadline) -> None:
        """Run one of the engine's own statements, which must print nothing and not fail."""
        result = self._exec_frame(code.encode(), b"", deadline, None)
        if result.error or result.stdout:
            detail = decode_output(result.error or result.stdout).strip()
            raise ProtocolError(f"board {self.name!r} failed an internal step: {detail}")

    def _await_reboot(self, deadline: Deadline) -> str:
        self._info = None
        self.helper_ready = False
        try:
            event = self._pump(deadline, RebootDone, "soft reset")
        except TransportClosed:
            if not self.transport.can_reconnect:
                raise
            self.transport.reconnect(deadline)
            self.machine.forget()
            recovery.enter_raw(self, deadline)
            return self.last_boot_output
        assert isinstance(event, RebootDone)
        self.last_boot_output = decode_output(event.boot_output)
        return self.last_boot_output

    def _ensure_ready(self, deadline: Deadline) -> None:
        if self.broken is not None:
            raise self.broken
        if self.machine.state is not State.READY or self._resync_needed:
            self._resync_needed = False
            recovery.enter_raw(self, deadline)

    def _write(self, data: bytes) -> None:
        if not data:
            return
        with self._write_lock:
            self.transport.write(data)

    def _check_reset(self, output: bytearray) -> None:
        """A boot banner and a friendly prompt at the end of the output: the board reset."""
        tail = bytes(output[-400:])
        if BOOT_BANNER in tail and tail.rfind(BOOT_BANNER) > tail.rfind(b"\x04"):
            self.machine.forget()
            self._info = None
            banner = tail.rfind(BOOT_BANNER)
            start = max(
                0, tail.rfind(b"MicroPython", 0, banner), tail.rfind(b"CircuitPython", 0, banner)
            )
            first_line = decode_output(tail[start:banner]).strip().replace("\x00", "")
            raise BoardReset(
                f"board {self.name!r} rebooted while the code ran (boot banner: {first_line!r})"
            )

    def _arm_ctrl_c_retry(self) -> None:
        """Re-send Ctrl-C if the board does not answer it soon: one that arrives while the
        board still compiles (right after ``OK``) lands in its input buffer and is lost."""
        self._ctrl_c_retry = Deadline.after(CTRL_C_RETRY_S)
        self._ctrl_c_left = CTRL_C_RETRIES

    def _maybe_resend_ctrl_c(self) -> None:
        retry = self._ctrl_c_retry
        if retry is None or not retry.expired():
            return
        if self._ctrl_c_left <= 0:
            self._ctrl_c_retry = None
            return
        self._ctrl_c_left -= 1
        self._write(c.CTRL_C)
        # A Ctrl-C still in flight when the answer comes would wipe the next command in
        # plain raw mode: re-synchronise (Ctrl-A re-banners after it) before the next exec.
        self._resync_needed = True
        self._ctrl_c_retry = Deadline.after(CTRL_C_RETRY_S)

    def _flush_code(self) -> None:
        """Write the code bytes the machine releases (raw-paste credit, or a small raw body)."""
        self._write(self.machine.data_to_send())

    def _pump(
        self,
        deadline: Deadline,
        until: type,
        phase: str,
        sink: TextSink | None = None,
    ) -> object:
        """Run I/O until the machine emits an ``until`` event; returns that event."""
        partial = bytearray()
        backlog = self._backlog
        while True:
            if backlog:
                events = list(backlog)
                backlog.clear()
            else:
                if self._interrupt_pending:
                    self._interrupt_pending = False
                    self.machine.interrupt()  # Ctrl-C already sent by interrupt()
                    self._arm_ctrl_c_retry()
                self._flush_code()
                retry = self._ctrl_c_retry
                data = self.transport.read(
                    deadline if retry is None else deadline.sooner(retry.remaining())
                )
                if not data:
                    if deadline.expired():
                        raise BoardTimeout(phase, deadline.budget, decode_output(bytes(partial)))
                    self._maybe_resend_ctrl_c()
                    continue
                events = self.machine.receive(data)
            for i, event in enumerate(events):
                if isinstance(event, Stdout):
                    partial += event.data
                    if sink is not None:
                        sink.feed(event.data)
                    if partial.endswith(FRIENDLY_PROMPT):
                        self._check_reset(partial)
                elif isinstance(event, Noise):
                    log.debug("%s: noise %r", self.name, event.data[:200])
                if isinstance(event, ExecFinished):
                    self._ctrl_c_retry = None
                if isinstance(event, until):
                    backlog.extend(events[i + 1 :])
                    return event
