import pytest

pytestmark = pytest.mark.on_board
STATE = {}


def setup_module(module):
    STATE["module"] = "ready"
    module.GIVEN_MODULE = True


def teardown_module():
    STATE.clear()


def setup_function(function):
    STATE["function"] = function


def teardown_function(function):
    STATE.pop("function")


def test_ok_module_setup_ran():
    assert STATE["module"] == "ready"
    assert GIVEN_MODULE  # noqa: F821 - set by setup_module


def test_ok_function_setup_got_the_test():
    assert STATE["function"] is test_ok_function_setup_got_the_test


def test_bad_state_checked():
    assert STATE["module"] == "other"


class TestClassSetup:
    @classmethod
    def setup_class(cls):
        cls.resource = [1, 2]

    @classmethod
    def teardown_class(cls):
        cls.resource = None

    def test_ok_class_setup_ran(self):
        assert self.resource == [1, 2]
        assert "function" not in STATE  # setup_function is for module-level tests only

    def test_bad_class_resource(self):
        assert self.resource == [3]


class TestPlainSetupClass:
    def setup_class(cls):
        cls.ready = STATE["module"]

    def test_ok_plain_setup_class_gets_the_class(self):
        assert self.ready == "ready"


class TestSetupClassSkips:
    @classmethod
    def setup_class(cls):
        pytest.skip("not set up")

    def test_skip_by_setup_class(self):
        pass
