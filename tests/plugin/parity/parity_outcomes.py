# ruff: noqa: SIM105  (written the way the tests under test are)
import pytest

pytestmark = pytest.mark.on_board


def test_bad_fail_not_swallowed():
    try:
        pytest.fail("must not be swallowed")
    except Exception:
        pass


def test_skip_not_swallowed():
    try:
        pytest.skip("skipped on purpose")
    except Exception:
        pass


def test_xfail_imperative():
    pytest.xfail("known problem")


def test_ok_base_exception_catches():
    caught = False
    try:
        pytest.fail("caught")
    except BaseException:
        caught = True
    assert caught


def test_skip_importorskip():
    pytest.importorskip("no_such_module_anywhere")


@pytest.mark.xfail(reason="expected", strict=True)
def test_xfail_marked():
    assert 2 + 2 == 5


def test_bad_fail_without_traceback():
    pytest.fail("plain message", pytrace=False)
