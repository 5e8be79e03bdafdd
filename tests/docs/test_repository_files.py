"""Files a new user's tools leave in the tree are ignored by git."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "path",
    [
        "hil_rigs/notebooks/.ipynb_checkpoints/demo-checkpoint.ipynb",  # JupyterLab autosave
        "mpharness.egg-info/PKG-INFO",
        "tests/__pycache__/conftest.cpython-311.pyc",
    ],
)
def test_generated_files_are_ignored(path: str) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", path], check=False
    )
    assert result.returncode == 0, f"{path} is not ignored by .gitignore"
