"""Engine benchmark: mpharness beside mpremote's Python API on the same virtual boards.

Run:  python tests/benchmarks/bench_engine.py [--boards unix,microbit] [--repeat N]

For each board, mpharness drives one instance directly; mpremote drives another instance
of the same board through a pty bridge, once through a symlink named like a real port
(/tmp/mph-bench-ttyACM0: mpremote sleep-polls there) and once through the /dev/pts name.
Prints medians in milliseconds and the ratio mpremote / mpharness; the "(checked)" column is
mpharness with checked execs (``integrity: checked``, see mpharness/session/integrity.py). Not
part of
the test run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import mpharness
from mpharness.transports import open_transport
from mpharness.virtual.pty_bridge import PtyBridge

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


def bench_mpharness(name: str, repeat: int, integrity: str) -> dict[str, float | None]:
    with mpharness.open_board(name, rig=[], timeout=60) as board:
        board.integrity = integrity
        board.exec("pass")
        results: dict[str, float | None] = {}
        results["exec round trip"] = median_ms(lambda: board.exec("pass"), repeat * 10)
        results["soft reset + exec"] = median_ms(
            lambda: (board.soft_reset(), board.exec("pass")), repeat
        )
        for label, size in (("1 KB code exec", 1024), ("32 KB code exec", 32 * 1024)):
            code = code_of_size(size)
            results[label] = _guard(lambda c=code: board.exec(c, timeout=120), repeat // 2 or 1)
        return results


def _guard(fn: Callable[[], object], repeat: int) -> float | None:
    try:
        return median_ms(fn, repeat)
    except Exception as err:
        print(f"    (failed: {type(err).__name__}: {str(err)[:80]})")
        return None


def bench_mpremote(name: str, repeat: int, via_link: bool) -> dict[str, float | None]:
    from mpremote.transport_serial import SerialTransport

    transport = open_transport(mpharness.resolve_board(name, []).urls[0])
    with PtyBridge(transport, link_path=LINK if via_link else None) as bridge:
        port = LINK if via_link else bridge.slave_path
        mp = SerialTransport(port, baudrate=115200)
        try:
            mp.enter_raw_repl(soft_reset=False)
            results: dict[str, float | None] = {}
            results["exec round trip"] = median_ms(lambda: mp.exec("pass"), repeat * 10)

            def reset_exec() -> None:
                mp.exit_raw_repl()
                mp.enter_raw_repl(soft_reset=True)
                mp.exec("pass")

            results["soft reset + exec"] = _guard(reset_exec, repeat)
            for label, size in (("1 KB code exec", 1024), ("32 KB code exec", 32 * 1024)):
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
    transport.close()


def fmt(value: float | None) -> str:
    return "failed" if value is None else f"{value:8.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boards", default="unix,microbit")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    for name in args.boards.split(","):
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


if __name__ == "__main__":
    main()
