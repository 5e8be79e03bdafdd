"""Replies longer than the machine keeps: streamed whole, kept as head + tail, bounded memory;
a ``\\x04`` the program printed does not stop the scan for good."""

from __future__ import annotations

from mpharness.protocol import ExecFinished, RawReplMachine, Stdout
from tests.protocol.helpers import MARKER, ready_machine

KEEP = 1024


def _exec(machine: RawReplMachine) -> None:
    machine.begin_exec(b"print('x')", MARKER)
    machine.data_to_send()
    assert machine.receive(b"OK") == []


def _feed(machine: RawReplMachine, data: bytes, chunk: int = 4096) -> list[object]:
    events: list[object] = []
    for at in range(0, len(data), chunk):
        events += machine.receive(data[at : at + chunk])
    return events


def _stdout(events: list[object]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Stdout))


def test_a_flood_is_streamed_whole_and_kept_as_head_and_tail() -> None:
    machine = ready_machine(paste=False)
    machine.output_keep = KEEP
    _exec(machine)
    lines = b"".join(b"line %06d\r\n" % i for i in range(50_000))
    events = _feed(machine, lines)
    events += machine.receive(MARKER + b"\r\n\x04\x04>")
    assert _stdout(events) == lines  # the stream sees every byte
    (end,) = [e for e in events if isinstance(e, ExecFinished)]
    assert end.completed and not end.error
    dropped = len(lines) - 2 * KEEP
    assert end.stdout.startswith(lines[:KEEP])
    assert end.stdout.endswith(lines[-KEEP:])
    assert len(end.stdout) < 2 * KEEP + 200
    assert b"bytes of output dropped" in end.stdout
    assert dropped - 200 < len(lines) - len(end.stdout) < dropped


def test_memory_stays_bounded_during_a_flood() -> None:
    machine = ready_machine(paste=False)
    machine.output_keep = KEEP
    _exec(machine)
    streamed = 0
    for _ in range(2000):
        streamed += len(_stdout(machine.receive(b"z" * 999 + b"\n")))
        # what the machine holds on to: what it has not streamed yet plus the kept ends
        assert machine.pending_reply_bytes() < 2 * KEEP + 64 * 1024 + 1000
    assert streamed > 1_990_000


def test_short_replies_are_kept_whole() -> None:
    machine = ready_machine(paste=False)
    _exec(machine)
    events = machine.receive(b"a" * 5000 + MARKER + b"\r\n\x04\x04>")
    (end,) = [e for e in events if isinstance(e, ExecFinished)]
    assert end.stdout == b"a" * 5000


def test_a_printed_eot_followed_by_a_flood_is_streamed(monkeypatch) -> None:
    from mpharness.protocol import response

    monkeypatch.setattr(response, "FRAME_LIMIT", 10_000)
    machine = ready_machine(paste=False)
    machine.output_keep = KEEP
    _exec(machine)
    flood = b"\x04" + b"y" * 50_000
    events = _feed(machine, flood)
    # everything past the frame limit behind the \x04 was released as stdout
    assert len(_stdout(events)) > 50_000 - 10_000 - 4096
    events += machine.receive(MARKER + b"\r\n\x04\x04>")
    (end,) = [e for e in events if isinstance(e, ExecFinished)]
    assert end.completed
    assert _stdout(events) == flood


def test_a_long_error_section_within_the_limit_is_still_an_error() -> None:
    machine = ready_machine(paste=False)
    _exec(machine)
    message = b"ValueError: " + b"m" * 200_000
    events = machine.receive(b"\x04Traceback (most recent call last):\r\n" + message + b"\r\n\x04>")
    (end,) = [e for e in events if isinstance(e, ExecFinished)]
    assert not end.completed
    assert end.error.endswith(b"m" * 100 + b"\r\n")
