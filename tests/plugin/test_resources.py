"""``--board-sync``: which host files of a rig entry's ``resources`` go where on the board."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pytest_mpharness.resources import plan_resources

from mpharness.rigs.rig import Rig

RIG = """\
boards:
  demo:
    url: "unix:"
    libs: [lib]
    resources:
      - config.json
      - drivers
      - pkg: /apps
      - extra: {lib: other, install-dir: /x, unpack: false}
"""


@pytest.fixture
def rig_dir(tmp_path: Path) -> Path:
    files = {
        "rig.yaml": RIG,
        "config.json": "{}",
        "lib/drivers/bme.py": "",
        "lib/drivers/notes.txt": "",
        "lib/drivers/__pycache__/bme.cpython-311.pyc": "",
        "lib/pkg/__init__.py": "",
        "lib/pkg/core.py": "",
        "other/extra/data.bin": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_plan_follows_iot_kernel_rules(rig_dir: Path) -> None:
    spec = Rig.load([str(rig_dir / "rig.yaml")]).resolve("demo")
    plan = [(os.path.relpath(host, rig_dir), target) for host, target in plan_resources(spec)]
    assert plan == [
        # IoT Kernel's default install directory is /lib
        ("config.json", "/lib/config.json"),
        # a plain directory is unpacked; caches are left out
        ("lib/drivers/bme.py", "/lib/bme.py"),
        ("lib/drivers/notes.txt", "/lib/notes.txt"),
        # a package keeps its directory
        ("lib/pkg/__init__.py", "/apps/pkg/__init__.py"),
        ("lib/pkg/core.py", "/apps/pkg/core.py"),
        ("other/extra/data.bin", "/x/extra/data.bin"),
    ]


def test_missing_resource_is_named(rig_dir: Path) -> None:
    (rig_dir / "config.json").unlink()
    spec = Rig.load([str(rig_dir / "rig.yaml")]).resolve("demo")
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        plan_resources(spec)
