"""board.fs features of modern firmware (unix port): directories, errno classes, big files,
temp-file writes, one round trip for hash_tree."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest

import mpharness


def test_mkdir_parents_and_exist_ok(unix_board: mpharness.Board) -> None:
    fs = unix_board.fs
    fs.mkdir("/m/a/b", parents=True)
    assert fs.stat("/m/a/b").is_dir
    fs.mkdir("/m/a/b", parents=True, exist_ok=True)
    with pytest.raises(FileExistsError):
        fs.mkdir("/m/a")
    with pytest.raises(FileNotFoundError):
        fs.mkdir("/nothere/x")


def test_errno_classes(unix_board: mpharness.Board) -> None:
    fs = unix_board.fs
    fs.mkdir("/e", exist_ok=True)
    fs.write_bytes("/e/f.txt", b"1")
    with pytest.raises(IsADirectoryError):
        fs.read_bytes("/e")
    with pytest.raises(IsADirectoryError):
        fs.write_bytes("/e", b"no")
    with pytest.raises(NotADirectoryError):
        fs.listdir("/e/f.txt")
    with pytest.raises(FileNotFoundError):
        fs.write_bytes("/nodir/f.txt", b"1")
    with pytest.raises(OSError) as info:
        fs.rmdir("/e")
    assert info.value.errno == errno.ENOTEMPTY


def test_rmtree_removes_everything_below(unix_board: mpharness.Board) -> None:
    fs = unix_board.fs
    fs.mkdir("/r/s", parents=True)
    fs.write_bytes("/r/s/x.py", b"x")
    fs.write_bytes("/r/y.py", b"y")
    fs.rmtree("/r")
    assert not fs.exists("/r")


def test_stat_reports_mtime_and_directories(unix_board: mpharness.Board) -> None:
    fs = unix_board.fs
    fs.write_bytes("/st.txt", b"abc")
    info = fs.stat("/st.txt")
    assert info.size == 3 and not info.is_dir and isinstance(info.mtime, int)
    assert fs.stat("/").is_dir


def test_big_file_in_several_execs_leaves_no_temp_file(unix_board: mpharness.Board) -> None:
    data = os.urandom(100 * 1024)
    unix_board.fs.write_bytes("/big.bin", data)
    assert unix_board.fs.read_bytes("/big.bin") == data
    assert unix_board.fs.sha256("/big.bin") == hashlib.sha256(data).hexdigest()
    assert [n for n in unix_board.fs.listdir("/") if n.endswith(".mph~")] == []


def test_hash_tree_is_one_round_trip(unix_board: mpharness.Board, monkeypatch) -> None:
    fs = unix_board.fs
    fs.mkdir("/ht/sub", parents=True, exist_ok=True)
    fs.write_bytes("/ht/a.py", b"a")
    fs.write_bytes("/ht/sub/b.py", b"bb")
    calls = []
    real = unix_board.exec_raw
    monkeypatch.setattr(unix_board, "exec_raw", lambda *a, **k: calls.append(1) or real(*a, **k))
    tree = fs.hash_tree("/ht")
    assert len(calls) == 1
    assert tree == {
        "/ht/a.py": (1, hashlib.sha256(b"a").hexdigest()),
        "/ht/sub/b.py": (2, hashlib.sha256(b"bb").hexdigest()),
    }
    with pytest.raises(FileNotFoundError):
        fs.hash_tree("/nothing")


class _Abort(Exception):
    pass


def _abort(done: int, total: int) -> None:
    raise _Abort(f"stopped at {done} of {total}")


def test_write_cut_midway_keeps_the_old_file(unix_board: mpharness.Board) -> None:
    fs = unix_board.fs
    fs.write_bytes("/keep.txt", b"old")
    with pytest.raises(_Abort):
        fs.write_bytes("/keep.txt", os.urandom(60_000), progress=_abort)
    assert fs.read_bytes("/keep.txt") == b"old"
    assert "keep.txt.mph~" not in fs.listdir("/")
    assert unix_board.eval("_mfs_f") is None


def test_write_files_batches_and_names_the_failing_file(unix_board: mpharness.Board) -> None:
    fs = unix_board.fs
    with pytest.raises(FileNotFoundError) as info:
        fs.write_files([("/ok1.txt", b"1"), ("/nodir/x.txt", b"2"), ("/ok2.txt", b"3")])
    assert info.value.filename == "/nodir/x.txt"
    assert fs.read_bytes("/ok1.txt") == b"1"
    assert unix_board.eval("_mfs_f") is None
    assert [n for n in fs.listdir("/") if n.endswith(".mph~")] == []
