"""The raw outcome of one exec, and the exception it means for callers that want one.

A ``SystemExit``'s code never crosses the raw REPL: modern firmware soft-reboots (or, on the
unix port, the process exits) and MicroPython before 1.14 answers ``\\x04\\x04>``; neither says
which code the program exited with. Callers that need it (``mpharness run``) ask for it:
the code then runs inside ``exec`` under a ``try`` (:func:`exit_code_wrapper`), which prints
the exit's arguments behind a per-call nonce before the exit goes on, and
:func:`take_exit_code` reads them back. That costs one stack frame and a second copy of the
source on the board, so it is not the default; without it ``exit_code`` is None (unknown).
Streamed output does not show the report (:class:`ExitReportFilter`).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from mpharness.errors import RemoteError
from mpharness.protocol import parse_exception
from mpharness.session.output import TextSink, decode_output

#: prints a SystemExit's arguments behind the nonce (an int literal: nothing interned), then
#: lets the exit go on. ``%(code)s`` is the code as a literal, ``%(nonce)s`` a decimal nonce.
_EXIT_WRAPPER = (
    "try:exec(%(code)s,globals())\n"
    "except SystemExit as e:print('\\x1e%%d:%%r\\x1f'%%(%(nonce)s,e.args),end='');raise"
)
#: CPython's exit status for ``SystemExit`` with an argument that is not an int or None
EXIT_WITH_MESSAGE = 1


@dataclass(frozen=True)
class ExecResult:
    """The raw outcome of one exec (no exception raised for board errors)."""

    stdout: bytes
    error: bytes
    completed: bool  #: the code ran to its end
    exited: bool  #: the code ended with SystemExit
    rebooted: bool = False  #: ...and the board soft-rebooted (modern firmware does)
    #: the SystemExit's code (0 for ``sys.exit()``), None when not asked for or unknown
    exit_code: int | None = None
    #: boards without raw-paste run long code in pieces cut at top-level statements: when a
    #: later piece failed to compile, what of the code had already run (e.g. "lines 1-12")
    ran_before: str = ""


def exit_code_wrapper(code: str | bytes, nonce: bytes) -> bytes:
    """``code`` wrapped so that a SystemExit reports its arguments (see the module docstring)."""
    return (_EXIT_WRAPPER % {"code": repr(code), "nonce": int(nonce)}).encode("utf-8")


def take_exit_code(stdout: bytes, nonce: bytes) -> tuple[bytes, int | None]:
    """The exit report of :func:`exit_code_wrapper` taken out of ``stdout``; returns the
    stdout without it and the exit code (None: no report, or one that does not parse)."""
    found = re.search(rb"\x1e%d:(\([^\x1e\x1f]{0,200}\))\x1f" % int(nonce), stdout)
    if found is None:
        return stdout, None
    rest = stdout[: found.start()] + stdout[found.end() :]
    try:
        args = ast.literal_eval(found.group(1).decode("utf-8", "replace"))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return rest, EXIT_WITH_MESSAGE  # an exit with an object that has no literal repr
    if not isinstance(args, tuple) or not args or args[0] is None:
        return rest, 0
    if isinstance(args[0], int) and not isinstance(args[0], bool):
        return rest, args[0]
    return rest, EXIT_WITH_MESSAGE


def raise_for_error(result: ExecResult) -> None:
    """Raise :class:`RemoteError` when the code raised on the board, or exited (its
    ``exit_code`` set when the result knows it)."""
    if result.error:
        exc = parse_exception(result.error)
        stdout = decode_output(result.stdout)
        note = ""
        if result.ran_before:
            note = (
                f" ({result.ran_before} had already run: this board runs long code in pieces "
                "cut at top-level statements, and a later piece did not compile)"
            )
        raise RemoteError(exc.exc_type, exc.message, exc.traceback, stdout, note=note)
    if result.exited:
        after = "; the board soft-rebooted" if result.rebooted else ""
        stdout = decode_output(result.stdout)
        if result.exit_code is None:
            message = "the code exited (its exit code is unknown)" + after
        else:
            message = f"the code exited with code {result.exit_code}" + after
        raise RemoteError("SystemExit", message, "", stdout, exit_code=result.exit_code)


class ExitReportFilter:
    """A sink that passes streamed stdout on without the exit report of
    :func:`exit_code_wrapper` (bytes that could still become it wait for the next chunk)."""

    #: a report longer than this (the args' repr is cut at 200) is not one
    _LONGEST = 240

    def __init__(self, sink: TextSink, nonce: bytes) -> None:
        self._sink = sink
        self._head = b"\x1e%d:" % int(nonce)
        self._held = b""

    def feed(self, data: bytes) -> None:
        buf, self._held = self._held + data, b""
        while buf:
            at = buf.find(b"\x1e")
            if at < 0:
                self._sink.feed(buf)
                return
            if at:
                self._sink.feed(buf[:at])
            rest = buf[at:]
            if rest.startswith(self._head):
                end = rest.find(b"\x1f")
                if end >= 0:
                    buf = rest[end + 1 :]  # the report: dropped
                    continue
                if len(rest) <= self._LONGEST:
                    self._held = rest
                    return
            elif self._head.startswith(rest):
                self._held = rest
                return
            self._sink.feed(rest[:1])
            buf = rest[1:]

    def flush(self) -> None:
        held, self._held = self._held, b""
        if held:
            self._sink.feed(held)
        self._sink.flush()
