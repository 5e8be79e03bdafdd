# ruff: noqa: RUF005  (written the way the tests under test are)
import pytest

pytestmark = pytest.mark.on_board

SCALE = 3


def scaled(x):
    return x * SCALE


@pytest.mark.parametrize("x, y", [(1, 3), (2, 6)])
def test_ok_param(x, y):
    assert scaled(x) == y


@pytest.mark.parametrize("x", [4])
def test_bad_param(x):
    assert scaled(x) == 13


def test_ok_compare():
    assert [1, 2] + [3] == [1, 2, 3]


def test_bad_compare():
    assert scaled(2) < 5


def test_bad_plain():
    items = []
    assert items
