"""Getting a board back after a timeout, a host interrupt or a dead link: the escalation ladder.

Theory of operation
-------------------
After an exec ran out of time, :func:`after_exec_timeout` interrupts it (Ctrl-C, re-sent
while unanswered, see :meth:`Link.interrupt_exec`); a board that does not answer goes up the
ladder. :func:`recover` climbs it until a probe exec answers with its end marker: re-enter the
raw REPL, soft reset, hard reset (DTR/RTS, or respawn of a virtual board), reconnect (a
dropped WebREPL socket). Each rung gets a share of one recovery budget, and the probe is a
bare framed exec on the link, so nothing here starts a second ladder inside the first. If no
rung works the link is marked broken and :class:`~mpharness.errors.BoardBroken` lists what
was tried and how each try ended.

Everything here works on the :class:`~mpharness.session.link.Link`; the ``Board`` facade
calls in, nothing here knows it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from mpharness.deadline import Deadline
from mpharness.errors import BoardBroken, BoardTimeout, MPHarnessError, RemoteError
from mpharness.protocol import ExecFinished, make_marker, new_nonce, with_end_marker
from mpharness.session.link import Link
from mpharness.session.output import decode_output

log = logging.getLogger("mpharness.session.recovery")

Rung = Callable[[Link, Deadline], None]


class HasLink(Protocol):
    """A session object that runs over a :class:`Link` (``ReplSession``, ``Board``)."""

    link: Link


def enter_raw(target: Link | HasLink, deadline: Deadline) -> None:
    """Bring the board from any state to an idle raw REPL (see :meth:`Link.enter_raw`);
    ``target`` is the link or a session that has one.

    Raises:
        BoardTimeout: no raw banner within the deadline.
    """
    link = target if isinstance(target, Link) else target.link
    link.enter_raw(deadline)


def after_exec_timeout(link: Link, timeout: BoardTimeout) -> None:
    """An exec ran out of time: interrupt it, or escalate. Adds to ``timeout.partial_output``."""
    try:
        event = link.interrupt_exec(Deadline.after(link.patience(link.timeouts.interrupt)))
    except MPHarnessError as err:
        log.info("%s: Ctrl-C did not stop the code (%s); escalating", link.name, err)
        recover(link, Deadline.after(recovery_budget(link)))
        return
    # The reply's stdout holds everything the code printed, streamed part included.
    timeout.partial_output = decode_output(event.stdout)
    timeout.traceback = decode_output(event.error)
    if event.exited:
        link.await_reboot(Deadline.after(link.timeouts.soft_reset))


def after_host_interrupt(link: Link) -> None:
    """The host got Ctrl-C while the board ran code: stop the board code too (best effort)."""
    try:
        link.write(link.machine.interrupt())
        link.pump(Deadline.after(link.patience(link.timeouts.interrupt)), ExecFinished, "interrupt")
    except (MPHarnessError, KeyboardInterrupt):
        link.machine.forget()


def recovery_budget(link: Link) -> float:
    """The ladder's default budget: the session's, and at least enough round trips for every
    rung on a slow link."""
    return max(link.timeouts.recovery, 12 * link.rtt)


def _probe(link: Link, deadline: Deadline) -> None:
    """One framed exec of nothing: the board takes code and answers with a result frame."""
    link.ensure_ready(deadline)
    nonce = new_nonce()
    link.send_frame(with_end_marker("", nonce), make_marker(nonce), deadline, None)


def _rung_enter(link: Link, deadline: Deadline) -> None:
    link.enter_raw(deadline)
    _probe(link, deadline)


def _rung_soft(link: Link, deadline: Deadline) -> None:
    link.enter_raw(deadline)
    link.soft_reset(deadline)
    _probe(link, deadline)


def _rung_hard(link: Link, deadline: Deadline) -> None:
    link.hard_reset(deadline)
    _probe(link, deadline)


def _rung_reconnect(link: Link, deadline: Deadline) -> None:
    link.reconnect(deadline)
    _probe(link, deadline)


def recover(link: Link, deadline: Deadline) -> None:
    """Climb the escalation ladder until the board answers a probe.

    Raises:
        BoardBroken: every rung failed; the link is marked broken.
    """
    rungs: list[tuple[str, Rung, float]] = [
        ("Ctrl-C and re-enter raw REPL", _rung_enter, 0.35),
        ("soft reset", _rung_soft, 0.3),
    ]
    if link.transport.can_hard_reset:
        rungs.append(("hard reset", _rung_hard, 0.6))
    if link.transport.can_reconnect:
        rungs.append(("reconnect", _rung_reconnect, 1.0))
    attempts: list[str] = []
    link.broken = None
    for i, (label, rung, share) in enumerate(rungs):
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            break
        share = 1.0 if i == len(rungs) - 1 else share  # the last rung may use all that is left
        step = deadline.sooner(None if remaining is None else max(remaining * share, 0.5))
        try:
            rung(link, step)
        except (MPHarnessError, RemoteError, NotImplementedError) as err:
            attempts.append(f"{label}: {type(err).__name__}: {err}")
            log.info("%s: recovery step %r failed: %s", link.name, label, err)
            continue
        log.info("%s: recovered by %s", link.name, label)
        return
    link.machine.forget()
    link.broken = BoardBroken(
        f"board {link.name!r} ({link.url}) does not answer and could not be recovered",
        attempts,
    )
    raise link.broken
