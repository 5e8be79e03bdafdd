"""pytest plugin benchmark: N trivial on-board tests, each after its own soft reset.

Run:  python tests/benchmarks/bench_plugin.py [--board unix] [--tests 50] [--rounds 3]

Writes a test file of N trivial on-board tests (``assert n + 1 == n + 1``) to a temporary
directory and runs pytest on it in-process with ``--device BOARD`` (per-test isolation, the
default). Prints, per round, the median of setup (soft reset) and call (ship + exec + frame)
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

@pytest.mark.parametrize("n", range({count}))
def test_trivial(n):
    assert n + 1 == n + 1
"""


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
    parser.add_argument("--tests", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_bench.py").write_text(BODY.format(count=opts.tests))
        rows = []
        for _ in range(opts.rounds):
            collector, wall = run_once(folder, opts.board, opts.tests)
            setup, call = median_ms(collector, "setup"), median_ms(collector, "call")
            total = statistics.median(sum(p.values()) for p in collector.phases.values()) * 1000
            rows.append((setup, call, total, wall * 1000 / opts.tests))
        host, host_wall = run_once(folder, None, opts.tests)
    print(f"{opts.tests} trivial on-board tests on {opts.board!r}, per-test soft reset")
    print("round  setup(reset) ms  call ms  per-test ms  wall ms/test")
    for i, (setup, call, total, wall) in enumerate(rows, 1):
        print(f"{i:5}  {setup:15.2f}  {call:7.2f}  {total:11.2f}  {wall:12.2f}")
    best = min(rows, key=lambda r: r[2])
    print(f"median per test (best round): {best[2]:.2f} ms  (target <= 10 ms)")
    host_total = statistics.median(sum(p.values()) for p in host.phases.values()) * 1000
    print(
        f"same tests run on the host without the plugin: {host_total:.2f} ms per test, "
        f"{host_wall * 1000 / opts.tests:.2f} ms/test wall"
    )


if __name__ == "__main__":
    main()
