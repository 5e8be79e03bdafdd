"""Property-based fuzzing of the raw-REPL machine with hypothesis.

* Arbitrary device bytes, in arbitrary chunks, in every state, mixed with the host's own
  commands: ``receive`` raises nothing but ``ProtocolError``, its work is bounded, it never
  reports ``completed`` unless the real marker arrived, and stdout is never invented.
* Arbitrary program output framed the way a device frames it: the result is exact unless
  the output contains a whole fake frame (the documented limit, see ``test_forgery.py``).
* Raw-paste flow control never releases more bytes than the device granted.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpharness.errors import ProtocolError
from mpharness.protocol import ExecFinished, RawReplMachine, State, Stdout, machine
from mpharness.protocol.constants import RAW_BANNER

from .helpers import BANNER, MARKER, NONCE, check_streaming, code_of, ready_machine

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: the per-state fuzz runs once per state: fewer examples each keep the suite fast
FUZZ_PER_STATE = settings(FUZZ, max_examples=150)

TOKENS = [
    b"\x04",
    b"\x04\x04>",
    b">",
    b"OK",
    b"R\x01",
    b"R\x00",
    b"\x01",
    b"\x80\x00",
    b"\x20\x00",
    b"\x00\x00",
    BANNER,
    BANNER[:9],
    b"MPY: soft reboot\r\n",
    b"soft reboot\n",
    b"\x1e",
    b"\x1f",
    NONCE,
    NONCE[:3],
    b"\x1edeadbeef\x1f",
    b"\r\n",
    b"\n",
    b"tick",
    b"Traceback (most recent call last):\r\n",
    b"KeyboardInterrupt: \r\n",
]
token = st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=6))
device_bytes = st.lists(token, max_size=40).map(b"".join)
with_marker = st.lists(st.one_of(token, st.just(MARKER)), max_size=40).map(b"".join)


def split(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """``data`` cut into pieces of the given sizes (cycled)."""
    i = 0
    k = 0
    while i < len(data):
        step = sizes[k % len(sizes)] if sizes else len(data)
        yield data[i : i + step]
        i += step
        k += 1


class _TooSlow(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging) if the block runs longer than ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise _TooSlow(f"no result within {seconds} s: an endless loop?")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextmanager
def counted_handlers() -> Iterator[list[int]]:
    """Count state-handler calls (one per turn of ``receive``'s loop)."""
    calls = [0]
    saved = dict(machine._HANDLERS)

    def wrap(handler: Callable[..., None]) -> Callable[..., None]:
        def counting(self: RawReplMachine, events: list[object]) -> None:
            calls[0] += 1
            handler(self, events)

        return counting

    for state, handler in saved.items():
        machine._HANDLERS[state] = wrap(handler)
    try:
        yield calls
    finally:
        machine._HANDLERS.update(saved)


def _machine_in(start: str) -> RawReplMachine:
    m = RawReplMachine()
    if start == "unknown":
        return m
    if start == "entering":
        m.enter_raw()
        return m
    if start == "rebooting":
        m = ready_machine(paste=True)
        m.begin_soft_reset()
        return m
    setups = {
        "ready": (None, None, b""),
        "paste request": (None, code_of(40), b""),
        "pipelined": (True, code_of(40), b""),
        "sending": (None, code_of(900), b"R\x01\x20\x00\x01"),
        "end ack": (True, code_of(40), b"R\x01\x80\x00\x01"),
        "await ok": (False, code_of(40), b""),
        "reply paste": (True, code_of(40), b"R\x01\x80\x00\x01\x04"),
        "reply plain": (False, code_of(40), b"OK"),
    }
    paste, code, reply = setups[start]
    m = ready_machine(paste=paste)
    if code is not None:
        m.begin_exec(code, MARKER)
        m.data_to_send()
        m.receive(reply)
        m.data_to_send()
    return m


STARTS = [
    "unknown",
    "entering",
    "ready",
    "paste request",
    "pipelined",
    "sending",
    "end ack",
    "await ok",
    "reply paste",
    "reply plain",
    "rebooting",
]

action = st.one_of(
    st.tuples(st.just("feed"), with_marker, st.lists(st.integers(1, 12), max_size=6)),
    st.tuples(st.just("interrupt")),
    st.tuples(st.just("exec"), st.integers(0, 600)),
    st.tuples(st.just("soft reset")),
    st.tuples(st.just("enter")),
    st.tuples(st.just("send"), st.one_of(st.none(), st.integers(1, 64))),
)


@pytest.mark.parametrize("start", STARTS)
@FUZZ_PER_STATE
@given(actions=st.lists(action, min_size=1, max_size=12))
def test_arbitrary_device_bytes(start: str, actions: list[tuple]) -> None:
    m = _machine_in(start)
    fed_since_exec = b""
    events: list[object] = []
    with counted_handlers() as calls, time_limit(20.0):
        for act in actions:
            try:
                if act[0] == "feed":
                    for chunk in split(act[1], act[2]):
                        before = calls[0]
                        pending = len(m._buf)
                        fed_since_exec += chunk
                        new = m.receive(chunk)
                        # each turn consumes input or changes state: linear work
                        assert calls[0] - before <= 2 * (pending + len(chunk)) + 4
                        events += new
                        _check_results(new, fed_since_exec)
                        m.data_to_send()
                elif act[0] == "interrupt":
                    assert m.interrupt() == b"\x03"
                elif act[0] == "exec":
                    m.begin_exec(code_of(act[1]), MARKER)
                    fed_since_exec = b""
                    events = []
                elif act[0] == "soft reset":
                    assert m.begin_soft_reset() == b"\x04"
                elif act[0] == "enter":
                    assert m.enter_raw() == b"\r\x01"
                else:
                    m.data_to_send(act[1])
            except ProtocolError:
                m.forget()  # what the session does; the machine must stay usable
                fed_since_exec = b""
                events = []
    assert isinstance(m.state, State)


def _is_subsequence(part: bytes, whole: bytes) -> bool:
    it = iter(whole)
    return all(byte in it for byte in part)


def _check_results(new: list[object], fed: bytes) -> None:
    """Nothing invented, the marker never leaks (the device prints it at most once)."""
    once = fed.count(MARKER) <= 1
    for event in new:
        if isinstance(event, Stdout):
            assert not once or MARKER not in event.data
            assert _is_subsequence(event.data, fed)
        if isinstance(event, ExecFinished):
            if event.completed:
                assert MARKER in fed, "completed without the real marker"
            assert not once or MARKER not in event.stdout
            assert _is_subsequence(event.stdout, fed)


FRAME_TOKENS = [t for t in TOKENS if t not in (b"\x00\x00",)] + [b"x", b"print", b"\xff\xfe"]
program_output = st.lists(
    st.one_of(st.sampled_from(FRAME_TOKENS), st.binary(min_size=1, max_size=4)), max_size=30
).map(b"".join)

TRACEBACK = (
    b"Traceback (most recent call last):\r\n"
    b'  File "<stdin>", line 3, in <module>\r\n'
    b"ValueError: nope\r\n"
)
TAILS = {
    "completed": MARKER + b"\r\n\x04\x04>",
    "completed lf": MARKER + b"\n\x04\x04>",
    "failed": b"\x04" + TRACEBACK + b"\x04>",
    "exited": b"\x04\x04MPY: soft reboot\r\nboot\r\n" + RAW_BANNER,
}
EXPECTED = {
    "completed": (b"", True, False, False),
    "completed lf": (b"", True, False, False),
    "failed": (TRACEBACK, False, False, False),
    "exited": (b"", False, True, True),
}
_FAKE_FAILURE = re.compile(rb"\x04[^\x04]+\x04>")
#: a traceback frame whose prompt comes after other bytes (background output, response.py)
_FAKE_LATE_FAILURE = re.compile(rb"\x04Traceback \(most recent call last\):[^\x04]*\x04[^\x04]*>")
#: ``\x04 X \x04`` and reboot text: X may be background output between the SystemExit pair
_FAKE_EXIT = re.compile(rb"\x04[^\x04]*\x04[^\x04]*?(soft reboot|" + re.escape(RAW_BANNER) + rb")")


def forges_a_frame(printed: bytes, paste: bool) -> bool:
    """The documented limit: the output holds a whole fake failure or exit frame (on
    firmware without raw-paste, ``\\x04\\x04>`` is its SystemExit frame)."""
    if not paste and b"\x04\x04>" in printed:
        return True
    fakes = (_FAKE_FAILURE, _FAKE_LATE_FAILURE, _FAKE_EXIT)
    return any(fake.search(printed) for fake in fakes)


@FUZZ
@given(
    printed=program_output,
    tail=st.sampled_from(list(TAILS)),
    paste=st.booleans(),
    sizes=st.lists(st.integers(1, 9), max_size=8),
)
def test_program_output_round_trip(
    printed: bytes, tail: str, paste: bool, sizes: list[int]
) -> None:
    m = ready_machine(paste=paste)
    m.begin_exec(b"print(1)", MARKER)
    m.data_to_send()
    head = b"R\x01\x80\x00\x01\x04" if paste else b"OK"
    stream = head + printed + TAILS[tail]
    events: list[object] = []
    with time_limit(20.0):
        for chunk in split(stream, sizes):
            events += m.receive(chunk)
            assert m.data_to_send() == b""  # the machine never writes on its own here
    done = [e for e in events if isinstance(e, ExecFinished)]
    assert len(done) == 1
    result = done[0]
    check_streaming(events)  # type: ignore[arg-type]
    if forges_a_frame(printed, paste):  # cut at the fake frame; background moves keep order
        assert _is_subsequence(result.stdout, stream)
    else:
        assert printed.startswith(result.stdout)  # nothing invented
    if result.completed:
        assert tail.startswith("completed")
        assert result.stdout == printed
    if not forges_a_frame(printed, paste):
        error, completed, exited, rebooting = EXPECTED[tail]
        assert result == ExecFinished(printed, error, completed, exited, rebooting)
        assert m.state is State.READY


@FUZZ
@given(
    window=st.sampled_from([32, 128, 7]),
    size=st.integers(0, 1500),
    steps=st.lists(st.sampled_from(["credit", "send", "noise", "credits"]), max_size=60),
)
def test_flow_control_never_exceeds_credit(window: int, size: int, steps: list[str]) -> None:
    m = ready_machine()
    code = code_of(size)
    m.begin_exec(code, MARKER)
    expected = (code or b" ") + b"\x04"  # an empty body is padded (see test_raw_paste)
    m.receive(b"R\x01" + window.to_bytes(2, "little"))
    granted = window
    released = m.data_to_send()
    for step in steps:
        if step == "credit":
            m.receive(b"\x01")
            granted += window
        elif step == "credits":
            m.receive(b"\x01\x01\x01")
            granted += 3 * window
        elif step == "noise":
            m.receive(b"tick\r\n")
        released += m.data_to_send()
        assert len(released) <= granted
        assert len(released) == min(granted, len(expected))
    start = time.perf_counter()
    while m.state is State.SENDING:
        m.receive(b"\x01")
        released += m.data_to_send()
        assert time.perf_counter() - start < 10
    assert released == expected
