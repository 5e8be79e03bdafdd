import pytest
from paritylib import check_positive, triple

pytestmark = pytest.mark.on_board


def test_ok_helper():
    assert triple(2) == 6


def test_bad_helper():
    assert triple(2) == 7


def test_bad_helper_assert():
    check_positive(-1)
