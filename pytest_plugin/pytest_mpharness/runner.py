"""Running one on-board test and deciding its outcome from what the board sent.

Theory of operation
-------------------
The program (device runner + shipped test code + one call line) runs in one
``Board.exec``. The call line carries a fresh random nonce; the device runner prints the
result frame ``\\x1e NONCE : LEN : PAYLOAD \\x1f`` only after the test function returned (or
called ``pytest.skip``). The test cannot see the nonce, so its output cannot forge the frame;
and ``Board.exec`` returns normally only when the engine's own end marker arrived, i.e. the
program really ran to its end. A pass therefore needs both: the exec completed, and the last
thing in its output is a well-formed frame with this test's nonce saying ``pass``. Everything
else is a failure: an exception on the board (mapped traceback), a timeout (partial output),
a lost link or a board that rebooted mid-test, or a missing/garbled frame.
"""

from __future__ import annotations

import ast
import secrets
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mpharness import BoardBroken, BoardTimeout, MPHarnessError, RemoteError
from pytest_mpharness.report import BoardFailure, explain_assert, map_traceback
from pytest_mpharness.shipping import Shipment

if TYPE_CHECKING:
    from mpharness import Board

FRAME_LEAD = "\x1e"
FRAME_TAIL = "\x1f"
#: Exception class the device runner raises for failed asserts and pytest.fail().
ASSERT_EXC = "_MphF"


@dataclass
class Outcome:
    """The result of one on-board test.

    Attributes:
        status: ``pass``, ``skip`` or ``fail``.
        stdout: what the test printed on the board (the result frame removed).
        reason: the skip reason (status ``skip``).
        failure: what went wrong (status ``fail``).
        broken: the board is beyond recovery (the remaining tests must error).
        lost: the board crashed, rebooted or lost its link: recover it before the next test.
        seconds: wall time of the exec.
        board_error: the board's own traceback text, if any (for the device log).
    """

    status: str
    stdout: str = ""
    reason: str = ""
    failure: BoardFailure | None = None
    broken: BoardBroken | None = None
    lost: bool = False
    seconds: float = 0.0
    board_error: str = ""


def split_frame(stdout: str, nonce: str) -> tuple[str, str | None]:
    """(test output, payload) of a run's stdout; payload None when no valid frame ends it."""
    head = FRAME_LEAD + nonce + ":"
    start = stdout.rfind(head)
    if start < 0:
        return stdout, None
    size, colon, rest = stdout[start + len(head) :].partition(":")
    if not colon or not size.isdigit():
        return stdout, None
    payload, after = rest[: int(size)], rest[int(size) :]
    if after not in (FRAME_TAIL, FRAME_TAIL + "\n"):
        return stdout, None
    return stdout[:start], payload


class LiveEcho:
    """Echoes board output as it streams (``-s``), holding back anything from ``\\x1e`` on."""

    def __init__(self) -> None:
        self.seen = ""
        self.shown = 0

    def feed(self, text: str) -> None:
        self.seen += text
        stop = self.seen.find(FRAME_LEAD)
        upto = len(self.seen) if stop < 0 else stop
        if upto > self.shown:
            sys.stdout.write(self.seen[self.shown : upto])
            sys.stdout.flush()
            self.shown = upto

    def finish(self, output: str) -> None:
        """Show the rest of the test's final output (the frame already removed)."""
        if len(output) > self.shown:
            sys.stdout.write(output[self.shown :])
            sys.stdout.flush()


def run_on_board(
    board: Board,
    shipment: Shipment,
    kwargs: dict[str, str],
    *,
    timeout: float,
    live: bool = False,
) -> Outcome:
    """Run a shipped test with the given argument literals and classify the result."""
    nonce = secrets.token_hex(6)
    code, line_map = shipment.program(nonce, kwargs)
    echo = LiveEcho() if live else None
    started = time.perf_counter()
    try:
        stdout = board.exec(code, timeout=timeout, on_output=echo.feed if echo else None)
    except RemoteError as err:
        outcome = _from_remote_error(err, shipment, line_map)
    except BoardTimeout as err:
        outcome = _from_timeout(err, board, timeout, shipment)
    except BoardBroken as err:
        outcome = _lost(board, shipment, f"BoardBroken: {err}", "")
        outcome.broken = err
    except MPHarnessError as err:
        outcome = _lost(board, shipment, f"{type(err).__name__}: {err}", "")
    else:
        outcome = _from_stdout(stdout, nonce, board, shipment)
    outcome.seconds = time.perf_counter() - started
    if echo is not None:
        echo.finish(outcome.stdout)
    return outcome


def _where(shipment: Shipment) -> tuple[str, int]:
    return shipment.path, shipment.def_line


def _from_stdout(stdout: str, nonce: str, board: Board, shipment: Shipment) -> Outcome:
    output, payload = split_frame(stdout, nonce)
    if payload == "pass":
        return Outcome("pass", output)
    if payload is not None and payload.startswith("skip:"):
        return Outcome("skip", output, reason=payload[5:] or "skipped on the board")
    problem = "no result frame" if payload is None else f"an unknown result {payload[:60]!r}"
    failure = BoardFailure(
        "BoardError",
        [
            f"BoardError: the test's program ended on board {board.name!r} with {problem};",
            "the test did not report a pass, so it cannot count as one",
        ],
        where=_where(shipment),
    )
    return Outcome("fail", output, failure=failure)


def _from_remote_error(
    err: RemoteError, shipment: Shipment, line_map: tuple[int | None, ...]
) -> Outcome:
    frames = map_traceback(err.traceback, shipment.path, line_map)
    if err.exc_type == ASSERT_EXC:
        try:
            details = ast.literal_eval(err.message)
        except (ValueError, SyntaxError):
            details = (err.message, "fail", "", "")
        if not isinstance(details, tuple):
            details = (str(details), "fail", "", "")
        line = next((f.lineno for f in reversed(frames) if f.mapped), None)
        expr = shipment.plain_asserts.get(line) if line is not None else None
        exc_type, lines = explain_assert(details, expr)
    elif err.exc_type == "SystemExit":
        exc_type, lines = (
            "SystemExit",
            [
                "SystemExit: the test's program ended early on the board (SystemExit, or output "
                "imitating the raw REPL's end of reply); no result was received"
            ],
        )
    else:
        exc_type = err.exc_type
        lines = [f"{err.exc_type}: {err.message}" if err.message else err.exc_type]
    failure = BoardFailure(exc_type, lines, frames, _where(shipment), err.traceback)
    return Outcome("fail", err.stdout, failure=failure, board_error=err.traceback)


def _from_timeout(err: BoardTimeout, board: Board, budget: float, shipment: Shipment) -> Outcome:
    lines = [
        f"Timeout: timed out after {budget:g} s on board {board.name!r}: the test did not "
        "finish in its budget and was interrupted",
    ]
    trace = getattr(err, "traceback", "") or ""
    frames = map_traceback(trace, shipment.path, shipment.line_map) if trace else []
    failure = BoardFailure("Timeout", lines, frames, _where(shipment), trace)
    return Outcome("fail", err.partial_output, failure=failure, board_error=trace)


def _lost(board: Board, shipment: Shipment, what: str, output: str) -> Outcome:
    lines = [
        what,
        f"board {board.name!r} crashed, rebooted or went silent during the test "
        "(no result was received, so this is not a pass)",
    ]
    failure = BoardFailure("BoardError", lines, where=_where(shipment))
    return Outcome("fail", output, failure=failure, lost=True)
