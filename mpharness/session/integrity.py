"""Checked execs: code that runs on the board only if it arrived intact.

Theory of operation
-------------------
The raw REPL has no checksum. On a link that can flip or drop bytes (a UART behind a USB
bridge, a long cable, an RFC 2217 hop), a corrupted program may still compile and do
something else than what was sent: another pin, another address, another value. In *checked*
mode the code does not go to the board as source but as data: one statement

    _mph_x(b'<code, escaped>', <length>, <checksum xor nonce>, <nonce>)

calls a board-side helper (``mpharness/_device/integrity.py``, defined once per interpreter:
the first checked exec after a reset sends it in the same frame) that recomputes length and
checksum, and only if both match prints a start tag (``\x1c``) and runs the code with ``exec``
in the interpreter's globals, then prints the exec's end marker. The nonce is inside the
checksum, so a corrupted nonce cannot produce a marker either. A corrupted envelope fails
before any user code runs (checksum mismatch, a syntax error in the envelope, a mangled helper
name): no start tag, no frame of the code; only then does the host resend, so code runs at most
once unless two separate hits damage one reply.

The checksum is ``int.from_bytes(code, 'little') % P`` with the prime ``P`` below 2**31: every
single-byte change moves it (P is prime and larger than 255), C speed on every port with big
ints, same value on host and board. Values read by ``Board.eval`` come back with the same
checksum (``_mph_v``). Free-form stdout is not checked: the firmware offers no portable way to
see its own output (``os.dupterm`` is missing on many ports).

Tracebacks are cleaned so they read as if the code had been sent plainly: the envelope's and
the helper's frames go, ``<string>`` frames (the code's own) become ``<stdin>``.
"""

from __future__ import annotations

import re

from mpharness.session.device_code import helper_source
from mpharness.session.literals import bytes_literal
from mpharness.session.tracebacks import as_sent_whole

#: the checksum's modulus (a prime below 2**31)
MODULUS = 2147483629
#: the text of the board-side error for code that failed its check
FAILED = b"mph-integrity"
#: what the helper prints just before it runs the code (taken out of stdout by the host)
STARTED = b"\x1c"
#: names the helper defines on the board
HELPER_EXEC = "_mph_x"
HELPER_VALUE = "_mph_v"
#: MicroPython interns string and bytes literals up to this length for good (qstrs): shorter
#: code is padded with newlines, so a long session of distinct short execs leaks nothing
INTERNED_MAX = 10
#: how often code is resent after failing its check before giving up
RESENDS = 5

_HELPER_FRAME = re.compile(rb'  File "<(?:stdin|string)>", line \d+, in (?:_mph_x|_mph_v)\r?\n')
_ENVELOPE_FRAME = re.compile(rb'  File "<stdin>", line \d+, in <module>\r?\n')
_STRING_FRAME = re.compile(rb'(  File )"<string>"(, line \d+)')


def checksum(data: bytes) -> int:
    """The checksum the board computes for ``data``."""
    return int.from_bytes(data, "little") % MODULUS


def helper() -> bytes:
    """The board-side helper's source."""
    return helper_source("integrity").encode()


def checked_helper() -> bytes:
    """Statements that define the helper only if its source arrived intact."""
    source = helper()
    return b"_mph=%s\nif int.from_bytes(_mph,'little')%%%d==%d:exec(_mph)\n_mph=None\n" % (
        bytes_literal(source),
        MODULUS,
        checksum(source),
    )


def envelope(code: bytes, nonce: bytes, *, with_helper: bool) -> bytes:
    """The checked form of ``code``: one statement (after the helper, if asked)."""
    if len(code) <= INTERNED_MAX:
        code += b"\n" * (INTERNED_MAX + 1 - len(code))
    number = int(nonce)
    call = b"%s(%s,%d,%d,%d)" % (
        HELPER_EXEC.encode(),
        bytes_literal(code),
        len(code),
        checksum(code) ^ number,
        number,
    )
    return (checked_helper() if with_helper else b"") + call


def stored_call(variable: str, code: str, nonce: bytes) -> bytes:
    """The checked run of ``code`` already uploaded into the board-side str ``variable`` (its
    length in characters; the checksum reads a str's UTF-8 bytes in place, no copy)."""
    number = int(nonce)
    return b"%s(%s,%d,%d,%d)" % (
        HELPER_EXEC.encode(),
        variable.encode(),
        len(code),
        checksum(code.encode("utf-8")) ^ number,
        number,
    )


def value_statement(expr: str) -> str:
    """Print ``expr``'s repr after the value tag, then the tag again and the repr's checksum."""
    return f"{HELPER_VALUE}({expr})"


def split_value(text: str) -> tuple[str, bool]:
    """``repr`` text and whether it matches its checksum, from what follows the value tag."""
    body, sep, tail = text.rpartition("\x1d")
    if not sep or not tail.strip().isdigit():
        return text, False
    return body, checksum(body.encode("utf-8")) == int(tail.strip())


def ran(stdout: bytes, error: bytes, interrupted: bool = False) -> bool:
    """Whether the code may have run, or the error is an answer to give as it is: the start
    tag arrived, or the error shows a frame of the code (``<string>``, after the helper's
    frame), or it is a MemoryError, or a KeyboardInterrupt while the host had sent Ctrl-C
    (``interrupted``; without it, a 0x03 was noise). Only with none of these is a resend
    safe: it takes two independent hits on one reply to resend code that ran."""
    if STARTED in stdout:
        return True
    helper = _HELPER_FRAME.search(error)
    if helper is not None and _STRING_FRAME.search(error, helper.end()):
        return True
    last = error.rstrip().splitlines()[-1:] or [b""]
    answers = (b"KeyboardInterrupt", b"MemoryError") if interrupted else (b"MemoryError",)
    return last[0].startswith(answers)


def helper_broken(error: bytes, just_sent: bool = False) -> bool:
    """The helper must be sent again: it is missing, or it failed before running the code
    (a failed check is also reported so; resending it costs little), or it was sent in this
    frame and the frame failed before reaching it."""
    helper = _HELPER_FRAME.search(error)
    if helper is not None:
        return _STRING_FRAME.search(error, helper.end()) is None
    return helper_missing(error) or (just_sent and bool(error))


def helper_missing(error: bytes) -> bool:
    """The board no longer has the helper (a reset we did not see, or user code removed it)."""
    return b"NameError" in error and HELPER_EXEC.encode() in error


def clean_traceback(error: bytes) -> bytes:
    """The traceback as if the code had been sent plainly."""
    if not _HELPER_FRAME.search(error):
        return error
    error = _ENVELOPE_FRAME.sub(b"", error, count=1)
    return as_sent_whole(_HELPER_FRAME.sub(b"", error))
