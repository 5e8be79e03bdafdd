"""Plain execs: one framed exec on the link, with recovery when it runs out of time.

Theory of operation
-------------------
Every exec carries a random end marker (``protocol/framing.py``), so a result can only be
"completed" if the code really ran to its end. :func:`run_frame` sends one frame through the
:class:`~mpharness.session.link.Link` and, when the deadline passes or the host is
interrupted, hands the board to :mod:`mpharness.session.recovery` before re-raising, so the
board is usable again (or marked broken) whatever the caller does next. The other exec
strategies (:mod:`~mpharness.session.small_upload`, :mod:`~mpharness.session.checked_exec`)
are built from these functions.
"""

from __future__ import annotations

from mpharness.deadline import Deadline
from mpharness.errors import BoardTimeout, ProtocolError
from mpharness.protocol import make_marker, new_nonce, with_end_marker
from mpharness.session import recovery
from mpharness.session.link import Link
from mpharness.session.output import TextSink, decode_output
from mpharness.session.results import ExecResult


def run_frame(
    link: Link, body: bytes, marker: bytes, deadline: Deadline, sink: TextSink | None
) -> ExecResult:
    """Send ``body`` (which prints ``marker`` last) and return its result.

    Raises:
        BoardTimeout: the deadline passed; the code was interrupted (or the board recovered).
        KeyboardInterrupt: the host was interrupted; the board code was stopped too.
    """
    try:
        return link.send_frame(body, marker, deadline, sink)
    except BoardTimeout as timeout:
        recovery.after_exec_timeout(link, timeout)
        raise
    except KeyboardInterrupt:
        recovery.after_host_interrupt(link)
        raise


def run_code(link: Link, code: str | bytes, deadline: Deadline, sink: TextSink) -> ExecResult:
    """Run ``code`` in one frame with a fresh end marker."""
    nonce = new_nonce()
    return run_frame(link, with_end_marker(code, nonce), make_marker(nonce), deadline, sink)


def run_quiet(link: Link, code: str, deadline: Deadline) -> None:
    """Run one of the engine's own statements, which must print nothing and not fail.

    Raises:
        ProtocolError: it printed or raised.
    """
    result = run_frame(link, code.encode(), b"", deadline, None)
    if result.error or result.stdout:
        detail = decode_output(result.error or result.stdout).strip()
        raise ProtocolError(f"board {link.name!r} failed an internal step: {detail}")
