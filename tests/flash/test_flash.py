"""Flashing decisions and the esptool call sequence, with a fake ``esptool.cmds`` boundary.

The dry probe of the "already runs this firmware" case talks to a real unix board; everything
esptool would do to hardware is recorded by the fake.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mpharness.cli.main import main
from mpharness.connect import resolve_board
from mpharness.errors import BoardBusy, ConfigError
from mpharness.sharing import leases
from mpharness.sharing.board_pool import lease_keys
from mpharness.tools.flash import (
    FlashError,
    flash_address,
    flash_board,
    probe_version,
    read_firmware,
    version_of,
)
from tests.conftest import require_virtual_board

OLD = "3.4.0; MicroPython v1.23.0 on 2024-06-02"
NEW_BANNER = b"MicroPython v1.24.1 on 2024-11-29"
NEW = "3.4.0; MicroPython v1.24.1 on 2024-11-29"


def esp_image(chip_id: int, banner: bytes = NEW_BANNER) -> bytes:
    header = bytes([0xE9, 3, 2, 0x20]) + bytes(4)  # magic, segments, mode, size/freq, entry
    extended = bytes([0xEE, 0, 0, 0]) + chip_id.to_bytes(2, "little") + bytes(10)
    return header + extended + b"\xff" * 64 + banner + b"; Generic ESP32 module with ESP32\x00"


@dataclass
class FakeEsp:
    CHIP_NAME: str
    calls: list[tuple[Any, ...]]

    def __enter__(self) -> FakeEsp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append(("close",))


@dataclass
class FakeEsptool:
    """Stands in for ``esptool.cmds``: records the calls, optionally re-enumerates the port."""

    chip: str = "ESP32"
    fail_on: str | None = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    on_reset: Any = None

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        if name == self.fail_on:
            raise RuntimeError(f"{name} failed (fake)")

    def detect_chip(self, port: str, baud: int) -> FakeEsp:
        self._call("detect_chip", port, baud)
        return FakeEsp(self.chip, self.calls)

    def run_stub(self, esp: FakeEsp) -> FakeEsp:
        self._call("run_stub")
        return esp

    def attach_flash(self, esp: FakeEsp) -> None:
        self._call("attach_flash")

    def erase_flash(self, esp: FakeEsp) -> None:
        self._call("erase_flash")

    def write_flash(self, esp: FakeEsp, addr_data: list[tuple[int, str]]) -> None:
        self._call("write_flash", [(hex(a), Path(p).name) for a, p in addr_data])

    def reset_chip(self, esp: FakeEsp, mode: str) -> None:
        self._call("reset_chip", mode)
        if self.on_reset:
            self.on_reset()


@dataclass
class Port:
    device: str
    serial_number: str | None = "F412FA5A92480000"
    vid: int | None = 0x303A
    pid: int | None = 0x4001
    location: str | None = "1-1:1.0"
    description: str = "fake"


class Probe:
    """The board's answers to successive ``sys.version`` probes, and who was asked."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, target: str) -> str | None:
        self.asked.append(target)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    path = tmp_path / "ESP32_GENERIC-v1.24.1.bin"
    path.write_bytes(esp_image(0))
    return path


def test_version_of_board_and_file_texts() -> None:
    assert version_of(NEW) == "MicroPython v1.24.1 on 2024-11-29"
    assert version_of(b"\x00" + NEW_BANNER + b"; ESP32") == version_of(NEW)
    preview = "3.4.0; MicroPython v1.25.0-preview.49.g1a2b3c4 on 2025-01-05"
    assert version_of(preview) == "MicroPython v1.25.0-preview.49.g1a2b3c4 on 2025-01-05"
    assert version_of("3.4.0; MicroPython 9458e3a23f on 2026-07-05") == (
        "MicroPython 9458e3a23f on 2026-07-05"  # a build not made from a tag
    )
    assert version_of("3.11.7 (main) [GCC 12.2.0]") is None


def test_read_firmware_chip_and_version(tmp_path: Path, firmware: Path) -> None:
    image = read_firmware(firmware)
    assert (image.chip, image.version) == ("ESP32", "MicroPython v1.24.1 on 2024-11-29")
    s3 = tmp_path / "s3.bin"
    s3.write_bytes(esp_image(9))
    assert read_firmware(s3).chip == "ESP32-S3"
    other = tmp_path / "x.uf2"
    other.write_bytes(b"UF2\n" + NEW_BANNER)
    assert read_firmware(other).chip is None
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(ConfigError, match="empty"):
        read_firmware(tmp_path / "empty.bin")
    with pytest.raises(ConfigError, match="cannot read"):
        read_firmware(tmp_path / "missing.bin")
    assert (flash_address("ESP32"), flash_address("esp32-s2"), flash_address("ESP32-S3")) == (
        0x1000,
        0x1000,
        0,
    )


def test_same_build_on_a_real_board_is_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_virtual_board("unix")
    running = probe_version("unix")
    assert running is not None and version_of(running) is not None
    path = tmp_path / "same.bin"
    path.write_bytes(b"\x00" * 32 + running.encode() + b"\x00")
    fake = FakeEsptool()
    result = flash_board("unix", path, esptool=fake)
    assert (result.action, result.before) == ("skipped", running)
    assert fake.calls == []
    assert main(["flash", "unix", str(path)]) == 0
    assert "already runs this firmware" in capsys.readouterr().out


def test_flashes_in_order_and_finds_the_port_again_by_serial_number(firmware: Path) -> None:
    ports = [Port("/dev/ttyACM0")]
    fake = FakeEsptool(on_reset=lambda: ports.__setitem__(0, Port("/dev/ttyACM1")))
    probe = Probe(OLD, None, NEW)  # old build; not answering while it boots; new build
    result = flash_board(
        "/dev/ttyACM0",
        firmware,
        erase=True,
        esptool=fake,
        probe=probe,
        port_lister=lambda: list(ports),
        timeout=5,
    )
    assert fake.calls == [
        ("detect_chip", "/dev/ttyACM0", 460800),
        ("run_stub",),
        ("attach_flash",),
        ("erase_flash",),
        ("write_flash", [("0x1000", firmware.name)]),
        ("reset_chip", "hard-reset"),
        ("close",),
    ]
    assert (result.action, result.port, result.chip) == ("flashed", "/dev/ttyACM1", "ESP32")
    assert (result.before, result.after) == (OLD, NEW)
    assert probe.asked == ["/dev/ttyACM0", "/dev/ttyACM1", "/dev/ttyACM1"]


def test_force_flashes_the_same_build_without_erase(firmware: Path) -> None:
    fake = FakeEsptool(chip="ESP32")
    result = flash_board(
        "rfc2217://rig-host:4000",
        firmware,
        force=True,
        address=0x10000,
        esptool=fake,
        probe=Probe(NEW),
        port_lister=list,
    )
    assert result.action == "flashed"
    assert ("erase_flash",) not in fake.calls
    assert ("write_flash", [("0x10000", firmware.name)]) in fake.calls


def test_silent_board_is_flashed(firmware: Path) -> None:
    fake = FakeEsptool()
    result = flash_board(
        "/dev/ttyUSB9", firmware, esptool=fake, probe=Probe(None, NEW), port_lister=list
    )
    assert (result.before, result.after) == (None, NEW)


def test_image_for_another_chip_is_refused_before_writing(firmware: Path) -> None:
    fake = FakeEsptool(chip="ESP32-S3")
    with pytest.raises(ConfigError, match="built for ESP32, the board is ESP32-S3"):
        flash_board("/dev/ttyUSB9", firmware, esptool=fake, probe=Probe(OLD), port_lister=list)
    assert [c[0] for c in fake.calls] == ["detect_chip", "close"]


def test_wrong_build_after_flashing_is_an_error(firmware: Path) -> None:
    with pytest.raises(FlashError, match=r"reports .*v1\.23\.0.* after flashing"):
        flash_board(
            "/dev/ttyUSB9", firmware, esptool=FakeEsptool(), probe=Probe(OLD), port_lister=list
        )


def test_esptool_failures_become_flash_errors(firmware: Path) -> None:
    fake = FakeEsptool(fail_on="detect_chip")
    with pytest.raises(FlashError, match="could not talk to the bootloader"):
        flash_board("/dev/ttyUSB9", firmware, esptool=fake, probe=Probe(OLD), port_lister=list)
    fake = FakeEsptool(fail_on="write_flash")
    with pytest.raises(FlashError, match="esptool failed on /dev/ttyUSB9 \\(ESP32\\)"):
        flash_board("/dev/ttyUSB9", firmware, esptool=fake, probe=Probe(OLD), port_lister=list)
    assert fake.calls[-1] == ("close",)  # the port is released


def test_board_not_back_in_time(firmware: Path) -> None:
    ports = [Port("/dev/ttyACM0")]
    fake = FakeEsptool(on_reset=ports.clear)
    with pytest.raises(FlashError, match="did not come back"):
        flash_board(
            "/dev/ttyACM0",
            firmware,
            esptool=fake,
            probe=Probe(OLD),
            port_lister=lambda: list(ports),
            timeout=0.2,
        )


def test_non_serial_board_cannot_be_flashed(firmware: Path) -> None:
    with pytest.raises(ConfigError, match="esptool needs a serial port"):
        flash_board("ws://10.0.0.2", firmware, esptool=FakeEsptool(), probe=Probe(None))


def test_the_board_is_leased_from_probe_to_check_and_a_busy_one_waited_for(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("MPHARNESS_LEASE_WAIT_S", raising=False)
    keys = lease_keys(resolve_board("/dev/ttyUSB9"))
    holders: list[str] = []

    def probe(target: str) -> str:  # runs under flash_board's own lease
        holders.append(leases.read_holder(keys[0]).get("purpose", ""))
        return NEW if holders[1:] else OLD

    held = leases.acquire_all(keys, wait_s=0.0, purpose="tests")
    with pytest.raises(BoardBusy, match="busy: held by PID"):
        flash_board("/dev/ttyUSB9", firmware, esptool=FakeEsptool(), probe=probe, port_lister=list)
    assert holders == []  # not even probed while another session has it
    releaser = threading.Timer(0.1, lambda: [lease.release() for lease in held])
    releaser.start()
    result = flash_board(
        "/dev/ttyUSB9",
        firmware,
        esptool=FakeEsptool(),
        probe=probe,
        port_lister=list,
        lease_wait_s=30,
    )
    releaser.join()
    assert (result.action, holders) == ("flashed", ["flashing", "flashing"])
    assert leases.read_holder(keys[0]) == {}  # released afterwards


class FakeLog:
    """Stands in for esptool's logger (``esptool.cmds.log``): records verbosity changes."""

    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        self.calls = calls

    def set_verbosity(self, verbosity: str) -> None:
        self.calls.append(("set_verbosity", verbosity))


def test_quiet_silences_esptool_while_it_runs_only(firmware: Path) -> None:
    fake = FakeEsptool()
    fake.log = FakeLog(fake.calls)  # type: ignore[attr-defined]
    flash_board(
        "/dev/ttyACM0",
        firmware,
        esptool=fake,
        probe=Probe(OLD, NEW),
        quiet=True,
        port_lister=lambda: [Port("/dev/ttyACM0")],
        timeout=5,
    )
    names = [call[0] for call in fake.calls]
    assert names[0] == "set_verbosity" and fake.calls[0] == ("set_verbosity", "silent")
    assert names.index("write_flash") < names.index("close") < len(names) - 1
    assert fake.calls[-1] == ("set_verbosity", "auto")
    fake.calls.clear()
    flash_board(
        "/dev/ttyACM0",
        firmware,
        esptool=fake,
        probe=Probe(OLD, NEW),
        port_lister=lambda: [Port("/dev/ttyACM0")],
        timeout=5,
    )
    assert not [
        call for call in fake.calls if call[0] == "set_verbosity"
    ]  # a terminal: esptool's bar


def test_cli_flash_is_quiet_when_stdout_is_not_a_terminal(
    firmware: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mpharness.tools import flash as flash_module

    seen: dict[str, Any] = {}

    def fake_flash_board(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return flash_module.FlashResult("skipped", "/dev/ttyACM0", None, NEW, NEW)

    monkeypatch.setattr(flash_module, "flash_board", fake_flash_board)
    assert main(["flash", "/dev/ttyACM0", str(firmware)]) == 0
    assert seen["quiet"] is True  # capsys: not a terminal
    assert "skipped" in capsys.readouterr().out
