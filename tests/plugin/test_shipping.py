"""The module image and the per-test program of on-board tests, without a board.

The image is plain Python that CPython can also import, which checks the rewriting (module
state, asserts keep their semantics and their line numbers) independently of any board.
"""

from __future__ import annotations

import ast
import sys
import textwrap
import types
from pathlib import Path

import pytest
from pytest_mpharness.board_runtime import runtime_modules, runtime_name
from pytest_mpharness.program import BoardCall, build_program, literal_source, xunit_call
from pytest_mpharness.report import map_traceback
from pytest_mpharness.runner import check_matches
from pytest_mpharness.shipping import (
    ModuleSource,
    ShippingError,
    build_test_module,
)

MODULE = """\
import pytest
import subprocess
pytestmark = pytest.mark.on_board
slow = pytest.mark.slow
LIMITS = {}
LIMITS["max"] = 5  # a mutation
UNUSED = subprocess.run


def must_fail(f):
    def wrapper():
        try:
            f()
        except AssertionError:
            return
        raise AssertionError("expected a failure")
    return wrapper


@pytest.fixture
def value():
    return 3


@slow
@must_fail
def test_decorated():
    assert LIMITS["max"] == \\
        6, "limit"


def test_host(board):
    subprocess.run(["true"])
"""


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "test_mod.py"
    path.write_text(MODULE)
    return path


def load(tmp_path: Path, source: Path, host_tests=frozenset({"test_host"})) -> types.ModuleType:
    """The image imported in CPython, with mpharness' board modules importable."""
    module = build_test_module(source, frozenset(host_tests), tmp_path)
    for board_module in module.modules:
        (tmp_path / board_module.filename).write_text(board_module.text)
    sys.path.insert(0, str(tmp_path))
    try:
        return __import__(module.image.name)
    finally:
        sys.path.remove(str(tmp_path))


def test_image_keeps_every_line_and_the_module_state(source, tmp_path):
    module = build_test_module(source, frozenset({"test_host"}), tmp_path)
    image = module.image.text.splitlines()
    original = MODULE.splitlines()
    assert len(image) == len(original)
    assert image[5].rstrip() == 'LIMITS["max"] = 5'  # mutations go, comments do not
    assert "subprocess" not in module.image.text  # only host tests and unused names use it
    assert "fixture" not in module.image.text and "pytestmark" not in module.image.text
    assert image[27 - 1].startswith("def test_decorated")
    assert image[26 - 1].strip() == "@must_fail"  # kept: runs on the board
    assert image[25 - 1].strip() == ""  # @slow is pytest's: left out


def test_image_decorators_and_asserts_run_like_the_original(source, tmp_path):
    mod = load(tmp_path, source)
    assert mod.LIMITS == {"max": 5}
    mod.test_decorated()  # must_fail wraps a failing assert: passes, as in pytest
    with pytest.raises(AssertionError) as info:
        mod.must_fail(lambda: None)()
    assert "expected a failure" in str(info.value)


def test_rewritten_assert_carries_both_values_at_the_original_line(source, tmp_path):
    mod = load(tmp_path, source)
    with pytest.raises(AssertionError) as info:
        mod.test_decorated.__closure__[0].cell_contents()  # the undecorated test
    message, op, left, right = ast.literal_eval(str(info.value))
    assert (message, op, left, right) == ("limit", "==", "5", "6")
    assert info.traceback[-1].lineno + 1 == 28  # the assert's own line in the test file


def test_decorator_the_board_cannot_run_is_a_shipping_error(tmp_path):
    path = tmp_path / "test_d.py"
    path.write_text("import mpharness\n\n@mpharness.thing\ndef test_x():\n    pass\n")
    with pytest.raises(ShippingError, match="exists only on the host"):
        ModuleSource(path).check_decorators("test_x")
    path.write_text("@nowhere\ndef test_x():\n    pass\n")
    with pytest.raises(ShippingError, match="not defined at the module's top level"):
        ModuleSource(path).check_decorators("test_x")


def test_helper_modules_beside_the_test_are_shipped(tmp_path):
    (tmp_path / "helpers.py").write_text("def triple(x):\n    assert x\n    return 3 * x\n")
    (tmp_path / "conftest.py").write_text("")
    path = tmp_path / "test_h.py"
    path.write_text(
        "from helpers import triple\nimport conftest\n\ndef test_x():\n    triple(conftest)\n"
    )
    module = build_test_module(path, frozenset(), tmp_path)
    names = [m.name for m in module.modules]
    assert "helpers" in names and "conftest" not in names
    assert module.preload[-2:] == ["helpers", module.image.name]
    helper = next(m for m in module.modules if m.name == "helpers")
    assert "assert _mph_a," in helper.text  # its asserts report values too


def test_program_imports_in_dependency_order_and_calls_methods(source, tmp_path):
    module = build_test_module(source, frozenset({"test_host"}), tmp_path)
    test = BoardCall(
        "test_y",
        {"n": "1"},
        "TestK",
        setup_method=True,
        teardown_method=True,
        setups=["_M.setup_module(_M)", "_M.TestK.setup_class()"],
        teardowns=[None, "_M.TestK.teardown_class()"],
    )
    program = build_program(module, test, 123456789)
    text = program.whole()
    assert f"import {module.image.name} as _M" in text
    assert text.index("_M.setup_module(_M)") < text.index("_M.TestK.setup_class()")
    assert "_C=_M.TestK()" in text
    assert "_C.setup_method(_C.test_y)" in text
    assert "_C.teardown_method(_C.test_y)" in text
    assert "_C.test_y(n=1)" in text
    compile(text, "<program>", "exec")  # valid Python
    # one exec per top-level statement on boards without raw-paste: each compiles alone,
    # and a teardown stays in the block of its try
    for step in program.run:
        compile(step, "<step>", "exec")
    teardown_step = next(s for s in program.run if "teardown_class" in s)
    assert teardown_step.startswith("try:") and "teardown_method" in teardown_step


def test_trivial_test_program_is_short_and_skips_what_it_does_not_need(tmp_path):
    path = tmp_path / "test_t.py"
    path.write_text(
        "import pytest\npytestmark = pytest.mark.on_board\n\ndef test_a():\n    assert 1\n"
    )
    module = build_test_module(path, frozenset(), tmp_path)
    program = build_program(module, BoardCall("test_a"), 123456789)
    # nothing names pytest on the board, raises or skip: no core import, no report frame
    assert program.run == [f"import {module.image.name} as _M", "_M.test_a()"]
    assert program.report is None
    path.write_text(
        "import pytest\n\ndef test_r():\n    with pytest.raises(ValueError, match='x'):\n"
        "        raise ValueError('x')\n"
    )
    module = build_test_module(path, frozenset(), tmp_path)
    program = build_program(module, BoardCall("test_r"), 123456789)
    assert program.run[1] == "_P.b()" and program.report == "_P.e(123456789,'')"
    assert "123456789" not in "\n".join(program.run)  # the nonce only in the report


def test_xunit_calls_take_pytest_argument_conventions():
    tree = ast.parse(
        textwrap.dedent(
            """\
            def setup_module(module): pass
            def teardown_module(): pass
            class TestA:
                @classmethod
                def setup_class(cls): pass
                def teardown_class(cls): pass
            class TestB:
                @staticmethod
                def setup_class(): pass
            """
        )
    )
    assert xunit_call(tree, None, ("setup_module",), "_M") == "_M.setup_module(_M)"
    assert xunit_call(tree, None, ("teardown_module",), "_M") == "_M.teardown_module()"
    assert xunit_call(tree, "TestA", ("setup_class",), "_M.TestA") == "_M.TestA.setup_class()"
    assert (
        xunit_call(tree, "TestA", ("teardown_class",), "_M.TestA")
        == "_M.TestA.teardown_class(_M.TestA)"
    )
    assert xunit_call(tree, "TestB", ("setup_class",), "_M.TestB") == "_M.TestB.setup_class()"
    assert xunit_call(tree, "TestB", ("teardown_class",), "_M.TestB") is None


def test_runtime_modules_are_valid_python():
    for module in runtime_modules():
        compile(module.text, module.filename, "exec")


def test_matches_are_decided_on_the_host_with_cpython_re():
    assert check_matches("") is None
    assert check_matches(repr([(r"k\d{3}", "k123")])) is None
    lines = check_matches(repr([(r"^k\d{3}$", "k12")]))
    assert lines is not None and "Regex pattern did not match." in lines[0]
    assert check_matches("not a literal") is not None


def test_traceback_frames_map_by_board_file_name():
    text = textwrap.dedent(
        """\
        Traceback (most recent call last):
          File "<stdin>", line 6, in <module>
          File "/_mph/_mphmabc.py", line 12, in test_x
          File "_mphpt0000.py", line 3, in thing
          File "lib/other.py", line 4, in util
        """
    )
    frames = map_traceback(text, {"_mphmabc.py": "/host/test_x.py"})
    assert [(f.path, f.lineno, f.mapped) for f in frames] == [
        ("/host/test_x.py", 12, True),
        ("lib/other.py", 4, False),
    ]


def test_literal_reprs_are_accepted_and_others_refused():
    class Config:
        def __repr__(self) -> str:
            return "{'rate': 9600}"

    assert literal_source("c", Config()) == "{'rate': 9600}"
    with pytest.raises(ShippingError, match="cannot be sent to the board"):
        literal_source("o", object())


def test_imports_of_warnings_go_to_the_boards_stand_in(tmp_path):
    """MicroPython has no warnings module: the image imports the board's stand-in."""
    path = tmp_path / "test_w.py"
    path.write_text(
        "import warnings\nfrom warnings import warn as w\nimport pytest\n\n"
        "def test_x():\n    with pytest.warns(UserWarning):\n        w('x')\n"
        "        warnings.warn('y')\n"
    )
    module = build_test_module(path, frozenset(), tmp_path)
    stand_in = runtime_name("_mphwn")
    lines = module.image.text.splitlines()
    assert lines[0] == f"import {stand_in} as warnings"
    assert lines[1] == f"from {stand_in} import (warn as w)"
    assert stand_in in module.preload  # imported before the image, from the top level
