"""Leases: flock per board key, holder records, bounded waits, crash safety, wants."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from mpharness import BoardBusy, ConnectError
from mpharness.sharing.leases import (
    Handover,
    acquire,
    acquire_all,
    acquire_first,
    read_holder,
    wait_from_env,
)

HOLD_SCRIPT = """
import sys, time
from mpharness.sharing.leases import acquire
lease = acquire(sys.argv[1], wait_s=0, purpose="holder script")
print("held", flush=True)
time.sleep(60)
"""


def _holder_process(key: str) -> subprocess.Popen[str]:
    """A separate process holding ``key`` (it prints "held" once it does)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, key], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_user_gets_busy_with_the_holder_named():
    with acquire("board:a", wait_s=0, purpose="pytest"), pytest.raises(BoardBusy) as err:
        acquire("board:a", wait_s=0)
    text = str(err.value)
    assert text.startswith("board 'a' is busy: held by PID ")
    assert f"PID {os.getpid()} on host {socket.gethostname()} since " in text
    assert text.endswith("(pytest)")
    assert isinstance(err.value, ConnectError)
    assert err.value.holder["pid"] == os.getpid()
    assert err.value.key == "board:a"


def test_release_frees_the_board_and_removes_the_record():
    lease = acquire("board:a", wait_s=0)
    assert read_holder("board:a")["pid"] == os.getpid()
    lease.release()
    lease.release()  # idempotent
    assert read_holder("board:a") == {}
    with acquire("board:a", wait_s=0) as again:
        assert again.held
    assert not again.held


def test_waiter_gets_the_board_when_it_is_released():
    lease = acquire("board:a", wait_s=0)
    threading.Timer(0.2, lease.release).start()
    started = time.monotonic()
    with acquire("board:a", wait_s=30):
        waited = time.monotonic() - started
    assert 0.1 < waited < 10  # woken by the release, not by the 30 s bound


def test_wait_is_bounded():
    with acquire("board:a", wait_s=0):
        started = time.monotonic()
        with pytest.raises(BoardBusy, match=r"after waiting 0.3 s"):
            acquire("board:a", wait_s=0.3)
        assert 0.25 < time.monotonic() - started < 5


def test_a_killed_holder_leaves_no_blocking_lock(lock_dir):
    proc = _holder_process("board:k")
    try:
        with pytest.raises(BoardBusy, match="holder script"):
            acquire("board:k", wait_s=0)
        assert read_holder("board:k")["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # the dead holder's record is still there; the lock is not
    assert read_holder("board:k")["pid"] == proc.pid
    with acquire("board:k", wait_s=0):
        assert read_holder("board:k")["pid"] == os.getpid()


def test_waiting_for_a_holder_that_gets_killed():
    proc = _holder_process("board:k")
    threading.Timer(0.2, proc.kill).start()
    try:
        with acquire("board:k", wait_s=30):
            pass
    finally:
        proc.wait()


def test_acquire_all_is_all_or_none():
    with acquire("board:b", wait_s=0):
        with pytest.raises(BoardBusy, match="'b'"):
            acquire_all(["board:b", "board:a"], wait_s=0)
        with acquire("board:a", wait_s=0):  # "a" was taken first, and given back
            pass


def test_two_callers_wanting_the_same_pair_do_not_deadlock():
    done: list[str] = []

    def user(name: str, keys: list[str]) -> None:
        for _ in range(20):
            for lease in acquire_all(keys, wait_s=20):
                lease.release()
        done.append(name)

    threads = [
        threading.Thread(target=user, args=("x", ["board:p", "board:q"])),
        threading.Thread(target=user, args=("y", ["board:q", "board:p"])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(done) == ["x", "y"]


def test_acquire_first_takes_the_first_free_key():
    with acquire("board:a", wait_s=0):
        with acquire_first(["board:a", "board:b", "board:c"], wait_s=0) as lease:
            assert lease.key == "board:b"
        busy = pytest.raises(BoardBusy, match="all boards of the pool are busy")
        with acquire("board:b", wait_s=0), acquire("board:c", wait_s=0), busy:
            acquire_first(["board:a", "board:b", "board:c"], wait_s=0.1)


def test_acquire_first_waits_for_any():
    held = [acquire(k, wait_s=0) for k in ("board:a", "board:b")]
    threading.Timer(0.2, held[1].release).start()
    with acquire_first(["board:a", "board:b"], wait_s=30) as lease:
        assert lease.key == "board:b"
    held[0].release()


def test_want_reaches_the_listening_holder_which_hands_over():
    lease = acquire("board:a", wait_s=0)
    tokens: list[bytes] = []

    def on_want(token: bytes) -> None:
        tokens.append(token)
        lease.release()

    assert lease.listen(on_want)
    started = time.monotonic()
    with acquire("board:a", wait_s=30, handover=Handover(b"run-1")):
        assert time.monotonic() - started < 10
    assert tokens == [b"run-1"]


def test_record_is_json_with_pid_host_since_purpose(lock_dir):
    with acquire("port:/dev/ttyX", wait_s=0, purpose="cli"):
        records = [f for f in os.listdir(lock_dir) if f.endswith(".holder.json")]
        assert len(records) == 1
        with open(os.path.join(lock_dir, records[0])) as handle:
            record = json.load(handle)
    assert record["pid"] == os.getpid()
    assert record["host"] == socket.gethostname()
    assert abs(record["since"] - time.time()) < 60
    assert record["purpose"] == "cli"


def test_wait_from_env(monkeypatch):
    assert wait_from_env(2.0) == 2.0
    monkeypatch.setenv("MPHARNESS_LEASE_WAIT_S", "7.5")
    assert wait_from_env(2.0) == 7.5
    monkeypatch.setenv("MPHARNESS_LEASE_WAIT_S", "inf")
    assert wait_from_env(2.0) is None
    monkeypatch.setenv("MPHARNESS_LEASE_WAIT_S", "soon")
    assert wait_from_env(2.0) == 2.0
