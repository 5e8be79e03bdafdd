import pytest

pytestmark = pytest.mark.on_board
LOG = []


class TestCounter:
    START = 10

    def setup_method(self, method):
        self.value = self.START

    def teardown_method(self, method):
        LOG.append(1)

    def test_ok_setup_ran(self):
        assert self.value == 10

    def test_bad_value(self):
        self.value += 1
        assert self.value == 10


class TestPlain:
    def test_ok_plain(self):
        assert TestCounter.START == 10
