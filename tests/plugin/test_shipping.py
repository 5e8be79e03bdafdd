"""The code generator and result framing of on-board tests, without a board.

The shipped program is plain Python that CPython can also run, which checks the rewriting
(asserts keep their semantics and their line numbers) independently of any board.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from pytest_mpharness.report import explain_assert, map_traceback
from pytest_mpharness.runner import split_frame
from pytest_mpharness.shipping import (
    ModuleSource,
    ShippingError,
    device_helper,
    literal_source,
)

MODULE = '''\
"""A test module."""
import pytest
from pytest import fixture
try:
    import ujson as json
except ImportError:
    import json

pytestmark = pytest.mark.on_board
LIMIT = 10
UNUSED = open("/nonexistent")


def helper(x):
    return min(x, LIMIT)


@pytest.fixture
def value():
    return 3


class Point:
    def __init__(self, x):
        self.x = helper(x)


@pytest.mark.parametrize("n", [1, 2])
def test_one(n):
    p = Point(n * 4)
    assert p.x == \\
        LIMIT, "clamped"
    assert json.loads("[1]") == [1]


def test_plain():
    ok = False
    assert ok


def test_raises():
    with pytest.raises(ValueError):
        int("x")


def test_multiline():
    assert [
        1,
        2,
    ] == [1, 3]; done = True


def test_lazy_message():
    if True: assert 1 in (1, 2), 1 // 0
    assert not [], [][0]
'''


@pytest.fixture
def module(tmp_path: Path) -> ModuleSource:
    path = tmp_path / "test_mod.py"
    path.write_text(MODULE)
    return ModuleSource(path)


def _run_cpython(code: str) -> tuple[str, BaseException | None]:
    """Run a shipped program in CPython; (printed text, exception)."""
    out: list[str] = []
    env = {"print": lambda *a: out.append(" ".join(str(x) for x in a)), "__name__": "__main__"}
    try:
        exec(compile(code, "<stdin>", "exec"), env)
    except Exception as err:  # the program's own failure
        return "\n".join(out), err
    return "\n".join(out), None


def test_closure_takes_helpers_constants_and_imports_but_nothing_of_pytest(module):
    shipment = module.shipment("test_one")
    body = shipment.code[len(device_helper("pytest_runner.py")) :]
    assert "def helper" in body and "class Point" in body and "LIMIT = 10" in body
    assert "import ujson as json" in body
    for host_only in ("import pytest", "pytestmark", "def value", "UNUSED", "parametrize"):
        assert host_only not in body
    assert "class pytest" not in shipment.code  # no shim: the test does not use pytest


def test_shim_goes_along_only_when_the_test_uses_pytest(module):
    assert "class pytest" in module.shipment("test_raises").code
    code, _ = module.shipment("test_raises").program("ab12", {})
    printed, err = _run_cpython(code)
    assert err is None and printed == "\x1eab12:4:pass\x1f"


def test_every_shipped_line_maps_to_the_same_text_in_the_test_file(module):
    source = MODULE.splitlines()
    rewritten = {
        n
        for node in ast.walk(ast.parse(MODULE))
        if isinstance(node, ast.Assert)
        for n in range(node.lineno, node.end_lineno + 1)
    }
    checked = 0
    for name in ("test_one", "test_plain", "test_multiline"):
        shipment = module.shipment(name)
        for n, line in enumerate(shipment.code.splitlines(), start=1):
            origin = shipment.source_line(n)
            if origin is None or origin in rewritten:
                continue
            assert line == source[origin - 1], (name, n)
            checked += 1
    assert checked >= 15


def test_rewritten_compare_fails_with_both_values_at_the_original_line(module):
    shipment = module.shipment("test_multiline")
    code, line_map = shipment.program("n0", {})
    _, err = _run_cpython(code)
    assert type(err).__name__ == "_MphF"
    assert err.args == (None, "==", "[1, 2]", "[1, 3]")
    failing = err.__traceback__
    while failing.tb_next is not None and failing.tb_frame.f_code.co_name != "test_multiline":
        failing = failing.tb_next
    assert line_map[failing.tb_lineno - 1] == MODULE.splitlines().index("    assert [") + 1


def test_compare_with_message_and_parameters(module):
    shipment = module.shipment("test_one")
    for n, ok in ((1, False), (3, True)):
        code, _ = shipment.program("f00d", {"n": literal_source("n", n)})
        printed, err = _run_cpython(code)
        if ok:
            assert err is None and printed.endswith("\x1ef00d:4:pass\x1f")
        else:
            assert err.args == ("clamped", "==", "4", "10")


def test_assert_message_is_evaluated_only_on_failure(module):
    printed, err = _run_cpython(module.shipment("test_lazy_message").program("n2", {})[0])
    assert err is None and printed == "\x1en2:4:pass\x1f"


def test_plain_assert_reports_value_and_expression(module):
    shipment = module.shipment("test_plain")
    _, err = _run_cpython(shipment.program("n1", {})[0])
    line = MODULE.splitlines().index("    assert ok") + 1
    assert shipment.plain_asserts[line] == "ok"
    assert explain_assert(err.args, "ok") == (
        "AssertionError",
        ["assert False", " +  where False = ok"],
    )


def test_methods_cannot_be_shipped(tmp_path):
    path = tmp_path / "test_cls.py"
    path.write_text("class TestX:\n    def test_a(self):\n        pass\n")
    with pytest.raises(ShippingError, match="module-level function"):
        ModuleSource(path).shipment("test_a")


@pytest.mark.parametrize("value", [1, -2.5, "µ", b"\x00", (1, [2, {3: None}]), {1, 2}, True])
def test_literals_round_trip(value):
    assert ast.literal_eval(literal_source("x", value)) == value


@pytest.mark.parametrize("value", [object(), float("nan"), range(3), Path("/x")])
def test_non_literals_are_refused_with_the_argument_name(value):
    with pytest.raises(ShippingError, match="argument 'x'"):
        literal_source("x", value)


def test_frame_must_carry_the_nonce_and_end_the_output():
    good = "out\n\x1eabc:4:pass\x1f\n"
    assert split_frame(good, "abc") == ("out\n", "pass")
    forged = [
        "\x1exyz:4:pass\x1f\n",  # another nonce
        "\x1eabc:4:pass\x1f\nmore output\n",  # something after the frame
        "\x1eabc:5:pass\x1f\n",  # wrong length
        "\x1eabc:x:pass\x1f\n",  # no length
        "PASSED\n1 passed\n",  # pytest's words
    ]
    for text in forged:
        assert split_frame(text, "abc")[1] is None, text


def test_traceback_mapping_drops_runner_frames_and_keeps_board_modules():
    trace = textwrap.dedent(
        """\
        Traceback (most recent call last):
          File "<stdin>", line 5, in <module>
          File "<stdin>", line 2, in _mph_run
          File "<stdin>", line 4, in test_a
          File "lib/drv.py", line 7, in read
        OSError: 19
        """
    )
    frames = map_traceback(trace, "/t/test_a.py", (None, None, 30, 31, None))
    assert [(f.path, f.lineno, f.func, f.mapped) for f in frames] == [
        ("/t/test_a.py", 31, "test_a", True),
        ("lib/drv.py", 7, "read", False),
    ]


def test_traceback_mapping_of_a_program_run_through_the_exec_loader():
    # small boards: the engine uploads the program into a string and exec()s it
    trace = textwrap.dedent(
        """\
        Traceback (most recent call last):
          File "<stdin>", line 1, in <module>
          File "<string>", line 5, in <module>
          File "<string>", line 4, in test_a
          File "<string>", line 1, in <module>
        ZeroDivisionError: division by zero
        """
    )
    frames = map_traceback(trace, "/t/test_a.py", (None, None, 30, 31, None))
    assert [(f.path, f.lineno, f.mapped) for f in frames] == [("/t/test_a.py", 31, True)]
