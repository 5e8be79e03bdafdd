"""Pool benchmark: an I/O-bound suite on 1 vs 4 unix boards with pytest-xdist.

Run:  python tests/benchmarks/bench_pool.py [--tests 400] [--sleep 0.1] [--repeat 1]

Every test of the generated suite is an on-board test sleeping ``--sleep`` seconds on the
board. The suite is run (as a pytest subprocess, wall time measured around it) on:
one board without xdist; one board with ``-n 4`` (the workers take turns through the lease);
four boards with ``-n 4`` (each worker leases its own). The boards are named ``unix:``
entries of a generated rig file, so leases apply as for real boards. Prints medians in
seconds and the speed-up of four boards over one. Not part of the test run.

xdist's start-up (four workers importing pytest and the plugins: about 5 s on a busy 2-core
machine) is paid in every ``-n 4`` run, so short suites show less speed-up: measured on such a
machine, 400 tests gave 3.5x over one board with ``-n 4`` (3.4x over one board without xdist),
120 tests 2.3x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

RIG = "boards:\n" + "".join(f"  u{i}:\n    url: 'unix:'\n" for i in range(1, 5))
SUITE = """
import pytest

@pytest.mark.on_board
@pytest.mark.parametrize("i", range({tests}))
def test_io(i):
    import time
    time.sleep({sleep})
"""
QUIET = ["-q", "-p", "no:randomly", "-p", "no:hypothesispytest", "-p", "no:cacheprovider"]


def run(folder: str, device: str, workers: int) -> float:
    cmd = [sys.executable, "-m", "pytest", "--device", device, "--rig", "rig.yaml", *QUIET]
    if workers:
        cmd += ["-n", str(workers)]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"suite failed ({' '.join(cmd)}):\n{done.stdout[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tests", type=int, default=400)
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mph-bench-pool-") as folder:
        os.environ["MPHARNESS_LOCK_DIR"] = os.path.join(folder, "locks")
        with open(os.path.join(folder, "rig.yaml"), "w") as out:
            out.write(RIG)
        with open(os.path.join(folder, "test_io.py"), "w") as out:
            out.write(SUITE.format(tests=args.tests, sleep=args.sleep))
        cases = [("1 board, no xdist", "u1", 0), ("1 board, -n 4", "u1", 4)]
        cases.append(("4 boards, -n 4", "u1,u2,u3,u4", 4))
        results = {}
        for name, device, workers in cases:
            times = [run(folder, device, workers) for _ in range(args.repeat)]
            results[name] = statistics.median(times)
            print(
                f"{name:18s} {results[name]:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})"
            )
        floor = args.tests * args.sleep
        print(f"sleep floor: {floor:.1f} s on one board, {floor / 4:.1f} s on four")
        four = results["4 boards, -n 4"]
        for name in cases[:2]:
            print(f"speed-up of 4 boards -n 4 over {name[0]}: {results[name[0]] / four:.2f}x")


if __name__ == "__main__":
    main()
