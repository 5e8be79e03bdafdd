"""Every rig-file mistake is a ConfigError naming the file, the 1-based line and the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpharness.errors import ConfigError
from mpharness.rigs.rig import Rig
from tests.config.helpers import load, load_error, where, write


def test_unknown_key_names_line_key_and_suggests(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        boards:
          esp32:
            url: /dev/ttyUSB0
            baudrat: 115200
        """,
    )
    assert where(err) == (str(tmp_path / "rig.yaml"), 4, "boards.esp32.baudrat")
    assert "did you mean 'baudrate'?" in str(err)
    assert str(err).startswith(f"{tmp_path / 'rig.yaml'}:4: boards.esp32.baudrat: ")


@pytest.mark.parametrize(
    ("key", "hint"),
    [("port", "url"), ("path", "url"), ("timeout", "timeout_s"), ("baud", "baudrate")],
)
def test_unknown_key_hints_for_common_slips(tmp_path: Path, key: str, hint: str) -> None:
    err = load_error(tmp_path, f"boards:\n  b:\n    url: /dev/x\n    {key}: 1\n")
    assert where(err)[1:] == (4, f"boards.b.{key}")
    assert f"did you mean {hint!r}?" in str(err)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ('"115200"', "expected a positive integer"),
        ("115200.5", "expected a positive integer"),
        ("true", "expected a positive integer"),
        ("0", "must be positive"),
        ("-9600", "must be positive"),
        ("1200", "bootloader"),
        ("[115200]", "expected a positive integer"),
    ],
)
def test_bad_baudrate(tmp_path: Path, value: str, fragment: str) -> None:
    err = load_error(tmp_path, f"boards:\n  esp32:\n    url: /dev/ttyUSB0\n    baudrate: {value}\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 4, "boards.esp32.baudrate")
    assert fragment in str(err)


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ("features: wifi", "boards.b.features", "expected a list"),
        ("features: {wifi: 1}", "boards.b.features", "expected a list"),
        ("features: [wifi, [x]]", "boards.b.features[1]", "expected a string"),
        ("features: [wifi, '']", "boards.b.features[1]", "empty entry"),
        ("timeout_s: soon", "boards.b.timeout_s", "expected a number of seconds"),
        ("timeout_s: 0", "boards.b.timeout_s", "positive"),
        ("timeout_s: .inf", "boards.b.timeout_s", "positive"),
        ("unpack: 1", "boards.b.unpack", "expected true or false"),
        ("reset: sometimes", "boards.b.reset", "must be one of soft, hard, machine, none"),
        ("reset: off", "boards.b.reset", "write 'none'"),
        ("uid: [1, 2]", "boards.b.uid", "expected a string, got a list"),
        ("password: {a: 1}", "boards.b.password", "expected a string, got a mapping"),
        ("description:", "boards.b.description", "expected a string, got nothing"),
        ("libs: /x", "boards.b.libs", "expected a list"),
        ("resources: a.py", "boards.b.resources", "expected a list of resources"),
        ("install-dir: [a]", "boards.b.install-dir", "expected a string"),
    ],
)
def test_wrong_types(tmp_path: Path, line: str, key: str, message: str) -> None:
    err = load_error(tmp_path, f"boards:\n  b:\n    url: /dev/x\n    {line}\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 4, key)
    assert message in str(err)


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        ("boards:\n  b:\n    url: ''\n", 3, "boards.b.url", "empty url"),
        ("boards:\n  b:\n    url: []\n", 3, "boards.b.url", "empty url list"),
        ("boards:\n  b:\n    url: [/dev/a, ' ']\n", 3, "boards.b.url[1]", "empty url"),
        ("boards:\n  b:\n    baudrate: 9600\n", 1 + 1, "boards.b", "has no url"),
        ("boards:\n  b: ''\n", 2, "boards.b.url", "empty url"),
        ("boards:\n  b:\n", 2, "boards.b", "got nothing"),
        ("boards:\n  b: [/dev/a]\n", 2, "boards.b", "expected a mapping of settings or a url"),
        ("boards:\n  b: 42\n", 2, "boards.b", "expected a mapping"),
        ("boards:\n  b:\n    url: http://x:8266\n", 3, "boards.b.url", "ws://"),
        ("boards:\n  b:\n    url: serial:///dev/ttyUSB1\n", 3, "boards.b.url", "give its path"),
    ],
)
def test_bad_urls_and_specs(tmp_path: Path, text: str, line: int, key: str, message: str) -> None:
    err = load_error(tmp_path, text)
    assert where(err) == (str(tmp_path / "rig.yaml"), line, key)
    assert message in str(err)


@pytest.mark.parametrize("name", ["esp 32", "a:b", "dev/tty", "COM3", "com12", "x$y", "a,b"])
def test_bad_board_names(tmp_path: Path, name: str) -> None:
    err = load_error(tmp_path, f"boards:\n  pico: /dev/a\n  '{name}': /dev/b\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 3, f"boards.{name}")
    assert "bad board name" in str(err)


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    err = load_error(tmp_path, "boards:\n  a: /dev/a\n  b: [unclosed\n  c: /dev/c\nx: 1\n")
    assert err.path == str(tmp_path / "rig.yaml")
    assert err.line is not None and 3 <= err.line <= 5
    assert "YAML syntax error" in str(err)


def test_yaml_tab_indent_error_has_line(tmp_path: Path) -> None:
    err = load_error(tmp_path, "boards:\n  a:\n\turl: /dev/a\n")
    assert (err.path, err.line) == (str(tmp_path / "rig.yaml"), 3)


def test_yaml_error_never_echoes_the_line(tmp_path: Path) -> None:
    err = load_error(tmp_path, "boards:\n  a:\n    password: hunter2: oops\n")
    assert err.line == 3
    assert "hunter2" not in str(err)


def test_two_documents_are_an_error(tmp_path: Path) -> None:
    err = load_error(tmp_path, "boards: {a: /dev/a}\n---\nboards: {b: /dev/b}\n")
    assert err.line == 2
    assert "another document" in str(err)


def test_duplicate_board_in_one_file(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        boards:
          esp32: /dev/ttyUSB0
          pico: /dev/ttyACM0
          esp32: /dev/ttyUSB1
        """,
    )
    assert where(err) == (str(tmp_path / "rig.yaml"), 4, "boards.esp32")
    assert "duplicate board 'esp32' (first at line 2)" in str(err)


def test_duplicate_key_in_a_spec(tmp_path: Path) -> None:
    err = load_error(tmp_path, "boards:\n  b:\n    url: /dev/a\n    url: /dev/b\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 4, "boards.b.url")


def test_both_spellings_of_a_key(tmp_path: Path) -> None:
    err = load_error(
        tmp_path, "boards:\n  b:\n    url: /dev/a\n    install-dir: /a\n    install_dir: /b\n"
    )
    assert where(err) == (str(tmp_path / "rig.yaml"), 5, "boards.b.install_dir")


def test_duplicate_board_in_iot_file(tmp_path: Path) -> None:
    err = load_error(tmp_path, "esp32:\n  uid: aa\nesp32:\n  uid: bb\n", name="devices.yaml")
    assert where(err) == (str(tmp_path / "devices.yaml"), 3, "esp32")


def test_duplicate_board_across_files_names_both(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "boards:\n  pico: /dev/ttyACM0\n")
    second = write(tmp_path, "b.yaml", "boards:\n  esp32: /dev/ttyUSB0\n  pico: /dev/ttyACM1\n")
    with pytest.raises(ConfigError) as info:
        Rig.load([str(first), str(second)])
    assert where(info.value) == (str(second), 3, "boards.pico")
    assert f"{first}:2" in str(info.value)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, "boards:\n  a: /dev/a\nbaords_extra: 1\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 3, "baords_extra")
    assert "must start with 'x-'" in str(err)


def test_misspelt_boards_is_not_taken_for_an_iot_file(tmp_path: Path) -> None:
    err = load_error(tmp_path, "board:\n  esp32: /dev/ttyUSB0\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 1, "board")
    assert "did you mean 'boards'?" in str(err)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    err = load_error(tmp_path, "- /dev/ttyUSB0\n")
    assert (err.path, err.line) == (str(tmp_path / "rig.yaml"), 1)
    assert "expected a mapping" in str(err)


def test_boards_must_be_a_mapping(tmp_path: Path) -> None:
    err = load_error(tmp_path, "boards:\n  - /dev/ttyUSB0\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 2, "boards")


@pytest.mark.parametrize(
    ("value", "column"),
    [("ws://${HOST:8266", 6), ("ws://${}:8266", 6), ("${1X}", 1), ("a${X:+y}", 2), ("${X Y}", 1)],
)
def test_substitution_syntax_errors_at_load(tmp_path: Path, value: str, column: int) -> None:
    err = load_error(tmp_path, f"boards:\n  b:\n    url: '{value}'\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 3, "boards.b.url")
    assert f"at column {column}" in str(err)


def test_password_syntax_error_does_not_show_the_value(tmp_path: Path) -> None:
    err = load_error(tmp_path, "boards:\n  b:\n    url: ws://h\n    password: 'sw0rdfish${'\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 4, "boards.b.password")
    assert "sw0rdfish" not in str(err)


def test_iot_board_needs_uid_or_url(tmp_path: Path) -> None:
    err = load_error(tmp_path, "esp32:\n  install-dir: /lib\n", name="devices.yaml")
    assert where(err) == (str(tmp_path / "devices.yaml"), 1, "esp32")
    assert "needs a uid" in str(err)


@pytest.mark.parametrize(
    ("item", "key", "message"),
    [
        ("- a.py: {unpak: true}", "boards.b.resources[0].a.py.unpak", "did you mean 'unpack'?"),
        ("- a.py: {unpack: maybe}", "boards.b.resources[0].a.py.unpack", "true or false"),
        ("- a.py: [x]", "boards.b.resources[0].a.py", "expected a mapping"),
        ("- {a.py: /, b.py: /}", "boards.b.resources[0]", "has 2 keys"),
        ("- [a.py]", "boards.b.resources[0]", "a resource is NAME"),
        ("- a: {path: x, lib: y}", "boards.b.resources[0].a.lib", "path and lib mean the same"),
    ],
)
def test_bad_resources(tmp_path: Path, item: str, key: str, message: str) -> None:
    err = load_error(tmp_path, f"boards:\n  b:\n    url: /dev/x\n    resources:\n      {item}\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 5, key)
    assert message in str(err)


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        Rig.load([str(missing)])
    assert (info.value.path, info.value.line) == (str(missing), None)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"boards:\n  a: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        Rig.load([str(binary)])
    assert info.value.path == str(binary)


def test_a_control_byte_names_file_line_and_character(tmp_path: Path) -> None:
    """A stray control byte (here Ctrl-A, as pasted from a terminal) is a ConfigError at its
    line, not PyYAML's ReaderError."""
    err = load_error(tmp_path, "boards:\n  b:\n    url: /dev/tty\x01USB0\n")
    assert where(err) == (str(tmp_path / "rig.yaml"), 3, None)
    assert "U+0001" in str(err) and "control character" in str(err)


@pytest.mark.parametrize(
    "value",
    ["[" * 100_000 + "]" * 100_000, "{a: " * 100_000 + "1" + "}" * 100_000],
    ids=["brackets", "braces"],
)
def test_absurd_nesting_is_a_config_error_naming_the_file(tmp_path: Path, value: str) -> None:
    """100 000 nested brackets: a ConfigError naming the file, not a RecursionError."""
    err = load_error(tmp_path, f"boards:\n  b:\n    url: /dev/x\n    features: {value}\n")
    assert err.path == str(tmp_path / "rig.yaml")
    assert "nested too deeply" in str(err)


def test_ordinary_nesting_still_loads(tmp_path: Path) -> None:
    rig = load(tmp_path, "boards:\n  b:\n    url: /dev/x\n    features: [a, b]\n")
    spec = rig.resolve("b")
    assert spec is not None and "a" in spec.features
