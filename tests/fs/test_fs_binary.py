"""8-bit file transfers (mpharness/files/binary.py) on the unix board: raw bytes literals for
writes, escaped raw stdout with a SHA-256 trailer for reads; base64 stays the fallback."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import time
from collections.abc import Iterator

import pytest

import mpharness
from mpharness.files import binary as _fsbinary
from mpharness.files.binary import END_OF_DATA, ESC, TransferCheckError, decode_read, escape
from mpharness.session.device_code import call, device_code
from mpharness.virtual.shaped_urls import shaped_url
from tests.conftest import require_virtual_board

ALL_BYTES = bytes(range(256)) + bytes(range(255, -1, -1))
#: what the escapes must survive: raw-REPL control bytes, the escape byte and its codes, line
#: ends, octal digits after control bytes, quotes, backslashes, a boot banner and prompt
NASTY = (
    b"\x04\x04>\x10\x10e\x10d\x10z\x10g\r\n\n\r\\'\"\x00\x007\x041\x03\x0299\x01\x00"
    + b'MicroPython v1.28\r\nType "help()" for more information.\r\n>>> '
    + b"\x1e123456789\x1f\r\n\x04\x04>"
) * 37


def test_unix_board_uses_the_binary_path(unix_board: mpharness.Board) -> None:
    caps = unix_board.fs.caps()
    assert caps.raw_io and caps.binary_link and caps.binary


@pytest.mark.parametrize(
    "data", [ALL_BYTES, NASTY, os.urandom(20_000)], ids=["all", "nasty", "random"]
)
def test_round_trip(unix_board: mpharness.Board, data: bytes) -> None:
    fs = unix_board.fs
    fs.write_bytes("/bin.dat", data)
    assert fs.sha256("/bin.dat") == hashlib.sha256(data).hexdigest()
    assert fs.read_bytes("/bin.dat") == data


def test_read_progress_counts_streamed_bytes(unix_board: mpharness.Board) -> None:
    data = os.urandom(12_000)
    unix_board.fs.write_bytes("/p.bin", data)
    calls: list[tuple[int, int]] = []
    assert unix_board.fs.read_bytes("/p.bin", progress=lambda d, t: calls.append((d, t))) == data
    assert calls[-1] == (len(data), len(data))
    assert all(t == len(data) for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(done) > 1
    unix_board.fs.write_bytes("/empty.bin", b"")
    calls.clear()
    assert unix_board.fs.read_bytes("/empty.bin", progress=lambda d, t: calls.append((d, t))) == b""
    assert calls and calls[-1] == (0, 0) and all(d >= 0 for d, _ in calls)


def _real_stream(board: mpharness.Board, path: str) -> bytes:
    """What the board sends for a binary read of ``path``."""
    code = device_code(("fs_ops", "fs_bread", "fs_hash"), call("_mfs_bread", path, 512, True))
    return _fsbinary.exec_bytes(board, code.encode(), timeout=10.0)


def test_tampered_read_stream_is_rejected(unix_board: mpharness.Board) -> None:
    data = b"integrity matters " * 200
    unix_board.fs.write_bytes("/t.txt", data)
    stream = _real_stream(unix_board, "/t.txt")
    assert decode_read(stream) == data
    at = stream.index(b"matters", 1000)
    flipped = stream[:at] + b"n" + stream[at + 1 :]  # same size, one byte differs
    with pytest.raises(TransferCheckError, match="SHA-256"):
        decode_read(flipped)
    with pytest.raises(TransferCheckError, match="cut short"):
        decode_read(stream[: len(stream) // 2])
    with pytest.raises(TransferCheckError, match="bytes"):
        decode_read(stream.replace(b"matters", b"matter", 1))


def test_decode_read_without_digest_checks_the_size() -> None:
    data = NASTY[:500]
    stream = b"%d\n" % len(data) + escape(data) + END_OF_DATA
    assert decode_read(stream) == data
    assert b"\x04" not in escape(data) and b">" not in escape(data)
    assert ESC + b"z" not in escape(data)
    with pytest.raises(TransferCheckError):
        decode_read(b"%d\n" % (len(data) + 1) + escape(data) + END_OF_DATA)
    with pytest.raises(TransferCheckError, match="size line"):
        decode_read(b"oops" + escape(data))


def test_base64_fallback_still_works(unix_board: mpharness.Board) -> None:
    fs = unix_board.fs
    saved = fs.caps()
    fs._caps = dataclasses.replace(saved, raw_io=False)
    try:
        assert not fs.caps().binary
        fs.write_bytes("/b64.bin", NASTY)
        assert fs.read_bytes("/b64.bin") == NASTY
    finally:
        fs._caps = saved
    assert fs.read_bytes("/b64.bin") == NASTY


@pytest.fixture(scope="module")
def shaped_board() -> Iterator[mpharness.Board]:
    require_virtual_board("unix")
    with mpharness.open_board(shaped_url("unix:", baudrate=115200), rig=[], timeout=30) as board:
        yield board


def test_round_trip_through_a_115200_baud_link(shaped_board: mpharness.Board) -> None:
    data = ALL_BYTES * 4 + NASTY[:1024]
    fs = shaped_board.fs
    fs.caps()
    start = time.monotonic()
    fs.write_bytes("/slow.bin", data)
    assert fs.read_bytes("/slow.bin") == data
    assert time.monotonic() - start < 10.0  # about 1 s; generous for a busy machine
    assert fs.caps().binary


def test_checked_link_writes_pieces_outside_the_envelope(shaped_board: mpharness.Board) -> None:
    assert shaped_board.integrity == "checked"
    fs = shaped_board.fs
    fs.write_bytes("/piece.bin", b"old")
    start = shaped_board.exec("_mfs_f = open('/piece.bin.mph~', 'wb')\nprint(1)")
    assert start == "1\n"
    with pytest.raises(mpharness.RemoteError, match="mph-damaged"):
        shaped_board.exec("_mfs_wp(0, b'new', b'12345678')")
    shaped_board.exec("_mfs_f.close()\nimport os\nos.remove('/piece.bin.mph~')")
    assert fs.read_bytes("/piece.bin") == b"old"


def test_a_damaged_piece_is_resent(
    shaped_board: mpharness.Board, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    transport = shaped_board.transport
    real_write = transport.write
    state = {"seen_piece": False, "flipped": False}

    def damaging_write(data: bytes) -> None:
        """Flip one data byte of the first unenveloped data exec, as a noisy line would."""
        if not state["flipped"]:
            state["seen_piece"] = state["seen_piece"] or b"_mfs_wp(" in data
            at = data.find(b"AAAA") if state["seen_piece"] else -1
            if at >= 0:
                data = data[:at] + b"a" + data[at + 1 :]
                state["flipped"] = True
        real_write(data)

    monkeypatch.setattr(transport, "write", damaging_write)
    data = b"A" * 3000
    with caplog.at_level("WARNING", logger="mpharness.files.board_fs"):
        shaped_board.fs.write_bytes("/resent.bin", data)
    assert state["flipped"]
    assert "arrived damaged (ValueError)" in caplog.text
    monkeypatch.undo()
    assert shaped_board.fs.read_bytes("/resent.bin") == data


def test_a_noisy_link_never_returns_wrong_data(shaped_board: mpharness.Board) -> None:
    data = os.urandom(3000)
    shaped_board.fs.write_bytes("/noisy.bin", data)
    transport = shaped_board.transport
    outcomes = []
    transport.set_noise(corrupt_rate=0.002, seed=11, up=False)  # type: ignore[attr-defined]
    try:
        for _ in range(2):
            try:
                outcomes.append(
                    "right" if shaped_board.fs.read_bytes("/noisy.bin") == data else "wrong"
                )
            except OSError as err:
                outcomes.append("EIO" if err.errno == errno.EIO else repr(err))
            except mpharness.MPHarnessError:
                outcomes.append("other")  # the framing was hit: an error, not wrong data
    finally:
        transport.set_noise()  # type: ignore[attr-defined]
    assert "wrong" not in outcomes and "EIO" in outcomes, outcomes
    assert transport.stats.down_corrupted > 0  # type: ignore[attr-defined]
    assert shaped_board.fs.read_bytes("/noisy.bin") == data
