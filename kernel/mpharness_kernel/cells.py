"""Cell source on the host: magic lines, the last-expression rewrite, output frames, tracebacks.

Theory of operation
-------------------
A cell is split into segments: a cell magic (``%%name args`` on the first line, the rest is its
body), or a run of code, line magics (``%name args`` at column 0) and host shell lines
(``!cmd`` at column 0), the last two only where the code before them is complete, so such a
line inside a triple-quoted string stays code. Code segments keep
the cell's line numbers: each is sent after as many newlines as precede it in the cell.

If the last segment ends with an expression statement, that statement is rewritten in place to
print the repr of EXPR between ``\\x1e=`` and ``\\x1f``; the expression stays on its own
lines, so board tracebacks keep the cell's line numbers. The value frame is the last thing the
cell prints, so the host takes a frame at the very end of stdout as the value and anything
else as output.

Board code may also print display frames ``\\x1e!KEY MIME PAYLOAD\\x1f`` (the board-side helper
in ``_device/display.py`` does), which :class:`OutputDemux` turns into rich outputs in order with
the text around them. KEY is a per-session secret (:func:`new_display_key`) that only the
helper's closure holds on the board: board output carrying data from files, sensors or the
network cannot know it, so a frame without it (or with another) is shown as the plain text it
is, never as HTML or JavaScript. Text is held back only while a frame is open.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

FRAME_START = "\x1e"
FRAME_END = "\x1f"
VALUE_KIND = "="
DISPLAY_KIND = "!"
#: ``\x1e?PROMPT\x1f``: the board-side ``input()`` waits for a line (``_device/input.py``).
INPUT_KIND = "?"
#: Live displays (``_device/live.py``) ride on display frames: ``#ID#MIME`` creates output
#: ``ID``, ``^ID^MIME`` updates it, the pseudo type ``x-mpharness/clear`` clears the cell.
_LIVE_MIME = re.compile(r"^([#^])([^#^\s]+)\1(\S+ .*)$", re.DOTALL)
CLEAR_MIME = "x-mpharness/clear"
#: An unterminated frame longer than this is released as plain text.
MAX_FRAME_CHARS = 8 * 1024 * 1024
#: MIME types whose payload is base64 text in Jupyter's display messages.
BINARY_MIMES = frozenset({"image/png", "image/jpeg", "image/gif"})
#: Binary payloads from boards without binascii come as ``hex:`` + hex digits.
HEX_PREFIX = "hex:"

#: The final expression becomes ``print('<RS>=%r<US>'%((EXPR),))``: the frame bytes go into
#: the source raw (one byte each, not a 4-byte escape) because boards without raw-paste run
#: code of up to ~60 bytes in one write and larger code by a slower upload.
_VALUE_OPEN = "print('" + FRAME_START + VALUE_KIND + "%r" + FRAME_END + "'%(("
_VALUE_CLOSE = "),))"
_MAGIC_LINE = re.compile(r"^%(?!%)")
#: ``!cmd`` at column 0 (never valid Python): a host shell command, as in IPython.
_SHELL_LINE = re.compile(r"^!")
_BOARD_FRAME = re.compile(r'^(\s*)File "<stdin>", line (\d+)(.*)$')
_EXEC_WRAPPER = re.compile(r'^\s*File "<stdin>", line 1, in <module>$')
_STRING_FRAME = re.compile(r'^(\s*)File "<string>"')
_FRAME_FUNCTION = re.compile(r"^, in (\S+)")


@dataclass(frozen=True)
class Segment:
    """A piece of a cell: code to run on the board, or one line magic.

    Attributes:
        kind: ``"code"``, ``"magic"`` or ``"shell"``.
        text: the code, the magic line without its ``%``, or the ``!cmd`` line as written.
        first_line: 1-based line of the segment in the cell.
    """

    kind: str
    text: str
    first_line: int


@dataclass(frozen=True)
class CellMagic:
    """A ``%%name args`` cell: the magic's name, its argument line and the body below it."""

    name: str
    args: str
    body: str
    body_first_line: int


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def cell_magic(source: str) -> CellMagic | None:
    """The cell magic heading ``source``, if its first non-blank line starts with ``%%``."""
    lines = source.split("\n")
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if not line.startswith("%%"):
            return None
        name, _, args = line[2:].strip().partition(" ")
        return CellMagic(name, args.strip(), "\n".join(lines[index + 1 :]), index + 2)
    return None


def split_segments(source: str) -> list[Segment]:
    """Split a cell (without a cell magic) into code and line-magic segments, in order."""
    segments: list[Segment] = []
    code: list[str] = []
    code_first = 1
    for number, line in enumerate(source.split("\n"), start=1):
        if _MAGIC_LINE.match(line) and _parses("".join(code)):
            if "".join(code).strip():
                segments.append(Segment("code", "".join(code), code_first))
            segments.append(Segment("magic", line[1:].strip(), number))
            code, code_first = [], number + 1
            continue
        if _SHELL_LINE.match(line) and _parses("".join(code)):
            if "".join(code).strip():
                segments.append(Segment("code", "".join(code), code_first))
            segments.append(Segment("shell", line.rstrip(), number))
            code, code_first = [], number + 1
            continue
        code.append(line + "\n")
    if "".join(code).strip():
        segments.append(Segment("code", "".join(code).rstrip("\n") + "\n", code_first))
    return segments


def _char_col(line: str, byte_col: int) -> int:
    """ast column offsets count UTF-8 bytes; convert to a str index into ``line``."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace"))


def rewrite_last_expression(code: str) -> tuple[str, bool]:
    """Make the code print a value frame for its last expression statement.

    Returns:
        ``(code, True)`` with the final expression statement wrapped, or ``(code, False)`` when
        there is none, the code does not parse on the host (the board reports its own syntax
        error), or a trailing ``;`` asks for no output, as in IPython.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code, False
    if not tree.body or not isinstance(tree.body[-1], ast.Expr) or _is_print(tree.body[-1]):
        return code, False
    node = tree.body[-1]
    assert node.end_lineno is not None and node.end_col_offset is not None
    lines = code.split("\n")
    first, last = node.lineno - 1, node.end_lineno - 1
    start = _char_col(lines[first], node.col_offset)
    end = _char_col(lines[last], node.end_col_offset)
    if lines[last][end:].lstrip().startswith(";"):
        return code, False
    head, tail = lines[first][:start], lines[last][end:]
    if first == last:
        lines[first] = head + _wrap(lines[first][start:end]) + tail
    else:
        lines[first] = head + _VALUE_OPEN + lines[first][start:]
        lines[last] = lines[last][:end] + _VALUE_CLOSE + tail
    return "\n".join(lines), True


def _is_print(node: ast.Expr) -> bool:
    """``print(...)`` returns None: no value frame needed (saves bytes on slow links)."""
    call = node.value
    return (
        isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print"
    )


def _wrap(expr: str) -> str:
    return _VALUE_OPEN + expr + _VALUE_CLOSE


def new_display_key() -> str:
    """A fresh secret for display frames (alphanumeric: it travels as a literal)."""
    return secrets.token_hex(8)


@runtime_checkable
class LiveOutput(Protocol):
    """An :class:`~mpharness_kernel.output.Output` that can also update outputs in place."""

    def live(self, data: dict[str, object] | None, display_id: str, update: bool) -> None:
        """Show ``data`` as output ``display_id`` (``update``: replace it where it is); with
        ``data`` None, clear the cell's output (``update`` is then ``wait``)."""


class OutputDemux:
    """Splits streamed board stdout into text, display frames and the final value frame.

    Args:
        on_text: called with plain stdout text, in order.
        on_display: called with a Jupyter MIME bundle for each display frame.
        expect_value: whether the cell ends with a value frame.
        display_key: the session's display-frame secret; display and input frames without
            it are text (None: every display and input frame is text).
        on_input: called with the prompt of each input frame (None: they stay text).
        on_live: called with ``(bundle, display_id, update)`` for display frames that name an
            output id, and with ``(None, "", wait)`` for ``clear_output`` (None: plain
            displays, and clears are dropped).
    """

    def __init__(
        self,
        on_text: Callable[[str], None],
        on_display: Callable[[dict[str, object]], None],
        *,
        expect_value: bool = False,
        display_key: str | None = None,
        on_input: Callable[[str], None] | None = None,
        on_live: Callable[[dict[str, object] | None, str, bool], None] | None = None,
    ) -> None:
        self._on_text = on_text
        self._on_display = on_display
        self._on_input = on_input
        self._on_live = on_live
        self._expect_value = expect_value
        self._display_prefix = None if not display_key else display_key + " "
        self._pending = ""
        self._value: str | None = None
        self._eat_newline = False
        self._cr = ""

    def feed(self, text: str) -> None:
        """Take the next piece of stdout (``\\r\\n`` becomes ``\\n``, even across pieces)."""
        text = self._cr + text
        self._cr = ""
        if text.endswith("\r"):
            text, self._cr = text[:-1], "\r"
        self._pending += text.replace("\r\n", "\n")
        while self._pending:
            if self._eat_newline:
                if self._pending.startswith("\n"):
                    self._pending = self._pending[1:]
                self._eat_newline = False
                continue
            start = self._pending.find(FRAME_START)
            if start < 0:
                self._text(self._pending)
                self._pending = ""
                return
            if start:
                self._text(self._pending[:start])
                self._pending = self._pending[start:]
            end = self._pending.find(FRAME_END)
            if end < 0:
                if len(self._pending) > MAX_FRAME_CHARS:
                    self._text(self._pending)
                    self._pending = ""
                return
            frame, self._pending = self._pending[1:end], self._pending[end + 1 :]
            self._frame(frame)

    def finish(self) -> str | None:
        """Flush held text; returns the repr of the cell's value, if it printed one."""
        self._pending += self._cr
        self._cr = ""
        if self._pending:
            self._text(self._pending)
            self._pending = ""
        value, self._value = self._value, None
        return value

    def _text(self, text: str) -> None:
        if not text:
            return
        if self._value is not None:  # a value frame that was not last: it was output
            stale, self._value = self._value, None
            self._on_text(FRAME_START + VALUE_KIND + stale + FRAME_END + "\n")
        self._on_text(text)

    def _frame(self, frame: str) -> None:
        kind, body = frame[:1], frame[1:]
        if kind == VALUE_KIND and self._expect_value:
            self._text("")
            if self._value is not None:
                self._text(FRAME_START + frame + FRAME_END)
            self._value = body
            self._eat_newline = True
            return
        prefix = self._display_prefix
        ours = kind in (DISPLAY_KIND, INPUT_KIND) and prefix is not None
        if not ours or not body.startswith(prefix):  # type: ignore[arg-type]
            self._text(FRAME_START + frame + FRAME_END)  # not ours: plain text
            return
        body = body[len(prefix) :]  # type: ignore[arg-type]
        if kind == INPUT_KIND:
            if self._on_input is None:  # no input box here: shown as text, without the key
                self._text(FRAME_START + INPUT_KIND + body + FRAME_END)
                return
            self._text("")
            self._on_input(body)
            return
        live = _LIVE_MIME.match(body)
        if live is not None:
            body = live.group(3)
        elif body.startswith(CLEAR_MIME + " "):
            self._text("")
            if self._on_live is not None:
                self._on_live(None, "", body.endswith("1"))
            self._eat_newline = True
            return
        bundle = display_bundle(body)
        if bundle is None:  # ours but malformed: shown as text, without the key
            self._text(FRAME_START + DISPLAY_KIND + body + FRAME_END)
            return
        self._text("")
        if live is not None and self._on_live is not None:
            self._on_live(bundle, live.group(2), live.group(1) == "^")
        else:
            self._on_display(bundle)
        self._eat_newline = True


def display_bundle(body: str) -> dict[str, object] | None:
    """The MIME bundle for a display frame body ``MIME PAYLOAD``, or None if malformed."""
    mime, sep, payload = body.partition(" ")
    if not sep or "/" not in mime:
        return None
    if mime in BINARY_MIMES:
        data: object = "".join(payload.split())
        if payload.startswith(HEX_PREFIX):
            try:
                raw = bytes.fromhex(payload[len(HEX_PREFIX) :])
            except ValueError:
                return None
            data = base64.b64encode(raw).decode("ascii")
    elif mime.endswith("json"):
        data = _json_or_literal(payload)
        if data is _INVALID:
            return None
    else:
        data = payload
    bundle: dict[str, object] = {mime: data}
    if mime != "text/plain":
        bundle["text/plain"] = f"<{mime} from the board>"
    return bundle


_INVALID = object()


def _json_or_literal(payload: str) -> object:
    """JSON text, or a Python literal (boards without a json module send ``repr()``)."""
    try:
        return json.loads(payload)
    except ValueError:
        pass
    try:
        value = ast.literal_eval(payload)
        json.dumps(value)
    except (ValueError, SyntaxError, TypeError):
        return _INVALID
    return value


def format_board_traceback(
    traceback: str,
    source: str,
    label: str = "<cell>",
    locate: Callable[[str, int], tuple[str, str]] | None = None,
) -> list[str]:
    """The device traceback with the cell's frames named ``label`` and their source lines shown.

    Line numbers are the cell's own (code is sent keeping them); frames in board files are kept
    as the board printed them. ``locate(function, line)`` names the cell a frame belongs to
    and gives its source line (functions defined in earlier cells); without it every
    ``<stdin>`` frame is the current cell's.
    """
    cell_lines = source.split("\n")
    out: list[str] = []
    lines = traceback.rstrip("\n").split("\n")
    if len(lines) > 2 and _EXEC_WRAPPER.match(lines[1]) and _STRING_FRAME.match(lines[2]):
        # the engine ran the cell as exec(<uploaded string>): its frames are the cell's
        lines = [lines[0], *(_STRING_FRAME.sub(r'\1File "<stdin>"', x) for x in lines[2:])]
    for line in lines:
        match = _BOARD_FRAME.match(line)
        if match is None:
            out.append(line)
            continue
        indent, number, rest = match.group(1), int(match.group(2)), match.group(3)
        if locate is not None:
            function = _FRAME_FUNCTION.match(rest)
            where, text = locate(function.group(1) if function else "<module>", number)
        else:
            where = label
            text = cell_lines[number - 1].strip() if 1 <= number <= len(cell_lines) else ""
        out.append(f'{indent}File "{where}", line {number}{rest}')
        if text:
            out.append(f"{indent}  {text}")
    return out
