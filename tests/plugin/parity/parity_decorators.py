import pytest

pytestmark = pytest.mark.on_board


def must_fail(func):
    def wrapper():
        try:
            func()
        except AssertionError:
            return
        raise AssertionError("expected a failure")

    return wrapper


def retry3(func):
    def wrapper():
        for attempt in range(3):
            try:
                return func(attempt)
            except AssertionError:
                if attempt == 2:
                    raise

    return wrapper


@must_fail
def test_ok_must_fail():
    assert 1 == 2


@must_fail
def test_bad_must_fail():
    assert 1 == 1


@retry3
def test_ok_retry(attempt):
    assert attempt == 2


@retry3
def test_bad_retry(attempt):
    assert attempt == 5
