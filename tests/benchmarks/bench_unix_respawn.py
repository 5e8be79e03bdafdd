"""Soft-reset latency of the unix-port virtual board (transport level, raw bytes).

Run: ``python tests/benchmarks/bench_unix_respawn.py [N]``. Prints medians of

* **idle reset**: time from writing Ctrl-D at the raw prompt to having the whole new raw banner,
  with a short pause before each reset so the spare interpreter is ready (the common case:
  a test body runs between two resets);
* **back-to-back reset + exec**: soft reset immediately followed by ``exec("pass")`` in a tight
  loop, so the next spare is forked while the harness is already busy (sustained cost);
* **exec round trip** for scale.
"""

from __future__ import annotations

import statistics
import sys
import time

from mpharness.deadline import Deadline
from mpharness.transports.base import Transport
from mpharness.virtual.unix_board import open_unix_board

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
REBOOT = b"MPY: soft reboot\r\n" + RAW_BANNER


def read_until(transport: Transport, marker: bytes, timeout: float = 5.0) -> bytes:
    deadline = Deadline.after(timeout)
    out = b""
    while not out.endswith(marker):
        chunk = transport.read(deadline)
        if not chunk:
            raise TimeoutError(f"waiting for {marker!r}, got {out!r}")
        out += chunk
    return out


def soft_reset(transport: Transport) -> None:
    transport.write(b"\x04")
    read_until(transport, REBOOT)


def exec_pass(transport: Transport) -> None:
    transport.write(b"pass\x04")
    read_until(transport, b"\x04\x04>")


def ms(samples: list[float]) -> str:
    qs = statistics.quantiles(samples, n=10)
    return (
        f"median {statistics.median(samples) * 1e3:6.2f} ms  "
        f"(p10 {qs[0] * 1e3:.2f}, p90 {qs[-1] * 1e3:.2f})"
    )


def main(n: int = 50) -> None:
    t0 = time.perf_counter()
    board = open_unix_board(None)
    opened = time.perf_counter() - t0
    try:
        read_until(board, b">>> ")
        board.write(b"\x01")
        read_until(board, RAW_BANNER)
        idle = []
        for _ in range(n):
            time.sleep(0.02)
            t = time.perf_counter()
            soft_reset(board)
            idle.append(time.perf_counter() - t)
        sustained = []
        for _ in range(n):
            t = time.perf_counter()
            soft_reset(board)
            exec_pass(board)
            sustained.append(time.perf_counter() - t)
        execs = []
        for _ in range(200):
            t = time.perf_counter()
            exec_pass(board)
            execs.append(time.perf_counter() - t)
    finally:
        board.close()
    print(f"open (incl. fork server start if first): {opened * 1e3:.1f} ms")
    print(f"idle soft reset (Ctrl-D -> raw banner), n={n}:  {ms(idle)}")
    print(f"back-to-back soft reset + exec, n={n}:        {ms(sustained)}")
    print(f"plain raw exec round trip, n=200:             {ms(execs)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
