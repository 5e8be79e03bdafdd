"""The kernelspec shipped in the package, and how the wheel installs it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from mpharness_kernel.install import packaged_kernel_spec_manager, packaged_spec_dir

REPO = Path(__file__).resolve().parents[2]
tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")


def test_packaged_kernelspec() -> None:
    spec = json.loads((Path(packaged_spec_dir()) / "kernel.json").read_text())
    assert spec["language"] == "python"
    assert spec["interrupt_mode"] == "signal"
    assert spec["argv"] == ["python", "-m", "mpharness_kernel", "-f", "{connection_file}"]


def test_wheel_installs_the_kernelspec_as_data_files() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    installed = setuptools["data-files"]["share/jupyter/kernels/mpharness"]
    assert installed == ["kernel/mpharness_kernel/kernelspec/kernel.json"]
    assert (REPO / installed[0]).is_file()
    assert "kernelspec/*.json" in setuptools["package-data"]["mpharness_kernel"]
    plugins = project["project"]["entry-points"]["pytest11"]
    assert plugins["mpharness_notebooks"] == "mpharness_kernel.pytest_notebooks"


def test_test_runs_use_this_interpreter() -> None:
    spec = packaged_kernel_spec_manager().get_kernel_spec("mpharness")  # type: ignore[attr-defined]
    assert spec.argv[0] == sys.executable
    assert spec.argv[1:3] == ["-m", "mpharness_kernel"]


def test_install_by_hand_pins_this_interpreter(tmp_path: Path) -> None:
    from mpharness_kernel.install import main

    assert main(["--prefix", str(tmp_path)]) == 0
    spec = json.loads((tmp_path / "share/jupyter/kernels/mpharness/kernel.json").read_text())
    assert spec["argv"][0] == sys.executable


def test_install_by_hand_falls_back_to_the_user_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A system interpreter's prefix that the user cannot write: the spec goes to the user's
    Jupyter directory instead (also searched by Jupyter)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from mpharness_kernel.install import main

    real = KernelSpecManager.install_kernel_spec

    def refuse_prefix(self, source, name, user=False, prefix=None):  # type: ignore[no-untyped-def]
        if prefix is not None:
            raise PermissionError(13, "Permission denied", prefix)
        return real(self, source, name, user=user)

    monkeypatch.setattr(KernelSpecManager, "install_kernel_spec", refuse_prefix)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user"))
    assert main([]) == 0
    assert (tmp_path / "user/kernels/mpharness/kernel.json").is_file()
