# ruff: noqa: RUF061  (written the way the tests under test are)
import pytest

pytestmark = pytest.mark.on_board


def parse(text):
    return int(text)


def test_ok_context():
    with pytest.raises(ValueError) as info:
        parse("abc")
    assert info.type is ValueError


def test_bad_did_not_raise():
    with pytest.raises(ValueError):
        parse("12")


def test_ok_callable():
    info = pytest.raises(ValueError, parse, "x1")
    assert isinstance(info.value, ValueError)


def test_bad_callable():
    pytest.raises(ValueError, parse, "7")


def test_ok_match():
    with pytest.raises(KeyError, match=r"k\d{3}"):
        raise KeyError("k123")


def test_bad_match():
    with pytest.raises(KeyError, match=r"^k\d{3}$"):
        raise KeyError("k12")


def test_bad_other_type():
    with pytest.raises(KeyError):
        raise ValueError("no")
