"""Hash-based sync on both virtual boards, resources from rig files, and the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mpharness
from mpharness.cli.main import main
from mpharness.files.sync import apply_sync, format_plan, plan_sync, sync_resources
from mpharness.rigs.boardspec import BoardSpec, Resource, Source


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_first_sync_uploads_second_finds_nothing(vboard: mpharness.Board, tmp_path: Path) -> None:
    files = {f"s{i}.py": f"V = {i}\n".encode() * (i + 1) for i in range(4)}
    make_tree(tmp_path, files | {".hidden": b"h", "__pycache__/x.pyc": b"c"})
    plan = plan_sync(vboard, str(tmp_path))
    assert sorted(item.remote for item in plan.to_upload) == [f"/{n}" for n in sorted(files)]
    apply_sync(vboard, plan)
    again = plan_sync(vboard, str(tmp_path))
    assert again.to_upload == () and len(again.unchanged) == 4
    (tmp_path / "s2.py").write_bytes(b"V = 'changed'\n")  # same size as before? no matter
    changed = plan_sync(vboard, str(tmp_path))
    assert [item.remote for item in changed.to_upload] == ["/s2.py"]
    apply_sync(vboard, changed)
    assert vboard.fs.read_bytes("/s2.py") == b"V = 'changed'\n"


def test_same_size_different_content_is_uploaded(vboard: mpharness.Board, tmp_path: Path) -> None:
    make_tree(tmp_path, {"same.txt": b"aaaa"})
    apply_sync(vboard, plan_sync(vboard, str(tmp_path)))
    (tmp_path / "same.txt").write_bytes(b"bbbb")
    plan = plan_sync(vboard, str(tmp_path))
    assert [item.remote for item in plan.to_upload] == ["/same.txt"]


def test_delete_only_when_asked(unix_board: mpharness.Board, tmp_path: Path) -> None:
    make_tree(tmp_path, {"keep.py": b"k"})
    unix_board.fs.mkdir("/d", exist_ok=True)
    unix_board.fs.write_bytes("/d/extra.py", b"e")
    plan = plan_sync(unix_board, str(tmp_path), "/d")
    assert plan.to_delete == ()
    plan = plan_sync(unix_board, str(tmp_path), "/d", delete=True)
    assert [item.remote for item in plan.to_delete] == ["/d/extra.py"]
    assert "delete  /d/extra.py (1 B)" in format_plan(plan)
    apply_sync(unix_board, plan)
    assert sorted(unix_board.fs.listdir("/d")) == ["keep.py"]


def test_nested_dirs_include_exclude(unix_board: mpharness.Board, tmp_path: Path) -> None:
    make_tree(tmp_path, {"pkg/a.py": b"a", "pkg/deep/b.py": b"b", "pkg/notes.txt": b"n"})
    plan = plan_sync(unix_board, str(tmp_path), "/lib", include=["*.py"])
    assert sorted(i.remote for i in plan.to_upload) == ["/lib/pkg/a.py", "/lib/pkg/deep/b.py"]
    apply_sync(unix_board, plan)
    assert unix_board.fs.read_bytes("/lib/pkg/deep/b.py") == b"b"
    plan = plan_sync(unix_board, str(tmp_path), "/lib", exclude=["deep"], include=["*.py"])
    assert [i.remote for i in plan.unchanged] == ["/lib/pkg/a.py"]


def test_rig_resources_go_to_install_dirs(unix_board: mpharness.Board, tmp_path: Path) -> None:
    make_tree(tmp_path, {"lib/drv/__init__.py": b"D = 1\n", "conf.json": b"{}"})
    spec = BoardSpec(
        name="r",
        urls=("unix:",),
        libs=("lib",),
        resources=(Resource("drv", install_dir="/rlib"), Resource("conf.json")),
        source=Source(str(tmp_path / "rig.yaml"), 1),
    )
    lines = sync_resources(unix_board, spec)
    assert any(line.endswith("-> /rlib/drv/__init__.py (6 bytes)") for line in lines)
    assert unix_board.fs.read_bytes("/lib/conf.json") == b"{}", "IoT Kernel's default: /lib"
    assert all(line.startswith("unchanged ") for line in sync_resources(unix_board, spec))


def test_cli_dry_run_prints_plan_and_changes_nothing(tmp_path: Path, capsys) -> None:
    make_tree(tmp_path, {"a.py": b"print(1)\n"})
    assert main(["sync", "unix", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "upload  /a.py (9 B)" in out
    assert "1 to upload (9 B), 0 to delete, 0 unchanged" in out
    assert out.endswith("dry run: nothing was changed\n")
    assert "uploaded" not in out


def test_cli_sync_without_dir_needs_resources(capsys) -> None:
    assert main(["sync", "unix"]) == 2
    assert "declares no resources" in capsys.readouterr().err


def test_cli_missing_host_dir_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert main(["sync", "unix", str(tmp_path / "nope")]) == 2
    assert "no such host directory" in capsys.readouterr().err


def test_cli_sync_uploads(tmp_path: Path, capsys) -> None:
    make_tree(tmp_path, {"m.py": b"M = 1\n"})
    assert main(["sync", "microbit", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("uploaded /m.py (6 B)\n")
    assert re.search(r"^1 uploaded, 1 verified, 0 deleted in \d+\.\d\d s$", out, re.M)
    assert "dry run" not in out and "to upload" not in out


def test_cli_sync_reports_what_was_done(tmp_path: Path, capsys) -> None:
    make_tree(tmp_path, {"a.py": b"A = 1\n", "lib/b.py": b"B = 2\n", "c.txt": b"c"})
    assert main(["sync", "unix", str(tmp_path), "--remote", "/app"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        "uploaded /app/a.py (6 B)",
        "uploaded /app/c.txt (1 B)",
        "uploaded /app/lib/b.py (6 B)",
    ]
    assert re.fullmatch(r"3 uploaded, 3 verified, 0 deleted in \d+\.\d\d s", out[-1])


def test_apply_sync_counts_uploads_verifications_and_deletions(unix_board, tmp_path: Path) -> None:
    make_tree(tmp_path, {"x.py": b"x\n", "y.py": b"y\n"})
    first = apply_sync(unix_board, plan_sync(unix_board, str(tmp_path), "/cnt"))
    assert (first.uploaded, first.verified, first.deleted, first.bytes_uploaded) == (2, 2, 0, 4)
    (tmp_path / "y.py").unlink()
    (tmp_path / "x.py").write_bytes(b"xx\n")
    second = apply_sync(unix_board, plan_sync(unix_board, str(tmp_path), "/cnt", delete=True))
    assert (second.uploaded, second.verified, second.deleted) == (1, 1, 1)
    assert second.summary(0.123) == "1 uploaded, 1 verified, 1 deleted in 0.12 s"


IOT_DEVICE = """\
iotdev:
  url: "unix:"
  resources:
    - helper.py
    - secrets.py: /
    - missing_lib
"""


def test_cli_sync_without_dir_follows_iot_kernel(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(
        tmp_path,
        {
            "devices/dev.yaml": IOT_DEVICE.replace("    - missing_lib\n", "").encode(),
            "libs/helper.py": b"H = 1\n",
            "keys/secrets.py": b"pw = 'x'\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IOT_DEVICES", str(tmp_path / "devices"))
    monkeypatch.setenv("IOT_LIBS", str(tmp_path / "libs"))
    monkeypatch.setenv("IOT_SECRETS", str(tmp_path / "nowhere.py") + ":keys/secrets.py")
    assert main(["sync", "iotdev", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "ADD /lib/helper.py",
        "ADD /secrets.py",
        "dry run: nothing was changed",
    ]


def test_cli_sync_names_a_missing_resource(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(
        tmp_path, {"devices/dev.yaml": IOT_DEVICE.encode(), "helper.py": b"", "secrets.py": b""}
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IOT_DEVICES", str(tmp_path / "devices"))
    monkeypatch.delenv("IOT_LIBS", raising=False)
    monkeypatch.delenv("IOT_SECRETS", raising=False)
    assert main(["sync", "iotdev", "-n"]) == 2
    err = capsys.readouterr().err
    assert "'missing_lib'" in err and "'iotdev'" in err and "IOT_LIBS" in err
