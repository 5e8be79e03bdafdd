"""Engine benchmark: mpharness beside mpremote's Python API on the same virtual boards.

Run:  python tests/benchmarks/bench_engine.py [--boards unix,microbit] [--repeat N]

For each board, mpharness drives one instance directly; mpremote drives another instance
of the same board through a pty bridge, once through a symlink named like a real port
(/tmp/mph-bench-ttyACM0: mpremote sleep-polls there) and once through the /dev/pts name.
Prints medians in milliseconds and the ratio mpremote / mpharness; the "(checked)" column is
mpharness with checked execs (``integrity: checked``, see mpharness/session/integrity.py).

Then, for the unix board, the same operations (fewer repeats, 1 KB code only) behind a link
that holds host->board bytes for ``--latency-ms`` (default 1000; the issue-11 relay: the link
shaper's ``up_latency_ms``): mpharness on ``shaped:up_latency_ms=N;unix:``, mpremote through a
pty bridge over the very same shaped link. A cell reads "failed" (and the error is printed)
where a tool could not do the operation. ``--latency-ms 0`` skips this part. Not part of the
test run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import mpharness
from mpharness.transports import open_transport
from mpharness.virtual.pty_bridge import PtyBridge
from mpharness.virtual.shaped_urls import shaped_url

LINK = "/tmp/mph-bench-ttyACM0"


def code_of_size(size: int) -> str:
    lines = ["a = 0"]
    while sum(len(line) + 1 for line in lines) < size:
        lines.append(f"a = a + {len(lines) % 10}")
    return "\n".join(lines) + "\n"


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


SIZES = (("1 KB code exec", 1024), ("32 KB code exec", 32 * 1024))


def bench_mpharness(
    name: str, repeat: int, integrity: str, *, round_trips: int = 10, sizes: tuple = SIZES
) -> dict[str, float | None]:
    with mpharness.open_board(name, rig=[], timeout=60) as board:
        board.integrity = integrity
        board.exec("pass")
        results: dict[str, float | None] = {}
        results["exec round trip"] = median_ms(lambda: board.exec("pass"), repeat * round_trips)
        results["soft reset + exec"] = median_ms(
            lambda: (board.soft_reset(), board.exec("pass")), repeat
        )
        for label, size in sizes:
            code = code_of_size(size)
            results[label] = _guard(lambda c=code: board.exec(c, timeout=120), repeat // 2 or 1)
        return results


def _guard(fn: Callable[[], object], repeat: int) -> float | None:
    try:
        return median_ms(fn, repeat)
    except Exception as err:
        print(f"    (failed: {type(err).__name__}: {str(err)[:80]})")
        return None


def bench_mpremote(
    name: str, repeat: int, via_link: bool, *, round_trips: int = 10, sizes: tuple = SIZES
) -> dict[str, float | None]:
    transport = open_transport(mpharness.resolve_board(name, []).urls[0])
    try:
        return _mpremote_ops(name, transport, repeat, via_link, round_trips, sizes)
    finally:
        transport.close()


def _mpremote_ops(
    name: str, transport: Any, repeat: int, via_link: bool, round_trips: int, sizes: tuple
) -> dict[str, float | None]:
    from mpremote.transport_serial import SerialTransport

    with PtyBridge(transport, link_path=LINK if via_link else None) as bridge:
        port = LINK if via_link else bridge.slave_path
        mp = SerialTransport(port, baudrate=115200)
        # mpremote blocks in read(1) on a /dev/pts port until a byte comes: a read timeout
        # lets its own deadlines work, so a step it cannot do fails instead of hanging (its
        # soft reset waits for "soft reboot\r\n"; the unix port ends the line with "\n")
        mp.serial.timeout = 12.0  # longer than its own 10 s budgets
        try:
            mp.enter_raw_repl(soft_reset=False)
            results: dict[str, float | None] = {}
            results["exec round trip"] = median_ms(lambda: mp.exec("pass"), repeat * round_trips)

            def reset_exec() -> None:
                mp.exit_raw_repl()
                mp.enter_raw_repl(soft_reset=True)
                mp.exec("pass")

            results["soft reset + exec"] = _guard(reset_exec, repeat)
            for label, size in sizes:
                if name == "microbit" and size > 1024:
                    print(f"    ({label}: not tried with mpremote on the micro:bit: its plain raw")
                    print("     mode overruns the 63-byte UART buffer and the board hangs)")
                    results[label] = None
                    continue
                code = code_of_size(size)
                results[label] = _guard(lambda c=code: mp.exec(c), repeat // 2 or 1)
            return results
        finally:
            mp.close()


def _or_failed(
    tool: str, run: Callable[[], dict[str, float | None]], ops: list[str]
) -> dict[str, float | None]:
    """``run()``'s results, or every operation failed (printing why) if it raised."""
    try:
        return run()
    except Exception as err:
        print(f"    ({tool} failed: {type(err).__name__}: {str(err)[:300]})")
        return dict.fromkeys(ops)


def bench_latency(latency_ms: float, repeat: int) -> None:
    """mpharness and mpremote on the unix board behind a link holding input ``latency_ms``."""
    url = shaped_url("unix:", up_latency_s=latency_ms / 1000.0)
    light = {"round_trips": 1, "sizes": SIZES[:1]}
    ops = ["exec round trip", "soft reset + exec", SIZES[0][0]]
    print(f"== unix board, {latency_ms:g} ms host->board latency ({url}) (medians, ms)")
    ours = _or_failed("mpharness", lambda: bench_mpharness(url, repeat, "off", **light), ops)
    theirs = _or_failed(
        "mpremote", lambda: bench_mpremote(url, repeat, via_link=False, **light), ops
    )
    column = f"at {latency_ms:g} ms"
    print(f"{'operation':20} {'mpharness ' + column:>24} {'mpremote ' + column:>24}")
    for op in ops:
        value, other = ours.get(op), theirs.get(op)
        ratio = f"   x{other / value:6.2f}" if value and other else ""
        print(f"{op:20} {fmt(value):>24} {fmt(other):>24}{ratio}")
    print()


def fmt(value: float | None) -> str:
    return "failed" if value is None else f"{value:8.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boards", default="unix,microbit")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=1000.0)
    parser.add_argument("--latency-repeat", type=int, default=5)
    args = parser.parse_args()
    for name in filter(None, args.boards.split(",")):
        print(f"== {name} board (medians, ms)")
        ours = bench_mpharness(name, args.repeat, "off")
        checked = bench_mpharness(name, args.repeat, "checked")
        theirs_link = bench_mpremote(name, args.repeat, via_link=True)
        theirs_pts = bench_mpremote(name, args.repeat, via_link=False)
        link_col = "mpremote " + LINK[5:]
        print(
            f"{'operation':20} {'mpharness':>10} {'(checked)':>10} {link_col:>28} "
            f"{'mpremote /dev/pts':>18}"
        )
        for op, value in ours.items():
            a, b = theirs_link.get(op), theirs_pts.get(op)
            ratio = ""
            if value and a and b:
                ratio = f"   x{a / value:6.1f} / x{b / value:5.1f}"
            print(
                f"{op:20} {fmt(value):>10} {fmt(checked.get(op)):>10} {fmt(a):>28} "
                f"{fmt(b):>18}{ratio}"
            )
        print()
    if args.latency_ms:
        bench_latency(args.latency_ms, args.latency_repeat)


if __name__ == "__main__":
    main()
