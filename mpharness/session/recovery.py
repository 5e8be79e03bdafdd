"""Getting a board back: entering the raw REPL from any state, and the escalation ladder.

Theory of operation
-------------------
``enter_raw`` sends Ctrl-C (stops a running program, cancels a half-typed line or paste
mode, aborts a raw-paste transfer), then ``\\r`` Ctrl-A, and waits for the exact raw banner.
The first try does not wait between the two, which is right for almost every board and
costs one round trip; later tries let the board settle (a program printing its traceback,
USB stacks that drop input queued behind a Ctrl-C) for longer each time.

``recover`` climbs a ladder until a probe exec answers with its end marker:
re-enter the raw REPL, soft reset, hard reset (DTR/RTS, or respawn of a virtual board),
reconnect (a dropped WebREPL socket). Each rung gets a share of one recovery budget. If no
rung works the board is marked broken and :class:`~mpharness.errors.BoardBroken` lists
what was tried and how each try ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from mpharness.deadline import Deadline
from mpharness.errors import BoardBroken, BoardTimeout, MPHarnessError, RemoteError
from mpharness.protocol import ExecFinished, RawReplReady
from mpharness.protocol import constants as c
from mpharness.session.output import decode_output

if TYPE_CHECKING:
    from mpharness.session.board import Board

log = logging.getLogger("mpharness.session.recovery")

#: (seconds to let the board settle after Ctrl-C, seconds to wait for the banner) per try
ENTER_TRIES = ((0.0, 0.25), (0.1, 0.8), (0.4, 1.5), (1.0, 2.5))


def _drain(board: Board, deadline: Deadline) -> None:
    """Read and discard (as noise) until the deadline."""
    while not deadline.expired():
        data = board.transport.read(deadline)
        if data:
            board.machine.receive(data)


def enter_raw(board: Board, deadline: Deadline) -> None:
    """Bring the board from any state to an idle raw REPL.

    Raises:
        BoardTimeout: no raw banner within the deadline.
    """
    board.machine.forget()
    board._backlog.clear()
    for settle, wait in ENTER_TRIES:
        if deadline.expired():
            break
        board._write(c.CTRL_C)
        if settle:
            _drain(board, deadline.sooner(settle))
        board._write(board.machine.enter_raw())
        try:
            event = board._pump(deadline.sooner(wait), RawReplReady, "enter raw REPL")
        except BoardTimeout:
            continue
        assert isinstance(event, RawReplReady)
        board.last_boot_output = event.preamble.decode("utf-8", "replace")
        return
    board.machine.forget()
    raise BoardTimeout("enter raw REPL", deadline.budget)


def after_exec_timeout(board: Board, timeout: BoardTimeout) -> None:
    """An exec ran out of time: interrupt it, or escalate. Adds to ``timeout.partial_output``."""
    board._write(board.machine.interrupt())
    board._arm_ctrl_c_retry()
    try:
        event = board._pump(Deadline.after(board.timeouts.interrupt), ExecFinished, "interrupt")
    except MPHarnessError as err:
        board._ctrl_c_retry = None
        log.info("%s: Ctrl-C did not stop the code (%s); escalating", board.name, err)
        recover(board, Deadline.after(board.timeouts.recovery))
        return
    assert isinstance(event, ExecFinished)
    # The reply's stdout holds everything the code printed, streamed part included.
    timeout.partial_output = decode_output(event.stdout)
    timeout.traceback = decode_output(event.error)
    if event.exited:
        board._await_reboot(Deadline.after(board.timeouts.soft_reset))


def after_host_interrupt(board: Board) -> None:
    """The host got Ctrl-C while the board ran code: stop the board code too (best effort)."""
    try:
        board._write(board.machine.interrupt())
        board._pump(Deadline.after(board.timeouts.interrupt), ExecFinished, "interrupt")
    except (MPHarnessError, KeyboardInterrupt):
        board.machine.forget()


def _probe(board: Board, deadline: Deadline) -> None:
    board.exec_raw("", timeout=deadline.remaining())


def _rung_enter(board: Board, deadline: Deadline) -> None:
    enter_raw(board, deadline)
    _probe(board, deadline)


def _rung_soft(board: Board, deadline: Deadline) -> None:
    enter_raw(board, deadline)
    board.soft_reset(timeout=deadline.remaining())
    _probe(board, deadline)


def _rung_hard(board: Board, deadline: Deadline) -> None:
    board.hard_reset(timeout=deadline.remaining())
    _probe(board, deadline)


def _rung_reconnect(board: Board, deadline: Deadline) -> None:
    board.transport.reconnect(deadline)
    enter_raw(board, deadline)
    _probe(board, deadline)


def recover(board: Board, deadline: Deadline) -> None:
    """Climb the escalation ladder until the board answers a probe.

    Raises:
        BoardBroken: every rung failed; the board is marked broken.
    """
    rungs: list[tuple[str, Callable[[Board, Deadline], None], float]] = [
        ("Ctrl-C and re-enter raw REPL", _rung_enter, 0.35),
        ("soft reset", _rung_soft, 0.3),
    ]
    if board.transport.can_hard_reset:
        rungs.append(("hard reset", _rung_hard, 0.6))
    if board.transport.can_reconnect:
        rungs.append(("reconnect", _rung_reconnect, 1.0))
    attempts: list[str] = []
    board.broken = None
    for i, (label, rung, share) in enumerate(rungs):
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            break
        share = 1.0 if i == len(rungs) - 1 else share  # the last rung may use all that is left
        step = deadline.sooner(None if remaining is None else max(remaining * share, 0.5))
        try:
            rung(board, step)
        except (MPHarnessError, RemoteError, NotImplementedError) as err:
            attempts.append(f"{label}: {type(err).__name__}: {err}")
            log.info("%s: recovery step %r failed: %s", board.name, label, err)
            continue
        log.info("%s: recovered by %s", board.name, label)
        return
    board.machine.forget()
    board.broken = BoardBroken(
        f"board {board.name!r} ({board.url}) does not answer and could not be recovered",
        attempts,
    )
    raise board.broken
