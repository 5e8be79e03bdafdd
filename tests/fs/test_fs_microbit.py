"""board.fs on the QEMU micro:bit: a flat filesystem without directories."""

from __future__ import annotations

import errno

import pytest

import mpharness


def test_flat_filesystem_has_no_directories(microbit_board: mpharness.Board) -> None:
    fs = microbit_board.fs
    assert fs.caps().flat
    with pytest.raises(OSError) as info:
        fs.mkdir("/lib")
    assert info.value.errno == errno.EOPNOTSUPP
    fs.mkdir("/", exist_ok=True)
    with pytest.raises(FileNotFoundError):
        fs.write_bytes("/lib/x.py", b"x")
    assert fs.stat("/").is_dir


def test_listdir_of_a_file_is_not_a_directory(microbit_board: mpharness.Board) -> None:
    microbit_board.fs.write_bytes("f.txt", b"1")
    with pytest.raises(NotADirectoryError):
        microbit_board.fs.listdir("/f.txt")


def test_helpers_leave_no_globals_behind(microbit_board: mpharness.Board) -> None:
    microbit_board.fs.write_bytes("/g.txt", b"data")
    microbit_board.fs.read_bytes("/g.txt")
    microbit_board.fs.hash_tree("/")
    names = microbit_board.eval("[n for n in globals() if n.startswith('_mfs_') and n != '_mfs_f']")
    assert names in ([], ["_mfs_e"])


def test_rmtree_of_root_empties_the_flat_filesystem(microbit_board: mpharness.Board) -> None:
    microbit_board.fs.write_bytes("/z1.txt", b"1")
    microbit_board.fs.rmtree("/")
    assert microbit_board.fs.listdir() == []
