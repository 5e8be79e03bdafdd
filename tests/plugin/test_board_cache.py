"""Board module files are written once and kept while unchanged (on a real unix board)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_mpharness.board_cache import FOLDER, BoardFileCache
from pytest_mpharness.shipping import build_test_module

pytestmark = pytest.mark.unix_board


def modules(tmp_path: Path, helper: str, test: str):
    (tmp_path / "helpers.py").write_text(helper)
    path = tmp_path / "test_m.py"
    path.write_text(test)
    return build_test_module(path, frozenset(), tmp_path).modules


TEST = "from helpers import triple\n\ndef test_x():\n    assert triple(1) == 3\n"


def test_files_are_written_once_and_replaced_when_they_change(unix_board, tmp_path):
    first = modules(tmp_path, "def triple(x):\n    return 3 * x\n", TEST)
    cache = BoardFileCache()
    assert len(cache.ensure(unix_board, first)) == len(first)
    assert cache.ensure(unix_board, first) == []  # same run: nothing again
    assert BoardFileCache().ensure(unix_board, first) == []  # next run, same board: listed
    on_board = set(unix_board.fs.listdir(FOLDER))
    assert {m.filename for m in first} <= on_board

    changed = modules(tmp_path, "def triple(x):\n    return x * 3\n", TEST + "\n")
    lines = BoardFileCache().ensure(unix_board, changed)
    assert {line.split()[1] for line in lines} == {"helpers.py", changed[-1].filename}
    after = set(unix_board.fs.listdir(FOLDER))
    assert first[-1].filename not in after  # the old image of the test file is gone
    assert len([n for n in after if n.startswith("_mphk")]) == 1  # one marker per helper
    text = unix_board.fs.read_bytes(FOLDER + "/helpers.py").decode()
    assert "x * 3" in text
