"""Running one on-board test and deciding its outcome from what the board sent.

Theory of operation
-------------------
The per-test program (import the test's modules, call the test; see ``program.py``) runs as
one ``Board.exec``, or one exec per statement on boards without raw-paste. ``Board.exec``
returns normally only when the engine's own end marker arrived, i.e. the code really ran to
its end; a pass needs every statement to have done so. A test that can record
``raises(match=)`` checks also needs the report frame ``\\x1e NONCE : LEN : PAYLOAD \\x1f``
with this test's fresh random nonce (the test cannot see it, so its output cannot forge the
frame), and the recorded patterns must match (:func:`check_matches`, CPython's ``re``). The
board's skip and xfail end the program with their own exception types. Everything else is a
failure: an exception on the board (mapped traceback), a timeout (partial output), a lost
link or a board that rebooted mid-test, or a missing/garbled frame.
"""

from __future__ import annotations

import ast
import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mpharness import BoardBroken, BoardTimeout, MPHarnessError, RemoteError
from pytest_mpharness.program import SKIP_EXC, XFAIL_EXC, Steps
from pytest_mpharness.report import BoardFailure, explain_assert, map_traceback
from pytest_mpharness.shipping import TestModule

if TYPE_CHECKING:
    from mpharness import Board

FRAME_LEAD = "\x1e"
FRAME_TAIL = "\x1f"
#: Exception a failed (rewritten) assert raises on the board.
ASSERT_EXC = "AssertionError"
#: Operators of a rewritten assert's 4-tuple message ('' for a plain assert).
ASSERT_OPS = frozenset({"", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"})
#: The stand-in's pytest.fail() / raises() "DID NOT RAISE" outcome.
FAILED_EXC = "Failed"
#: The line a MicroPython board prints when it boots into its friendly REPL.
BOOT_BANNER = 'Type "help()" for more information.'
#: Output kept for a test whose board crashed (characters).
TAIL_CHARS = 64 * 1024
#: Range of the per-test nonce (a decimal int below 2**30: a small int even on the micro:bit).
NONCE_RANGE = (10**8, 10**9 - 1)


@dataclass
class Outcome:
    """The result of one on-board test.

    Attributes:
        status: ``pass``, ``skip``, ``xfail`` or ``fail``.
        stdout: what the test printed on the board (the result frame removed).
        reason: the skip or xfail reason.
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


class OutputTail:
    """The last :data:`TAIL_CHARS` characters of what the board printed, kept while the test
    runs: when the board crashes or reboots mid-test the exec returns nothing, and this is
    what it printed before (bounded, whatever the test prints)."""

    def __init__(self) -> None:
        self.text = ""

    def feed(self, text: str) -> None:
        self.text = (self.text + text)[-TAIL_CHARS:]


def new_nonce() -> int:
    """A fresh random nonce for one test's result frame."""
    low, high = NONCE_RANGE
    return low + secrets.randbelow(high - low + 1)


def run_on_board(
    board: Board,
    module: TestModule,
    program: Steps,
    nonce: int,
    *,
    where: tuple[str, int],
    timeout: float,
    live: bool = False,
    one_exec: bool = True,
) -> Outcome:
    """Run a test's program (``program.py``) and classify the result: as one exec, or one
    exec per statement (``one_exec`` False: boards without raw-paste). The module's files
    must already be on the board; ``where`` is the (path, line) of the test, reported when
    no board frame points into the test file."""
    echo = LiveEcho() if live else None
    tail = OutputTail()

    def on_output(text: str) -> None:
        tail.feed(text)
        if echo is not None:
            echo.feed(text)

    started = time.perf_counter()
    run = _Run(board, str(nonce), where, started + timeout, on_output)
    try:
        outcome = run.whole(program) if one_exec else run.steps(program)
    except RemoteError as err:
        outcome = _from_remote_error(err, module, where)
    except BoardTimeout as err:
        outcome = _from_timeout(err, board, timeout, module, where)
    except BoardBroken as err:
        outcome = _lost(board, where, f"BoardBroken: {err}", tail.text)
        outcome.broken = err
    except MPHarnessError as err:
        outcome = _lost(board, where, f"{type(err).__name__}: {err}", before_reboot(tail.text))
    outcome.seconds = time.perf_counter() - started
    if echo is not None:
        echo.finish(outcome.stdout)
    return outcome


class _Run:
    """One run of a test's program: the result from the execs (a pass needs every statement
    to have run to its end, which ``Board.exec`` returning normally means, and, for a test
    that records matches, the report frame with this test's nonce). A statement that raises
    the board's skip or xfail ends the test with that outcome; any other error propagates
    (RemoteError, BoardTimeout, ...; a RemoteError's stdout then holds what was printed)."""

    def __init__(
        self,
        board: Board,
        nonce: str,
        where: tuple[str, int],
        deadline: float,
        on_output: Callable[[str], None],
    ) -> None:
        self.board = board
        self.nonce = nonce
        self.where = where
        self.deadline = deadline
        self.on_output = on_output
        self.printed = ""

    def _exec(self, code: str) -> str:
        try:
            out = self.board.exec(code, timeout=_left(self.deadline), on_output=self.on_output)
        except RemoteError as err:
            err.stdout = self.printed + err.stdout
            raise
        self.printed += out
        return out

    def whole(self, program: Steps) -> Outcome:
        try:
            self._exec(program.whole())
        except RemoteError as err:
            status = _outcome_status(err)
            if status is None:
                raise
            self.printed = err.stdout
            return self._result(status, program.report)
        return self._result("pass", None, reported=program.report is not None)

    def steps(self, program: Steps) -> Outcome:
        for step in program.run:
            try:
                self._exec(step)
            except RemoteError as err:
                status = _outcome_status(err)
                if status is None:
                    raise
                self.printed = err.stdout
                return self._result(status, program.report)
        return self._result("pass", program.report)

    def _result(self, status: str, report: str | None, reported: bool = False) -> Outcome:
        """The outcome, after running ``report`` (if any); ``reported``: the output ends in
        the report frame already."""
        if report is not None:
            self._exec(report)
            reported = True
        if not reported:
            return _from_stdout(
                self.printed + _frame(self.nonce, status), self.nonce, self.board, self.where
            )
        output, payload = split_frame(self.printed, self.nonce)
        if payload is None:  # no report frame: _from_stdout says so
            return _from_stdout(self.printed, self.nonce, self.board, self.where)
        framed = output + _frame(self.nonce, status + payload)
        return _from_stdout(framed, self.nonce, self.board, self.where)


def _outcome_status(err: RemoteError) -> str | None:
    """``skip:REASON`` / ``xfail:REASON`` for the board's skip and xfail, else None."""
    if err.exc_type == SKIP_EXC:
        return "skip:" + err.message
    if err.exc_type == XFAIL_EXC:
        return "xfail:" + err.message
    return None


def _frame(nonce: str, payload: str) -> str:
    """The result frame the board's core prints (see ``pytest_core.py``)."""
    return f"{FRAME_LEAD}{nonce}:{len(payload)}:{payload}{FRAME_TAIL}\n"


def _left(deadline: float) -> float:
    """Seconds left of a test's budget (a step past it still gets a moment to report)."""
    return max(deadline - time.perf_counter(), 0.05)


def _from_stdout(stdout: str, nonce: str, board: Board, where: tuple[str, int]) -> Outcome:
    output, payload = split_frame(stdout, nonce)
    status, _, recorded = (payload or "").partition("\n")
    problem = "no result frame" if payload is None else f"an unknown result {payload[:60]!r}"
    if payload is not None and (status == "pass" or status.startswith(("skip:", "xfail:"))):
        mismatch = check_matches(recorded)
        if mismatch is not None:
            return Outcome(
                "fail", output, failure=BoardFailure("AssertionError", mismatch, where=where)
            )
        if status == "pass":
            return Outcome("pass", output)
        if status.startswith("skip:"):
            return Outcome("skip", output, reason=status[5:] or "skipped on the board")
        return Outcome("xfail", output, reason=status[6:])
    failure = BoardFailure(
        "BoardError",
        [
            f"BoardError: the test's program ended on board {board.name!r} with {problem};",
            "the test did not report a pass, so it cannot count as one",
        ],
        where=where,
    )
    return Outcome("fail", output, failure=failure)


def check_matches(recorded: str) -> list[str] | None:
    """Decide the board's ``raises(match=...)`` / ``ExceptionInfo.match()`` /
    ``warns(match=...)`` calls as pytest does (``re.search`` on the host); the ``E`` lines of
    the first mismatch, or None.

    ``recorded`` is the repr of the board's list of (pattern, message) pairs ("" for none);
    a ``warns`` records (pattern, [messages of the warnings of its category]): one of them
    must match.
    """
    if not recorded:
        return None
    try:
        pairs = ast.literal_eval(recorded)
        checked = [
            (str(p), [str(x) for x in v] if isinstance(v, list) else str(v)) for p, v in pairs
        ]
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ["AssertionError: the board's record of regex matches is unreadable"]
    for pattern, value in checked:
        try:
            if isinstance(value, list):
                found = any(re.search(pattern, v) for v in value)
            else:
                found = re.search(pattern, value) is not None
        except re.error as err:
            return [f"re.error: bad regex {pattern!r} in match=...: {err}"]
        if found:
            continue
        if isinstance(value, list):
            return [
                "Failed: DID NOT WARN. No warnings of the expected type matching the regex "
                "were emitted.",
                f"  Regex: {pattern!r}",
                f"  Emitted warnings: {value!r}",
            ]
        return [
            "AssertionError: Regex pattern did not match.",
            f"  Expected regex: {pattern!r}",
            f"  Actual message: {value!r}",
        ]
    return None


def _from_remote_error(err: RemoteError, module: TestModule, where: tuple[str, int]) -> Outcome:
    frames = map_traceback(err.traceback, module.files())
    details = _assert_details(err) if err.exc_type == ASSERT_EXC else None
    if details is not None:
        last = next((f for f in reversed(frames) if f.mapped and f.lineno), None)
        expr = module.plain_assert(last.path, last.lineno) if last and last.lineno else None
        exc_type, lines = explain_assert(details, expr)
    elif err.exc_type == FAILED_EXC:
        exc_type, lines = "Failed", [f"Failed: {err.message}"]
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
    failure = BoardFailure(exc_type, lines, frames, where, err.traceback)
    return Outcome("fail", err.stdout, failure=failure, board_error=err.traceback)


def _assert_details(err: RemoteError) -> tuple[Any, ...] | None:
    """The (message, operator, repr(L), repr(R)) of a rewritten assert, or None for any
    other AssertionError."""
    try:
        details = ast.literal_eval(err.message)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(details, tuple) and len(details) == 4 and details[1] in ASSERT_OPS:
        return details
    return None


def _from_timeout(
    err: BoardTimeout, board: Board, budget: float, module: TestModule, where: tuple[str, int]
) -> Outcome:
    lines = [
        f"Timeout: timed out after {budget:g} s on board {board.name!r}: the test did not "
        "finish in its budget and was interrupted",
    ]
    trace = getattr(err, "traceback", "") or ""
    frames = map_traceback(trace, module.files()) if trace else []
    failure = BoardFailure("Timeout", lines, frames, where, trace)
    return Outcome("fail", err.partial_output, failure=failure, board_error=trace)


def before_reboot(output: str) -> str:
    """``output`` without the boot banner a rebooting board printed at its end."""
    at = output.rfind(BOOT_BANNER)
    if at < 0:
        return output
    start = output.rfind("\n", 0, max(output.rfind("\n", 0, at), 0))  # the version line
    return output[: start + 1].rstrip("\x00") if start >= 0 else ""


def _lost(board: Board, where: tuple[str, int], what: str, output: str) -> Outcome:
    lines = [
        what,
        f"board {board.name!r} crashed, rebooted or went silent during the test "
        "(no result was received, so this is not a pass)",
    ]
    printed = output.strip().splitlines()
    if printed:
        lines.append(f"the last line it printed before: {printed[-1][:200]!r}")
    failure = BoardFailure("BoardError", lines, where=where)
    return Outcome("fail", output, failure=failure, lost=True)
