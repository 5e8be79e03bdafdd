"""Filesystem benchmark: board.fs and sync beside mpremote's Python API on the unix board.

Run:  python tests/benchmarks/bench_fs.py [--repeat N]

mpharness drives one unix board directly; mpremote drives another through a pty bridge, once
through a symlink named like a real port (/tmp/mph-bench-ttyACM0: mpremote sleep-polls
there) and once through the /dev/pts name. The 100 KiB file is random bytes. The library
is 30 generated source files (about 54 KB) in three packages; mpremote's "sync" is what
``mpremote cp -r`` does: mkdir, then per file a hash check and a write (first run), or a hash
check only (unchanged run). Prints medians. Not part of the test run.

Second section, "through the link shaper at 115200 baud": a 100 KiB random file and a 100 KiB
text file written and read over ``shaped:baud=115200;unix:`` (10 bits per byte: 11520 bytes/s
line rate) by mpharness (its default integrity mode for such a link is "checked"; also shown
with integrity "off") and by mpremote through a pty bridged to the same kind of shaped link.
Prints medians and the percentage of the line rate. ``--shaped-only`` skips the first section.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import mpharness
from mpharness.files.sync import apply_sync, plan_sync
from mpharness.transports import open_transport
from mpharness.virtual.pty_bridge import PtyBridge
from mpharness.virtual.shaped_urls import shaped_url

LINK = "/tmp/mph-bench-ttyACM0"
SIZE = 100 * 1024
BAUD = 115200
LINE_RATE = BAUD / 10  #: bytes/s: start bit, 8 data bits, stop bit
SHAPED = shaped_url("unix:", baudrate=BAUD)


def median_s(
    fn: Callable[[], object], repeat: int, setup: Callable[[], object] | None = None
) -> float:
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_library(root: str) -> list[tuple[str, bytes]]:
    """30 source files of about 1.8 KB each in three packages; returns (relative path, data)."""
    files = []
    for i in range(30):
        lines = [f"# module {i}", "import time", ""]
        while sum(len(line) + 1 for line in lines) < 1750:
            n = len(lines)
            lines.append(f"def f{n}(x, y={n}):\n    return (x * {n} + y) % {i + 7}")
        rel = f"pkg{i % 3}/mod{i}.py"
        data = ("\n".join(lines) + "\n").encode()
        os.makedirs(os.path.join(root, f"pkg{i % 3}"), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        files.append((rel, data))
    return files


def bench_mpharness(data: bytes, lib: str, repeat: int) -> dict[str, float]:
    with mpharness.open_board("unix", rig=[], timeout=60) as board:
        fs = board.fs
        fs.caps()
        out = {
            "100 KiB write": median_s(lambda: fs.write_bytes("/big.bin", data), repeat),
            "100 KiB read": median_s(lambda: fs.read_bytes("/big.bin"), repeat),
        }
        assert fs.read_bytes("/big.bin") == data

        def wipe() -> None:
            if fs.exists("/lib"):
                fs.rmtree("/lib")

        out["sync 30 files, first"] = median_s(
            lambda: apply_sync(board, plan_sync(board, lib, "/lib")), repeat, wipe
        )

        def unchanged() -> None:
            plan = plan_sync(board, lib, "/lib")
            assert not plan.to_upload
            apply_sync(board, plan)

        out["sync 30 files, unchanged"] = median_s(unchanged, repeat)
        return out


def bench_mpremote(
    data: bytes, files: list[tuple[str, bytes]], repeat: int, via_link: bool
) -> dict[str, float]:
    from mpremote.transport_serial import SerialTransport

    transport = open_transport(mpharness.resolve_board("unix", []).urls[0])
    with PtyBridge(transport, link_path=LINK if via_link else None) as bridge:
        mp = SerialTransport(LINK if via_link else bridge.slave_path, baudrate=115200)
        try:
            mp.enter_raw_repl(soft_reset=False)
            out = {
                "100 KiB write": median_s(lambda: mp.fs_writefile("/big.bin", data), repeat),
                "100 KiB read": median_s(lambda: mp.fs_readfile("/big.bin"), repeat),
            }

            def cp_r(first: bool) -> None:
                if first:
                    for d in ("/lib", "/lib/pkg0", "/lib/pkg1", "/lib/pkg2"):
                        with contextlib.suppress(Exception):
                            mp.fs_mkdir(d)
                for rel, content in files:
                    dest = "/lib/" + rel
                    try:
                        same = mp.fs_hashfile(dest, "sha256") == hashlib.sha256(content).digest()
                    except Exception:
                        same = False
                    if not same:
                        mp.fs_writefile(dest, content)

            def wipe() -> None:
                mp.exec(
                    "import os\nfor d in os.listdir('/lib') if 'lib' in os.listdir('/') else []:\n"
                    " [os.remove('/lib/'+d+'/'+f) for f in os.listdir('/lib/'+d)]"
                )

            out["sync 30 files, first"] = median_s(lambda: cp_r(True), repeat, wipe)
            out["sync 30 files, unchanged"] = median_s(lambda: cp_r(False), repeat)
            return out
        finally:
            mp.close()
    transport.close()


def make_text(size: int) -> bytes:
    """``size`` bytes of Python-like source text (indents, quotes, newlines)."""
    lines, i = [], 0
    while sum(len(line) + 1 for line in lines) < size:
        lines.append(f"    value_{i} = compute('item {i}', limit={i % 97}) + \"{i * 7}\"  # note")
        i += 1
    return ("\n".join(lines) + "\n").encode()[:size]


def shaped_mpharness(payloads: dict[str, bytes], repeat: int, integrity: str) -> dict[str, float]:
    with mpharness.open_board(SHAPED, rig=[], timeout=60) as board:
        if integrity != "default":
            board.integrity = integrity
        fs = board.fs
        fs.caps()
        out = {}
        for kind, data in payloads.items():
            out[f"{kind} write"] = median_s(lambda d=data: fs.write_bytes("/s.bin", d), repeat)
            out[f"{kind} read"] = median_s(lambda: fs.read_bytes("/s.bin"), repeat)
            assert fs.read_bytes("/s.bin") == data
        return out


def shaped_mpremote(payloads: dict[str, bytes], repeat: int) -> dict[str, float]:
    from mpremote.transport_serial import SerialTransport

    transport = open_transport(SHAPED)
    try:
        with PtyBridge(transport) as bridge:
            mp = SerialTransport(bridge.slave_path, baudrate=BAUD)
            try:
                mp.enter_raw_repl(soft_reset=False)
                out = {}
                for kind, data in payloads.items():
                    out[f"{kind} write"] = median_s(
                        lambda d=data: mp.fs_writefile("/s.bin", d), repeat
                    )
                    out[f"{kind} read"] = median_s(lambda: mp.fs_readfile("/s.bin"), repeat)
                    assert mp.fs_readfile("/s.bin") == data
                return out
            finally:
                mp.close()
    finally:
        transport.close()


def bench_shaped(repeat: int) -> None:
    payloads = {"random": os.urandom(SIZE), "text": make_text(SIZE)}
    columns = {
        "mpharness": shaped_mpharness(payloads, repeat, "default"),
        "mpharness integrity off": shaped_mpharness(payloads, repeat, "off"),
        "mpremote": shaped_mpremote(payloads, repeat),
    }
    print(f"== through the link shaper at {BAUD} baud (100 KiB; medians of {repeat};")
    print(f"   % = bytes/s of file data / {LINE_RATE:.0f} bytes/s line rate)")
    print(f"{'operation':16}" + "".join(f"{name:>26}" for name in columns))
    for op in columns["mpharness"]:
        cells = [
            f"{t:6.2f} s {SIZE / t / LINE_RATE * 100:5.1f}%"
            for t in (c[op] for c in columns.values())
        ]
        print(f"{op:16}" + "".join(f"{cell:>26}" for cell in cells))
    ours, theirs = columns["mpharness"], columns["mpremote"]
    ratios = ", ".join(f"{op} {theirs[op] / ours[op]:.1f}x" for op in ours)
    print(f"mpremote time / mpharness time: {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--shaped-repeat", type=int, default=3)
    parser.add_argument("--shaped-only", action="store_true")
    args = parser.parse_args()
    if not args.shaped_only:
        bench_unshaped(args.repeat)
    bench_shaped(args.shaped_repeat)


def bench_unshaped(repeat: int) -> None:
    data = os.urandom(SIZE)
    with tempfile.TemporaryDirectory() as lib:
        files = make_library(lib)
        total = sum(len(d) for _, d in files)
        print(f"== unix board (medians; library: {len(files)} files, {total} bytes)")
        ours = bench_mpharness(data, lib, repeat)
        link = bench_mpremote(data, files, max(3, repeat // 2), via_link=True)
        pts = bench_mpremote(data, files, repeat, via_link=False)
    head = (
        f"{'operation':26} {'mpharness':>16} {'mpremote ' + LINK[5:]:>26} {'mpremote /dev/pts':>20}"
    )
    print(head)
    for op, value in ours.items():
        cells = [value, link[op], pts[op]]
        if op.startswith("100 KiB"):
            text = [f"{t * 1000:7.1f} ms {SIZE / t / 1024:6.0f} KiB/s" for t in cells]
        else:
            text = [f"{t * 1000:9.1f} ms" for t in cells]
        print(f"{op:26} {text[0]:>16} {text[1]:>26} {text[2]:>20}")


if __name__ == "__main__":
    main()
