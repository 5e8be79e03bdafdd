"""Host-side framing helpers: the end marker statement and device traceback parsing."""

from __future__ import annotations

import contextlib
import io

import pytest

from mpharness.protocol import make_marker, parse_exception, with_end_marker

from .helpers import MARKER, NONCE


def _run_on_host(source: bytes) -> str:
    """Run MicroPython-compatible source with CPython and return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source.decode("utf-8"), "<stdin>", "exec"), {})
    return out.getvalue()


def test_marker_bytes() -> None:
    assert make_marker(b"00ff") == b"\x1e00ff\x1f"


@pytest.mark.parametrize(
    "code",
    ["", "x = 1", "x = 1\n", "print('a')\nprint('b')", "if True:\n    y = 2\n", "# only a comment"],
)
def test_end_marker_statement_prints_the_marker_last(code: str) -> None:
    source = with_end_marker(code, NONCE)
    assert b"\x04" not in source and b"\x1e" not in source  # escapes, not raw control bytes
    printed = _run_on_host(source).encode("latin-1")
    assert printed.endswith(MARKER + b"\n")
    assert printed.count(MARKER) == 1


def test_end_marker_keeps_line_numbers() -> None:
    source = with_end_marker("a = 1\nb = 2\nraise ValueError('x')", NONCE)
    assert source.startswith(b"a = 1\nb = 2\nraise ValueError('x')\n")
    with pytest.raises(ValueError) as info:
        _run_on_host(source)
    assert info.traceback[-1].lineno + 1 == 3


def test_end_marker_keeps_unicode() -> None:
    source = with_end_marker("print('héllo ✓')", NONCE)
    assert _run_on_host(source) == "héllo ✓\n\x1e" + NONCE.decode() + "\x1f\n"


def _tb(*frames: bytes, last: bytes, eol: bytes = b"\r\n") -> bytes:
    lines = [b"Traceback (most recent call last):", *frames, last]
    return eol.join(lines) + eol


FRAME = b'  File "<stdin>", line 1, in <module>'


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize(
    ("last", "exc_type", "message"),
    [
        (b"ZeroDivisionError: divide by zero", "ZeroDivisionError", "divide by zero"),
        (b"AssertionError", "AssertionError", ""),
        (b"KeyboardInterrupt: ", "KeyboardInterrupt", ""),
        (b"ValueError: a: b", "ValueError", "a: b"),
        (b"OSError: [Errno 2] ENOENT", "OSError", "[Errno 2] ENOENT"),
        (b"mymod.sub.MyError: bad", "mymod.sub.MyError", "bad"),
        (b"_Private9: x", "_Private9", "x"),
    ],
)
def test_parse_single_line_exceptions(last: bytes, exc_type: str, message: str, eol: bytes) -> None:
    error = _tb(FRAME, last=last, eol=eol)
    exc = parse_exception(error)
    assert (exc.exc_type, exc.message) == (exc_type, message)
    assert exc.traceback == error.decode().replace("\r\n", "\n")


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_parse_multi_line_message_and_nested_frames(eol: bytes) -> None:
    error = _tb(
        b'  File "<stdin>", line 9, in <module>',
        b'  File "lib.py", line 3, in helper',
        last=b"ValueError: first line" + eol + b"second line" + eol + b"    indented third",
        eol=eol,
    )
    exc = parse_exception(error)
    assert exc.exc_type == "ValueError"
    assert exc.message == "first line\nsecond line\n    indented third"
    assert "lib.py" in exc.traceback


def test_parse_syntax_error_without_module_frame() -> None:
    error = (
        b"Traceback (most recent call last):\r\n"
        b'  File "<stdin>", line 1\r\n'
        b"SyntaxError: invalid syntax\r\n"
    )
    exc = parse_exception(error)
    assert (exc.exc_type, exc.message) == ("SyntaxError", "invalid syntax")


def test_parse_interrupt_of_a_raw_paste_transfer() -> None:
    """§2.3: Ctrl-C during the transfer gives a bare line with no traceback header."""
    exc = parse_exception(b"KeyboardInterrupt: \r\n")
    assert (exc.exc_type, exc.message) == ("KeyboardInterrupt", "")


def test_parse_non_utf8_bytes() -> None:
    error = _tb(FRAME, last=b"UnicodeError: bad \xff\xfe bytes")
    exc = parse_exception(error)
    assert exc.exc_type == "UnicodeError"
    assert exc.message == "bad \ufffd\ufffd bytes"


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (b"", ""),
        (b"some garbage text\r\n", "some garbage text"),
        # a truncated traceback: the text itself is the best message there is
        (b"Traceback (most recent call last):\r\n", "Traceback (most recent call last):"),
    ],
)
def test_parse_unrecognised_error_text(error: bytes, message: str) -> None:
    exc = parse_exception(error)
    assert exc.exc_type == "Exception"
    assert exc.message == message
