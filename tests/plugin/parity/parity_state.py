import pytest

pytestmark = pytest.mark.on_board

LIMITS = {}
LIMITS["max"] = 5
REGS = []
REGS.append(0x10)
REGS.extend([0x11, 0x12])


class Sensor:
    ADDR = 0


Sensor.ADDR = 0x76
READY = False


def _setup():
    global READY
    READY = True


_setup()


def test_ok_state():
    assert LIMITS == {"max": 5}
    assert REGS == [0x10, 0x11, 0x12]
    assert Sensor.ADDR == 0x76
    assert READY


def test_bad_state():
    assert LIMITS["max"] == 6
