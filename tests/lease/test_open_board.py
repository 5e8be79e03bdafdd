"""open_board leases rig boards and physical ports; virtual built-ins need none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import mpharness
from mpharness.connect import open_first_free
from mpharness.rigs.boardspec import BoardSpec
from mpharness.rigs.rig import Rig
from mpharness.sharing.board_pool import lease_keys
from mpharness.sharing.leases import acquire
from tests.conftest import require_virtual_board

RIG = "boards:\n  u1:\n    url: 'unix:'\n  u2:\n    url: 'unix:'\n    features: [wifi]\n"


@pytest.fixture
def rig(tmp_path) -> Rig:
    require_virtual_board("unix")
    path = tmp_path / "rig.yaml"
    path.write_text(RIG)
    return Rig.load([str(path)])


def test_lease_keys(tmp_path):
    port = tmp_path / "ttyUSB7"
    port.write_text("")
    link = tmp_path / "by-id-board"
    link.symlink_to(port)
    assert lease_keys(BoardSpec(name="unix", urls=("unix:",))) == []
    assert lease_keys(BoardSpec(name="qemu:microbit", urls=("qemu:microbit",))) == []
    assert lease_keys(BoardSpec(name="u1", urls=("unix:",))) == ["board:u1"]
    assert lease_keys(BoardSpec(name=str(link), urls=(str(link),))) == [f"port:{port}"]
    assert lease_keys(BoardSpec(name="esp", urls=(str(link), "ws://10.0.0.5:8266/"))) == [
        "board:esp",
        f"port:{port}",
        "url:ws://10.0.0.5:8266",
    ]
    assert lease_keys(BoardSpec(name="COM3", urls=("COM3",))) == ["port:COM3"]


@pytest.mark.unix_board
def test_a_rig_board_is_one_session_at_a_time(rig):
    with mpharness.open_board("u1", rig=rig, purpose="first") as board:
        assert board.eval("1 + 1") == 2
        with pytest.raises(mpharness.BoardBusy, match=r"board 'u1' is busy: .*\(first\)"):
            mpharness.open_board("u1", rig=rig)
        with mpharness.open_board("u2", rig=rig) as other:  # another board is free
            assert other.eval("2 + 2") == 4
    with mpharness.open_board("u1", rig=rig) as again:  # closing released it
        assert again.eval("3") == 3


@pytest.mark.unix_board
def test_builtin_virtual_boards_are_not_leased():
    require_virtual_board("unix")
    with mpharness.open_board("unix", rig=[]) as one, mpharness.open_board("unix", rig=[]) as two:
        assert one.leases == [] and two.leases == []
        assert one.eval("1") == two.eval("1") == 1


def test_a_failed_open_releases_the_lease(tmp_path):
    spec = BoardSpec(name="gone", urls=(str(tmp_path / "no-such-tty"),))
    rig = Rig.from_specs([spec])
    with pytest.raises(mpharness.ConnectError) as err:
        mpharness.open_board("gone", rig=rig, timeout=2)
    assert not isinstance(err.value, mpharness.BoardBusy)
    with acquire("board:gone", wait_s=0):
        pass


@pytest.mark.unix_board
def test_lease_wait_from_the_environment(rig, monkeypatch):
    monkeypatch.setenv("MPHARNESS_LEASE_WAIT_S", "0.2")
    busy = pytest.raises(mpharness.BoardBusy, match=r"after waiting 0\.2 s")
    with mpharness.open_board("u1", rig=rig), busy:
        mpharness.open_board("u1", rig=rig)


@pytest.mark.unix_board
def test_open_first_free_of_a_pool(rig):
    pool = [rig.resolve("u1"), rig.resolve("u2")]
    with open_first_free(pool) as first, open_first_free(pool) as second:
        assert (first.name, second.name) == ("u1", "u2")
        with pytest.raises(mpharness.BoardBusy, match="all boards of the pool u1, u2 are busy"):
            open_first_free(pool, lease_wait_s=0.1)


@pytest.mark.unix_board
def test_a_killed_process_holding_a_board_does_not_block_the_next(rig, tmp_path):
    script = textwrap.dedent(
        f"""
        import time, mpharness
        board = mpharness.open_board("u1", rig=[{str(tmp_path / "rig.yaml")!r}])
        print("open", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
        with pytest.raises(mpharness.BoardBusy, match=f"PID {proc.pid}"):
            mpharness.open_board("u1", rig=rig)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with mpharness.open_board("u1", rig=rig, lease_wait_s=0) as board:
        assert board.eval("5") == 5
