"""board.fs over WebREPL: writes use the file protocol (PUT); missing paths are found out
through the REPL first, so the session survives them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import mpharness
from tests.conftest import require_virtual_board


@pytest.fixture(scope="module")
def webrepl_board() -> Iterator[mpharness.Board]:
    require_virtual_board("unix")
    with mpharness.open_board("webrepl", rig=[], timeout=60.0) as board:
        yield board


def test_write_goes_through_put_file(webrepl_board: mpharness.Board, monkeypatch) -> None:
    sent = []
    real = webrepl_board.transport.put_file  # type: ignore[attr-defined]
    monkeypatch.setattr(
        webrepl_board.transport, "put_file", lambda p, d, **k: sent.append(p) or real(p, d, **k)
    )
    data = os.urandom(3000)
    webrepl_board.fs.write_bytes("/w.bin", data)
    assert sent == ["/w.bin.mph~"]
    assert webrepl_board.fs.read_bytes("/w.bin") == data
    assert "w.bin.mph~" not in webrepl_board.fs.listdir("/")


def test_missing_paths_do_not_kill_the_session(webrepl_board: mpharness.Board) -> None:
    with pytest.raises(FileNotFoundError):
        webrepl_board.fs.read_bytes("/absent.bin")
    with pytest.raises(FileNotFoundError):
        webrepl_board.fs.write_bytes("/absent/x.bin", b"1")
    assert webrepl_board.exec("print(6 * 7)") == "42\n"


def test_get_file_when_asked(webrepl_board: mpharness.Board, monkeypatch) -> None:
    webrepl_board.fs.write_bytes("/g.bin", b"got it")
    monkeypatch.setattr(webrepl_board.fs, "webrepl_get", True)
    assert webrepl_board.fs.read_bytes("/g.bin") == b"got it"
    with pytest.raises(IsADirectoryError):
        webrepl_board.fs.read_bytes("/")


def test_binary_path_is_never_chosen_on_webrepl(webrepl_board: mpharness.Board) -> None:
    caps = webrepl_board.fs.caps()
    assert caps.raw_io and not caps.binary_link and not caps.binary
    data = bytes(range(256)) * 3
    webrepl_board.fs.write_bytes("/eight.bin", data)
    assert webrepl_board.fs.read_bytes("/eight.bin") == data
