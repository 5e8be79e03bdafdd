"""Writes that went wrong before, on the virtual boards: temporary files left by interrupted
writes (issue 12, finding 7), ``parents=True``, and board paths in every ``OSError``."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import mpharness
from mpharness.errors import RemoteError
from mpharness.files.device import os_error
from mpharness.files.sync import apply_sync, format_plan, plan_sync
from mpharness.files.transfers import TMP_SUFFIX
from tests.conftest import require_virtual_board

# ---------------------------------------------------------------- stale temporary files


@pytest.fixture
def interrupted() -> Iterator[mpharness.Board]:
    """A unix board whose process was killed in the middle of writing ``/t/big.bin``; the
    board is hard-reset (its filesystem, a host folder, keeps what was written)."""
    require_virtual_board("unix")
    with mpharness.open_board("unix", rig=[]) as board:
        board.fs.mkdir("/t", exist_ok=True)
        pid = board.transport.pid  # type: ignore[attr-defined]

        def kill_after_first_chunk(done: int, total: int) -> None:
            if done < total:
                os.kill(pid, signal.SIGKILL)

        with pytest.raises(mpharness.MPHarnessError):
            board.fs.write_bytes("/t/big.bin", os.urandom(100_000), progress=kill_after_first_chunk)
        board.hard_reset(timeout=30)
        yield board


def test_an_interrupted_write_leaves_a_temporary_file(interrupted: mpharness.Board) -> None:
    # the failure this file is about: nothing on the board could clean up after the kill
    assert "big.bin" + TMP_SUFFIX in interrupted.fs.listdir("/t")
    interrupted.fs.write_bytes("/t/big.bin", b"whole")
    assert sorted(interrupted.fs.listdir("/t")) == ["big.bin"]
    assert interrupted.fs.read_bytes("/t/big.bin") == b"whole"


def test_sync_removes_stale_temporary_files_without_listing_them(
    interrupted: mpharness.Board, tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_bytes(b"A = 1\n")
    (tmp_path / ("a.py" + TMP_SUFFIX)).write_bytes(b"a host temp file is not uploaded")
    plan = plan_sync(interrupted, str(tmp_path), "/t", delete=True)
    assert [item.remote for item in plan.to_upload] == ["/t/a.py"]
    # big.bin is a user file on the board (not on the host): deleted; its temp file is stale
    assert [item.remote for item in plan.to_delete] == []
    assert plan.stale == ("/t/big.bin" + TMP_SUFFIX,)
    assert "remove  /t/big.bin.mph~ (temporary file of an interrupted write)" in format_plan(plan)
    apply_sync(interrupted, plan)
    assert sorted(interrupted.fs.listdir("/t")) == ["a.py"]
    assert list(interrupted.fs.hash_tree("/t")) == ["/t/a.py"]


def test_sync_without_delete_still_removes_stale_temporary_files(
    unix_board: mpharness.Board, tmp_path: Path
) -> None:
    unix_board.fs.mkdir("/u", exist_ok=True)
    unix_board.fs.write_bytes("/u/mine.txt", b"user file")
    # a temporary file written by hand, as an interrupted write leaves it
    unix_board.fs.write_bytes("/u/lib.py" + TMP_SUFFIX, b"half a fi")
    (tmp_path / "lib.py").write_bytes(b"X = 1\n")
    plan = plan_sync(unix_board, str(tmp_path), "/u")
    assert [i.remote for i in plan.to_upload] == ["/u/lib.py"]
    assert plan.to_delete == () and plan.stale == ("/u/lib.py" + TMP_SUFFIX,)
    apply_sync(unix_board, plan)
    assert sorted(unix_board.fs.listdir("/u")) == ["lib.py", "mine.txt"]
    again = plan_sync(unix_board, str(tmp_path), "/u", delete=True)
    assert again.stale == () and again.to_upload == ()
    assert [i.remote for i in again.to_delete] == ["/u/mine.txt"]


def test_a_write_removes_the_stale_temporary_file_of_its_path_first(
    unix_board: mpharness.Board,
) -> None:
    # even when the write itself fails (here: the target is a directory)
    unix_board.fs.mkdir("/dir.py", exist_ok=True)
    unix_board.fs.write_bytes("/dir.py" + TMP_SUFFIX, b"stale")
    with pytest.raises(IsADirectoryError) as info:
        unix_board.fs.write_bytes("/dir.py", b"new")
    assert info.value.filename == "/dir.py"
    assert "dir.py" + TMP_SUFFIX not in unix_board.fs.listdir("/")
    unix_board.fs.rmdir("/dir.py")


def test_batched_writes_leave_no_temporary_files(unix_board: mpharness.Board) -> None:
    unix_board.fs.mkdir("/b", exist_ok=True)
    for name in ("one.py", "two.py"):
        unix_board.fs.write_bytes(f"/b/{name}{TMP_SUFFIX}", b"stale")
    unix_board.fs.write_files([("/b/one.py", b"1"), ("/b/two.py", b"2")])
    assert sorted(unix_board.fs.listdir("/b")) == ["one.py", "two.py"]


# ---------------------------------------------------------------- parents=True


def test_write_bytes_makes_parents_only_when_asked(unix_board: mpharness.Board) -> None:
    fs = unix_board.fs
    with pytest.raises(FileNotFoundError) as info:
        fs.write_bytes("/p1/q/r.txt", b"r")
    assert info.value.filename == "/p1/q/r.txt"
    assert not fs.exists("/p1")
    fs.write_bytes("/p1/q/r.txt", b"r", parents=True)
    assert fs.read_bytes("/p1/q/r.txt") == b"r"
    fs.write_bytes("/p1/q/r.txt", b"again", parents=True)  # existing parents are fine
    assert fs.read_bytes("/p1/q/r.txt") == b"again"


def test_write_files_makes_parents(unix_board: mpharness.Board) -> None:
    fs = unix_board.fs
    files = [("/p2/a.py", b"a"), ("/p2/x/y/b.py", b"b"), ("/p2/x/c.py", b"c" * 20_000)]
    with pytest.raises(FileNotFoundError) as info:
        fs.write_files(files)
    assert info.value.filename == "/p2/a.py"
    fs.write_files(files, parents=True)
    assert {p: fs.read_bytes(p) for p, _ in files} == dict(files)


def test_parents_on_a_file_is_not_a_directory(unix_board: mpharness.Board) -> None:
    unix_board.fs.write_bytes("/plain.txt", b"f")
    with pytest.raises(OSError) as info:
        unix_board.fs.write_bytes("/plain.txt/x", b"x", parents=True)
    assert info.value.errno in (errno.EEXIST, errno.ENOTDIR)
    assert info.value.filename == "/plain.txt"  # the directory that could not be made


def test_parents_on_a_flat_filesystem(microbit_board: mpharness.Board) -> None:
    fs = microbit_board.fs
    fs.write_bytes("/flat.txt", b"ok", parents=True)
    assert fs.read_bytes("/flat.txt") == b"ok"
    with pytest.raises(FileNotFoundError) as info:
        fs.write_files([("/lib/x.py", b"x")], parents=True)
    assert info.value.filename == "/lib/x.py"


# ---------------------------------------------------------------- board paths in errors


def test_unix_errors_name_the_board_path(unix_board: mpharness.Board) -> None:
    fs = unix_board.fs
    with pytest.raises(FileNotFoundError) as info:
        fs.write_bytes("/nodir/a.txt", b"x")
    assert info.value.filename == "/nodir/a.txt"
    assert "'/nodir/a.txt'" in str(info.value)
    for call, path in (
        (lambda: fs.read_bytes("/nodir/a.txt"), "/nodir/a.txt"),
        (lambda: fs.listdir("/nodir"), "/nodir"),
        (lambda: fs.hash_tree("/nodir"), "/nodir"),
        (lambda: fs.mkdir("/nodir/x"), "/nodir/x"),
        (lambda: fs.rmtree("/nodir"), "/nodir"),
        (lambda: fs.sha256("/nodir/a.txt"), "/nodir/a.txt"),
    ):
        with pytest.raises(FileNotFoundError) as info:
            call()
        assert info.value.filename == path


def test_a_timeout_names_the_board_path(unix_board: mpharness.Board) -> None:
    fs = unix_board.fs
    fs.write_bytes("/big4.bin", os.urandom(4_000_000))
    saved, fs.timeout = fs.timeout, 0.001
    try:
        # a BoardTimeout is a TimeoutError, so an OSError: it names the file too
        with pytest.raises(mpharness.BoardTimeout) as info:
            fs.read_bytes("/big4.bin")
    finally:
        fs.timeout = saved
    assert info.value.filename == "/big4.bin"
    assert "board timed out" in str(info.value) and "'/big4.bin'" in str(info.value)
    assert unix_board.exec("print(6 * 7)") == "42\n"


def test_microbit_errors_name_the_board_path(microbit_board: mpharness.Board) -> None:
    fs = microbit_board.fs
    for call in (
        lambda: fs.read_bytes("/missing.txt"),
        lambda: fs.sha256("/missing.txt"),
        lambda: fs.remove("/missing.txt"),
        lambda: fs.stat("/missing.txt"),
        lambda: fs.rmdir("/missing.txt"),
    ):
        with pytest.raises(FileNotFoundError) as info:
            call()
        assert info.value.filename == "/missing.txt"
    with pytest.raises(FileNotFoundError) as info:
        fs.write_bytes("/nodir/a.txt", b"x")
    assert info.value.filename == "/nodir/a.txt"


def test_webrepl_write_into_a_missing_directory_names_the_file() -> None:
    require_virtual_board("unix")
    with mpharness.open_board("webrepl", rig=[], timeout=60.0) as board:
        with pytest.raises(FileNotFoundError) as info:
            board.fs.write_bytes("/nodir/a.txt", b"x")
        assert info.value.filename == "/nodir/a.txt"
        assert "no directory /nodir" in str(info.value)
        board.fs.write_bytes("/wp/a.txt", b"x", parents=True)
        assert board.fs.read_bytes("/wp/a.txt") == b"x"
        assert board.fs.listdir("/wp") == ["a.txt"]


def test_a_board_oserror_without_errno_still_names_the_path() -> None:
    err = RemoteError("OSError", "card not ready", "", "")
    converted = os_error(err, "/sd/log.txt")
    assert isinstance(converted, OSError)
    assert converted.filename == "/sd/log.txt"
    assert str(converted) == "card not ready: '/sd/log.txt'"
