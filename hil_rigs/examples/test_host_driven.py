"""Example host-driven tests: the test runs on the host and drives the board.

The ``board`` fixture is an open board, soft-reset before each test.
"""

import pytest


def test_exec_output(board):
    assert board.exec("print(6 * 7)") == "42\n"


def test_eval(board):
    assert board.eval("[x * x for x in range(4)]") == [0, 1, 4, 9]


@pytest.mark.parametrize("expr, value", [("1 + 1", 2), ("'ab' * 2", "abab")])
def test_eval_parametrized(board, expr, value):
    assert board.eval(expr) == value


def test_fresh_interpreter(board):
    board.exec("marker = 1")
    assert board.eval("'marker' in globals()") is True


def test_firmware_facts(board):
    info = board.info()
    assert info["implementation"] == "micropython"
