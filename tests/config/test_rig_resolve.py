"""Where rig files are found, how a name or URL resolves, and that passwords never show."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mpharness.errors import ConfigError
from mpharness.rigs.boardspec import BoardSpec
from mpharness.rigs.rig import BUILTIN_BOARDS, Rig, looks_like_url, resolve_board
from tests.config.helpers import load, write

# -- finding rig files ------------------------------------------------------------------------


def test_default_is_hil_rigs_yaml_under_cwd(tmp_path: Path) -> None:
    write(tmp_path, "hil_rigs/b.yaml", "boards:\n  bee: /dev/b\n")
    write(tmp_path, "hil_rigs/a.yml", "boards:\n  ay: /dev/a\n")
    write(tmp_path, "hil_rigs/examples/c.yaml", "boards:\n  sea: /dev/c\n")  # not recursive
    write(tmp_path, "hil_rigs/notes.txt", "not yaml")
    rig = Rig.load(cwd=tmp_path, environ={})
    assert rig.files == (str(tmp_path / "hil_rigs/a.yml"), str(tmp_path / "hil_rigs/b.yaml"))
    assert rig.names() == ["ay", "bee"]


def test_missing_hil_rigs_dir_is_an_empty_rig(tmp_path: Path) -> None:
    rig = Rig.load(cwd=tmp_path, environ={})
    assert (len(rig), rig.files, rig.names()) == (0, (), [])
    assert str(tmp_path / "hil_rigs") in rig.searched


def test_default_uses_process_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "hil_rigs/r.yaml", "boards:\n  here: /dev/h\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MPHARNESS_RIG", raising=False)
    assert Rig.load().names() == ["here"]


def test_environment_path_list_with_dirs_globs_and_files(tmp_path: Path) -> None:
    write(tmp_path, "hil_rigs/ignored.yaml", "boards:\n  ignored: /dev/x\n")
    write(tmp_path, "one.yaml", "boards:\n  one: /dev/1\n")
    write(tmp_path, "dir/two.yaml", "boards:\n  two: /dev/2\n")
    write(tmp_path, "dir/three.yml", "boards:\n  three: /dev/3\n")
    write(tmp_path, "globbed/four-a.yaml", "boards:\n  four: /dev/4\n")
    write(tmp_path, "globbed/five-b.yaml", "boards:\n  five: /dev/5\n")
    value = os.pathsep.join(["one.yaml", str(tmp_path / "dir"), "", "globbed/*-?.yaml"])
    rig = Rig.load(cwd=tmp_path, environ={"MPHARNESS_RIG": value})
    assert rig.names() == ["one", "three", "two", "five", "four"]  # each entry's files sorted
    assert "MPHARNESS_RIG" in rig.searched


def test_explicit_paths_win_over_environment(tmp_path: Path) -> None:
    explicit = write(tmp_path, "explicit.yaml", "boards:\n  mine: /dev/m\n")
    write(tmp_path, "env.yaml", "boards:\n  env: /dev/e\n")
    rig = Rig.load([explicit], cwd=tmp_path, environ={"MPHARNESS_RIG": "env.yaml"})
    assert rig.names() == ["mine"]
    assert Rig.load([], cwd=tmp_path, environ={"MPHARNESS_RIG": "env.yaml"}).names() == ["env"]


def test_a_single_path_is_not_split_into_characters(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "boards:\n  a: /dev/a\n")
    assert Rig.load(str(path)).names() == ["a"]
    assert Rig.load(path).names() == ["a"]  # type: ignore[arg-type]


def test_same_file_twice_is_read_once(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "boards:\n  a: /dev/a\n")
    rig = Rig.load([str(path), "r.yaml", str(tmp_path / "*.yaml")], cwd=tmp_path)
    assert rig.files == (str(path),) and rig.names() == ["a"]


@pytest.mark.parametrize("entry", ["missing.yaml", "nothing-*.yaml"])
def test_explicit_entry_that_names_nothing_is_an_error(tmp_path: Path, entry: str) -> None:
    with pytest.raises(ConfigError) as info:
        Rig.load([entry], cwd=tmp_path)
    assert info.value.path == str(tmp_path / entry)
    with pytest.raises(ConfigError):
        Rig.load(cwd=tmp_path, environ={"MPHARNESS_RIG": entry})


# -- resolving names --------------------------------------------------------------------------


def test_resolution_order(tmp_path: Path) -> None:
    rig = load(tmp_path, "boards:\n  esp32: /dev/ttyUSB0\n")
    assert rig.resolve("esp32").urls == ("/dev/ttyUSB0",)
    assert rig.resolve("  esp32 ").name == "esp32"
    assert rig.resolve("unix") == BUILTIN_BOARDS["unix"]
    assert rig.resolve("microbit").urls == ("qemu:microbit",)
    assert "unix" not in rig and rig.get("unix") is BUILTIN_BOARDS["unix"]
    assert rig.all_names() == ["esp32", "unix", "microbit", "webrepl"]


def test_rig_file_may_redefine_builtins(tmp_path: Path) -> None:
    rig = load(tmp_path, "boards:\n  unix:\n    url: unix:/opt/mp/micropython\n    features: [v]\n")
    assert rig.resolve("unix").urls == ("unix:/opt/mp/micropython",)
    assert rig.all_names() == ["unix", "microbit", "webrepl"]


@pytest.mark.parametrize(
    "url",
    [
        "/dev/ttyUSB0",
        "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0",
        "./ttyLink",
        "COM3",
        "com12",
        r"\\.\COM15",
        "rfc2217://rig.local:4000",
        "socket://127.0.0.1:7000",
        "ws://192.168.4.1:8266",
        "unix:",
        "unix:/usr/local/bin/micropython",
        "qemu:microbit",
    ],
)
def test_urls_become_anonymous_specs(tmp_path: Path, url: str) -> None:
    assert looks_like_url(url)
    spec = Rig().resolve(url)
    assert spec == BoardSpec(name=url, urls=(url,))
    assert spec.source is None


def test_url_is_literal_even_with_dollar(tmp_path: Path) -> None:
    assert Rig().resolve("ws://h/${X}", environ={}).urls == ("ws://h/${X}",)


def test_unknown_name_suggests_and_lists(tmp_path: Path) -> None:
    rig = load(tmp_path, "boards:\n  huzzah32: /dev/ttyUSB0\n  pico: /dev/ttyACM0\n")
    with pytest.raises(ConfigError) as info:
        rig.resolve("huzza32")
    message = str(info.value)
    assert message.startswith("unknown board 'huzza32'; did you mean 'huzzah32'?")
    assert "known boards: huzzah32, pico, unix, microbit" in message
    assert str(tmp_path / "rig.yaml") in message
    assert (info.value.path, info.value.line, info.value.key) == (None, None, None)


def test_unknown_name_with_case_slip_and_no_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Rig.load(cwd=tmp_path, environ={}).resolve("UNIX")
    assert "did you mean 'unix'?" in str(info.value)
    assert "no rig files" in str(info.value)
    assert "ttyUSB" not in str(info.value)
    with pytest.raises(ConfigError, match="no board given"):
        Rig().resolve("  ")


def test_resolve_board_skips_rig_files_for_urls(tmp_path: Path) -> None:
    write(tmp_path, "hil_rigs/broken.yaml", "boards: [oops\n")
    assert resolve_board("/dev/ttyACM0", cwd=tmp_path, environ={}).urls == ("/dev/ttyACM0",)
    with pytest.raises(ConfigError) as info:
        resolve_board("pico", cwd=tmp_path, environ={})
    assert info.value.path == str(tmp_path / "hil_rigs/broken.yaml")


def test_resolve_board_uses_rig_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "boards:\n  pico: /dev/ttyACM0\n")
    assert resolve_board("pico", rig_paths=[path], environ={}).urls == ("/dev/ttyACM0",)


def test_iteration_and_containment(tmp_path: Path) -> None:
    rig = load(tmp_path, "boards:\n  b: /dev/b\n  a: /dev/a\n")
    assert [spec.name for spec in rig] == ["b", "a"] and len(rig) == 2
    assert "a" in rig and "c" not in rig
    assert "names=['b', 'a']" in repr(rig)


def test_from_specs_refuses_duplicates() -> None:
    with pytest.raises(ConfigError) as info:
        Rig.from_specs([BoardSpec("a", ("/dev/a",)), BoardSpec("a", ("/dev/b",))])
    assert info.value.key == "a"


# -- BoardSpec ----------------------------------------------------------------------------------


def test_uid_matching() -> None:
    spec = BoardSpec("b", ("/dev/b",), uid="30:AE:A4:30:84:34")
    assert spec.uid_matches("30aea4308434") and spec.uid_matches(b"\x30\xae\xa4\x30\x84\x34")
    assert spec.uid_matches("30-ae-a4-30-84-34") and not spec.uid_matches("30aea4308435")
    assert BoardSpec("n", ("/dev/n",)).uid_matches("anything")


def test_spec_construction_guards() -> None:
    with pytest.raises(TypeError):
        BoardSpec("b", urls="/dev/ttyUSB0")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        BoardSpec("b", ("/dev/b",), reset="reboot")


# -- secrets ------------------------------------------------------------------------------------

SECRET = "Tr0ub4dor&3"


def test_password_never_in_repr_or_str(tmp_path: Path) -> None:
    rig = load(tmp_path, f"boards:\n  w:\n    url: ws://h:8266\n    password: '{SECRET}'\n")
    spec = rig.resolve("w", environ={})
    assert spec.webrepl_password({}) == SECRET
    for text in (repr(spec), str(spec), repr(rig), repr(list(rig)), repr(rig.boards)):
        assert SECRET not in text
    assert "password=" not in repr(spec)


def test_password_from_environment_never_in_errors(tmp_path: Path) -> None:
    rig = load(
        tmp_path,
        "boards:\n  w:\n    url: ws://h:8266\n    password: ${PW_A}-${PW_B}\n    baudrate: 9600\n",
    )
    spec = rig.resolve("w", environ={})
    with pytest.raises(ConfigError) as info:
        spec.webrepl_password({"PW_A": SECRET})
    assert info.value.key == "boards.w.password" and "'PW_B'" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert SECRET not in repr(spec)


# -- looking upward for the project's hil_rigs/ --------------------------------------------


def test_default_looks_upward_for_hil_rigs(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "")
    write(tmp_path, "hil_rigs/r.yaml", "boards:\n  top: /dev/t\n")
    deep = tmp_path / "tests" / "unit"
    deep.mkdir(parents=True)
    rig = Rig.load(cwd=deep, environ={})
    assert rig.names() == ["top"]
    assert rig.files == (str(tmp_path / "hil_rigs/r.yaml"),)
    # from inside hil_rigs/examples the project's hil_rigs/ is found too
    write(tmp_path, "hil_rigs/examples/x.yaml", "boards:\n  ex: /dev/x\n")
    assert Rig.load(cwd=tmp_path / "hil_rigs" / "examples", environ={}).names() == ["top"]


def test_upward_search_stops_at_the_project_top(tmp_path: Path) -> None:
    write(tmp_path, "hil_rigs/outer.yaml", "boards:\n  outer: /dev/o\n")
    write(tmp_path, "project/.git/HEAD", "ref: x\n")
    inner = tmp_path / "project" / "src"
    inner.mkdir()
    rig = Rig.load(cwd=inner, environ={})
    assert rig.names() == []
    assert str(inner / "hil_rigs") in rig.searched
    assert f"up to {tmp_path / 'project'}" in rig.searched
    with pytest.raises(ConfigError, match=r"looked for .*parent directories up to"):
        rig.resolve("outer")


def test_unknown_name_defined_in_a_sub_directory_says_how_to_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "hil_rigs/virtual.yaml", 'boards:\n  v: "unix:"\n')
    write(tmp_path, "hil_rigs/examples/rig.yaml", "boards:\n  huzzah32: /dev/ttyUSB0\n")
    write(tmp_path, "hil_rigs/examples/broken.yaml", "boards: [oops\n")  # skipped quietly
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        Rig.load(environ={}).resolve("huzzah32")
    message = str(info.value)
    assert "unknown board 'huzzah32'" in message
    assert "defined in hil_rigs/examples/rig.yaml" in message
    assert "--rig hil_rigs/examples/rig.yaml" in message
