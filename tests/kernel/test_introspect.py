"""Host-side parts of completion, inspection and is_complete."""

from __future__ import annotations

from importlib import resources

import pytest
from mpharness_kernel.devicecode import device_call, device_source
from mpharness_kernel.introspect import (
    Target,
    find_target,
    import_map,
    is_complete,
    record_definitions,
)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("x = 1", "complete"),
        ("", "complete"),
        ("%timeout 5", "complete"),
        ("if x:", "incomplete"),
        ("if x:\n    y = 1", "incomplete"),
        ("if x:\n    y = 1\n\n", "complete"),
        ("x = (1,", "incomplete"),
        ("%%host\nx = 1", "incomplete"),
        ("%%host\nx = 1\n\n", "complete"),
        ("def f(:", "invalid"),
    ],
)
def test_is_complete(code: str, status: str) -> None:
    assert is_complete(code)["status"] == status


def test_incomplete_suggests_indent() -> None:
    assert is_complete("for i in x:")["indent"] == "    "
    assert is_complete("def f():\n    if a:")["indent"] == "        "


def test_import_map() -> None:
    names = import_map("import machine, os as o\nfrom a.b import c as d, e; import x.y")
    assert names == {
        "machine": ("machine", []),
        "o": ("os", []),
        "d": ("a", ["b", "c"]),
        "e": ("a", ["b", "e"]),
        "x": ("x", []),
    }


@pytest.mark.parametrize(
    ("code", "target"),
    [
        ("import machine; machine.", Target("machine", "machine", [], [], "")),
        ("machine.Pi", Target("machine", None, [], [], "Pi")),
        ("import a.b as c\nc.x.y", Target("c", "a", ["b"], ["x"], "y")),
        ("pri", Target(None, prefix="pri")),
        ("f().x", None),
        ("'abc.", None),
        ("x = 1  # machine.", None),
    ],
)
def test_find_target(code: str, target: Target | None) -> None:
    assert find_target(code, len(code)) == target


def test_definitions_are_recorded_with_signature_and_docstring() -> None:
    known: dict[str, str] = {}
    record_definitions(
        'def blink(pin, times=3):\n    """Blink a pin."""\nclass Led:\n    def on(self): pass',
        known,
    )
    assert known["blink"].startswith("def blink(pin, times=3)")
    assert "Blink a pin." in known["blink"]
    assert known["Led"] == "class Led" and known["Led.on"] == "def on(self)"


def test_every_device_helper_still_compiles_after_shrinking() -> None:
    helpers = resources.files("mpharness_kernel") / "_device"
    names = [p.name[:-3] for p in helpers.iterdir() if p.name.endswith(".py")]
    assert "display" in names and "complete" in names
    for name in names:
        compile(device_source(name), f"{name}.py", "exec")


def test_device_helpers_are_shrunk_and_take_literal_arguments() -> None:
    source = device_source("complete")
    assert "#" not in source.split("\n")[0]
    assert "\n g = globals()\n" in source, "indentation is cut to one space per level"
    compile(source, "complete.py", "exec")
    call = device_call("complete", "_mph_c", "m'x", None, [], [], "")
    assert call.endswith("_mph_c(\"m'x\", None, [], [], '')\ndel _mph_c\n")
