"""pytest hooks: notebooks written for the ``mpharness`` kernel run as hardware tests.

Theory of operation
-------------------
``*.ipynb`` files whose ``metadata.kernelspec.name`` is ``mpharness`` are collected (others
are left alone). Each notebook is **one test**: its cells build on each other's board state
(imports, variables, a peripheral set up two cells earlier), so a single cell is not a
meaningful test and could not be selected, re-run (``--lf``) or distributed on its own. One
test = one kernel = one board opened and soft-reset before the first cell.

The notebook runs through nbclient in a fresh kernel whose board is pinned to ``--device``
(``MPHARNESS_DEVICE`` + ``MPHARNESS_DEVICE_PINNED``), with rig files resolved here (the
kernel's working directory is the notebook's), and the cell timeout set from
``--board-timeout``. nbclient already honours ``skip-execution`` and lets cells tagged
``raises-exception`` fail; this runner also fails a ``raises-exception`` cell that did *not*
raise. A failure names the cell (number, ``In [n]``, first line) and shows its source and the
board's traceback. ``--save-notebooks DIR`` writes each executed notebook there.

Registered as a ``pytest11`` entry point; it reads ``--device``, ``--rig`` and
``--board-timeout`` from the ``pytest_mpharness`` plugin when present (without them, notebook
tests are skipped with the reason).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mpharness_kernel import KERNEL_NAME

SKIP_TAG = "skip-execution"
RAISES_TAG = "raises-exception"
#: Seconds nbclient waits for a cell beyond the board's own cell timeout (recovery, reset).
REPLY_MARGIN = 30.0
DEFAULT_BOARD_TIMEOUT = 60.0
STARTUP_TIMEOUT = 60.0
#: Output lines of the failing cell shown in the failure report.
OUTPUT_LINES = 20


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mpharness notebooks")
    group.addoption(
        "--save-notebooks",
        metavar="DIR",
        default=None,
        help="save every executed mpharness notebook (with outputs) into DIR",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".ipynb" and is_mpharness_notebook(file_path):
        return NotebookFile.from_parent(parent, path=file_path)
    return None


def is_mpharness_notebook(path: Path) -> bool:
    """Whether the notebook's kernelspec is ``mpharness`` (unreadable files: no)."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return False
    spec = meta.get("kernelspec") if isinstance(meta, dict) else None
    return isinstance(spec, dict) and spec.get("name") == KERNEL_NAME


class NotebookFile(pytest.File):
    """A notebook file: one test item."""

    def collect(self) -> list[pytest.Item]:
        return [NotebookItem.from_parent(self, name=self.path.stem)]


class CellFailed(Exception):
    """A cell of the notebook failed (or did not fail when tagged ``raises-exception``)."""

    def __init__(self, path: Path, index: int, cell: Any, device: str, detail: str) -> None:
        super().__init__(detail)
        self.path, self.index, self.cell, self.device, self.detail = (
            path,
            index,
            cell,
            device,
            detail,
        )

    def report(self) -> str:
        """The failure text: which cell, its source, the board's traceback."""
        source = str(self.cell.get("source", ""))
        count = self.cell.get("execution_count")
        first = source.strip().split("\n", 1)[0][:60]
        head = (
            f"{self.path.name}: cell {self.index + 1} (In [{count if count else ' '}]) "
            f"failed on board {self.device!r}: {first}"
        )
        numbered = [f"{n:4d} | {line}" for n, line in enumerate(source.split("\n"), start=1)]
        return "\n".join([head, "-" * 60, *numbered, "-" * 60, self.detail])


def _option(config: pytest.Config, dest: str, ini: str | None = None) -> Any:
    """An option of this or the pytest_mpharness plugin (its ini key as fallback)."""
    try:
        value = config.getoption(dest, default=None)
    except ValueError:
        value = None
    if value in (None, [], "") and ini is not None:
        try:
            value = config.getini(ini)
        except ValueError:
            value = None
    return value or None


def _release_plugin_board(config: pytest.Config) -> None:
    """Ask the pytest_mpharness plugin to close its board, so the kernel can open the port."""
    try:
        from pytest_mpharness import plugin
    except ImportError:
        return
    release = getattr(plugin, "release_board", None)
    if release is not None:
        release(config)


class NotebookItem(pytest.Item):
    """Runs one notebook on the ``--device`` board."""

    def runtest(self) -> None:
        device = _option(self.config, "mpharness_device", "mpharness_device")
        if not device:
            pytest.skip("no --device given: notebook tests need a board (e.g. --device unix)")
        import nbformat

        notebook = nbformat.read(str(self.path), as_version=4)  # type: ignore[no-untyped-call]
        _release_plugin_board(self.config)
        try:
            self._execute(notebook, str(device))
        finally:
            self._save(notebook)
        self._check_raises_tags(notebook, str(device))

    def _execute(self, notebook: Any, device: str) -> None:
        from jupyter_client.manager import KernelManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError

        from mpharness_kernel.install import packaged_kernel_spec_manager

        raw = _option(self.config, "mpharness_board_timeout", "mpharness_board_timeout")
        board_timeout = float(raw or DEFAULT_BOARD_TIMEOUT)
        failed: dict[str, Any] = {}

        def on_error(cell: Any, cell_index: int, execute_reply: Any) -> None:
            if RAISES_TAG not in cell.metadata.get("tags", []):
                failed.setdefault("index", cell_index)

        km = KernelManager(
            kernel_name=KERNEL_NAME, kernel_spec_manager=packaged_kernel_spec_manager()
        )
        client = NotebookClient(
            notebook,
            km=km,
            timeout=board_timeout + REPLY_MARGIN,
            startup_timeout=STARTUP_TIMEOUT,
            allow_errors=False,
            record_timing=True,
            skip_cells_with_tag=SKIP_TAG,
            on_cell_error=on_error,
            resources={"metadata": {"path": str(self.path.parent)}},
        )
        try:
            client.execute(env=self._kernel_env(device, board_timeout))
        except CellExecutionError as err:
            index = failed.get("index", 0)
            cell = notebook.cells[index]
            raise CellFailed(self.path, index, cell, device, _failure_detail(cell, err)) from None

    def _kernel_env(self, device: str, board_timeout: float) -> dict[str, str]:
        env = dict(os.environ)
        env["MPHARNESS_DEVICE"] = device
        env["MPHARNESS_DEVICE_PINNED"] = "1"
        env["MPHARNESS_CELL_TIMEOUT"] = f"{board_timeout:g}"
        rig_paths = _option(self.config, "mpharness_rig", "mpharness_rig") or []
        if isinstance(rig_paths, str):
            rig_paths = [rig_paths]
        if rig_paths:
            env["MPHARNESS_RIG"] = os.pathsep.join(os.path.abspath(str(p)) for p in rig_paths)
        elif not env.get("MPHARNESS_RIG"):
            found = _default_rig_files()
            if found:
                env["MPHARNESS_RIG"] = os.pathsep.join(found)
        return env

    def _check_raises_tags(self, notebook: Any, device: str) -> None:
        for index, cell in enumerate(notebook.cells):
            tags = cell.get("metadata", {}).get("tags", [])
            if cell.cell_type != "code" or RAISES_TAG not in tags or SKIP_TAG in tags:
                continue
            if not any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
                detail = f"the cell is tagged {RAISES_TAG!r} but did not raise"
                raise CellFailed(self.path, index, cell, device, detail)

    def _save(self, notebook: Any) -> None:
        directory = _option(self.config, "save_notebooks")
        if not directory:
            return
        import nbformat

        relative = os.path.relpath(self.path, self.config.rootpath)
        target = Path(directory) / relative.replace(os.sep, "__").replace("..", "_")
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, str(target))  # type: ignore[no-untyped-call]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CellFailed):
            return excinfo.value.report()
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"notebook {self.path.name}"


def _failure_detail(cell: Any, err: Exception) -> str:
    """The cell's output (last lines) and the traceback it reported."""
    lines: list[str] = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            lines += str(out.get("text", "")).rstrip("\n").split("\n")
    shown = (
        [f"[{len(lines) - OUTPUT_LINES} earlier output lines]"] if len(lines) > OUTPUT_LINES else []
    )
    shown += lines[-OUTPUT_LINES:]
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        shown += list(errors[-1].get("traceback", []))
    else:
        shown.append(str(err))
    return "\n".join(shown)


def _default_rig_files() -> list[str]:
    """The rig files the default search finds from pytest's working directory."""
    try:
        from mpharness.rigs.rig import Rig

        return list(Rig.load().files)
    except Exception:  # a broken rig file is reported when the board is opened
        return []
