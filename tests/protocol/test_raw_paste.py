"""Raw-paste mode: request, window credits, pipelining, fallbacks and aborts (protocols.md §2).

Every exchange is fed whole, byte by byte and in random chunks, with and without background
output where a device can emit it (before ``R\\x01``, between credits, before the ack).
"""

from __future__ import annotations

import pytest

from mpharness.errors import ProtocolError
from mpharness.protocol import (
    ExecFinished,
    PasteSupport,
    RawReplMachine,
    State,
    parse_exception,
)

from .helpers import (
    EOLS,
    FEED_MODES,
    MARKER,
    NOISE,
    PASTE_REQUEST,
    Driver,
    code_of,
    noise_bytes,
    ready_machine,
    render,
)


def _reply_ok(window: int) -> bytes:
    return b"R\x01" + window.to_bytes(2, "little") + b"\x01"


def _credits_needed(total: int, window: int) -> int:
    """Credits beyond the two initial windows the host needs to send ``total`` bytes."""
    return max(0, -(-total // window) - 2)


def _ok_reply(eol: bytes) -> tuple[bytes, bytes]:
    """(device bytes after the ack, expected stdout) for a completed run."""
    return b"hello" + eol + MARKER + eol + b"\x04\x04>", b"hello" + eol


@pytest.mark.parametrize("noise_kind", ["none", "tick"])
@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol", list(EOLS.values()), ids=list(EOLS))
@pytest.mark.parametrize(("window", "size"), [(128, 20), (128, 1000), (32, 20), (32, 300)])
def test_first_exec_negotiates_and_streams_code(
    window: int, size: int, eol: bytes, mode: str, noise_kind: str
) -> None:
    noise = noise_bytes(noise_kind, eol)
    code = code_of(size)
    driver = Driver(ready_machine())
    driver.write(driver.machine.begin_exec(code, MARKER))
    assert driver.sent == PASTE_REQUEST  # support unknown: ask first, send nothing else

    driver.feed(render([NOISE, _reply_ok(window)], noise), mode)
    assert driver.of_type(PasteSupport) == [PasteSupport(True, window)]
    total = size + 1
    assert driver.sent == PASTE_REQUEST + (code + b"\x04")[: 2 * window]

    credits = [b"\x01", NOISE] * _credits_needed(total, window)
    driver.feed(render(credits, noise), mode)
    assert driver.sent == PASTE_REQUEST + code + b"\x04"
    assert driver.machine.state is State.END_ACK

    reply, stdout = _ok_reply(eol)
    driver.feed(render([b"\x01", NOISE, b"\x04", reply], noise), mode)
    result = driver.finished()
    assert result == ExecFinished(stdout, b"", True, False)
    assert driver.machine.state is State.READY
    assert driver.machine.paste_supported is True
    assert driver.sent == PASTE_REQUEST + code + b"\x04"  # nothing more written
    assert driver.noise() == noise * (2 + _credits_needed(total, window))


@pytest.mark.parametrize("window", [128, 32])
def test_flow_control_never_exceeds_credit(window: int) -> None:
    code = code_of(10 * window + 7)
    machine = ready_machine()
    machine.begin_exec(code, MARKER)
    machine.receive(b"R\x01" + window.to_bytes(2, "little"))  # the size alone grants a window
    sent = machine.data_to_send()
    assert len(sent) == window
    assert machine.data_to_send() == b""  # no credit, nothing more
    machine.receive(b"\x01")
    chunk = machine.data_to_send()
    assert len(chunk) == window
    sent += chunk
    machine.receive(b"\x01\x01")  # two credits at once: two windows, not more
    chunk = machine.data_to_send()
    assert len(chunk) == 2 * window
    sent += chunk
    assert machine.data_to_send() == b""
    while machine.state is State.SENDING:
        machine.receive(b"\x01")
        chunk = machine.data_to_send()
        assert 0 < len(chunk) <= window
        sent += chunk
    assert sent == code + b"\x04"
    assert machine.pending_bytes == 0
    machine.receive(b"\x01")  # a late credit after the last byte is harmless
    assert machine.data_to_send() == b""


def test_credits_in_the_same_chunk_as_the_reply() -> None:
    code = code_of(1000)
    driver = Driver(ready_machine())
    driver.write(driver.machine.begin_exec(code, MARKER))
    # the reply, the extra window and two credits in one read: four windows
    driver.feed(b"R\x01\x80\x00\x01\x01\x01")
    assert driver.sent == PASTE_REQUEST + code[:512]
    driver.feed(b"\x01\x01\x01")
    assert driver.sent == PASTE_REQUEST + code[:896]
    driver.feed(b"\x01")
    assert driver.sent == PASTE_REQUEST + code + b"\x04"


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol", list(EOLS.values()), ids=list(EOLS))
@pytest.mark.parametrize(("window", "size"), [(128, 10), (128, 251), (32, 55)])
def test_pipelined_small_exec_is_one_write(window: int, size: int, eol: bytes, mode: str) -> None:
    """Once support is known, a small exec leaves as request + code + end in one write."""
    code = code_of(size)
    driver = Driver(ready_machine(paste=True, window=window))
    driver.write(driver.machine.begin_exec(code, MARKER))
    assert driver.sent == PASTE_REQUEST + code + b"\x04"
    reply, stdout = _ok_reply(eol)
    driver.feed(_reply_ok(window) + b"\x01\x04" + reply, mode)
    assert driver.finished() == ExecFinished(stdout, b"", True, False)
    assert driver.sent == PASTE_REQUEST + code + b"\x04"  # no stray byte, no second write
    assert driver.machine.state is State.READY


@pytest.mark.parametrize(("window", "size", "pipelined"), [(128, 251, True), (128, 252, False)])
def test_pipeline_limit_is_two_windows(window: int, size: int, pipelined: bool) -> None:
    machine = ready_machine(paste=True, window=window)
    first = machine.begin_exec(code_of(size), MARKER)
    assert (first != PASTE_REQUEST) is pipelined
    assert len(first) <= 2 * window + 1


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol", list(EOLS.values()), ids=list(EOLS))
@pytest.mark.parametrize(
    "refusal",
    [b"R\x00>", b"raw REPL; CTRL-B to exit\r\n>"],
    ids=["R00-prompt", "old-firmware-banner"],
)
def test_fallback_to_plain_raw_mode(refusal: bytes, eol: bytes, mode: str) -> None:
    noise = noise_bytes("tick", eol)
    code = code_of(300)
    driver = Driver(ready_machine())
    driver.write(driver.machine.begin_exec(code, MARKER))
    driver.feed(noise + refusal, mode)
    assert driver.of_type(PasteSupport) == [PasteSupport(False)]
    assert driver.machine.paste_supported is False
    assert driver.machine.state is State.AWAIT_OK
    assert driver.sent == PASTE_REQUEST + code + b"\x04"  # the prompt was consumed, not left
    driver.feed(noise + b"OK" + b"2" + eol + MARKER + eol + b"\x04\x04>", mode)
    assert driver.finished() == ExecFinished(b"2" + eol, b"", True, False)
    assert driver.noise() == noise * 2
    assert driver.machine.state is State.READY


def test_plain_raw_exec_after_fallback_is_paced_by_the_session() -> None:
    machine = ready_machine(paste=False)
    code = code_of(100)
    assert machine.begin_exec(code, MARKER) == b""  # no request: plain raw mode
    assert machine.state is State.AWAIT_OK
    assert machine.pending_bytes == 101
    pieces = []
    while machine.pending_bytes:
        pieces.append(machine.data_to_send(32))
    assert [len(p) for p in pieces] == [32, 32, 32, 5]
    assert b"".join(pieces) == code + b"\x04"


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol", list(EOLS.values()), ids=list(EOLS))
@pytest.mark.parametrize("credits_first", [0, 1, 3])
def test_device_abort_while_sending_is_acked_once(
    credits_first: int, eol: bytes, mode: str
) -> None:
    """A compile error (or MemoryError) found mid-transfer: the device sends \\x04 at once
    and discards input until \\x03 or \\x04; the host must answer with exactly one \\x04."""
    code = code_of(2000)
    driver = Driver(ready_machine())
    driver.write(driver.machine.begin_exec(code, MARKER))
    driver.feed(_reply_ok(128), mode)
    driver.feed(b"\x01" * credits_first, mode)
    released = 256 + 128 * credits_first
    assert driver.sent == PASTE_REQUEST + code[:released]
    traceback = (
        b"Traceback (most recent call last):"
        + eol
        + b'  File "<stdin>", line 7'
        + eol
        + b"SyntaxError: invalid syntax"
        + eol
    )
    driver.feed(b"\x04", mode)
    assert driver.sent == PASTE_REQUEST + code[:released] + b"\x04"
    driver.feed(b"\x01\x04" + traceback + b"\x04>", mode)  # a credit sent before the abort
    result = driver.finished()
    assert not result.completed
    assert result.error == traceback
    assert parse_exception(result.error).exc_type == "SyntaxError"
    assert driver.sent == PASTE_REQUEST + code[:released] + b"\x04"  # one ack, no more code
    assert driver.machine.state is State.READY


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol", list(EOLS.values()), ids=list(EOLS))
def test_compile_error_after_the_last_byte(eol: bytes, mode: str) -> None:
    """``def\\x04``: the error comes after the ack, as a normal error frame."""
    driver = Driver(ready_machine(paste=True))
    driver.write(driver.machine.begin_exec(b"def", MARKER))
    traceback = (
        b"Traceback (most recent call last):"
        + eol
        + b'  File "<stdin>", line 1'
        + eol
        + b"SyntaxError: invalid syntax"
        + eol
    )
    driver.feed(_reply_ok(128) + b"\x04\x04" + traceback + b"\x04>", mode)
    assert driver.finished() == ExecFinished(b"", traceback, False, False)
    assert driver.sent == PASTE_REQUEST + b"def\x04"


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol", list(EOLS.values()), ids=list(EOLS))
def test_interrupt_while_sending_never_acks(eol: bytes, mode: str) -> None:
    """Ctrl-C mid-transfer: the device answers ``\\x04\\x04KeyboardInterrupt: \\r\\n\\x04>``.
    Acking that \\x04 would leave a \\x04 at the empty raw prompt: a soft reset."""
    code = code_of(2000)
    driver = Driver(ready_machine())
    driver.write(driver.machine.begin_exec(code, MARKER))
    driver.feed(_reply_ok(128), mode)
    before = bytes(driver.sent)
    driver.write(driver.machine.interrupt())
    assert driver.sent == before + b"\x03"
    # credits the device sent before it read the Ctrl-C release nothing
    driver.feed(b"\x01\x01", mode)
    assert driver.sent == before + b"\x03"
    driver.feed(b"\x01\x04\x04KeyboardInterrupt: " + eol + b"\x04>", mode)
    result = driver.finished()
    assert result == ExecFinished(b"", b"KeyboardInterrupt: " + eol, False, False)
    assert driver.sent == before + b"\x03"
    assert driver.machine.state is State.READY
    assert parse_exception(result.error).exc_type == "KeyboardInterrupt"


@pytest.mark.parametrize("mode", FEED_MODES)
def test_interrupt_before_the_paste_reply_never_acks(mode: str) -> None:
    """Ctrl-C right after the request: the device enters raw-paste, reads the Ctrl-C and
    aborts. No code may follow the Ctrl-C, and the abort's \\x04 must not be acked."""
    driver = Driver(ready_machine())
    driver.write(driver.machine.begin_exec(code_of(1000), MARKER))
    driver.write(driver.machine.interrupt())
    assert driver.sent == PASTE_REQUEST + b"\x03"
    driver.feed(_reply_ok(128) + b"\x04\x04KeyboardInterrupt: \r\n\x04>", mode)
    result = driver.finished()
    assert result == ExecFinished(b"", b"KeyboardInterrupt: \r\n", False, False)
    assert driver.sent == PASTE_REQUEST + b"\x03"
    assert driver.machine.state is State.READY


@pytest.mark.parametrize("mode", FEED_MODES)
def test_interrupt_after_everything_was_sent(mode: str) -> None:
    """Pipelined exec interrupted before the ack: the code runs and gets KeyboardInterrupt."""
    driver = Driver(ready_machine(paste=True))
    driver.write(driver.machine.begin_exec(b"while True: pass", MARKER))
    driver.write(driver.machine.interrupt())
    assert driver.sent == PASTE_REQUEST + b"while True: pass\x04\x03"
    traceback = (
        b"Traceback (most recent call last):\r\n"
        b'  File "<stdin>", line 1, in <module>\r\n'
        b"KeyboardInterrupt: \r\n"
    )
    driver.feed(_reply_ok(128) + b"\x04\x04" + traceback + b"\x04>", mode)
    assert driver.finished() == ExecFinished(b"", traceback, False, False)
    assert driver.sent == PASTE_REQUEST + b"while True: pass\x04\x03"


@pytest.mark.parametrize("paste", [None, True, False])
def test_empty_code_is_never_a_bare_ctrl_d(paste: bool | None) -> None:
    """An empty raw buffer ended by Ctrl-D soft-resets the board: empty code gets a space."""
    driver = Driver(ready_machine(paste=paste))
    driver.write(driver.machine.begin_exec(b"", MARKER))
    driver.feed(b"R\x01\x80\x00\x01" if paste is None else b"")
    driver.flush()
    body = driver.sent.removeprefix(PASTE_REQUEST)
    assert body == b" \x04"


def test_zero_window_is_a_protocol_error() -> None:
    machine = ready_machine()
    machine.begin_exec(b"pass", MARKER)
    with pytest.raises(ProtocolError, match="window"):
        machine.receive(b"R\x01\x00\x00\x01")


@pytest.mark.parametrize("byte", [b"\x01", b"\x02", b"\x03", b"\x04"])
def test_control_bytes_in_code_are_refused_with_line(byte: bytes) -> None:
    machine = ready_machine(paste=True)
    with pytest.raises(ProtocolError, match="line 2"):
        machine.begin_exec(b"a = 1\nb = '" + byte + b"'\n", MARKER)
    assert machine.state is State.READY  # still usable


def test_exec_needs_the_raw_prompt() -> None:
    machine = RawReplMachine()
    with pytest.raises(ProtocolError, match="state"):
        machine.begin_exec(b"pass", MARKER)
    with pytest.raises(ProtocolError):
        machine.begin_soft_reset()
