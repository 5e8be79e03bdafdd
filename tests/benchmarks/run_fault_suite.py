"""Run the fault suite (tests/faults) several times and print the table of cases x runs.

Usage: ``python tests/benchmarks/run_fault_suite.py [--rounds N] [--runs R] [pytest args...]``

Each round is one pytest session in which every case runs ``R`` times
(``MPHARNESS_FAULT_RUNS``); the per-case tallies of all rounds are summed. Exit status is
non-zero when any run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tests.faults.conftest import REPORT_ENV, RUNS_ENV, format_tally  # noqa: E402


def _round(runs: int, extra: list[str]) -> tuple[dict[str, dict[str, int]], float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "tally.json")
        env = dict(os.environ, **{RUNS_ENV: str(runs), REPORT_ENV: report})
        start = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/faults",
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - start
        if not os.path.exists(report):
            return {}, seconds, done.stdout
        with open(report, encoding="utf-8") as f:
            return json.load(f), seconds, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="pytest sessions (default 3)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case per session")
    args, extra = parser.parse_known_args()
    total: dict[str, dict[str, int]] = defaultdict(lambda: {"runs": 0, "failed": 0, "skipped": 0})
    for i in range(args.rounds):
        tally, seconds, output = _round(args.runs, extra)
        failed = sum(e["failed"] for e in tally.values())
        print(f"round {i + 1}/{args.rounds}: {seconds:.1f} s, {failed} failed", flush=True)
        if failed or not tally:
            summary = [line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))]
            print("\n".join(summary[:20] or output.splitlines()[-20:]), flush=True)
        for case, entry in tally.items():
            for key, value in entry.items():
                total[case][key] += value
    print(format_tally(dict(total)))
    return 1 if any(e["failed"] for e in total.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
