"""Example on-board tests: each test body runs on the board given by ``--device``.

Run with:  pytest --device unix hil_rigs/examples
Every test starts in a freshly soft-reset interpreter that imports this module (its top
level runs on the board as on the host), then calls the test.
"""

import pytest

try:
    import ujson as json
except ImportError:
    try:
        import json
    except ImportError:  # the micro:bit has no json module
        json = None

pytestmark = pytest.mark.on_board

GREETING = "hello"


def double(x):
    return 2 * x


def test_arithmetic():
    assert 1 + 1 == 2
    assert double(21) == 42


@pytest.mark.parametrize("value, expected", [(1, 2), (5, 10), (-3, -6)])
def test_double(value, expected):
    assert double(value) == expected


@pytest.mark.parametrize("text", ["abc", "µPy"])
def test_strings(text):
    assert (GREETING + text).startswith(GREETING)


def test_json_round_trip():
    if json is None:
        pytest.skip("this board has no json module")  # pytest.skip works on the board too
    data = {"a": [1, 2, 3], "b": None}
    assert json.loads(json.dumps(data)) == data


def test_state_is_fresh_1():
    # each test gets a clean interpreter: this global does not leak into the next test
    global leftover
    leftover = 1


def test_state_is_fresh_2():
    assert "leftover" not in globals()


def test_print_and_raises():
    print("board output appears in the report when a test fails")
    with pytest.raises(ZeroDivisionError):
        1 // 0


def test_implementation():
    import sys

    assert sys.implementation.name == "micropython"


@pytest.mark.board(features=["wifi"])
def test_needs_wifi():
    import network

    assert network.WLAN(network.STA_IF) is not None


@pytest.mark.xfail(strict=True, reason="demonstrates a failing on-board assert")
def test_deliberate_failure():
    readings = [double(n) for n in range(4)]
    assert readings == [0, 2, 4, 7]
