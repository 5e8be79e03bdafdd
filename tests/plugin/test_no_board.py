"""The plugin without a working board: no ``--device``, bad options, an unopenable board."""

from __future__ import annotations

import pytest

from tests.plugin.helpers import QUIET, run


def test_without_device_board_tests_skip_and_mpharness_is_not_imported(pytester):
    pytester.makeconftest(
        """
        import sys
        def pytest_sessionfinish(session):
            loaded = sorted(m for m in sys.modules if m.split(".")[0] == "mpharness")
            print("LOADED", loaded)
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        def test_on_board():
            assert False

        def test_host_driven(board):
            assert False

        @pytest.mark.board(features=["wifi"])
        def test_feature():
            assert False

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rs", "-s")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(["*no board selected (pass --device NAME_OR_URL*"])
    assert "LOADED []" in result.stdout.str()  # nothing of mpharness was even imported


def test_unopenable_board_errors_every_board_test_with_the_reason(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        def test_a():
            pass

        def test_b(board):
            pass

        def test_host():
            pass

        @pytest.mark.on_board
        @pytest.mark.skip(reason="skipped before any board is touched")
        def test_skipped():
            pass
        """
    )
    result = run(pytester, "unix:/nonexistent/micropython")
    result.assert_outcomes(passed=1, errors=2, skipped=1)
    result.stdout.fnmatch_lines(["*cannot open board 'unix:/nonexistent/micropython'*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "nosuchboard"], "*--device nosuchboard: unknown board 'nosuchboard'*"),
        (["--device", "unix", "--board-timeout", "soon"], "*board timeout must be a number*"),
        (["--device", "unix", "--board-timeout", "0"], "*board timeout must be positive*"),
    ],
)
def test_bad_options_are_usage_errors(pytester, args, message):
    pytester.makepyfile("def test_a():\n    pass\n")
    result = pytester.runpytest(*QUIET, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_pyserial_rfc2217_deprecation_warnings_stay_out_of_the_summary(pytester):
    """pyserial's RFC 2217 client warns about Thread.setDaemon/setName on every open; those
    are filtered, other DeprecationWarnings (also from pyserial) still show."""
    pytester.makepyfile(
        """
        import warnings

        def _warn(message, module):
            warnings.warn_explicit(message, DeprecationWarning, "rfc2217.py", 465, module=module)

        def test_opens_an_rfc2217_link():
            _warn("setDaemon() is deprecated, set the daemon attribute instead", "serial.rfc2217")
            _warn("setName() is deprecated, set the name attribute instead", "serial.rfc2217")

        def test_other_deprecation():
            _warn("something else is deprecated", "serial.rfc2217")
        """
    )
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "setDaemon" not in out and "setName" not in out
    assert "something else is deprecated" in out


def test_require_device_makes_a_missing_device_an_error(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        def test_on_board():
            pass

        def test_host():
            pass
        """
    )
    result = pytester.runpytest("--require-device", *QUIET)
    result.assert_outcomes(passed=1, errors=1)  # fails in setup, like a board that is down
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*a device is required (--require-device)*"])
    pytester.makeini("[pytest]\nmpharness_require_device = true\n")
    assert pytester.runpytest(*QUIET).ret == 1
    pytester.makeini("[pytest]\n")
    assert pytester.runpytest(*QUIET).ret == 0


def test_board_only_imports_do_not_break_host_collection(pytester):
    pytester.makepyfile(
        test_pins="""
        import pytest
        from machine import Pin
        from micropython import const
        import network

        LED = Pin(2, Pin.OUT)
        PORT = const(8266)

        def test_host_sees_the_real_values():
            assert PORT == 8266

        def test_board_only_modules_are_gone_when_tests_run():
            with pytest.raises(ImportError):
                import machine  # noqa: F401

        @pytest.mark.on_board
        def test_blink():
            LED.value(1)
        """
    )
    result = pytester.runpytest(*QUIET, "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    pytester.makeini("[pytest]\nmpharness_board_modules =\n")
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(errors=1)  # stand-ins off: collecting fails as without the plugin
