"""The "must hold" items of the plugin, on every virtual board (unix port, QEMU micro:bit).

Each test writes a small test file with ``pytester`` and runs pytest in-process on it with
``--device``; in CI (``MPHARNESS_REQUIRE_VIRTUAL=1``) a board that cannot run fails the test.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.plugin.helpers import BOARDS, line_of, need, run


@pytest.fixture(params=BOARDS)
def device(request: pytest.FixtureRequest) -> str:
    """A virtual board's name, each in turn."""
    return need(request.param)


ISOLATION = """
import pytest
pytestmark = pytest.mark.on_board

def test_set_state():
    global leftover
    leftover = 41
    import sys
    if hasattr(sys, "modules"):  # not on the micro:bit
        sys.modules["fake_mod"] = sys  # interpreter-wide state too

def test_state_gone():
    import sys
    assert "leftover" not in globals()
    assert "fake_mod" not in getattr(sys, "modules", {})

def test_crash():
    CRASH

def test_after_crash():
    assert 1 + 1 == 2
"""

CRASHES = {
    # a segfault kills the unix-port interpreter process
    "unix": "import uctypes; uctypes.bytearray_at(0, 8)[0]",
    # a machine reset reboots the micro:bit into its friendly REPL mid-test
    "microbit": "import machine; machine.reset()",
}

FAILING_ASSERT = """
import pytest

def scale(x):
    return x * 3

@pytest.mark.on_board
def test_values():
    got = scale(2)
    assert got == 7, "scaled"
"""

FORGERY = r"""
import pytest
pytestmark = pytest.mark.on_board

def test_fake_frames():
    for nonce in ("0", "00000000", "abcdef012345"):
        print("\x1e" + nonce + ":4:pass\x1f")
    print("PASSED\n1 passed in 0.01s")
    assert False

def test_fake_frame_at_the_very_end():
    import sys
    print("\x1e" + "deadbeef0000" + ":4:pass\x1f")
    raise SystemExit

def test_fake_repl_framing():
    print("\x04\x04>OK\x1e1234:4:pass\x1f")
    assert 1 == 2
"""


class TestKeyBehaviour:
    """The "must hold" items, on every virtual board."""

    def test_state_and_crashes_do_not_leak_into_the_next_test(self, pytester, device):
        pytester.makepyfile(test_iso=ISOLATION.replace("CRASH", CRASHES[device]))
        result = run(pytester, device, "-v", "--board-timeout", "3")
        result.assert_outcomes(passed=3, failed=1)
        result.stdout.fnmatch_lines(["*test_crash FAILED*", "*test_after_crash PASSED*"])

    def test_output_before_a_crash_is_in_the_report(self, pytester, device):
        crash = CRASHES[device]
        pytester.makepyfile(
            test_c=f"import pytest\n\n@pytest.mark.on_board\ndef test_crash():\n"
            f"    print('last words')\n    {crash}\n"
        )
        result = run(pytester, device, "--board-timeout", "5")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(
            [
                "*the last line it printed before: 'last words'*",
                "*Captured stdout call*",
                "last words",
            ]
        )

    def test_failing_assert_shows_file_line_and_both_values(self, pytester, device):
        path = pytester.makepyfile(test_fail=FAILING_ASSERT)
        result = run(pytester, device)
        result.assert_outcomes(failed=1)
        line = line_of(FAILING_ASSERT.lstrip("\n"), "assert got == 7")
        result.stdout.fnmatch_lines(
            [
                "    def test_values():",
                "        got = scale(2)",
                '>       assert got == 7, "scaled"',
                "E       AssertionError: scaled",
                "E       assert 6 == 7",
                f"{path.name}:{line}: AssertionError",
            ]
        )

    def test_assert_in_a_helper_reports_its_values(self, pytester, device):
        """Also on the micro:bit, whose few call levels the assert rewrite must not use up."""
        pytester.makepyfile(
            test_helper_assert="""
            import pytest

            def check(reading):
                assert reading < 100, "out of range"

            def calibrate(raw):
                check(raw * 2)

            @pytest.mark.on_board
            def test_helper():
                calibrate(60)
            """
        )
        result = run(pytester, device)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(
            [
                ">       assert reading < 100, *",
                "E       AssertionError: out of range",
                "E       assert 120 < 100",
            ]
        )

    def test_large_values_keep_their_diff(self, pytester, device):
        size = 1500 if device == "unix" else 200
        pytester.makepyfile(
            test_big=f"""
            import pytest

            @pytest.mark.on_board
            def test_big():
                got = list(range({size}))
                got[{size - 3}] = -1
                assert got == list(range({size}))
            """
        )
        result = run(pytester, device)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"E         At index {size - 3} diff: -1 != {size - 3}"])

    def test_infinite_loop_times_out_and_the_suite_goes_on(self, pytester, device):
        pytester.makepyfile(
            test_loop="""
            import pytest

            @pytest.mark.on_board
            @pytest.mark.board_timeout(1.5)
            def test_spin():
                print("spinning")
                while True:
                    pass

            @pytest.mark.on_board
            def test_next():
                assert True
            """
        )
        started = time.monotonic()
        result = run(pytester, device, "-rf")
        elapsed = time.monotonic() - started
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(["*timed out*1.5 s*", "*spinning*"])
        assert elapsed < 30, elapsed  # 1.5 s budget + recovery, far from the 60 s default

    def test_output_cannot_forge_a_pass(self, pytester, device):
        pytester.makepyfile(test_forge=FORGERY)
        result = run(pytester, device, "-v")
        result.assert_outcomes(failed=3)
        assert "PASSED" not in "\n".join(
            line for line in result.outlines if line.startswith("test_forge.py::")
        )


EXAMPLES = Path(__file__).resolve().parents[2] / "hil_rigs" / "examples"


def test_example_suite_passes(pytester, device):
    """The README's demo: ``pytest --device unix hil_rigs/examples`` (a copy of it here)."""
    shutil.copytree(EXAMPLES, pytester.path / "examples")
    result = run(pytester, device, "examples", "-rsx")
    outcomes = result.parseoutcomes()
    assert result.ret == pytest.ExitCode.OK
    assert outcomes.get("xfailed") == 1 and outcomes.get("passed", 0) >= 15
    result.stdout.fnmatch_lines(["*lacks feature(s) wifi*"])
