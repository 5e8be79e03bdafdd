"""pytest plugin benchmark: N trivial on-board tests, each after its own soft reset.

Run:  python tests/benchmarks/bench_plugin.py [--board unix] [--tests 200] [--rounds 3]
                                              [--helpers 0]

Writes a test file of N trivial on-board tests (``assert n + 1 == n + 1``) to a temporary
directory and runs pytest on it in-process with ``--device BOARD`` (per-test isolation, the
default). ``--helpers K`` adds K module-level helper functions that every test uses: the code
a module shares between its tests, which should not cost per test. Compare two versions of
the plugin by running this script with each on ``PYTHONPATH``. Prints, per round, the
median of setup (soft reset) and call (the test's program on the board)
time per test from pytest's own report durations, the per-test total, and the wall time of the
whole run (including opening the board). Printed for scale beside it: a host-only run of the
same N tests (pytest's own cost per test), and mpremote's Python API doing the least a
hand-written runner would per test on another instance of the same board (through a pty
bridge, as ``bench_engine.py`` does): a soft reset into the raw REPL and one exec of the test
body, without pytest; with the ratio plugin / mpremote. ``--mpremote 0`` leaves it out. Not
part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pytest

import mpharness
from mpharness.transports import open_transport
from mpharness.virtual.pty_bridge import PtyBridge

BODY = """
import pytest

import mpharness
from mpharness.transports import open_transport
from mpharness.virtual.pty_bridge import PtyBridge
pytestmark = pytest.mark.on_board
{helpers}
@pytest.mark.parametrize("n", range({count}))
def test_trivial(n):
    assert {call}n + 1 == n + 1
"""
HELPER = """
def helper_{i}(x):
    # a helper of a few lines, as test modules have them
    value = x * {i} + 1
    if value < 0:
        value = -value
    return value
"""


def module_text(count: int, helpers: int) -> str:
    """The benchmark's test module: ``count`` tests sharing ``helpers`` helper functions."""
    block = "".join(HELPER.format(i=i) for i in range(helpers))
    if helpers:  # every test needs every helper (without a deeper call stack)
        block += "\nHELPERS = (" + ", ".join(f"helper_{i}" for i in range(helpers)) + ",)\n"
    call = "0 * len(HELPERS) + " if helpers else ""
    return BODY.format(count=count, helpers=block, call=call)


class Collector:
    """Keeps pytest's per-phase durations of every test."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}
        self.failed = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.phases.setdefault(report.nodeid, {})[report.when] = report.duration
        self.failed += report.failed


def run_once(folder: Path, board: str | None, count: int) -> tuple[Collector, float]:
    collector = Collector()
    args = [str(folder), "-q", "-p", "no:cacheprovider", "--no-header", "--no-summary"]
    if board is not None:
        args += ["--device", board]
    else:
        args += ["-p", "no:mpharness", "-W", "ignore::pytest.PytestUnknownMarkWarning"]
    started = time.perf_counter()
    code = pytest.main(args, plugins=[collector])
    wall = time.perf_counter() - started
    if code != 0 or collector.failed or len(collector.phases) != count:
        raise SystemExit(f"benchmark run failed (exit {code}, {collector.failed} failed)")
    return collector, wall


def mpremote_per_test_ms(board: str, count: int) -> float | None:
    """Median ms of a soft reset plus one exec of a trivial test body with mpremote's Python
    API (None, saying why, when mpremote is missing or cannot do it on this board)."""
    try:
        from mpremote.transport_serial import SerialTransport
    except ImportError:
        print("(mpremote is not installed: no mpremote column)")
        return None
    transport = open_transport(mpharness.resolve_board(board, []).urls[0])
    times: list[float] = []
    try:
        with PtyBridge(transport) as bridge:
            mp = SerialTransport(bridge.slave_path, baudrate=115200)
            mp.serial.timeout = 12.0  # past mpremote's own 10 s budgets: fail, never hang
            try:
                mp.enter_raw_repl(soft_reset=False)
                for n in range(count):
                    started = time.perf_counter()
                    mp.exit_raw_repl()
                    mp.enter_raw_repl(soft_reset=True)
                    mp.exec(f"n={n}\nassert n + 1 == n + 1")
                    times.append(time.perf_counter() - started)
            finally:
                mp.close()
    except Exception as err:  # a benchmark column: reported and left out
        print(f"(mpremote failed on {board!r}: {type(err).__name__}: {str(err)[:200]})")
        return None
    finally:
        transport.close()
    return statistics.median(times) * 1000


def median_ms(collector: Collector, phase: str) -> float:
    return statistics.median(p.get(phase, 0.0) for p in collector.phases.values()) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--board", default="unix")
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--helpers", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mpremote", type=int, default=1, help="0: no mpremote column")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_bench.py").write_text(module_text(opts.tests, opts.helpers))
        rows = []
        for _ in range(opts.rounds):
            collector, wall = run_once(folder, opts.board, opts.tests)
            setup, call = median_ms(collector, "setup"), median_ms(collector, "call")
            total = statistics.median(sum(p.values()) for p in collector.phases.values()) * 1000
            rows.append((setup, call, total, wall * 1000 / opts.tests))
        host, host_wall = run_once(folder, None, opts.tests)
    theirs = mpremote_per_test_ms(opts.board, opts.tests) if opts.mpremote else None
    print(
        f"{opts.tests} trivial on-board tests on {opts.board!r} sharing {opts.helpers} helper "
        "functions, per-test soft reset"
    )
    print("round  setup(reset) ms  call ms  per-test ms  wall ms/test")
    for i, (setup, call, total, wall) in enumerate(rows, 1):
        print(f"{i:5}  {setup:15.2f}  {call:7.2f}  {total:11.2f}  {wall:12.2f}")
    best = min(rows, key=lambda r: r[2])
    print(f"median per test (best round): {best[2]:.2f} ms")
    host_total = statistics.median(sum(p.values()) for p in host.phases.values()) * 1000
    print(
        f"same tests run on the host without the plugin: {host_total:.2f} ms per test, "
        f"{host_wall * 1000 / opts.tests:.2f} ms/test wall"
    )
    if theirs is not None:
        print(
            f"mpremote, soft reset + exec of the body per test (no pytest): {theirs:.2f} ms "
            f"per test; plugin / mpremote: x{best[2] / theirs:.2f}"
        )


if __name__ == "__main__":
    main()
