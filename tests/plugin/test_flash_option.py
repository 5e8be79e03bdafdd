"""``--board-flash``: a rig board's ``firmware`` is flashed once, before the first board test.

esptool is replaced by the recording fake of tests/flash (no hardware here); the board itself
is a real unix board exposed on a pty under a serial-port-like name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_mpharness import session

from mpharness.transports import open_transport
from mpharness.virtual.pty_bridge import PtyBridge
from tests.flash.test_flash import NEW, OLD, FakeEsptool, Port, Probe, esp_image
from tests.plugin.helpers import QUIET, need

TESTS = """
import pytest

@pytest.mark.on_board
def test_one():
    assert 1 + 1 == 2

@pytest.mark.on_board
def test_two():
    assert 2 * 2 == 4
"""


@pytest.fixture
def rig_board(pytester: pytest.Pytester, tmp_path: Path) -> Iterator[Path]:
    """A rig file naming a 'serial' board with firmware; yields the rig path."""
    need("unix")
    transport = open_transport("unix:")
    link = tmp_path / "ttyACM0"
    with PtyBridge(transport, link_path=str(link)):
        (pytester.path / "fw.bin").write_bytes(esp_image(0))
        rig = pytester.path / "rig.yaml"
        rig.write_text(f"boards:\n  bench:\n    url: {link}\n    firmware: fw.bin\n")
        yield rig
    transport.close()


def _tools(monkeypatch: pytest.MonkeyPatch, link: str) -> tuple[FakeEsptool, Probe]:
    fake, probe = FakeEsptool(), Probe(OLD, NEW)
    monkeypatch.setattr(
        session,
        "FLASH_TOOLS",
        {"esptool": fake, "probe": probe, "port_lister": lambda: [Port(link)]},
    )
    return fake, probe


def test_flashes_once_before_the_first_board_test(
    pytester: pytest.Pytester, rig_board: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = rig_board.read_text().split("url: ", 1)[1].split("\n", 1)[0]
    fake, _ = _tools(monkeypatch, link)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest(
        "--device", "bench", "--rig", str(rig_board), "--board-flash", *QUIET
    )
    result.assert_outcomes(passed=2)
    assert [call[0] for call in fake.calls].count("write_flash") == 1
    result.stdout.fnmatch_lines(["*board 'bench': flashed*"])


def test_never_flashes_without_the_option(
    pytester: pytest.Pytester, rig_board: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = rig_board.read_text().split("url: ", 1)[1].split("\n", 1)[0]
    fake, probe = _tools(monkeypatch, link)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("--device", "bench", "--rig", str(rig_board), *QUIET)
    result.assert_outcomes(passed=2)
    assert fake.calls == []
    assert probe.asked == []
