# ruff: noqa: B028, RUF061  (written the way the tests under test are)
import warnings

import pytest

pytestmark = pytest.mark.on_board


def old_api(x):
    warnings.warn("old_api is deprecated, use new_api", DeprecationWarning)
    return x + 1


def quiet(x):
    return x


def test_ok_warns():
    with pytest.warns(DeprecationWarning):
        assert old_api(1) == 2


def test_ok_warns_match_and_record():
    with pytest.warns(DeprecationWarning, match=r"use \w+_api") as record:
        old_api(1)
    assert len(record) == 1
    assert "deprecated" in str(record[0].message)
    assert record[0].category is DeprecationWarning


def test_ok_base_class_and_callable_form():
    # the callable form is one call level more: a micro:bit has about four
    assert pytest.warns(Warning, warnings.warn, "direct", UserWarning) is None


def test_ok_user_warning_by_default():
    with pytest.warns(UserWarning):
        warnings.warn("plain")


def test_bad_did_not_warn():
    with pytest.warns(DeprecationWarning):
        quiet(1)


def test_bad_wrong_category():
    with pytest.warns(RuntimeWarning):
        old_api(1)


def test_bad_match_fails():
    with pytest.warns(DeprecationWarning, match="^nothing like it$"):
        old_api(1)


def test_ok_deprecated_call():
    with pytest.deprecated_call():
        old_api(2)
