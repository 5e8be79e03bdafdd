"""``--board-flash``: a rig board's ``firmware`` is flashed once, before the first board test.

esptool is replaced by the recording fake of tests/flash (no hardware here); the board itself
is a real unix board exposed on a pty under a serial-port-like name. Under pytest-xdist the
controller flashes the pool before starting the workers (the fake there records its calls in
a file all the processes share).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
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


# ---------------------------------------------------------------------------- pytest-xdist
#: The inner run's conftest (controller and workers import it): an esptool fake and a probe
#: whose "board firmware" is the shared call file, so every process sees what was flashed.
XDIST_CONFTEST = """
import os
import time
from pathlib import Path

from pytest_mpharness import session

CALLS = Path(__file__).with_name("flash_calls.txt")
PORTS = {ports!r}


def record(what, port):
    with CALLS.open("a") as calls:
        calls.write(f"{{os.getpid()}} {{what}} {{port}}\\n")


class Esp:
    CHIP_NAME = {chip!r}

    def __init__(self, port):
        self.port = port

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


class Esptool:
    def detect_chip(self, port, baud):
        return Esp(port)

    def run_stub(self, esp):
        return esp

    def attach_flash(self, esp):
        pass

    def write_flash(self, esp, addr_data):
        time.sleep(0.2)  # writing takes a while: racing workers would overlap here
        record("write_flash", esp.port)

    def reset_chip(self, esp, mode):
        pass


def probe(target):
    port = PORTS.get(target, target)
    record("probe", port)
    written = CALLS.read_text().splitlines()
    return {new!r} if any(line.endswith(f" write_flash {{port}}") for line in written) else {old!r}


session.FLASH_TOOLS = {{"esptool": Esptool(), "probe": probe, "port_lister": lambda: []}}
"""

XDIST_TESTS = "\n".join(
    f"@pytest.mark.on_board\ndef test_{n}():\n    assert {n} + 1 == {n + 1}\n" for n in range(4)
)


@pytest.fixture
def pool_rig(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Two rig boards u1, u2 (unix boards on ptys) with firmware; yields name -> port."""
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    need("unix")
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("MPHARNESS_LEASE_WAIT_S", raising=False)
    (pytester.path / "fw.bin").write_bytes(esp_image(0))
    ports = {name: str(tmp_path / f"ttyACM{n}") for n, name in enumerate(("u1", "u2"))}
    rig = "boards:\n" + "".join(
        f"  {name}:\n    url: {port}\n    firmware: fw.bin\n" for name, port in ports.items()
    )
    (pytester.path / "rig.yaml").write_text(rig)
    pytester.makepyfile("import pytest\n\n" + XDIST_TESTS)
    with ExitStack() as stack:
        for port in ports.values():
            transport = open_transport("unix:")
            stack.callback(transport.close)
            stack.enter_context(PtyBridge(transport, link_path=port))
        yield ports


def _run_xdist(pytester: pytest.Pytester, ports: dict[str, str], chip: str) -> pytest.RunResult:
    conftest = XDIST_CONFTEST.format(ports=ports, chip=chip, old=OLD, new=NEW)
    (pytester.path / "conftest.py").write_text(conftest)
    return pytester.runpytest_subprocess(
        "--device", "u1,u2", "--rig", "rig.yaml", "--board-flash", "-n", "2", *QUIET
    )


def _calls(pytester: pytest.Pytester) -> list[tuple[str, str, str]]:
    text = (pytester.path / "flash_calls.txt").read_text()
    return [tuple(line.split(" ", 2)) for line in text.splitlines()]  # type: ignore[misc]


def test_xdist_flashes_each_pool_board_once_before_the_workers(
    pytester: pytest.Pytester, pool_rig: dict[str, str]
) -> None:
    result = _run_xdist(pytester, pool_rig, "ESP32")
    result.assert_outcomes(passed=4)
    calls = _calls(pytester)
    writes = sorted(port for _, what, port in calls if what == "write_flash")
    assert writes == sorted(pool_rig.values())  # each board exactly once
    assert len({pid for pid, _, _ in calls}) == 1  # one process (the controller) did it all
    result.stdout.fnmatch_lines(["*board 'u1': flashed*", "*board 'u2': flashed*"])
    again = _run_xdist(pytester, pool_rig, "ESP32")  # the boards run that build now
    again.assert_outcomes(passed=4)
    assert len([c for c in _calls(pytester) if c[1] == "write_flash"]) == 2
    again.stdout.fnmatch_lines(["*board 'u1': not flashed, already runs*"])


def test_xdist_flash_failure_errors_every_workers_board_tests(
    pytester: pytest.Pytester, pool_rig: dict[str, str]
) -> None:
    result = _run_xdist(pytester, pool_rig, "ESP32-S3")  # fw.bin is built for ESP32
    result.assert_outcomes(errors=4)
    assert "write_flash" not in (pytester.path / "flash_calls.txt").read_text()
    result.stdout.fnmatch_lines(
        ["*cannot flash board 'u1': ConfigError: fw.bin is built for ESP32, the board is*"]
    )
