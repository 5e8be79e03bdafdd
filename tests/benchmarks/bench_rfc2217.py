"""Exec round trip over RFC 2217 on loopback vs the same unix board opened locally.

Run: ``python tests/benchmarks/bench_rfc2217.py [N]``. The unix board is served by
:func:`mpharness.tools.serve.served_board` in this process (server threads) and opened as
``rfc2217://127.0.0.1:PORT``; the local figure opens another unix board directly. Prints the
median and 90th percentile of ``exec("pass")`` and of ``eval`` of a 1 KiB bytes value.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import mpharness
from mpharness.tools.serve import served_board


def timed(fn: Callable[[], object], n: int) -> tuple[float, float]:
    fn()  # warm up
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (n - 1))]


def measure(board: mpharness.Board, n: int) -> dict[str, tuple[float, float]]:
    return {
        "exec('pass')": timed(lambda: board.exec("pass"), n),
        "eval(bytes 1 KiB)": timed(lambda: board.eval("bytes(1024)"), n),
    }


def main(n: int) -> None:
    with mpharness.open_board("unix") as board:
        local = measure(board, n)
    with served_board("unix") as server, mpharness.open_board(server.url) as board:
        remote = measure(board, n)
    print(f"{'operation':<20} {'local med/p90 ms':>18} {'rfc2217 med/p90 ms':>20}")
    for name, (med, p90) in local.items():
        rmed, rp90 = remote[name]
        print(
            f"{name:<20} {med * 1e3:8.2f}/{p90 * 1e3:<8.2f} {rmed * 1e3:10.2f}/{rp90 * 1e3:<8.2f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
