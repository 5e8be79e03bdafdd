"""Peers and programs that never stop sending: every call ends within its budget, in bounded
memory, and nothing they send becomes a result.

* Hostile WebREPL peers (:mod:`tests.webrepl.hostile`, each in a process of its own so that
  its floods never pause): one that chatters instead of logging
  in, one that announces a 2**62-byte frame, a 200 MB frame, a message whose fragments never
  end, a flood of binary frames, a frame dribbled a byte at a time. ``open_board`` on each must
  fail with an MPHarnessError within its budget (no board is ever "opened" on such a peer),
  with the password nowhere in the error.
* A program that prints without end (``while True: print('z' * 1000)``): its exec must end in
  BoardTimeout at its deadline, with the process's memory bounded. It runs in a child process,
  so a hang fails this test (the child is killed at the budget) instead of hanging the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc

import pytest

import mpharness
from mpharness.rigs.boardspec import BoardSpec
from mpharness.rigs.rig import Rig
from mpharness.transports.webrepl import CLOSE_WAIT
from tests.conftest import require_virtual_board
from tests.faults.helpers import FAULT_TIMEOUTS, SLACK, timed
from tests.webrepl.hostile import BEHAVIOURS, PASSWORD, HostilePeerProcess

OPEN_BUDGET = 1.5  #: s given to open_board on a hostile peer
MEMORY_BOUND = 16 * 1024 * 1024  #: bytes of Python allocations an open may peak at
FLOOD_TIMEOUT = 2.0  #: s given to the exec of a program that prints without end
FLOOD_RSS_MB = 300  #: the child's peak RSS must stay below this (issue 11 saw 371 MB and rising)


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_open_board_on_a_hostile_webrepl_peer_ends_within_budget(behaviour: str, run: int) -> None:
    with HostilePeerProcess(behaviour) as peer:
        rig = Rig.from_specs([BoardSpec(name="hostile", urls=(peer.url,), password=PASSWORD)])
        tracemalloc.start()
        try:
            with timed() as watch, pytest.raises(mpharness.MPHarnessError) as info:
                mpharness.open_board("hostile", rig=rig, timeout=OPEN_BUDGET).close()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert watch.seconds < OPEN_BUDGET + CLOSE_WAIT + SLACK
    assert peak < MEMORY_BOUND
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)


_FLOOD_CHILD = textwrap.dedent(
    """
    import json, resource, sys, threading, time
    import mpharness

    def watch_memory():  # the parent reads this if it has to kill us
        while True:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            print(f"rss_mb {{rss}}", file=sys.stderr, flush=True)
            time.sleep(1.0)

    threading.Thread(target=watch_memory, daemon=True).start()
    timeouts = mpharness.Timeouts(interrupt={interrupt}, recovery={recovery})
    with mpharness.open_board("unix", rig=[], timeout=30) as board:
        board.timeouts = timeouts
        start = time.monotonic()
        try:
            board.exec("while True: print('z' * 1000)", timeout={timeout})
            outcome = "returned"
        except mpharness.BoardTimeout as err:
            outcome = "BoardTimeout"
        except mpharness.MPHarnessError as err:
            outcome = type(err).__name__
        seconds = time.monotonic() - start
        alive = board.exec("print(6 * 7)") == "42\\n"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({{"outcome": outcome, "seconds": seconds, "rss_mb": rss, "alive": alive}}))
    """
)


def test_exec_of_an_endless_printer_keeps_its_deadline_and_memory_bound() -> None:
    """Issue 11: ``exec("while True: print('z'*1000)", timeout=2)`` never returned on unix and
    grew without bound (the deadline was only checked when a read came back empty)."""
    require_virtual_board("unix")
    budget = FLOOD_TIMEOUT + FAULT_TIMEOUTS.interrupt + FAULT_TIMEOUTS.recovery + SLACK
    code = _FLOOD_CHILD.format(
        interrupt=FAULT_TIMEOUTS.interrupt, recovery=FAULT_TIMEOUTS.recovery, timeout=FLOOD_TIMEOUT
    )
    try:
        child = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=budget + 10.0,  # + opening the board and the check exec after it
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        stderr = err.stderr.decode() if isinstance(err.stderr, bytes) else err.stderr or ""
        memory = [line for line in stderr.splitlines() if line.startswith("rss_mb")]
        pytest.fail(
            f"the exec did not end: child killed after {budget + 10.0:.0f} s "
            f"(peak memory then: {memory[-1] if memory else 'unknown'})"
        )
    assert child.returncode == 0, child.stderr[-2000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["outcome"] == "BoardTimeout", report
    assert report["seconds"] <= budget, report
    assert report["rss_mb"] < FLOOD_RSS_MB, report
    assert report["alive"], report
