"""The ``firmware`` / ``firmware-erase`` rig keys (flashing before a pytest session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpharness.errors import ConfigError
from tests.config.helpers import load, load_error, where


def test_firmware_is_relative_to_the_rig_file_with_vars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FW_VERSION", "v1.24.1")
    rig = load(
        tmp_path,
        """
        boards:
          esp32:
            url: /dev/ttyUSB0
            firmware: fw/ESP32_GENERIC-${FW_VERSION}.bin
            firmware_erase: true
          s3:
            url: /dev/ttyACM0
            firmware: /opt/fw/s3.bin
          plain: /dev/ttyUSB1
        """,
        name="rigs/rig.yaml",
    )
    esp32 = rig.resolve("esp32")
    assert esp32.firmware == "fw/ESP32_GENERIC-v1.24.1.bin"
    assert esp32.firmware_file() == str(tmp_path / "rigs" / "fw" / "ESP32_GENERIC-v1.24.1.bin")
    assert esp32.firmware_erase is True
    s3 = rig.resolve("s3")
    assert (s3.firmware_file(), s3.firmware_erase) == ("/opt/fw/s3.bin", False)
    plain = rig.resolve("plain")
    assert (plain.firmware, plain.firmware_file(), plain.firmware_erase) == (None, None, False)


def test_unset_firmware_variable_names_file_line_and_key(tmp_path: Path) -> None:
    rig = load(
        tmp_path,
        "boards:\n  esp32:\n    url: /dev/ttyUSB0\n    firmware: ${NO_SUCH_FW_VAR_X}/fw.bin\n",
    )
    with pytest.raises(ConfigError) as info:
        rig.resolve("esp32")
    err = info.value
    assert where(err) == (str(tmp_path / "rig.yaml"), 4, "boards.esp32.firmware")
    assert "NO_SUCH_FW_VAR_X" in str(err)


@pytest.mark.parametrize(
    ("line", "key", "fragment"),
    [
        ("firmware: [a.bin]", "boards.b.firmware", "expected a string"),
        ("firmware:", "boards.b.firmware", "expected a string"),
        ('firmware: ""', "boards.b.firmware", "empty firmware path"),
        ("firmware: fw/${BAD", "boards.b.firmware", "column"),
        ("firmware-erase: yes please", "boards.b.firmware-erase", "expected true or false"),
        ("firmware_erase: 1", "boards.b.firmware_erase", "expected true or false"),
        ("firmwear: a.bin", "boards.b.firmwear", "did you mean 'firmware'?"),
    ],
)
def test_bad_firmware_keys(tmp_path: Path, line: str, key: str, fragment: str) -> None:
    err = load_error(tmp_path, f"boards:\n  b:\n    url: /dev/x\n    {line}\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 4, key)
    assert fragment in str(err)
