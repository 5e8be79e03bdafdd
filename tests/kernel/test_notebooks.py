"""Notebooks as hardware tests: nbclient against the kernel, and pytest collecting notebooks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from mpharness_kernel.install import packaged_kernel_spec_manager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook

from tests.conftest import require_virtual_board
from tests.kernel.conftest import IPYTHON_DIR

REPO = Path(__file__).resolve().parents[2]
KERNELSPEC = {"name": "mpharness", "display_name": "MicroPython (mpharness)", "language": "python"}


def _notebook(*cells: str | tuple[str, list[str]], kernel: dict[str, str] = KERNELSPEC) -> object:
    made = []
    for cell in cells:
        source, tags = (cell, []) if isinstance(cell, str) else cell
        made.append(new_code_cell(source, metadata={"tags": tags} if tags else {}))
    return new_notebook(cells=made, metadata={"kernelspec": kernel})


@pytest.mark.parametrize("device", ["unix", "microbit"])
def test_board_exception_makes_nbclient_raise(device: str) -> None:
    require_virtual_board(device)
    notebook = _notebook("x = 21", "print(x * 2)", "x = 1\nraise OSError(5)", "print('never')")
    km = KernelManager(kernel_name="mpharness", kernel_spec_manager=packaged_kernel_spec_manager())
    client = NotebookClient(notebook, km=km, timeout=60)
    env = dict(os.environ, MPHARNESS_DEVICE=device)
    with pytest.raises(CellExecutionError) as info:
        client.execute(env=env)
    assert info.value.ename == "OSError"
    cells = notebook.cells  # type: ignore[attr-defined]
    assert "".join(o["text"] for o in cells[1].outputs) == "42\n"
    assert cells[2].outputs[-1]["output_type"] == "error"
    assert '  File "<cell-3>", line 2, in <module>' in cells[2].outputs[-1]["traceback"]
    assert cells[3].outputs == []


def _pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPHARNESS_", "PYTEST_"))}
    env["IPYTHONDIR"] = IPYTHON_DIR  # the notebooks' %store stays out of ~/.ipython
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_pytest_collects_and_runs_notebooks(tmp_path: Path) -> None:
    require_virtual_board("unix")
    write = nbformat.write
    write(
        _notebook(
            "%connect microbit",
            "value = 6 * 7\nvalue",
            ("1/0", ["skip-execution"]),
            ("raise ValueError('expected')", ["raises-exception"]),
            "assert value == 42",
        ),
        tmp_path / "test_good.ipynb",
    )
    write(_notebook("a = 1", "b = 2\n1/0", "print('not reached')"), tmp_path / "test_bad.ipynb")
    write(_notebook(("print('fine')", ["raises-exception"])), tmp_path / "test_noraise.ipynb")
    write(
        _notebook("1/0", kernel={"name": "python3", "display_name": "Python 3"}),
        tmp_path / "test_other.ipynb",
    )
    saved = tmp_path / "saved"
    result = _pytest(tmp_path, "--device", "unix", "--save-notebooks", str(saved), ".")
    out = result.stdout
    assert "1 passed" in out and "2 failed" in out, out
    assert "test_other" not in out, "a notebook for another kernel is not collected"
    assert "test_bad.ipynb: cell 2 (In [2]) failed on board 'unix': b = 2" in out
    assert "   2 | 1/0" in out
    assert '  File "<cell-2>", line 2, in <module>' in out
    assert "ZeroDivisionError: divide by zero" in out
    assert (
        "test_noraise.ipynb: cell 1" in out and "tagged 'raises-exception' but did not raise" in out
    )
    good = nbformat.read(saved / "test_good.ipynb", as_version=4)
    assert "device pinned to 'unix'" in good.cells[0].outputs[0]["text"]
    assert good.cells[1].outputs[0]["data"]["text/plain"] == "42"
    assert good.cells[2].outputs == [], "skip-execution cells do not run"
    assert good.cells[3].outputs[0]["ename"] == "ValueError"


def test_notebooks_are_skipped_without_a_device(tmp_path: Path) -> None:
    nbformat.write(_notebook("print(1)"), tmp_path / "test_nb.ipynb")
    result = _pytest(tmp_path, ".")
    assert "1 skipped" in result.stdout
    assert "no --device given" in result.stdout


@pytest.mark.parametrize("name", ["demo", "iot_kernel_style", "jmk_style"])
def test_example_notebook_passes_on_the_unix_board(tmp_path: Path, name: str) -> None:
    require_virtual_board("unix")
    notebook = REPO / "hil_rigs" / "notebooks" / f"{name}.ipynb"
    result = _pytest(tmp_path, "--device", "unix", str(notebook), "--rootdir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_demo_notebook_runs_clean_when_every_cell_runs() -> None:
    """JupyterLab's Run All ignores ``skip-execution``; only ``raises-exception`` cells may fail."""
    require_virtual_board("unix")
    notebook = nbformat.read(REPO / "hil_rigs" / "notebooks" / "demo.ipynb", as_version=4)
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "skip-execution" in tags:
            cell.metadata["tags"] = [t for t in tags if t != "skip-execution"]
    km = KernelManager(kernel_name="mpharness", kernel_spec_manager=packaged_kernel_spec_manager())
    env = dict(os.environ, MPHARNESS_DEVICE="unix", IPYTHONDIR=IPYTHON_DIR)
    NotebookClient(notebook, km=km, timeout=60).execute(env=env)
    errors = [
        cell.metadata.get("tags", [])
        for cell in notebook.cells
        if any(o.get("output_type") == "error" for o in cell.get("outputs", []))
    ]
    assert errors == [["raises-exception"]]
