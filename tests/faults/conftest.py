"""Fault suite support: every case runs ``MPHARNESS_FAULT_RUNS`` times (default 3).

Each test taking a ``run`` argument is parametrized over the run index. The outcomes are
tallied per case (the test id without its run index) and printed as a table at the end of the
session; with ``MPHARNESS_FAULT_REPORT=path`` the tally is also written there as JSON (used by
``tests/benchmarks/run_fault_suite.py``).
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict

import pytest

RUNS_ENV = "MPHARNESS_FAULT_RUNS"
REPORT_ENV = "MPHARNESS_FAULT_REPORT"
_RUN_ID = re.compile(r"-?run\d+-?")
_TALLY: dict[str, dict[str, int]] = defaultdict(lambda: {"runs": 0, "failed": 0, "skipped": 0})


def fault_runs() -> int:
    """How many times each case runs."""
    return max(1, int(os.environ.get(RUNS_ENV, "3")))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "run" in metafunc.fixturenames:
        runs = range(fault_runs())
        metafunc.parametrize("run", runs, ids=[f"run{i}" for i in runs])


def _case(nodeid: str) -> str:
    name = nodeid.split("::", 1)[-1]
    if "[" in name:
        base, params = name[:-1].split("[", 1)
        params = _RUN_ID.sub("-", params).strip("-")
        name = f"{base}[{params}]" if params else base
    return name


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/faults/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        entry = _TALLY[_case(report.nodeid)]
        entry["runs"] += 1
        if report.failed:
            entry["failed"] += 1
        elif report.skipped:
            entry["skipped"] += 1


def format_tally(tally: dict[str, dict[str, int]]) -> str:
    """The fault table: case, runs, failures, skips, and a total line."""
    width = max([len(k) for k in tally] + [10])
    lines = [f"{'case':<{width}}  runs  failed  skipped"]
    for case, entry in sorted(tally.items()):
        lines.append(
            f"{case:<{width}}  {entry['runs']:>4}  {entry['failed']:>6}  {entry['skipped']:>7}"
        )
    total = {k: sum(e[k] for e in tally.values()) for k in ("runs", "failed", "skipped")}
    lines.append(
        f"{'total (' + str(len(tally)) + ' cases)':<{width}}  {total['runs']:>4}  "
        f"{total['failed']:>6}  {total['skipped']:>7}"
    )
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _TALLY:
        return
    terminalreporter.section("fault suite")
    terminalreporter.write_line(format_tally(_TALLY))
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(_TALLY, out)
