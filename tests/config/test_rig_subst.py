"""``${VAR}`` substitution: the grammar, and that it happens at use, not at load."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from mpharness.errors import ConfigError
from mpharness.rigs import substitution
from mpharness.rigs.boardspec import BoardSpec, RigText, expand_text
from tests.config.helpers import load, load_error, where

ENV = {"HOST": "10.0.0.7", "EMPTY": "", "PW": "s3cret"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("ws://${HOST}:8266", "ws://10.0.0.7:8266"),
        ("${HOST}${HOST}", "10.0.0.710.0.0.7"),
        ("${UNSET:-192.168.4.1}", "192.168.4.1"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${HOST:-fallback}", "10.0.0.7"),
        ("${EMPTY}", ""),
        ("${UNSET:-}", ""),
        ("cost $$5", "cost $5"),
        ("$${HOST}", "${HOST}"),
        ("pa$word", "pa$word"),
        ("end$", "end$"),
        ("$HOST", "$HOST"),
        ("${UNSET:-a:b/c}", "a:b/c"),
        ("no vars", "no vars"),
        ("", ""),
    ],
)
def test_expand(template: str, expected: str) -> None:
    assert substitution.expand(template, ENV) == expected


def test_bare_names_only_when_asked() -> None:
    assert substitution.expand("$HOST/lib", ENV, bare=True) == "10.0.0.7/lib"
    assert substitution.expand("$HOST/lib", ENV) == "$HOST/lib"
    assert substitution.expand("$$HOST", ENV, bare=True) == "$HOST"
    assert substitution.expand("$1", ENV, bare=True) == "$1"


def test_missing_variable() -> None:
    with pytest.raises(substitution.MissingVariable) as info:
        substitution.expand("a${HOST}b${NOPE}", ENV)
    assert info.value.name == "NOPE"


@pytest.mark.parametrize(
    ("template", "column"),
    [("${", 0), ("x${HOST", 1), ("${}", 0), ("${9}", 0), ("${A-b}", 0), ("${A:?b}", 0)],
)
def test_syntax_errors(template: str, column: int) -> None:
    with pytest.raises(substitution.TemplateSyntaxError) as info:
        substitution.check(template)
    assert info.value.column == column


def test_variables() -> None:
    assert substitution.variables("${A}-${B:-x}-$$C-$D") == ["A", "B"]
    assert substitution.variables("$D/x", bare=True) == ["D"]


def test_plain_strings_are_literal() -> None:
    assert expand_text("${PW}", ENV) == "${PW}"
    spec = BoardSpec(name="b", urls=("ws://${HOST}",), password="${PW}")
    assert spec.expand_vars(ENV).urls == ("ws://${HOST}",)
    assert spec.webrepl_password(ENV) == "${PW}"


def test_rig_text_keeps_location_through_pickle() -> None:
    text = RigText("${HOST}", path="/r.yaml", line=3, key="boards.b.url")
    copy = pickle.loads(pickle.dumps(text))
    assert (copy, copy.path, copy.line, copy.key) == ("${HOST}", "/r.yaml", 3, "boards.b.url")
    assert expand_text(copy, ENV) == "10.0.0.7"


RIG = """
boards:
  wifi:
    url: ws://${WIFI_HOST:-192.168.4.1}:8266
    password: ${WIFI_BOARD_PASSWORD}
  lab:
    url: rfc2217://${LAB_HOST}:4000
    description: lab board
  plain:
    url: /dev/ttyUSB0
"""


def test_load_needs_no_variables(tmp_path: Path) -> None:
    rig = load(tmp_path, RIG)
    assert rig.names() == ["wifi", "lab", "plain"]
    assert rig.boards["lab"].urls == ("rfc2217://${LAB_HOST}:4000",)
    assert rig.resolve("plain", environ={}).urls == ("/dev/ttyUSB0",)


def test_resolve_substitutes_all_but_the_password(tmp_path: Path) -> None:
    rig = load(tmp_path, RIG)
    wifi = rig.resolve("wifi", environ={})
    assert wifi.urls == ("ws://192.168.4.1:8266",)
    assert wifi.password == "${WIFI_BOARD_PASSWORD}"  # still a template: resolved only when needed
    env = {"WIFI_HOST": "esp.local", "LAB_HOST": "pi", "WIFI_BOARD_PASSWORD": "pw1"}
    assert rig.resolve("wifi", environ=env).urls == ("ws://esp.local:8266",)
    assert rig.resolve("lab", environ=env).urls == ("rfc2217://pi:4000",)
    assert rig.resolve("wifi", environ=env).webrepl_password(env) == "pw1"


def test_missing_variable_at_use_names_file_line_key_variable(tmp_path: Path) -> None:
    rig = load(tmp_path, RIG)
    with pytest.raises(ConfigError) as info:
        rig.resolve("lab", environ={})
    assert where(info.value) == (str(tmp_path / "rig.yaml"), 6, "boards.lab.url")
    assert "'LAB_HOST' is not set" in str(info.value)

    wifi = rig.resolve("wifi", environ={})
    with pytest.raises(ConfigError) as info:
        wifi.webrepl_password({})
    assert where(info.value) == (str(tmp_path / "rig.yaml"), 4, "boards.wifi.password")
    assert "'WIFI_BOARD_PASSWORD'" in str(info.value)


def test_password_falls_back_to_environment(tmp_path: Path) -> None:
    rig = load(tmp_path, RIG + "  dflt:\n    url: ws://h\n    password: ${PW:-}\n")
    assert rig.resolve("plain", environ={}).webrepl_password({}) is None
    env = {"MPHARNESS_WEBREPL_PASSWORD": "global"}
    assert rig.resolve("plain", environ={}).webrepl_password(env) == "global"
    assert rig.resolve("dflt", environ={}).webrepl_password(env) == "global"  # empty -> fallback
    env["WIFI_BOARD_PASSWORD"] = "own"
    assert rig.resolve("wifi", environ={}).webrepl_password(env) == "own"


def test_default_environ_is_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = load(tmp_path, RIG)
    monkeypatch.setenv("LAB_HOST", "from-os")
    monkeypatch.setenv("WIFI_BOARD_PASSWORD", "os-pw")
    assert rig.resolve("lab").urls == ("rfc2217://from-os:4000",)
    assert rig.resolve("wifi").webrepl_password() == "os-pw"


def test_substitution_in_every_string_field(tmp_path: Path) -> None:
    rig = load(
        tmp_path,
        """
        boards:
          b:
            url: ["/dev/${A}", /dev/ttyUSB1]
            uid: ${UID}
            features: ["${F}"]
            install-dir: ${D}
            libs:
              - ${L}
            description: board ${A}
            resources:
              - ${R}: {lib: "${L}", include-patterns: "${P}"}
        """,
    )
    env = {
        "A": "ttyACM0",
        "UID": "aabb",
        "F": "wifi",
        "D": "/lib",
        "L": "/src",
        "R": "x.py",
        "P": "*.py",
    }
    spec = rig.resolve("b", environ=env)
    assert spec.urls == ("/dev/ttyACM0", "/dev/ttyUSB1")
    assert (spec.uid, spec.features, spec.install_dir, spec.libs) == (
        "aabb",
        ("wifi",),
        "/lib",
        ("/src",),
    )
    assert spec.description == "board ttyACM0"
    assert spec.resources[0].path == "x.py"
    assert (spec.resources[0].lib, spec.resources[0].include_patterns) == ("/src", ("*.py",))


def test_unquoted_template_in_flow_list_gets_a_hint(tmp_path: Path) -> None:
    err = load_error(tmp_path, "boards:\n  b:\n    url: [/dev/${A}]\n")
    assert err.line == 3
    assert "quote values that contain ${...}" in str(err)
