# ruff: noqa: SIM300  (written the way the tests under test are)
import pytest

pytestmark = pytest.mark.on_board


def test_ok_approx():
    assert 0.1 + 0.2 == pytest.approx(0.3)


def test_ok_approx_list():
    assert [0.5 + 0.25, 2.0] == pytest.approx([0.75, 2.0])


def test_bad_approx():
    assert 1.1 == pytest.approx(1.0)


def test_ok_approx_abs():
    assert 1.05 == pytest.approx(1.0, abs=0.1)
