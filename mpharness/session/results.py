"""The raw outcome of one exec, and the exception it means for callers that want one."""

from __future__ import annotations

from dataclasses import dataclass

from mpharness.errors import RemoteError
from mpharness.protocol import parse_exception
from mpharness.session.output import decode_output


@dataclass(frozen=True)
class ExecResult:
    """The raw outcome of one exec (no exception raised for board errors)."""

    stdout: bytes
    error: bytes
    completed: bool  #: the code ran to its end
    exited: bool  #: the code ended with SystemExit
    rebooted: bool = False  #: ...and the board soft-rebooted (modern firmware does)


def raise_for_error(result: ExecResult) -> None:
    """Raise :class:`RemoteError` when the code raised on the board, or exited."""
    if result.error:
        exc = parse_exception(result.error)
        stdout = decode_output(result.stdout)
        raise RemoteError(exc.exc_type, exc.message, exc.traceback, stdout)
    if result.exited:
        after = "; the board soft-rebooted" if result.rebooted else ""
        stdout = decode_output(result.stdout)
        raise RemoteError("SystemExit", "the code exited" + after, "", stdout)
