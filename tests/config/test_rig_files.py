"""Valid rig files and IoT-Kernel device files become the right BoardSpec values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mpharness.rigs.boardspec import BoardSpec, Resource, Source
from mpharness.rigs.rig import Rig
from mpharness.rigs.rig_file import parse_rig_text
from tests.config.helpers import load

REPO = Path(__file__).resolve().parents[2]


def test_full_spec(tmp_path: Path) -> None:
    rig = load(
        tmp_path,
        """
        # comment
        boards:
          huzzah32:
            url: [/dev/serial/by-id/usb-CP2104-if00-port0, /dev/ttyUSB0]
            password: letmein
            uid: 30:AE:A4:30:84:34
            baudrate: 460800
            features: [wifi, esp32]
            install-dir: /lib
            libs: [../lib]
            unpack: false
            include-patterns: "*.py"
            exclude-patterns: ["*.txt", tests/]
            reset: hard
            timeout_s: 12.5
            description: HUZZAH32 on hub port 3
            resources:
              - a.py
              - b.py: /flash
              - c.py:
              - pkg: {path: src, unpack: true, install-dir: /flash/lib, include-patterns: ["*.mpy"]}
        """,
    )
    spec = rig.resolve("huzzah32", environ={})
    path = str(tmp_path / "rig.yaml")
    assert spec == BoardSpec(
        name="huzzah32",
        urls=("/dev/serial/by-id/usb-CP2104-if00-port0", "/dev/ttyUSB0"),
        password="letmein",
        uid="30:AE:A4:30:84:34",
        baudrate=460800,
        features=("wifi", "esp32"),
        resources=(
            Resource("a.py"),
            Resource("b.py", install_dir="/flash"),
            Resource("c.py"),
            Resource(
                "pkg", install_dir="/flash/lib", unpack=True, lib="src", include_patterns=("*.mpy",)
            ),
        ),
        install_dir="/lib",
        libs=("../lib",),
        unpack=False,
        include_patterns=("*.py",),
        exclude_patterns=("*.txt", "tests/"),
        reset="hard",
        timeout_s=12.5,
        description="HUZZAH32 on hub port 3",
        source=Source(path, 3, "boards.huzzah32"),
    )
    assert spec.url == "/dev/serial/by-id/usb-CP2104-if00-port0"
    assert spec.base_dir == str(tmp_path)
    assert spec.has_feature("wifi") and not spec.has_feature("sdcard")


def test_minimal_specs_and_defaults(tmp_path: Path) -> None:
    rig = load(tmp_path, "boards:\n  pico: /dev/ttyACM0\n  esp:\n    url: COM3\n")
    pico = rig.boards["pico"]
    assert (pico.urls, pico.reset, pico.baudrate, pico.timeout_s) == (
        ("/dev/ttyACM0",),
        "soft",
        None,
        None,
    )
    assert (pico.features, pico.resources, pico.password, pico.uid) == ((), (), None, None)
    assert pico.source == Source(str(tmp_path / "rig.yaml"), 2, "boards.pico")
    assert rig.boards["esp"].urls == ("COM3",)


def test_strings_keep_the_text_as_written(tmp_path: Path) -> None:
    # YAML 1.1 would read 12:34:56 as 45296, 0x1f as 31 and yes as True.
    rig = load(
        tmp_path,
        "boards:\n  a:\n    url: /dev/a\n    uid: 12:34:56\n    password: 0x1f\n"
        "    features: [yes, 1]\n",
    )
    spec = rig.boards["a"]
    assert (spec.uid, spec.password, spec.features) == ("12:34:56", "0x1f", ("yes", "1"))


def test_numbers(tmp_path: Path) -> None:
    rig = load(
        tmp_path, "boards:\n  a:\n    url: /dev/a\n    baudrate: 115_200\n    timeout_s: 3\n"
    )
    assert rig.boards["a"].baudrate == 115200
    assert rig.boards["a"].timeout_s == 3.0 and isinstance(rig.boards["a"].timeout_s, float)


def test_merge_keys_and_x_keys(tmp_path: Path) -> None:
    rig = load(
        tmp_path,
        """
        x-esp32: &esp32
          baudrate: 115200
          features: [wifi]
        boards:
          one:
            <<: *esp32
            url: /dev/ttyUSB0
          two:
            <<: *esp32
            url: /dev/ttyUSB1
            features: [wifi, ble]
        """,
    )
    assert rig.boards["one"].features == ("wifi",) and rig.boards["one"].baudrate == 115200
    assert rig.boards["two"].features == ("wifi", "ble") and rig.boards["two"].baudrate == 115200


def test_empty_files_and_empty_boards(tmp_path: Path) -> None:
    assert len(load(tmp_path, "", name="a.yaml")) == 0
    assert len(load(tmp_path, "# nothing\n", name="b.yaml")) == 0
    assert len(load(tmp_path, "boards:\n", name="c.yaml")) == 0
    assert len(load(tmp_path, "boards: {}\n", name="d.yaml")) == 0


def test_hyphen_and_underscore_spellings(tmp_path: Path) -> None:
    rig = load(tmp_path, "boards:\n  a:\n    url: /dev/a\n    install_dir: /x\n    timeout-s: 2\n")
    assert (rig.boards["a"].install_dir, rig.boards["a"].timeout_s) == ("/x", 2.0)


def test_iot_kernel_device_file(tmp_path: Path) -> None:
    rig = load(
        tmp_path,
        """
        robot-stm:
          uid: 2d:00:49:00:09:50:52:42:4e:30:39:20
          install-dir: /spi/lib
          include-patterns:
            - "./**/*.py"
          exclude-patterns: boot_out.txt
          path: $IOT_PROJECTS
          libs: ${HOME}/libs
          resources:
            - pystone.py: /flash
            - copy.py
            - abc.py:
            - boot:
                path: my_project/code
                unpack: true
                install-dir: /flash
            - other:
                lib: ~/my_own_library
                unpack: false
        esp32:
          uid: 30:ae:a4:30:84:34
          url: /dev/ttyUSB1
          baudrate: 115200
        """,
        name="devices.yaml",
    )
    assert rig.names() == ["robot-stm", "esp32"]
    robot = rig.boards["robot-stm"]
    assert robot.urls == () and robot.url is None
    assert robot.source == Source(str(tmp_path / "devices.yaml"), 1, "robot-stm")
    assert robot.libs == ("$IOT_PROJECTS", "${HOME}/libs")
    env = {"IOT_PROJECTS": "/home/iot/projects", "HOME": "/home/iot"}
    robot = rig.resolve("robot-stm", environ=env)
    assert robot.libs == ("/home/iot/projects", "/home/iot/libs")
    assert robot.uid == "2d:00:49:00:09:50:52:42:4e:30:39:20"
    assert (robot.install_dir, robot.include_patterns, robot.exclude_patterns) == (
        "/spi/lib",
        ("./**/*.py",),
        ("boot_out.txt",),
    )
    assert robot.resources == (
        Resource("pystone.py", install_dir="/flash"),
        Resource("copy.py"),
        Resource("abc.py"),
        Resource("boot", install_dir="/flash", unpack=True, lib="my_project/code"),
        Resource("other", unpack=False, lib="~/my_own_library"),
    )
    assert rig.resolve("esp32", environ={}).urls == ("/dev/ttyUSB1",)


def test_bare_dollar_is_literal_outside_iot_paths(tmp_path: Path) -> None:
    rig = load(tmp_path, "boards:\n  a:\n    url: /dev/a\n    password: pa$word\n    libs: [$X]\n")
    spec = rig.resolve("a", environ={"X": "no"})
    assert spec.libs == ("$X",)
    assert spec.webrepl_password({}) == "pa$word"


def test_parse_rig_text_directly() -> None:
    specs = parse_rig_text("boards:\n  a: /dev/a\n", "<memory>")
    assert [(s.name, s.urls, s.source) for s in specs] == [
        ("a", ("/dev/a",), Source("<memory>", 2, "boards.a"))
    ]


@pytest.mark.parametrize("name", ["examples/rig.yaml", "examples/iot-devices.yaml", "virtual.yaml"])
def test_shipped_rig_files_load_without_environment(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in (
        "WIFI_BOARD_PASSWORD",
        "ESP32_WIFI_HOST",
        "IOT_PROJECTS",
        "MPHARNESS_WEBREPL_PASSWORD",
    ):
        monkeypatch.delenv(var, raising=False)
    rig = Rig.load([str(REPO / "hil_rigs" / name)])
    assert len(rig) >= 2
    for spec in rig:
        assert spec.source is not None and spec.source.path == str(REPO / "hil_rigs" / name)


def test_example_rig_boards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESP32_WIFI_HOST", raising=False)
    rig = Rig.load([str(REPO / "hil_rigs" / "examples" / "rig.yaml")])
    assert rig.resolve("esp32-wifi").urls == ("ws://192.168.1.42:8266",)
    assert rig.resolve("nrf52-remote").urls == ("rfc2217://rig-pi.local:4001",)
    assert rig.resolve("huzzah32").uid_matches(bytes.fromhex("30aea4308434"))
    assert rig.resolve("microbit-qemu").urls == ("qemu:microbit",)


def test_default_rig_of_this_repository_loads() -> None:
    rig = Rig.load(cwd=str(REPO), environ={})
    assert rig.files and all(os.path.dirname(f) == str(REPO / "hil_rigs") for f in rig.files)
    assert rig.resolve("unix", environ={}).urls == ("unix:",)
