"""The plugin on the unix-port board: arguments, fixtures, isolation scopes, reports, options."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tests.plugin.helpers import QUIET, line_of, need, run

pytestmark = pytest.mark.unix_board


@pytest.fixture
def unix() -> str:
    return need("unix")


def test_parametrize_fixtures_and_helpers_reach_the_board(pytester, unix):
    path = pytester.makepyfile(
        """
        import pytest
        pytestmark = pytest.mark.on_board
        SCALE = 3

        def scaled(x):
            return x * SCALE

        @pytest.fixture
        def config():
            return {"rate": 9600, "pins": (4, 5)}

        @pytest.mark.parametrize("x, y", [(1, 3), (2, 6), (b"ab", b"ababab")])
        def test_scaled(x, y):
            assert scaled(x) == y

        def test_literal_fixture(config):
            assert config["pins"][1] == 5

        def test_runs_on_the_board():
            import sys
            assert sys.implementation.name == "micropython"

        def test_skip_on_board():
            pytest.skip("not on this board")

        @pytest.fixture
        def not_literal():
            return object()

        def test_non_literal(not_literal):
            pass
        """
    )
    source = path.read_text()
    result = run(pytester, unix, "-rsf")
    result.assert_outcomes(passed=5, skipped=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   ShippingError: argument 'not_literal' of type object cannot be sent*",
            f"SKIPPED [1] {path.name}:{line_of(source, 'def test_skip_on')}: not on this board",
        ]
    )


def test_board_fixture_is_reset_before_each_test(pytester, unix):
    pytester.makepyfile(
        """
        import pytest
        import mpharness

        def test_first(board):
            board.exec("leftover = 1")
            assert board.eval("leftover") == 1

        def test_second(board):
            with pytest.raises(mpharness.RemoteError) as err:
                board.eval("leftover")
            assert err.value.exc_type == "NameError"

        def test_timeout_applies(board):
            with pytest.raises(mpharness.BoardTimeout):
                board.exec("while True: pass")
            assert board.eval("1 + 1") == 2
        """
    )
    result = run(pytester, unix, "--board-timeout", "1")
    result.assert_outcomes(passed=3)


def test_module_isolation_shares_state_within_a_module_only(pytester, unix):
    body = """
        import pytest
        pytestmark = pytest.mark.on_board

        def test_set():
            global shared
            shared = 1

        def test_seen():
            assert shared == 1
        """
    pytester.makepyfile(test_a=body, test_b=body.replace("shared == 1", "'shared' in globals()"))
    run(pytester, unix, "--board-isolation", "module").assert_outcomes(passed=4)
    run(pytester, unix).assert_outcomes(passed=2, failed=2)  # default: per test


def test_features_from_the_rig_entry(pytester, unix):
    pytester.makefile(".yaml", rig="boards:\n  wifiunix:\n    url: 'unix:'\n    features: [wifi]\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        @pytest.mark.board(features=["wifi"])
        def test_wifi():
            pass

        @pytest.mark.on_board
        @pytest.mark.board(features=["wifi", "sdcard"])
        def test_sdcard():
            pass
        """
    )
    result = run(pytester, "wifiunix", "--rig", "rig.yaml", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*board 'wifiunix' lacks feature(s) sdcard (rig features: wifi)*"])
    result = run(pytester, unix, "-rs")
    result.assert_outcomes(skipped=2)


def test_xfail_strict_and_xpass_strict(pytester, unix):
    pytester.makepyfile(
        """
        import pytest
        pytestmark = pytest.mark.on_board

        @pytest.mark.xfail(strict=True)
        def test_fails():
            assert 1 == 2

        @pytest.mark.xfail(strict=True)
        def test_passes():
            assert 1 == 1

        @pytest.mark.xfail(raises=ZeroDivisionError, strict=True)
        def test_raises_the_expected_kind():
            1 // 0

        @pytest.mark.xfail(raises=ZeroDivisionError, strict=True)
        def test_raises_another_kind():
            [][1]
        """
    )
    result = run(pytester, unix)
    result.assert_outcomes(xfailed=2, failed=2)
    result.stdout.fnmatch_lines(["E       IndexError: *"])


PYTEST_OPTIONS = """
import pytest
pytestmark = pytest.mark.on_board

def test_alpha():
    assert 1 == 1

def test_beta():
    assert 2 == 3

def test_gamma():
    assert 3 == 3
"""


def test_k_x_lf_and_v(pytester, unix):
    pytester.makepyfile(test_opts=PYTEST_OPTIONS)
    run(pytester, unix, "-k", "alpha or gamma").assert_outcomes(passed=2, deselected=1)
    run(pytester, unix, "-x").assert_outcomes(passed=1, failed=1)
    result = run(pytester, unix, "--lf", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["run-last-failure: *", "*test_opts.py::test_beta FAILED*"])
    run(pytester, unix, "-v").stdout.fnmatch_lines(
        ["*::test_alpha PASSED*", "*::test_beta FAILED*", "*::test_gamma PASSED*"]
    )


def test_junitxml_has_board_properties_and_failures(pytester, unix):
    pytester.makepyfile(test_opts=PYTEST_OPTIONS)
    result = run(pytester, unix, "--junitxml=out.xml")
    result.assert_outcomes(passed=2, failed=1)
    root = ET.parse(pytester.path / "out.xml").getroot()
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["mpharness_board"] == "unix"
    assert props["mpharness_url"] == "unix:"
    assert props["mpharness_implementation"] == "micropython"
    assert re.match(r"\d+\.\d+", props["mpharness_version"])
    assert props["mpharness_sys_version"]
    (failure,) = root.iter("failure")
    assert "assert 2 == 3" in failure.get("message", "") + (failure.text or "")


def test_board_output_and_log_in_the_report(pytester, unix):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        def test_prints():
            print("hello from the board")
            raise ValueError("bad value")
        """
    )
    result = run(pytester, unix)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       ValueError: bad value",
            "*- Captured stdout call -*",
            "hello from the board",
            "*- Captured board log call -*",
            "*Traceback (most recent call last):*",
        ]
    )


def test_traceback_through_helpers_is_mapped(pytester, unix):
    source = """
import pytest

def inner(x):
    return 10 // x

def outer(x):
    return inner(x) + 1

@pytest.mark.on_board
def test_chain():
    assert outer(0) == 1
"""
    pytester.makepyfile(test_chain=source)
    result = run(pytester, unix)
    result.assert_outcomes(failed=1)
    src = source.lstrip("\n")
    result.stdout.fnmatch_lines(
        [
            f"test_chain.py:{line_of(src, 'assert outer(0)')}: ",
            f"test_chain.py:{line_of(src, 'return inner(x) + 1')}: ",
            ">       return 10 // x",
            "E       ZeroDivisionError: *",
            f"test_chain.py:{line_of(src, 'return 10 // x')}: ZeroDivisionError",
        ]
    )


def test_board_sync_copies_rig_resources_before_the_first_test(pytester, unix):
    pytest.importorskip(
        "mpharness.files.board_fs", reason="the engine's filesystem API is not there yet"
    )
    pytester.makefile(".yaml", rig="boards:\n  synced:\n    url: 'unix:'\n    resources: [data]\n")
    (pytester.path / "data").mkdir()
    (pytester.path / "data" / "greeting.txt").write_text("hello board")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        def test_resource_is_there():
            with open("/lib/greeting.txt") as f:  # IoT Kernel's default install dir
                assert f.read() == "hello board"
        """
    )
    result = run(pytester, "synced", "--rig", "rig.yaml", "--board-sync")
    result.assert_outcomes(passed=1)


def test_ini_keys_select_the_board_and_budget(pytester, unix):
    pytester.makeini("[pytest]\nmpharness_device = unix\nmpharness_board_timeout = 1\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        def test_spin():
            while True:
                pass
        """
    )
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*timed out after 1 s on board 'unix'*"])


def test_summary_names_board_url_and_firmware(pytester, unix):
    pytester.makepyfile("import pytest\n\n@pytest.mark.on_board\ndef test_ok():\n    pass\n")
    result = run(pytester, unix)
    result.assert_outcomes(passed=1)
    line = next(x for x in result.outlines if x.startswith("board 'unix'"))
    assert re.fullmatch(
        r"board 'unix' \(unix:\): micropython \d+\.\d+\.\d+(-\w+)? on linux.*", line
    )
    assert "::" not in line and not line.endswith("version")


def test_describe_firmware_formats_version_and_machine():
    from pytest_mpharness.session import describe_firmware

    unix_info = {
        "implementation": "micropython",
        "version": "1.29.0.preview",
        "machine": "linux [GCC 14.2.1] version",
    }
    assert describe_firmware(unix_info) == "micropython 1.29.0-preview on linux [GCC 14.2.1]"
    esp = {"implementation": "micropython", "version": "1.24.1", "machine": "ESP32 module"}
    assert describe_firmware(esp) == "micropython 1.24.1 on ESP32 module"
    assert describe_firmware({"implementation": "micropython", "version": "1.9.2"}) == (
        "micropython 1.9.2"
    )


def test_board_log_traceback_shows_only_the_users_frames(pytester, unix):
    source = """
import pytest

def inner(x):
    return 10 // x

@pytest.mark.on_board
def test_div():
    assert inner(0) == 1

@pytest.mark.on_board
def test_compare():
    a = 2
    assert a == 3
"""
    path = pytester.makepyfile(source)
    source = path.read_text()  # as written (makepyfile drops the leading newline)
    result = run(pytester, unix)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    for internal in ("_mph_f", "_MphF", "<stdin>", "<module>"):
        assert internal not in out, internal
    result.stdout.fnmatch_lines(
        [
            "board traceback (your files; -vv shows the program as sent):",
            "Traceback (most recent call last):",
            f'  File "{path.name}", line {line_of(source, "assert inner(0)")}, in test_div',
            "    assert inner(0) == 1",
            f'  File "{path.name}", line {line_of(source, "return 10 // x")}, in inner',
            "    return 10 // x",
            "ZeroDivisionError: divide by zero",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            f'  File "{path.name}", line {line_of(source, "assert a == 3")}, in test_compare',
            "    assert a == 3",
            "AssertionError: assert 2 == 3",
        ]
    )
    verbose = run(pytester, unix, "-vv")
    verbose.stdout.fnmatch_lines(
        ["board traceback (the program as sent, shown with -vv):", '  File "<stdin>", line *']
    )


def test_board_reset_option_hard_resets_before_each_test(pytester, unix):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        @pytest.mark.parametrize("n", [1, 2])
        def test_fresh(n):
            assert n in (1, 2)
        """
    )
    result = run(pytester, unix, "--board-reset", "hard", "-rA")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*reset=hard*"])
    assert result.stdout.str().count("hard reset of board 'unix'") == 2
    result = pytester.runpytest("--device", unix, *QUIET, "--board-reset", "sideways")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_fixture_places_files_for_an_on_board_test(pytester, unix):
    """The README's way to put data on the board: a fixture of yours takes ``board``."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def calibration(board):
            board.fs.write_bytes("/calib.txt", b"42")
            yield "/calib.txt"
            board.fs.remove("/calib.txt")

        @pytest.mark.on_board
        def test_reads_it(calibration):
            with open(calibration) as f:
                assert int(f.read()) == 42
        """
    )
    result = run(pytester, unix)
    result.assert_outcomes(passed=1)


def test_module_files_removed_behind_the_plugins_back_are_written_again(pytester, unix):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        def test_first():
            pass

        def test_host_removes_files(board):
            for name in board.fs.listdir("/_mph"):
                board.fs.remove("/_mph/" + name)

        @pytest.mark.on_board
        def test_second():
            pass
        """
    )
    result = run(pytester, unix, "-p", "no:randomly")
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize(("isolation", "seen"), [("test", "[2]"), ("module", "[1, 2]")])
def test_module_state_is_shared_under_module_isolation_as_on_the_host(
    pytester, unix, isolation, seen
):
    pytester.makepyfile(
        f"""
        import pytest
        pytestmark = pytest.mark.on_board
        CALLS = []

        def test_first():
            CALLS.append(1)

        def test_second():
            CALLS.append(2)
            assert repr(CALLS) == {seen!r}
        """
    )
    result = run(pytester, unix, "--board-isolation", isolation)
    result.assert_outcomes(passed=2)


def test_setup_and_teardown_methods_run_on_the_board_only(pytester, unix):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        class TestOnBoard:
            def setup_method(self, method):
                import micropython  # exists on the board only
                self.ready = True

            def teardown_method(self, method):
                import micropython  # noqa: F401

            def test_ready(self):
                assert self.ready
        """
    )
    result = run(pytester, unix)
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("isolation", "after_class"),
    [("test", "['module']"), ("module", "['module', 'class', 'class down']")],
)
def test_xunit_setups_run_on_the_board_once_per_reset_scope(pytester, unix, isolation, after_class):
    """setup_module/setup_class and their teardowns run on the board, never on the host;
    under module isolation once per module or class (as in pytest), under per-test isolation
    around every test (each starts from a fresh interpreter)."""
    pytester.makepyfile(
        f"""
        import sys
        import pytest
        pytestmark = pytest.mark.on_board
        RUNS = []

        def on_board_only():
            if sys.implementation.name != "micropython":
                raise RuntimeError("an xunit function ran on the host")

        def setup_module(module):
            on_board_only()
            RUNS.append("module")

        def teardown_module(module):
            on_board_only()

        class TestA:
            @classmethod
            def setup_class(cls):
                on_board_only()
                RUNS.append("class")

            @classmethod
            def teardown_class(cls):
                on_board_only()
                RUNS.append("class down")

            def test_one(self):
                assert RUNS == ["module", "class"]

            def test_two(self):
                assert RUNS == ["module", "class"]

        def test_after_class():
            assert repr(RUNS) == {after_class!r}
        """
    )
    result = run(pytester, unix, "--board-isolation", isolation, "-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_board_files_places_data_for_a_test_and_puts_the_board_back(pytester, unix):
    """board_files.write() gives an on-board test its data; after the test a new file is
    gone and an overwritten one has its old content again."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def calibration(board_files):
            board_files.write("/keep.txt", "mine")  # overwritten below
            board_files.write("/keep.txt", "42")
            return board_files.write("/calib.txt", b"7")

        def test_before(board):
            board.fs.write_bytes("/keep.txt", b"original")
            assert not board.fs.exists("/calib.txt")

        @pytest.mark.on_board
        def test_reads_them(calibration):
            with open(calibration) as f:
                assert int(f.read()) == 7
            with open("/keep.txt") as f:
                assert f.read() == "42"

        def test_after(board):
            assert not board.fs.exists("/calib.txt")
            assert board.fs.read_bytes("/keep.txt") == b"original"
        """
    )
    result = run(pytester, unix, "-p", "no:randomly")
    result.assert_outcomes(passed=3)
