"""The checked-exec envelope on the host side: escaping, checksum, traceback cleaning, and
telling "damaged before running" from "ran" (see mpharness/session/integrity.py)."""

from __future__ import annotations

import ast

import pytest

from mpharness.session import integrity
from mpharness.session.literals import bytes_literal


@pytest.mark.parametrize(
    "data",
    [b"", b"print(1)", b"a'b\\c\r\nd\n", bytes(range(0x20)), b"\x04 is not \x04", b"\x017\x00"],
)
def test_bytes_literal_reads_back_exactly(data: bytes) -> None:
    literal = bytes_literal(data)
    assert not set(literal) & {0, 1, 2, 3, 4, 10, 13}
    assert ast.literal_eval(literal.decode("ascii")) == data


def test_bytes_literal_keeps_high_bytes_raw() -> None:
    """MicroPython's lexer is 8-bit clean in bytes literals: no 4x escapes for 0x80-0xFF."""
    data = bytes(range(0x80, 0x100))
    assert bytes_literal(data) == b"b'" + data + b"'"


def test_checksum_moves_with_any_single_byte_change() -> None:
    code = b"machine.Pin(5, machine.Pin.OUT).value(1)"
    base = integrity.checksum(code)
    for i in range(len(code)):
        for delta in (1, 0x40, 0xFF - code[i]):
            if delta == 0:
                continue
            damaged = code[:i] + bytes([(code[i] + delta) % 256]) + code[i + 1 :]
            assert integrity.checksum(damaged) != base


def test_envelope_carries_length_and_checksum_xor_nonce() -> None:
    code = b"print('hello')"
    frame = integrity.envelope(code, b"123456789", with_helper=False)
    assert frame == b"_mph_x(b'print(\\'hello\\')',%d,%d,123456789)" % (
        len(code),
        integrity.checksum(code) ^ 123456789,
    )


def test_short_code_is_padded_past_the_interned_length() -> None:
    frame = integrity.envelope(b"x=1", b"100000000", with_helper=False)
    padded = b"x=1" + b"\n" * (integrity.INTERNED_MAX - 2)
    assert frame.startswith(b"_mph_x(" + bytes_literal(padded) + b",")


def test_helper_is_sent_with_its_own_check() -> None:
    frame = integrity.envelope(b"pass" * 4, b"100000000", with_helper=True)
    source = integrity.helper()
    assert b"==%d:exec(_mph)" % integrity.checksum(source) in frame
    assert frame.endswith(b",100000000)")


_ENVELOPE = b'  File "<stdin>", line 1, in <module>\r\n'
_HELPER = b'  File "<stdin>", line 9, in _mph_x\r\n'
_HEAD = b"Traceback (most recent call last):\r\n"


def test_clean_traceback_reads_as_plain_code() -> None:
    error = (
        _HEAD
        + _ENVELOPE
        + _HELPER
        + b'  File "<string>", line 4, in <module>\r\n'
        + b'  File "<string>", line 2, in f\r\n'
        + b"ZeroDivisionError: divide by zero\r\n"
    )
    assert integrity.clean_traceback(error) == (
        _HEAD
        + b'  File "<stdin>", line 4, in <module>\r\n'
        + b'  File "<stdin>", line 2, in f\r\n'
        + b"ZeroDivisionError: divide by zero\r\n"
    )


def test_syntax_error_in_the_code_is_its_own() -> None:
    error = _HEAD + _ENVELOPE + _HELPER + b'  File "<string>", line 3\r\nSyntaxError: invalid\r\n'
    assert integrity.ran(b"", error)
    assert integrity.clean_traceback(error) == (
        _HEAD + b'  File "<stdin>", line 3\r\nSyntaxError: invalid\r\n'
    )


def test_failed_check_did_not_run_and_asks_for_the_helper_again() -> None:
    error = _HEAD + _ENVELOPE + _HELPER + b"OSError: mph-integrity\r\n"
    assert not integrity.ran(b"", error)
    assert integrity.helper_broken(error)


@pytest.mark.parametrize(
    "last",
    [b"SyntaxError: invalid syntax", b"NameError: name '_mph_y' isn't defined", b"TypeError: x"],
)
def test_damaged_envelope_did_not_run(last: bytes) -> None:
    error = _HEAD + b'  File "<stdin>", line 1\r\n' + last + b"\r\n"
    assert not integrity.ran(b"", error)


def test_missing_helper_is_sent_again() -> None:
    error = _HEAD + _ENVELOPE + b"NameError: name '_mph_x' isn't defined\r\n"
    assert integrity.helper_broken(error)
    assert not integrity.helper_broken(_HEAD + _ENVELOPE + b"SyntaxError: x\r\n")
    assert integrity.helper_broken(_HEAD + _ENVELOPE + b"SyntaxError: x\r\n", just_sent=True)


def test_memory_error_is_an_answer_not_damage() -> None:
    assert integrity.ran(b"", _HEAD + _ENVELOPE + b"MemoryError: memory allocation\r\n")


def test_keyboard_interrupt_is_an_answer_only_after_a_ctrl_c() -> None:
    error = _HEAD + _ENVELOPE + b"KeyboardInterrupt: \r\n"
    assert integrity.ran(b"", error, interrupted=True)
    assert not integrity.ran(b"", error)  # a 0x03 made by noise: nothing ran, resend


def test_start_tag_means_the_code_ran_whatever_the_error_says() -> None:
    error = _HEAD + b'  File "<strinf>", line 1\r\nSyntaxError: damaged on the way back\r\n'
    assert integrity.ran(integrity.STARTED + b"partial output", error)
    assert not integrity.ran(b"partial output", error)


def test_value_checksum_round_trip() -> None:
    text = repr({"a": [1, 2.5, "é"]})
    tail = f"\x1d{integrity.checksum(text.encode())}"
    assert integrity.split_value(text + tail) == (text, True)
    assert integrity.split_value(text.replace("1", "7") + tail) == (text.replace("1", "7"), False)
    assert integrity.split_value(text) == (text, False)
