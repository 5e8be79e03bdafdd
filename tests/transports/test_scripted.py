"""ScriptedTransport: the byte-level fake board used by protocol tests."""

from __future__ import annotations

import threading
import time

import pytest

from mpharness.deadline import Deadline
from mpharness.errors import TransportClosed
from mpharness.transports.scripted import ScriptedTransport, ScriptMismatch, escape_bytes

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
ENTER_RAW = [("host", b"\r\x03\r\x01"), ("device", RAW_BANNER)]
SLACK = 2.0


def read_all(link: ScriptedTransport, timeout: float = 1.0) -> list[bytes]:
    """Every chunk readable now (stops at the first empty read)."""
    chunks: list[bytes] = []
    while data := link.read(Deadline.after(0) if chunks else Deadline.after(timeout)):
        chunks.append(data)
    return chunks


def test_device_bytes_wait_for_the_host_bytes_before_them() -> None:
    link = ScriptedTransport(ENTER_RAW)
    assert link.read(Deadline.after(0)) == b""
    link.write(b"\r\x03")
    assert link.read(Deadline.after(0)) == b""
    link.write(b"\r\x01")
    assert link.read(Deadline.after(0)) == RAW_BANNER
    assert link.at_end()
    link.assert_at_end()


def test_device_bytes_before_any_host_step_are_readable_at_once() -> None:
    link = ScriptedTransport([("device", b"boot\r\n"), ("host", b"\x03")])
    assert link.read(Deadline.after(0)) == b"boot\r\n"
    assert not link.at_end()


def test_host_writes_may_be_split_or_merged_across_steps() -> None:
    script = [("host", b"ab"), ("device", b"1"), ("host", b"cd"), ("device", b"2")]
    link = ScriptedTransport(script)
    link.write(b"a")
    link.write(b"bcd")
    assert link.read(Deadline.after(0)) == b"12"
    assert link.at_end()


def test_chunk_size_one_delivers_byte_by_byte() -> None:
    link = ScriptedTransport(ENTER_RAW, chunk_size=1)
    link.write(b"\r\x03\r\x01")
    chunks = read_all(link)
    assert chunks == [bytes([b]) for b in RAW_BANNER]


def test_chunks_cross_step_boundaries_and_respect_size() -> None:
    script = [("device", b"abc"), ("device", b"def")]
    link = ScriptedTransport(script, chunk_size=4)
    assert link.read(Deadline.after(0)) == b"abcd"
    assert link.read(Deadline.after(0), size=1) == b"e"
    assert link.read(Deadline.after(0)) == b"f"


def test_mismatch_shows_position_and_escaped_bytes() -> None:
    link = ScriptedTransport([("host", b"import os\x04"), ("device", b"OK")])
    link.write(b"import ")
    with pytest.raises(ScriptMismatch) as info:
        link.write(b"sys\x04")
    message = str(info.value)
    assert "host byte 7" in message
    assert "step 0, offset 7" in message
    assert 'expected: "import os\\x04"' in message
    assert 'got:      "import sys\\x04"' in message
    caret_line = message.splitlines()[-1]
    expected_line = message.splitlines()[-3]
    assert expected_line[caret_line.index("^")] == "o"


def test_mismatch_is_an_assertion_error() -> None:
    link = ScriptedTransport([("host", b"a")])
    with pytest.raises(AssertionError):
        link.write(b"b")


def test_writing_past_the_end_of_the_script_fails() -> None:
    link = ScriptedTransport([("host", b"a")])
    link.write(b"a")
    with pytest.raises(ScriptMismatch, match='host wrote "\\\\x03" after the end'):
        link.write(b"\x03")


def test_silence_blocks_until_the_deadline() -> None:
    link = ScriptedTransport(ENTER_RAW)
    link.write(b"\r\x03\r\x01")
    assert link.read(Deadline.after(1.0)) == RAW_BANNER
    start = time.monotonic()
    assert link.read(Deadline.after(0.2)) == b""
    assert 0.19 <= time.monotonic() - start < 0.2 + SLACK


def test_read_without_deadline_and_nothing_left_fails_instead_of_hanging() -> None:
    link = ScriptedTransport([("host", b"x")])
    with pytest.raises(ScriptMismatch, match="block forever"):
        link.read(Deadline.after(None))


def test_a_write_from_another_thread_wakes_a_blocked_read() -> None:
    link = ScriptedTransport(
        [("host", b"x"), ("device", b"OK"), ("host", b"\x03"), ("device", b"\x04KeyboardInterrupt")]
    )
    link.write(b"x")
    assert link.read(Deadline.after(1.0)) == b"OK"
    timer = threading.Timer(0.05, link.write, args=(b"\x03",))
    timer.start()
    start = time.monotonic()
    assert link.read(Deadline.after(30.0)) == b"\x04KeyboardInterrupt"
    assert time.monotonic() - start < SLACK
    timer.join()


def test_strict_order_rejects_writing_before_reading() -> None:
    script = [("host", b"a"), ("device", b"\x01"), ("host", b"b")]
    lenient = ScriptedTransport(script)
    lenient.write(b"ab")
    assert lenient.read(Deadline.after(0)) == b"\x01"
    strict = ScriptedTransport(script, strict_order=True)
    strict.write(b"a")
    with pytest.raises(ScriptMismatch, match="still unread"):
        strict.write(b"b")
    assert strict.read(Deadline.after(0)) == b"\x01"
    strict.write(b"b")
    assert strict.at_end()


def test_assert_at_end_lists_what_is_left() -> None:
    link = ScriptedTransport(ENTER_RAW)
    link.write(b"\r\x03")
    with pytest.raises(ScriptMismatch, match=r'write "\\r\\x01" \(2 bytes\)'):
        link.assert_at_end()


def test_closed_step_drops_the_link_and_reconnect_resumes() -> None:
    script = [
        ("host", b"\x04"),
        ("device", b"soft reboot\r\n"),
        ("closed", b""),
        ("device", b"Password: "),
        ("host", b"secret\r"),
    ]
    link = ScriptedTransport(script)
    link.write(b"\x04")
    assert link.read(Deadline.after(1.0)) == b"soft reboot\r\n"
    with pytest.raises(TransportClosed):
        link.read(Deadline.after(1.0))
    assert link.closed and link.can_reconnect
    with pytest.raises(TransportClosed):
        link.write(b"x")
    link.reconnect(Deadline.after(1.0))
    assert not link.closed
    assert link.read(Deadline.after(1.0)) == b"Password: "
    link.write(b"secret\r")
    assert link.at_end()


def test_close_makes_the_link_unusable() -> None:
    link = ScriptedTransport(ENTER_RAW)
    link.close()
    link.close()
    assert link.closed
    with pytest.raises(TransportClosed):
        link.write(b"\r")


def test_bad_steps_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown script step kind"):
        ScriptedTransport([("board", b"x")])
    with pytest.raises(TypeError):
        ScriptedTransport([("host", "text")])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        ScriptedTransport([], chunk_size=0)


def test_escape_bytes_is_readable_and_unambiguous() -> None:
    assert escape_bytes(b"OK\r\n\x04>\\\x80") == "OK\\r\\n\\x04>\\\\\\x80"
