"""pytest plugin benchmark: N trivial on-board tests, each after its own soft reset.

Run:  python tests/benchmarks/bench_plugin.py [--board unix] [--tests 200] [--rounds 3]
                                              [--helpers 0]

Writes a test file of N trivial on-board tests (``assert n + 1 == n + 1``) to a temporary
directory and runs pytest on it in-process with ``--device BOARD`` (per-test isolation, the
default). ``--helpers K`` adds K module-level helper functions that every test uses: the code
a module shares between its tests, which should not cost per test. Compare two versions of
the plugin by running this script with each on ``PYTHONPATH``. Prints, per round, the
median of setup (soft reset) and call (ship + exec + frame)
time per test from pytest's own report durations, the per-test total, and the wall time of the
whole run (including opening the board). A host-only run of the same N tests is printed for
scale: that is pytest's own cost per test. Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pytest

BODY = """
import pytest
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


def median_ms(collector: Collector, phase: str) -> float:
    return statistics.median(p.get(phase, 0.0) for p in collector.phases.values()) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--board", default="unix")
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--helpers", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
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


if __name__ == "__main__":
    main()
