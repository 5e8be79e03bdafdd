"""board.fs on both virtual boards: the unix port (modern firmware) and the QEMU micro:bit
(no os.stat, hashlib, binascii, raw-paste)."""

from __future__ import annotations

import hashlib

import pytest

import mpharness

ALL_BYTES = bytes(range(256)) + b"%~%41~~\r\n\x03\x04 end"


def test_binary_round_trip(vboard: mpharness.Board) -> None:
    vboard.fs.write_bytes("/all.bin", ALL_BYTES)
    assert vboard.fs.read_bytes("/all.bin") == ALL_BYTES
    assert vboard.fs.stat("/all.bin").size == len(ALL_BYTES)
    assert not vboard.fs.stat("/all.bin").is_dir


def test_empty_file_and_overwrite(vboard: mpharness.Board) -> None:
    vboard.fs.write_bytes("/e.txt", b"something longer")
    vboard.fs.write_bytes("/e.txt", b"")
    assert vboard.fs.read_bytes("/e.txt") == b""
    vboard.fs.write_bytes("/e.txt", b"x")
    assert vboard.fs.read_bytes("/e.txt") == b"x"


def test_listdir_exists_remove(vboard: mpharness.Board) -> None:
    vboard.fs.write_bytes("/gone.py", b"pass\n")
    assert "gone.py" in vboard.fs.listdir("/")
    assert vboard.fs.exists("/gone.py")
    vboard.fs.remove("/gone.py")
    assert not vboard.fs.exists("/gone.py")
    assert "gone.py" not in vboard.fs.listdir()


def test_sha256_matches_host(vboard: mpharness.Board) -> None:
    data = b"hash me\n" * 100
    vboard.fs.write_bytes("/h.txt", data)
    assert vboard.fs.sha256("/h.txt") == hashlib.sha256(data).hexdigest()


def test_hash_tree_lists_files_with_sizes(vboard: mpharness.Board) -> None:
    vboard.fs.write_bytes("/t1.py", b"a = 1\n")
    tree = vboard.fs.hash_tree("/")
    size, digest = tree["/t1.py"]
    assert size == 6
    assert digest in (None, hashlib.sha256(b"a = 1\n").hexdigest())


@pytest.mark.parametrize(
    "op",
    [
        lambda fs: fs.read_bytes("/missing.txt"),
        lambda fs: fs.stat("/missing.txt"),
        lambda fs: fs.remove("/missing.txt"),
        lambda fs: fs.sha256("/missing.txt"),
    ],
    ids=["read", "stat", "remove", "sha256"],
)
def test_missing_file_is_file_not_found(vboard: mpharness.Board, op) -> None:
    with pytest.raises(FileNotFoundError) as info:
        op(vboard.fs)
    assert info.value.errno == 2


def test_progress_reports_the_whole_transfer(vboard: mpharness.Board) -> None:
    data = bytes(range(256)) * 12
    seen: list[tuple[int, int]] = []
    vboard.fs.write_bytes("/p.bin", data, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (len(data), len(data))
    assert all(d <= t == len(data) for d, t in seen)
    seen.clear()
    assert vboard.fs.read_bytes("/p.bin", progress=lambda d, t: seen.append((d, t))) == data
    assert seen[-1] == (len(data), len(data))


def test_board_still_runs_code_after_fs_work(vboard: mpharness.Board) -> None:
    vboard.fs.write_bytes("/mod1.py", b"X = 41\n")
    assert vboard.eval("__import__('mod1').X + 1") == 42


def test_write_files_small_and_large(vboard: mpharness.Board) -> None:
    big = bytes(range(256)) * (80 if vboard.fs.caps().paste else 4)
    files = [("/wf1.txt", b"one\n"), ("/wf2.bin", big), ("/wf3.txt", b"three\n")]
    seen: list[tuple[int, int]] = []
    vboard.fs.write_files(files, progress=lambda d, t: seen.append((d, t)))
    total = sum(len(d) for _, d in files)
    assert seen[-1] == (total, total)
    for path, data in files:
        assert vboard.fs.read_bytes(path) == data
