"""Checked execs report tracebacks as a plain exec does: the program's frames as ``<stdin>``,
code the program itself ran with ``exec`` as ``<string>``."""

from __future__ import annotations

import pytest

import mpharness


@pytest.mark.parametrize("board_name", ["unix_board", "microbit_board"])
def test_nested_exec_frames_keep_string(board_name: str, request: pytest.FixtureRequest) -> None:
    board: mpharness.Board = request.getfixturevalue(board_name)
    code = "def f():\n    exec('1/0')\nf()\n"
    plain = board.exec_raw(code, checked=False)
    checked = board.exec_raw(code, checked=True)
    for result in (plain, checked):
        assert b"ZeroDivisionError" in result.error
    assert b'File "<string>", line 1' in checked.error  # the program's own exec
    assert b'File "<stdin>", line 3' in checked.error  # the program's top level
    assert b"_mph_x" not in checked.error and b"_mph_v" not in checked.error
    norm = [line.strip() for line in plain.error.replace(b"\r", b"").split(b"\n") if line]
    assert norm == [line.strip() for line in checked.error.replace(b"\r", b"").split(b"\n") if line]
