"""Attacks on the lease directory by another local user (issue 12, findings 1 and 6).

Each test sets the trap as the attacker (a second local user, created when running as root,
see ``tests/users.py``), then leases as root (or as an innocent non-root user), and checks
that nothing was harmed and that the refusal is one line saying whose file blocks and what to
do. Without a second user (not root) they skip with that reason.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from mpharness.cli.main import EXIT_LINK, main
from mpharness.errors import BoardBusy, LeaseError
from mpharness.rigs.boardspec import BoardSpec
from mpharness.sharing.board_pool import lease_keys
from mpharness.sharing.leases import Handover, acquire, acquire_all, lock_dir
from mpharness.sharing.lock_dir import file_stem
from tests.users import ATTACKER, VICTIM, Failed, local_user, run_as

ROOT_DATA = "root's data\n"


@pytest.fixture
def eve():
    return local_user(ATTACKER)


@pytest.fixture
def bob():
    return local_user(VICTIM)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A root-owned, world-writable sticky directory: a private stand-in for ``/tmp``."""
    path = Path(tempfile.mkdtemp(prefix="mphs-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    for _ in range(3):  # files of other users: root removes them
        os.system(f"rm -rf -- '{path}'")
        if not path.exists():
            break


@pytest.fixture
def root_files(tmp_path: Path) -> tuple[Path, Path]:
    """A root file the attacker wants world-writable, and where they want a new file."""
    private = tmp_path / "etc"
    private.mkdir(mode=0o755)
    target = private / "some-root-file"
    target.write_text(ROOT_DATA)
    target.chmod(0o644)
    return target, private / "cron.d-job"


def _lock(key: str) -> str:
    return file_stem(key) + ".lock"


def _untouched(target: Path, dangling: Path) -> None:
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.read_text() == ROOT_DATA
    assert not dangling.exists(), "a file was created through a dangling link"


def _one_line(err: BaseException | Failed) -> str:
    text = err.message if isinstance(err, Failed) else str(err)
    assert "\n" not in text
    return text


def test_symlinks_in_an_attackers_lock_dir_harm_nothing(eve, shared_tmp, root_files, monkeypatch):
    """The issue's attack: ``mkdir -m755 DIR; ln -s /etc/file DIR/board_esp32-<hash>.lock``."""
    target, dangling = root_files
    locks = shared_tmp / "mpharness-locks"

    def plant() -> None:
        os.mkdir(locks, 0o755)
        os.symlink(target, locks / _lock("board:esp32"))
        os.symlink(dangling, locks / _lock("board:esp32b"))

    run_as(eve, plant)
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(locks))
    for key in ("board:esp32", "board:esp32b"):
        with pytest.raises(LeaseError) as err:
            acquire(key, wait_s=0)
        text = _one_line(err.value)
        assert f"lock directory {locks} belongs to user {ATTACKER}" in text
        assert "MPHARNESS_LOCK_DIR" in text
    _untouched(target, dangling)


def test_links_fifos_and_records_planted_in_a_shared_sticky_dir(
    eve, shared_tmp, root_files, monkeypatch
):
    """A root-owned sticky directory is allowed; what others plant in it is never followed."""
    target, dangling = root_files
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(shared_tmp))
    holder = file_stem("board:ok") + ".holder.json"

    def plant() -> None:
        os.symlink(target, shared_tmp / _lock("board:a"))
        os.symlink(dangling, shared_tmp / _lock("board:b"))
        os.mkfifo(shared_tmp / _lock("board:c"))
        own = shared_tmp / "eves-file"
        own.write_text("x")
        os.link(own, shared_tmp / _lock("board:d"))
        os.symlink(target, shared_tmp / holder)  # the holder record of a clean key

    run_as(eve, plant)
    expected = {
        "board:a": "is a symbolic link",
        "board:b": "is a symbolic link",
        "board:c": "is a FIFO",
        "board:d": "is a hard link",
    }
    for key, what in expected.items():
        started = time.monotonic()
        with pytest.raises(LeaseError) as err:
            acquire(key, wait_s=0)
        assert time.monotonic() - started < 5  # a FIFO never blocks the open
        text = _one_line(err.value)
        assert what in text and f"owner user {ATTACKER}" in text and "remove it" in text
    with acquire("board:ok", wait_s=0) as lease:  # the record replaces the link, never follows
        assert lease.held
    _untouched(target, dangling)


def test_want_tokens_never_go_through_a_planted_link(eve, shared_tmp, tmp_path, monkeypatch):
    """A waiter tells the holder it waits by a datagram to ``HASH.want``; a link planted there
    must not carry it to another socket (here: a root-only one)."""
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(shared_tmp))
    victim = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    victim.bind(str(tmp_path / "victim.sock"))
    victim.setblocking(False)
    want = hashlib.sha256(file_stem("board:w").encode()).hexdigest()[:12] + ".want"
    run_as(eve, lambda: os.symlink(tmp_path / "victim.sock", shared_tmp / want))
    with acquire("board:w", wait_s=0), pytest.raises(BoardBusy):
        acquire("board:w", wait_s=0.2, handover=Handover(b"run-token"))
    with pytest.raises(BlockingIOError):
        victim.recv(100)
    victim.close()


def test_lock_files_are_created_private_to_the_directory_and_never_chmodded(
    eve, shared_tmp, monkeypatch
):
    """A lock file another user made keeps its mode; ours are 0644, not 0666."""
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(shared_tmp))
    theirs = shared_tmp / _lock("board:theirs")
    run_as(eve, lambda: os.close(os.open(theirs, os.O_CREAT | os.O_WRONLY, 0o640)))
    with acquire("board:theirs", wait_s=0), acquire("board:mine", wait_s=0):
        pass
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o640
    assert stat.S_IMODE((shared_tmp / _lock("board:mine")).stat().st_mode) == 0o644


def test_no_credentials_in_lock_or_holder_files(lock_dir_path):
    secret = "S3cretPw"
    spec = BoardSpec(
        name="ws://admin:" + secret + "@10.0.0.5:8266/",
        urls=("ws://admin:" + secret + "@10.0.0.5:8266/",),
    )
    keys = lease_keys(spec)
    assert keys == ["url:ws://10.0.0.5:8266"]
    held = acquire_all([*keys, "url:ws://root:" + secret + "@h2"], wait_s=0, purpose="t")
    try:
        names = os.listdir(lock_dir_path)
        contents = "".join(
            (Path(lock_dir_path) / n).read_text() for n in names if n.endswith(".json")
        )
    finally:
        for lease in held:
            lease.release()
    assert len([n for n in names if n.endswith(".holder.json")]) == 2
    for text in (" ".join(names), contents):
        assert secret.lower() not in text.lower()
        assert "admin" not in text and "root@" not in text


@pytest.fixture
def lock_dir_path(lock_dir: str) -> str:
    return lock_dir


# -- finding 6: other users' files make our runs fail with one clear line -------------------


def test_lock_dir_of_another_user(eve, bob, shared_tmp, monkeypatch):
    locks = shared_tmp / "locks"
    run_as(eve, lambda: os.mkdir(locks, 0o755))
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(locks))
    with pytest.raises(Failed) as err:  # an ordinary user
        run_as(bob, lambda: acquire("board:esp32", wait_s=0))
    assert err.value.type == "LeaseError"
    text = _one_line(err.value)
    assert text.startswith(f"lock directory {locks} belongs to user {ATTACKER} (uid ")
    assert "remove it" in text and "MPHARNESS_LOCK_DIR" in text
    with pytest.raises(LeaseError, match=f"belongs to user {ATTACKER}"):  # root too
        acquire("board:esp32", wait_s=0)


def test_private_lock_file_of_another_user(eve, bob, shared_tmp, monkeypatch):
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(shared_tmp))
    name = shared_tmp / _lock("board:esp32")
    run_as(eve, lambda: os.close(os.open(name, os.O_CREAT | os.O_WRONLY, 0o600)))
    with pytest.raises(Failed) as err:
        run_as(bob, lambda: acquire("board:esp32", wait_s=0))
    assert err.value.type == "LeaseError"
    text = _one_line(err.value)
    assert f"lock file {name} belongs to user {ATTACKER} (uid " in text
    assert "mode 0600" in text and "ask its owner or root to remove it" in text


def test_regular_file_at_the_lock_dir_path(eve, bob, shared_tmp, monkeypatch):
    path = shared_tmp / "locks"
    run_as(eve, lambda: path.write_text("not a directory"))
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(path))
    with pytest.raises(Failed) as err:
        run_as(bob, lambda: acquire("board:esp32", wait_s=0))
    text = _one_line(err.value)
    assert f"lock directory {path} is a regular file owned by user {ATTACKER}" in text
    assert "not a directory: remove it" in text


def test_world_writable_lock_dir_without_sticky_bit(shared_tmp, monkeypatch):
    path = shared_tmp / "open"
    path.mkdir()
    path.chmod(0o777)
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(path))
    with pytest.raises(LeaseError, match=r"writable by every user without the sticky bit") as err:
        acquire("board:esp32", wait_s=0)
    assert f"chmod +t {path}" in _one_line(err.value)


def test_cli_says_it_in_one_line(eve, shared_tmp, tmp_path, monkeypatch):
    locks = shared_tmp / "locks"
    run_as(eve, lambda: os.mkdir(locks, 0o755))
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(locks))
    rig = tmp_path / "rig.yaml"
    rig.write_text("boards:\n  esp32:\n    url: /dev/ttyNONE\n")
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        code = main(["--rig", str(rig), "exec", "esp32", "print(1)"])
    assert code == EXIT_LINK
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("mpharness: connection error: lock directory ")
    assert f"belongs to user {ATTACKER}" in lines[0]


def test_default_lock_dir_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv("MPHARNESS_LOCK_DIR")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert lock_dir() == f"/tmp/mpharness-locks-{os.getuid()}"
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert lock_dir() == str(runtime / "mpharness-locks")
    with acquire("board:x", wait_s=0):
        made = runtime / "mpharness-locks"
        assert stat.S_IMODE(made.stat().st_mode) == 0o700
