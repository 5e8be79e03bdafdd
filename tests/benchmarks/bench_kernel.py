"""Kernel cell round trip: a 20-cell trivial notebook through nbclient, per virtual board.

Per-cell time is taken from the kernel's own timestamps: the header date of the cell's
``execute_input`` (IOPub, sent when the kernel starts the request) to the header date of its
``execute_reply`` (shell), as nbclient records them with ``record_timing``. Kernel start and
the first cell (which opens and soft-resets the board) are reported separately.

Run: ``python tests/benchmarks/bench_kernel.py [unix] [microbit] [--runs N]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time

import nbformat
from jupyter_client.manager import KernelManager
from mpharness_kernel.install import packaged_kernel_spec_manager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

CELLS = 20
VARIANTS = {
    "statement": lambda i: f"x = {i}",
    "expression": lambda i: f"{i} + 1",
    "print": lambda i: f"print({i})",
}


def _stamp(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def run_notebook(device: str, variant: str) -> tuple[list[float], float]:
    """Per-cell kernel times in ms (cells 2..20) and the wall time of the whole run."""
    make = VARIANTS[variant]
    notebook = new_notebook(
        cells=[new_code_cell(make(i)) for i in range(CELLS)],
        metadata={"kernelspec": {"name": "mpharness", "display_name": "mpharness"}},
    )
    km = KernelManager(kernel_name="mpharness", kernel_spec_manager=packaged_kernel_spec_manager())
    client = NotebookClient(notebook, km=km, timeout=60, record_timing=True)
    started = time.perf_counter()
    client.execute(env=dict(os.environ, MPHARNESS_DEVICE=device))
    wall = time.perf_counter() - started
    times = []
    for cell in notebook.cells[1:]:
        execution = cell.metadata["execution"]
        delta = _stamp(execution["shell.execute_reply"]) - _stamp(execution["iopub.execute_input"])
        times.append(delta.total_seconds() * 1000)
    nbformat.validate(notebook)
    return times, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("devices", nargs="*", default=["unix", "microbit"])
    parser.add_argument("--runs", type=int, default=3, help="notebooks per device and variant")
    args = parser.parse_args()
    print(
        f"{'board':<9} {'variant':<11} {'median ms':>9} {'mean ms':>8} {'p90 ms':>7} "
        f"{'notebook s':>10}"
    )
    for device in args.devices:
        for variant in VARIANTS:
            times: list[float] = []
            walls: list[float] = []
            for _ in range(args.runs):
                cell_times, wall = run_notebook(device, variant)
                times += cell_times
                walls.append(wall)
            p90 = statistics.quantiles(times, n=10)[-1]
            print(
                f"{device:<9} {variant:<11} {statistics.median(times):9.2f} "
                f"{statistics.mean(times):8.2f} {p90:7.2f} {statistics.median(walls):10.2f}"
            )


if __name__ == "__main__":
    main()
