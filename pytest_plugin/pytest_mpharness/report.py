"""Failure reports for board tests, laid out like pytest's own.

Theory of operation
-------------------
A board failure is described by :class:`BoardFailure`: the exception name, the ``E`` lines
(message, compared values, explanation) and the traceback frames. Frames of the test
module's image and of helper modules are mapped to their host files (the images keep the
host files' line numbers, see ``shipping.py``); frames of the per-test program and of
mpharness' board modules are dropped; frames of other modules on the board are kept as the
board named them. :func:`exception_repr` turns that into pytest's own report objects, laid
out like a local failure (function source up to the failing line, ``>`` marker, ``E`` lines,
``path:line: Type``) for ``--tb=long/auto/short/line/native``: pytest's summary line, the
JUnit writer and pytest-xdist's worker-to-controller serialisation all read them as usual.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import linecache
import os
import pprint
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from _pytest._code.code import (
    ExceptionChainRepr,
    ReprEntry,
    ReprEntryNative,
    ReprFileLocation,
    ReprTraceback,
)

_FRAME_RE = re.compile(r'^\s+File "(?P<file>[^"]*)"(?:, line (?P<line>\d+))?(?:, in (?P<func>.+))?')
#: The file name MicroPython gives code sent through the REPL.
STDIN_NAME = "<stdin>"
#: The file name of code run with ``exec``.
EXEC_NAME = "<string>"


@dataclass(frozen=True)
class Frame:
    """One traceback entry.

    Attributes:
        path: the host test file (mapped frames) or the name the board printed.
        lineno: 1-based line, if known.
        func: function name as the board printed it.
        mapped: True when ``path``/``lineno`` point into the host test file.
    """

    path: str
    lineno: int | None
    func: str
    mapped: bool


@dataclass
class BoardFailure:
    """What went wrong with one board test, ready to render.

    Attributes:
        exc_type: the name shown after ``path:line:`` (e.g. ``AssertionError``).
        lines: the ``E`` lines.
        frames: traceback entries, outermost first.
        where: (path, line) to report when no frame maps into the test file.
        board_traceback: the traceback exactly as the board printed it.
    """

    exc_type: str
    lines: list[str]
    frames: list[Frame] = field(default_factory=list)
    where: tuple[str, int] = ("", 0)
    board_traceback: str = ""

    def location(self) -> tuple[str, int]:
        """(path, line) of the innermost frame in the test file, else :attr:`where`."""
        for frame in reversed(self.frames):
            if frame.mapped and frame.lineno:
                return frame.path, frame.lineno
        return self.where

    def text(self) -> str:
        """Plain-text rendering (used by ``str()`` of the exception and by JUnit XML)."""
        path, line = self.location()
        return "\n".join([*self.lines, f"{path}:{line}: {self.exc_type}"])


class BoardTestFailure(Exception):
    """Raised on the host when a board test failed; carries a :class:`BoardFailure`."""

    def __init__(self, failure: BoardFailure) -> None:
        super().__init__(failure.text())
        self.failure = failure


class BoardSetupError(BoardTestFailure):
    """The board could not be prepared for a test (broken board, failed reset or connect)."""


_HOST_KINDS: dict[str, type[BoardTestFailure]] = {}


def failure_exception(failure: BoardFailure) -> BoardTestFailure:
    """The exception to raise on the host for a board failure.

    A :class:`BoardTestFailure` that is also an instance of the host's builtin exception of the
    same name (``AssertionError``, ``ZeroDivisionError``...), so ``xfail(raises=...)`` treats a
    board failure like the local one.
    """
    name = failure.exc_type
    if name not in _HOST_KINDS:
        base = getattr(builtins, name, None)
        kind: type[BoardTestFailure] = BoardTestFailure
        if isinstance(base, type) and issubclass(base, Exception):
            try:
                kind = type(f"Board{name}", (BoardTestFailure, base), {})
            except TypeError:  # incompatible layout (e.g. OSError)
                kind = BoardTestFailure
        _HOST_KINDS[name] = kind
    return _HOST_KINDS[name](failure)


def _parse_frames(text: str) -> list[tuple[str, int | None, str]]:
    frames = []
    for raw in text.splitlines():
        match = _FRAME_RE.match(raw)
        if match is not None:
            line = int(match.group("line")) if match.group("line") else None
            frames.append((match.group("file"), line, (match.group("func") or "?").strip()))
    return frames


def map_traceback(
    text: str, files: dict[str, str], hidden: tuple[str, ...] = ("_mph",)
) -> list[Frame]:
    """Frames of a board traceback, mapped to host files.

    Args:
        text: the traceback as the board printed it.
        files: board file name -> host file with the same line numbers (the test module's
            image and helper modules, see ``shipping.py``).
        hidden: prefixes of mpharness' own board modules, whose frames are dropped (as pytest
            hides its own); the per-test program (``<stdin>``, or ``<string>`` when a board
            without raw-paste ran it from an upload) is dropped too.
    """
    frames: list[Frame] = []
    for file, lineno, func in _parse_frames(text):
        name = file.rsplit("/", 1)[-1]
        if name in files:
            frames.append(Frame(files[name], lineno, func, mapped=True))
        elif file in (STDIN_NAME, EXEC_NAME) or name.startswith(hidden):
            continue
        else:
            frames.append(Frame(file, lineno, func, mapped=False))
    return frames


def format_board_traceback(failure: BoardFailure, rel: Any = str) -> str:
    """The board's traceback as the user's files see it, as Python prints tracebacks.

    Only frames in the test file (mapped to its lines, with the line's source) and in modules
    on the board (as the board named them) are shown; frames of the program the plugin
    shipped around the test (the runner, its assert helper) are left out. The last line is the
    failure's own message (``AssertionError: assert 2 == 3``), not the helper's exception.
    """
    lines = ["Traceback (most recent call last):"]
    for frame in failure.frames:
        where = f", line {frame.lineno}" if frame.lineno else ""
        lines.append(
            f'  File "{rel(frame.path) if frame.mapped else frame.path}"{where}, in {frame.func}'
        )
        if frame.mapped and frame.lineno:
            source = linecache.getline(frame.path, frame.lineno).strip()
            if source:
                lines.append(f"    {source}")
    message = list(failure.lines) or [failure.exc_type]
    if not message[0].startswith(failure.exc_type):
        message[0] = f"{failure.exc_type}: {message[0]}"
    return "\n".join(lines + message) + "\n"


def explain_assert(details: tuple[Any, ...], plain_expr: str | None) -> tuple[str, list[str]]:
    """(exception name, ``E`` lines) for a rewritten assert's (message, operator, left, right)."""
    message, op, left, right = [*details, None, "", "", ""][:4]
    if op == "fail":
        return "Failed", [f"Failed: {message}"]
    if op == "msg":
        return "AssertionError", [f"AssertionError: {message}"]
    lines = [f"AssertionError: {message}"] if message is not None else []
    if op == "":
        lines.append(f"assert {left}")
        if plain_expr is not None and plain_expr.strip() != left:
            lines.append(f" +  where {left} = {plain_expr.strip()}")
    else:
        lines.append(f"assert {left} {op} {right}")
        if op == "==":
            lines.extend("  " + line for line in _explain_eq(left, right))
    return "AssertionError", lines


def _literal(text: str) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def _explain_eq(left_text: str, right_text: str) -> list[str]:
    """A short pytest-like explanation of why two literal values differ."""
    ok_l, left = _literal(left_text)
    ok_r, right = _literal(right_text)
    if not (ok_l and ok_r) or type(left) is not type(right):
        return []
    out: list[str] = []
    if isinstance(left, (list, tuple)):
        for i, (a, b) in enumerate(zip(left, right, strict=False)):
            if a != b:
                out.append(f"At index {i} diff: {a!r} != {b!r}")
                break
        if len(left) != len(right):
            out.append(
                f"{'Left' if len(left) > len(right) else 'Right'} contains "
                f"{abs(len(left) - len(right))} more items"
            )
    elif isinstance(left, dict):
        differing = [k for k in left if k in right and left[k] != right[k]]
        if differing:
            out.append("Differing items:")
            out.extend(f"{{{k!r}: {left[k]!r}}} != {{{k!r}: {right[k]!r}}}" for k in differing)
        for label, a, b in (("Left", left, right), ("Right", right, left)):
            extra = [k for k in a if k not in b]
            if extra:
                out.append(f"{label} contains {len(extra)} more item(s): {extra!r}")
    elif isinstance(left, (set, frozenset)):
        out.extend(f"Extra items in the left set: {x!r}" for x in sorted(left - right, key=repr))
        out.extend(f"Extra items in the right set: {x!r}" for x in sorted(right - left, key=repr))
    if isinstance(left, (list, tuple, dict, set, str, bytes)) and len(left_text + right_text) > 60:
        a = pprint.pformat(left).splitlines()
        b = pprint.pformat(right).splitlines()
        out.append("Full diff:")
        out.extend("  " + line.rstrip() for line in difflib.ndiff(b, a))
    return out


@lru_cache(maxsize=64)
def _function_starts(path: str) -> tuple[tuple[int, int, int], ...]:
    """(first line incl. decorators, last line, def line) of every function in ``path``."""
    try:
        tree = ast.parse("".join(linecache.getlines(path)))
    except SyntaxError:
        return ()
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            spans.append((first, node.end_lineno or node.lineno, node.lineno))
    return tuple(spans)


def function_start(path: str, lineno: int) -> int:
    """First line (decorators included) of the innermost function around ``lineno``."""
    best = (0, lineno)
    for first, last, _ in _function_starts(path):
        if first <= lineno <= last and first > best[0]:
            best = (first, first)
    return best[1]


def exception_repr(failure: BoardFailure, style: str, rel: Any) -> ExceptionChainRepr:
    """A board failure as pytest's own exception report, laid out like a local failure.

    pytest's report objects (not a look-alike) so that everything that reads reports treats
    it as any failure: the short summary and JUnit's ``failure message`` take the first ``E``
    line from ``reprcrash``, and pytest-xdist serialises it whole from worker to controller.

    Args:
        failure: what went wrong.
        style: pytest's ``--tb`` style (``line`` is pytest's own, from ``reprcrash``).
        rel: makes a path relative for display.
    """
    path, line = failure.location()
    first = failure.lines[0] if failure.lines else failure.exc_type
    crash = ReprFileLocation(rel(path), line, first)
    entries: list[ReprEntry | ReprEntryNative]
    if style == "native":
        entries = [ReprEntryNative(_native_lines(failure))]
        return ExceptionChainRepr([(ReprTraceback(entries, None, "native"), crash, None)])
    frames: list[Frame | None] = [f for f in failure.frames if f.lineno] or [None]
    entries = []
    short = style == "short"
    for i, frame in enumerate(frames):
        last = i == len(frames) - 1
        where_path, lineno = (frame.path, frame.lineno) if frame else failure.where
        mapped = frame is None or frame.mapped
        source = linecache.getline(where_path, lineno).rstrip("\n") if mapped and lineno else ""
        lines: list[str] = []
        if short:
            if source:
                lines.append("    " + source.strip())
            message = f"in {frame.func}" if frame else ""
        else:
            if mapped and lineno:
                for n in range(function_start(where_path, lineno), lineno):
                    lines.append("    " + linecache.getline(where_path, n).rstrip("\n"))
                lines.append(">   " + source)
            message = failure.exc_type if last else ""
            if not mapped:
                message = f"in {frame.func if frame else '?'} (on the board) " + message
        if last:
            indent = len(source) - len(source.lstrip()) if not short else 0
            for text in failure.lines:
                for part in text.split("\n") or [""]:
                    lines.append("E   " + " " * indent + part)
        location = ReprFileLocation(rel(where_path), lineno or 0, message.strip())
        entries.append(ReprEntry(lines, None, None, location, "short" if short else "long"))
    reprtraceback = ReprTraceback(entries, None, "short" if short else "long")
    return ExceptionChainRepr([(reprtraceback, crash, None)])


def _native_lines(failure: BoardFailure) -> list[str]:
    lines = ["Traceback (most recent call last):\n"]
    for frame in failure.frames:
        lines.append(f'  File "{frame.path}", line {frame.lineno}, in {frame.func}\n')
        if frame.mapped and frame.lineno:
            lines.append("    " + linecache.getline(frame.path, frame.lineno).strip() + "\n")
    lines.extend(text + "\n" for text in failure.lines)
    return lines


def relative_to(base: str) -> Any:
    """A function giving paths relative to ``base`` when that is shorter."""

    def rel(path: str) -> str:
        if not os.path.isabs(path):
            return path
        try:
            candidate = os.path.relpath(path, base)
        except ValueError:
            return path
        return candidate if len(candidate) < len(path) else path

    return rel
