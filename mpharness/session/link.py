"""The link to one board: the engine's only I/O loop, and the session state it keeps.

Theory of operation
-------------------
A :class:`Link` owns a :class:`~mpharness.transports.base.Transport` and a sans-I/O
:class:`~mpharness.protocol.RawReplMachine`. :meth:`Link.pump` is the one loop that does I/O:
write what the machine releases (raw-paste credit, a small raw body), block in
``transport.read`` for the time the deadline leaves, feed the bytes to the machine, and hand
back the first event of the kind asked for. Events that arrive after it wait in a backlog for
the next call. Nothing sleeps-polls.

On top of the loop the link offers the steps every exec strategy and the recovery ladder are
made of: send one framed exec and wait for its end (:meth:`send_frame`), wait for a reboot,
enter the raw REPL from any state, interrupt a running exec (with Ctrl-C re-sent when the board
does not answer it), soft and hard reset, reconnect. It raises what went wrong
(:class:`~mpharness.errors.BoardTimeout`, ``KeyboardInterrupt``...) and leaves deciding what
to do about it to its callers (:mod:`mpharness.session.frame_exec`,
:mod:`mpharness.session.recovery`): it imports nothing of the session layer above it.

Slow links (USB bridges, remote rigs, QEMU's ``-serial pty``: answers up to seconds late) are
why the link measures the round trip: every answer to a request it timed (the raw banner, an
exec's acceptance, a sync) gives a sample, and :attr:`Link.rtt` is the median of the
recent ones. Every wait for an answer and every resend is paced by it (:meth:`patience`),
never by a fixed quarter second alone; an entry sequence that had to be sent again is
confirmed by a nonce'd exchange whose reply comes after every stale answer still in flight
(:meth:`RawReplMachine.begin_sync`). Timeouts name the round trip they measured.

The link also keeps what the board's interpreter holds for the session: whether the integrity
helper is defined (``helper_ready``) and a count of interpreter restarts (``restarts``), so
that layers caching facts about the interpreter know when they went stale.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from mpharness.deadline import Deadline
from mpharness.errors import BoardBroken, BoardReset, BoardTimeout, TransportClosed
from mpharness.protocol import (
    Event,
    ExecFinished,
    Noise,
    RawReplMachine,
    RawReplReady,
    RebootDone,
    State,
    Stdout,
    new_nonce,
)
from mpharness.protocol import constants as c
from mpharness.session.chunking import SMALL_BOARD_INPUT
from mpharness.session.output import BoundedOutput, TextSink, decode_output
from mpharness.session.results import ExecResult
from mpharness.transports.base import Transport

log = logging.getLogger("mpharness.board")

#: what a board prints when it boots into the friendly REPL (MicroPython and CircuitPython)
BOOT_BANNER = b'Type "help()" for more information.'
FRIENDLY_PROMPT = b">>> "

#: machine states in which the board has not yet accepted the code
_ACCEPT_STATES = (State.PASTE_REQUEST, State.AWAIT_OK)

#: seconds to wait for the answer to a Ctrl-C before sending it again, and how often
CTRL_C_RETRY_S = 0.25
CTRL_C_RETRIES = 3

#: round trips the estimate is the median of
RTT_SAMPLES = 7
#: a round trip from which timeouts mention the latency they measured
SLOW_LINK_S = 0.2

#: entering the raw REPL: (seconds to let the board settle after Ctrl-C, seconds to wait for
#: the banner) per try (at least a few measured round trips: :meth:`Link.patience`)
ENTER_TRIES = ((0.0, 0.25), (0.1, 0.8), (0.4, 1.5), (1.0, 2.5))


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


class Link:
    """One board's raw REPL over a transport; see the module docstring.

    Attributes:
        transport: the byte link.
        machine: the protocol state machine.
        name: the board's name, and url: the URL it was opened by, for messages.
        timeouts: budgets for the phases of the session.
        broken: set by the recovery ladder when nothing brought the board back.
        last_boot_output: what the board printed before its last raw banner (boot.py).
        small_input: boards without raw-paste: most bytes ever in flight (the micro:bit's
            UART ring buffer holds 63 and silently drops the rest).
        interrupt_sent: Ctrl-C was sent during the current exec (a KeyboardInterrupt is then
            an answer, not noise: a checked exec is not resent).
        helper_ready: the integrity helper is defined in the board's interpreter.
        restarts: how many times the interpreter restarted (reboots seen or caused).
        rtt: the link's measured round trip in seconds (0 until the first answer).
    """

    def __init__(self, transport: Transport, *, name: str, url: str, timeouts: Timeouts) -> None:
        self.transport = transport
        self.machine = RawReplMachine()
        self.name = name
        self.url = url
        self.timeouts = timeouts
        self.broken: BoardBroken | None = None
        self.last_boot_output = ""
        self.small_input = SMALL_BOARD_INPUT
        self.interrupt_sent = False
        self.helper_ready = False
        self.restarts = 0
        self.rtt = 0.0
        self._rtt_samples: deque[float] = deque(maxlen=RTT_SAMPLES)
        self._write_lock = threading.Lock()
        self._interrupt_pending = False
        self._ctrl_c_retry: Deadline | None = None
        self._ctrl_c_left = 0
        self._resync_needed = False
        self._backlog: deque[Event] = deque()

    # ----------------------------------------------------------------- the round trip
    def note_rtt(self, seconds: float) -> None:
        """A measured round trip: the estimate is the median of the recent ones, so one
        late answer (a loaded host) does not slow every later wait down."""
        self._rtt_samples.append(seconds)
        ordered = sorted(self._rtt_samples)
        self.rtt = ordered[len(ordered) // 2]

    def patience(self, base: float) -> float:
        """Seconds to wait for an answer before asking again or giving up: ``base`` on a
        fast link, a few round trips on a slow one."""
        return max(base, 3.0 * self.rtt + 0.2)

    def timeout_error(self, phase: str, deadline: Deadline, partial: str = "") -> BoardTimeout:
        """A :class:`BoardTimeout` that names the round trip measured on a slow link."""
        error = BoardTimeout(phase, deadline.budget, partial)
        if self.rtt >= SLOW_LINK_S:
            error.args = (f"{error.args[0]} (link round trip measured: {self.rtt:.2f} s)",)
        return error

    # ----------------------------------------------------------------- writing
    def write(self, data: bytes) -> None:
        """Write ``data`` (serialised with :meth:`request_interrupt` from other threads)."""
        if not data:
            return
        with self._write_lock:
            self.transport.write(data)

    def flush_code(self) -> None:
        """Write the code bytes the machine releases (raw-paste credit, or a small raw body)."""
        self.write(self.machine.data_to_send())

    def request_interrupt(self) -> None:
        """Send Ctrl-C now; safe from another thread while an exec runs. The running loop
        notices the request and stops releasing code bytes."""
        with self._write_lock:
            self._interrupt_pending = True
            self.interrupt_sent = True
            self.transport.write(c.CTRL_C)

    # ----------------------------------------------------------------- the loop
    def pump(
        self,
        deadline: Deadline,
        until: type,
        phase: str,
        sink: TextSink | None = None,
    ) -> object:
        """Run I/O until the machine emits an ``until`` event; returns that event.

        Raises:
            BoardTimeout: the deadline passed first (``phase`` names what was awaited).
            BoardReset: the board rebooted into its friendly REPL meanwhile.
        """
        partial = BoundedOutput()
        backlog = self._backlog
        while True:
            if backlog:
                events = list(backlog)
                backlog.clear()
            else:
                if self._interrupt_pending:
                    self._interrupt_pending = False
                    self.machine.interrupt()  # Ctrl-C already sent by request_interrupt()
                    self.arm_ctrl_c_retry()
                self.flush_code()
                retry = self._ctrl_c_retry
                data = self.transport.read(
                    deadline if retry is None else deadline.sooner(retry.remaining())
                )
                if not data:
                    if deadline.expired():
                        raise self.timeout_error(phase, deadline, partial.text())
                    self._maybe_resend_ctrl_c()
                    continue
                events = self.machine.receive(data)
            for i, event in enumerate(events):
                if isinstance(event, Stdout):
                    partial.feed(event.data)
                    if sink is not None:
                        sink.feed(event.data)
                    if partial.endswith(FRIENDLY_PROMPT):
                        self._check_reset(partial.tail(400))
                elif isinstance(event, Noise):
                    log.debug("%s: noise %r", self.name, event.data[:200])
                if isinstance(event, ExecFinished):
                    self._ctrl_c_retry = None
                if isinstance(event, until):
                    backlog.extend(events[i + 1 :])
                    return event
            # A board that never stops talking must not outlive the deadline: the check
            # above runs only when a read comes back empty.
            if deadline.expired():
                raise self.timeout_error(phase, deadline, partial.text())
            self._maybe_resend_ctrl_c()

    def drain(self, deadline: Deadline) -> None:
        """Read and discard (as noise) until the deadline."""
        while not deadline.expired():
            data = self.transport.read(deadline)
            if data:
                self.machine.receive(data)

    # ----------------------------------------------------------------- execs
    def send_frame(
        self, body: bytes, marker: bytes, deadline: Deadline, sink: TextSink | None
    ) -> ExecResult:
        """Send one exec of ``body`` (which prints ``marker`` last; empty for the engine's own
        silent statements) and wait for its framed result. A ``SystemExit`` that reboots the
        board is seen through within the same deadline.

        Raises:
            BoardTimeout: the board did not accept the code, or did not finish in time; the
                exec is still running (see :func:`mpharness.session.recovery.after_exec_timeout`).
        """
        self.interrupt_sent = False
        self.write(self.machine.begin_exec(body, marker))
        self._await_accept(deadline)
        event = self.pump(deadline, ExecFinished, "exec", sink)
        assert isinstance(event, ExecFinished)
        if event.rebooting:
            # The exec's own deadline bounds the wait (noise can hide the reboot's end): a
            # reboot not seen through in time is finished by the next call's resync.
            try:
                self.await_reboot(deadline.sooner(self.timeouts.soft_reset))
            except BoardTimeout:
                self.machine.forget()
        return ExecResult(event.stdout, event.error, event.completed, event.exited, event.rebooting)

    def _await_accept(self, deadline: Deadline) -> None:
        """Wait (briefly) until the board accepts the code: a board that lost the code (a
        stray Ctrl-C wiped its buffer, bytes dropped) is found out in seconds, not at the end
        of the exec budget. Events that arrive meanwhile are kept for :meth:`pump`."""
        accept = deadline.sooner(self.patience(self.timeouts.accept))
        asked = time.monotonic()
        waiting = self.machine.state in _ACCEPT_STATES
        while self.machine.state in _ACCEPT_STATES and not self._backlog:
            self.flush_code()
            if accept.expired():
                raise self.timeout_error("exec acknowledgement", accept)
            data = self.transport.read(accept)
            if data:
                self._backlog.extend(self.machine.receive(data))
        if waiting:
            self.note_rtt(time.monotonic() - asked)

    def interrupt_exec(self, deadline: Deadline) -> ExecFinished:
        """Stop the running exec with Ctrl-C (re-sent while unanswered); returns its end.

        Raises:
            BoardTimeout: the board did not answer the Ctrl-C in time.
        """
        self.write(self.machine.interrupt())
        self.arm_ctrl_c_retry()
        try:
            event = self.pump(deadline, ExecFinished, "interrupt")
        except BaseException:
            self._ctrl_c_retry = None
            raise
        assert isinstance(event, ExecFinished)
        return event

    # ----------------------------------------------------------------- Ctrl-C retries
    def arm_ctrl_c_retry(self) -> None:
        """Re-send Ctrl-C if the board does not answer it soon: one that arrives while the
        board still compiles (right after ``OK``) lands in its input buffer and is lost."""
        self._ctrl_c_retry = Deadline.after(self.patience(CTRL_C_RETRY_S))
        self._ctrl_c_left = CTRL_C_RETRIES

    def _maybe_resend_ctrl_c(self) -> None:
        retry = self._ctrl_c_retry
        if retry is None or not retry.expired():
            return
        if self._ctrl_c_left <= 0:
            self._ctrl_c_retry = None
            return
        self._ctrl_c_left -= 1
        self.write(c.CTRL_C)
        # A Ctrl-C still in flight when the answer comes would wipe the next command in
        # plain raw mode: re-synchronise (Ctrl-A re-banners after it) before the next exec.
        self._resync_needed = True
        self._ctrl_c_retry = Deadline.after(self.patience(CTRL_C_RETRY_S))

    # ----------------------------------------------------------------- modes and resets
    def ensure_ready(self, deadline: Deadline) -> None:
        """Make sure the board sits at an idle raw REPL (re-entering it when the state is
        unknown or a resync is due).

        Raises:
            BoardBroken: the board was marked broken earlier.
        """
        if self.broken is not None:
            raise self.broken
        if self.machine.state is not State.READY or self._resync_needed:
            self._resync_needed = False
            self.enter_raw(deadline)

    def enter_raw(self, deadline: Deadline) -> None:
        """Bring the board from any state to an idle raw REPL.

        Sends Ctrl-C (stops a running program, cancels a half-typed line or paste mode, aborts
        a raw-paste transfer), then ``\\r`` Ctrl-A, and waits for the exact raw banner. The
        first try does not wait between the two, which is right for almost every board and
        costs one round trip; later tries let the board settle (a program printing its
        traceback, USB stacks that drop input queued behind a Ctrl-C) for longer each time.

        Raises:
            BoardTimeout: no raw banner within the deadline.
        """
        self.machine.forget()
        self._backlog.clear()
        first_sent: float | None = None
        sent = 0
        for settle, wait in ENTER_TRIES:
            if deadline.expired():
                break
            self.write(c.CTRL_C)
            if settle:
                self.drain(deadline.sooner(settle))
            self.write(self.machine.enter_raw())
            sent += 1
            first_sent = first_sent or time.monotonic()
            try:
                event = self.pump(
                    deadline.sooner(self.patience(wait)), RawReplReady, "enter raw REPL"
                )
            except BoardTimeout:
                continue
            assert isinstance(event, RawReplReady)
            # an upper bound: the banner may answer the first of the sequences sent
            self.note_rtt(time.monotonic() - first_sent)
            self.last_boot_output = event.preamble.decode("utf-8", "replace")
            if sent > 1:
                self._confirm_raw(deadline)
            return
        self.machine.forget()
        raise self.timeout_error("enter raw REPL", deadline)

    def _confirm_raw(self, deadline: Deadline) -> None:
        """After entry sequences were sent again: a statement that prints a fresh token, whose
        reply comes after the stale banners still in flight (the link keeps order); they are
        read as noise, so the next step cannot take one of them for its answer."""
        asked = time.monotonic()
        self.write(self.machine.begin_sync(b"mph" + new_nonce()))
        try:
            self.pump(deadline, RawReplReady, "confirm raw REPL")
        except BoardTimeout:
            self.machine.forget()
            raise
        self._rtt_samples.clear()  # the sync's own round trip is exact: start over from it
        self.note_rtt(time.monotonic() - asked)

    def leave_raw(self) -> None:
        """Switch the board to its friendly REPL (Ctrl-B); the next exec re-enters raw mode."""
        self.write(c.CTRL_B)
        self.machine.forget()

    def soft_reset(self, deadline: Deadline) -> str:
        """Soft-reset from the idle raw REPL; returns the boot output (boot.py)."""
        self.write(self.machine.begin_soft_reset())
        return self.await_reboot(deadline)

    def await_reboot(self, deadline: Deadline) -> str:
        """Wait for a reboot to end at the raw banner; returns the boot output. A link that
        drops on reboot (WebREPL) is reconnected."""
        self.restarts += 1
        self.helper_ready = False
        try:
            event = self.pump(deadline, RebootDone, "soft reset")
        except TransportClosed:
            if not self.transport.can_reconnect:
                raise
            self.transport.reconnect(deadline)
            self.machine.forget()
            self.enter_raw(deadline)
            return self.last_boot_output
        assert isinstance(event, RebootDone)
        self.last_boot_output = decode_output(event.boot_output)
        return self.last_boot_output

    def hard_reset(self, deadline: Deadline) -> str:
        """Reset the MCU (DTR/RTS on serial, respawn on virtual boards) and re-enter the raw
        REPL; returns the boot output."""
        self.transport.hard_reset(deadline)
        self.machine.forget()
        self.restarts += 1
        self.helper_ready = False
        self.enter_raw(deadline)
        return self.last_boot_output

    def reconnect(self, deadline: Deadline) -> None:
        """Open the link again (a dropped WebREPL socket) and re-enter the raw REPL."""
        self.transport.reconnect(deadline)
        self.enter_raw(deadline)

    def _check_reset(self, tail: bytes) -> None:
        """A boot banner and a friendly prompt at the end of the output: the board reset."""
        if BOOT_BANNER in tail and tail.rfind(BOOT_BANNER) > tail.rfind(b"\x04"):
            self.machine.forget()
            self.restarts += 1
            banner = tail.rfind(BOOT_BANNER)
            start = max(
                0, tail.rfind(b"MicroPython", 0, banner), tail.rfind(b"CircuitPython", 0, banner)
            )
            first_line = decode_output(tail[start:banner]).strip().replace("\x00", "")
            raise BoardReset(
                f"board {self.name!r} rebooted while the code ran (boot banner: {first_line!r})"
            )
