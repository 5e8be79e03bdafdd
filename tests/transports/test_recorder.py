"""RecordingTransport writes transcripts that load_transcript reads back for replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mpharness.deadline import Deadline
from mpharness.errors import TransportClosed
from mpharness.transports.base import Transport
from mpharness.transports.recorder import RecordingTransport, load_transcript
from mpharness.transports.scripted import ScriptedTransport
from mpharness.transports.serial_link import open_serial
from tests.transports.conftest import PtyPort, read_exactly

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"


def exchange(link: Transport, board: PtyPort | None) -> list[bytes]:
    """Enter raw REPL and run one command, the board side played by ``board`` (if any)."""
    got = []
    link.write(b"\r\x03")
    link.write(b"\r\x01")
    if board is not None:
        assert board.receive(4) == b"\r\x03\r\x01"
        board.send(RAW_BANNER[:10])
        board.send(RAW_BANNER[10:])
    got.append(read_exactly(link, len(RAW_BANNER)))
    link.write(b"print(1)\x04")
    if board is not None:
        assert board.receive(9) == b"print(1)\x04"
        board.send(b"OK1\r\n\x04\x04>\xff")
    got.append(read_exactly(link, 9))
    return got


def test_record_over_a_pty_then_replay(pty_port: PtyPort, tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    with RecordingTransport(open_serial(pty_port.path), path) as link:
        recorded = exchange(link, pty_port)
    assert recorded == [RAW_BANNER, b"OK1\r\n\x04\x04>\xff"]

    steps = load_transcript(path)
    assert steps == [
        ("host", b"\r\x03\r\x01"),  # two writes, merged
        ("device", RAW_BANNER),  # however the reads were split
        ("host", b"print(1)\x04"),
        ("device", b"OK1\r\n\x04\x04>\xff"),
    ]
    for chunk_size in (None, 1):
        replay = ScriptedTransport(steps, chunk_size=chunk_size)
        assert exchange(replay, None) == recorded
        replay.assert_at_end()


def test_transcript_is_readable_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    inner = ScriptedTransport([("host", b"\r\x01"), ("device", RAW_BANNER)])
    with RecordingTransport(inner, path) as link:
        link.write(b"\r\x01")
        link.read(Deadline.after(1.0))
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["url"] == "scripted:"
    assert lines[1].endswith('"dir": "host", "data": "\\r\\u0001"}')
    assert '"data": "raw REPL; CTRL-B to exit\\r\\n>"' in lines[2]
    entries = [json.loads(line) for line in lines[1:]]
    assert [e["dir"] for e in entries] == ["host", "device"]
    assert 0 <= entries[0]["t"] <= entries[1]["t"]


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    script = [
        ("device", b"Password: "),
        ("host", b"hunter2\r\n"),
        ("device", b"\r\nWebREPL connected\r\n>>> "),
    ]
    with RecordingTransport(ScriptedTransport(script), path, secrets=["hunter2"]) as link:
        assert link.read(Deadline.after(1.0)) == b"Password: "
        for byte in b"hunter2\r\n":  # typed byte by byte: still caught after merging
            link.write(bytes([byte]))
        link.read(Deadline.after(1.0))
    text = path.read_text()
    assert "hunter2" not in text
    assert "hunt" not in text
    assert ("host", b"***\r\n") in load_transcript(path)
    assert "hunter2" not in repr(link)


def test_redact_hook_rewrites_runs(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    inner = ScriptedTransport([("host", b"token=abc123\n")])
    with RecordingTransport(inner, path, redact=lambda d: d.replace(b"abc123", b"<token>")) as link:
        link.write(b"token=abc123\n")
    assert load_transcript(path) == [("host", b"token=<token>\n")]


def test_a_dropped_link_is_recorded_and_replays_as_closed(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    script = [("host", b"\x04"), ("device", b"soft reboot\r\n"), ("closed", b""), ("device", b"x")]
    with RecordingTransport(ScriptedTransport(script), path) as link:
        link.write(b"\x04")
        assert link.read(Deadline.after(1.0)) == b"soft reboot\r\n"
        with pytest.raises(TransportClosed):
            link.read(Deadline.after(1.0))
        assert link.can_reconnect
        link.reconnect(Deadline.after(1.0))
        assert link.read(Deadline.after(1.0)) == b"x"
    assert load_transcript(path) == script
    assert '"event": "reconnect"' in path.read_text()


def test_load_transcript_names_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"transcript": "mpharness", "version": 1}\n{"dir": "sideways", "data": ""}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        load_transcript(path)
