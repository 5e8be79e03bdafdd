"""``mpharness devices``: matching rig boards to ports, and what probing may touch.

Ports come from a fake lister (pure data, no hardware); probes go to a recording fake, except
in the last test, where the "attached board" is a real unix virtual board on a pty.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from mpharness.errors import ConnectError
from mpharness.rigs.boardspec import BoardSpec
from mpharness.rigs.discovery import format_devices, list_devices, port_for_url
from mpharness.rigs.rig import Rig
from mpharness.transports import open_transport
from mpharness.transports.ports import list_serial_ports
from mpharness.transports.usb_ports import resolve_usb_serial
from tests.conftest import require_virtual_board


def _port(device: str, serial: str | None, vid: int | None = 0x2E8A, pid: int = 5) -> Any:
    return SimpleNamespace(
        device=device,
        vid=vid,
        pid=pid if vid is not None else None,
        serial_number=serial,
        description="Board in FS mode",
        location="1-1:1.0",
    )


PORTS = [
    _port("/dev/ttyACM0", "E6614103E7452D2F"),
    _port("/dev/ttyACM1", "F412FA5A92480000"),
    _port("/dev/ttyUSB0", "0001", vid=0x10C4, pid=0xEA60),
    _port("/dev/ttyS0", None, vid=None),
]


def lister() -> list[Any]:
    return list(PORTS)


class RecordingProber:
    """Stands in for opening a board: answers from a table of port -> uid, records calls."""

    def __init__(self, uids: dict[str, str]) -> None:
        self.uids = uids
        self.opened: list[str] = []

    def __call__(self, spec: BoardSpec) -> dict[str, Any]:
        url = spec.urls[0]
        self.opened.append(url)
        return {
            "implementation": "micropython",
            "version": "1.24.1",
            "firmware": "v1.24.1 on 2024-11-29",
            "uid": self.uids.get(url),
        }


def _rig(*specs: BoardSpec) -> Rig:
    return Rig.from_specs(list(specs))


def _by_name(rows: list[Any]) -> dict[str, Any]:
    return {row.name if row.name != "-" else row.url: row for row in rows}


def test_ports_sorted_usb_first_from_a_fake_lister() -> None:
    devices = [p.device for p in list_serial_ports(lister)]
    assert devices == ["/dev/ttyACM0", "/dev/ttyACM1", "/dev/ttyUSB0", "/dev/ttyS0"]


def test_usb_serial_url_names_the_port_with_that_serial_number() -> None:
    ports = list_serial_ports(lister)
    port, how = port_for_url("usb-serial:f412fa5a92480000", ports)
    assert (port.device if port else None, how) == ("/dev/ttyACM1", "usb-serial")
    assert port_for_url("usb-serial:NOPE", ports) == (None, "")
    assert port_for_url("unix:", ports) == (None, "")
    assert resolve_usb_serial("0001", lister) == "/dev/ttyUSB0"
    assert resolve_usb_serial("", lister) is None


def test_rig_boards_are_marked_on_their_ports_without_probing() -> None:
    rig = _rig(
        BoardSpec(name="pico", urls=("usb-serial:E6614103E7452D2F",)),
        BoardSpec(name="esp32", urls=("/dev/ttyUSB0",)),
        BoardSpec(name="gone", urls=("/dev/ttyACM9",)),
    )
    prober = RecordingProber({})
    rows = list_devices(rig=rig, lister=lister, prober=prober)
    table = _by_name(rows)
    assert table["pico"].port.device == "/dev/ttyACM0"
    assert "usb-serial" in table["pico"].note
    assert table["esp32"].port.device == "/dev/ttyUSB0"
    assert table["gone"].port is None
    assert set(table) == {"pico", "esp32", "gone", "/dev/ttyACM1", "/dev/ttyS0"}  # unclaimed
    assert prober.opened == []
    text = format_devices(rows)
    assert "usb-serial:E6614103E7452D2F -> /dev/ttyACM0" in text
    assert "2e8a:0005" in text


def test_probe_touches_only_ports_the_rig_names() -> None:
    rig = _rig(
        BoardSpec(name="pico", urls=("usb-serial:E6614103E7452D2F",)),
        BoardSpec(name="gone", urls=("/dev/ttyACM9",)),
        BoardSpec(name="sim", urls=("unix:",)),
    )
    prober = RecordingProber({"/dev/ttyACM0": "e6614103e7452d2f"})
    rows = list_devices(probe=True, rig=rig, lister=lister, prober=prober)
    assert sorted(prober.opened) == ["/dev/ttyACM0", "unix:"]  # never ACM1, USB0, S0, ACM9
    pico = _by_name(rows)["pico"]
    assert pico.probe["uid"] == "e6614103e7452d2f"
    text = format_devices(rows)
    assert "micropython 1.24.1" in text and "uid=e6614103e7452d2f" in text


def test_uid_board_is_found_among_rig_ports_only() -> None:
    """A uid-only board whose board sits on a port no rig entry names is not searched there."""
    rig = _rig(
        BoardSpec(name="a", urls=("/dev/ttyACM0",)),
        BoardSpec(name="by-uid", uid="01:23:45:67"),
        BoardSpec(name="elsewhere", urls=("uid:AABBCCDD",)),
    )
    uids = {"/dev/ttyACM0": "01234567", "/dev/ttyACM1": "aabbccdd"}
    prober = RecordingProber(uids)
    rows = _by_name(list_devices(probe=True, rig=rig, lister=lister, prober=prober))
    assert prober.opened == ["/dev/ttyACM0"]
    assert rows["by-uid"].port.device == "/dev/ttyACM0"
    assert rows["by-uid"].note == "found by uid"
    assert rows["elsewhere"].port is None
    assert "not found" in rows["elsewhere"].note


def test_probe_all_opens_unnamed_ports_and_finds_uid_boards() -> None:
    rig = _rig(BoardSpec(name="elsewhere", urls=("uid:AABBCCDD",)))
    prober = RecordingProber({"/dev/ttyACM1": "aabbccdd"})
    rows = list_devices(probe=True, probe_all=True, rig=rig, lister=lister, prober=prober)
    assert sorted(prober.opened) == sorted(p.device for p in PORTS if p.vid is not None)
    table = _by_name(rows)
    assert table["elsewhere"].port.device == "/dev/ttyACM1"
    assert "/dev/ttyACM1" not in table  # shown once, as the rig board
    assert len(rows) == len(PORTS)


def test_uid_mismatch_is_reported() -> None:
    rig = _rig(BoardSpec(name="a", urls=("/dev/ttyACM0",), uid="11111111"))
    prober = RecordingProber({"/dev/ttyACM0": "22222222"})
    rows = _by_name(list_devices(probe=True, rig=rig, lister=lister, prober=prober))
    assert "uid mismatch" in rows["a"].note


def test_failed_probe_is_a_note_not_an_exception() -> None:
    def failing(spec: BoardSpec) -> dict[str, Any]:
        raise ConnectError(f"port {spec.urls[0]} is busy (opened by another program)")

    rig = _rig(BoardSpec(name="a", urls=("/dev/ttyACM0",)))
    rows = _by_name(list_devices(probe=True, rig=rig, lister=lister, prober=failing))
    assert "probe failed" in rows["a"].note and "busy" in rows["a"].note


def test_open_transport_usb_serial_without_such_port() -> None:
    with pytest.raises(ConnectError, match="no attached serial port has USB serial number"):
        open_transport("usb-serial:NO-SUCH-SERIAL-42")


def test_probe_a_real_board_behind_a_listed_port() -> None:
    """The default prober against a unix virtual board on a pty listed with a serial number."""
    require_virtual_board("unix")
    from mpharness.virtual.pty_bridge import PtyBridge

    with PtyBridge(open_transport("unix:")) as bridge:
        try:
            fake = [_port(bridge.slave_path, "VIRT0001")]
            rig = _rig(BoardSpec(name="sim", urls=("usb-serial:VIRT0001",)))
            rows = list_devices(probe=True, rig=rig, lister=lambda: fake)
        finally:
            bridge.transport.close()
    (row,) = rows
    assert row.port is not None and row.port.device == fake[0].device
    assert row.probe["implementation"] == "micropython", row.note
    assert row.probe["firmware"]
    assert row.probe["uid"] is None  # the unix port has no machine.unique_id()


def test_probe_status_per_board(tmp_path: Any) -> None:
    """reachable / not found / busy (holder) / no answer / cannot open / error, in a STATUS
    column."""
    import os
    import pty

    from mpharness.errors import BoardBusy, BoardTimeout, ConfigError

    master, slave = pty.openpty()
    held = os.ttyname(slave)  # a port this process holds open, as screen or mpremote would
    ports = [*PORTS, _port(held, "HELD0001")]

    def prober(spec: BoardSpec) -> dict[str, Any]:
        url = spec.urls[0]
        if url == "/dev/ttyACM1":
            raise BoardBusy(
                "board 'leased' is busy",
                key="k",
                holder={"pid": 4242, "host": "lab1", "purpose": "pytest"},
            )
        if url == "/dev/ttyUSB0":
            raise BoardTimeout("enter raw REPL", 8.0)
        if url == held:
            raise ConnectError(f"port {url} is busy (opened by another program)")
        if url == "/dev/ttyS0":
            raise ConnectError("permission denied opening /dev/ttyS0")
        if url == "ws://h:8266":
            raise ConfigError("rig.yaml:3: boards.wifi.password: variable 'PW' is not set")
        return {"implementation": "micropython", "version": "1.24.1", "uid": None}

    rig = _rig(
        BoardSpec(name="ok", urls=("/dev/ttyACM0",)),
        BoardSpec(name="leased", urls=("/dev/ttyACM1",)),
        BoardSpec(name="silent", urls=("/dev/ttyUSB0",)),
        BoardSpec(name="held", urls=("usb-serial:HELD0001",)),
        BoardSpec(name="denied", urls=("/dev/ttyS0",)),
        BoardSpec(name="unplugged", urls=("/dev/ttyACM9",)),
        BoardSpec(name="by-uid", uid="0badf00d"),
        BoardSpec(name="wifi", urls=("ws://h:8266",)),
    )
    try:
        rows = list_devices(probe=True, rig=rig, lister=lambda: ports, prober=prober)
    finally:
        os.close(master)
        os.close(slave)
    status = {name: row.status for name, row in _by_name(rows).items() if row.name != "-"}
    assert status["ok"] == "reachable"
    assert status["leased"] == "busy (PID 4242 on lab1, pytest)"
    assert status["silent"] == "no answer"
    assert status["held"].startswith(f"busy (open in PID {os.getpid()} (")
    assert status["denied"] == "cannot open"
    assert "permission denied" in _by_name(rows)["denied"].note
    assert status["unplugged"] == "not found"
    assert status["by-uid"] == "not found"
    assert status["wifi"] == "error" and "'PW' is not set" in _by_name(rows)["wifi"].note
    text = format_devices(rows)
    header, *lines = text.splitlines()
    assert header.split()[:3] == ["BOARD", "URL/PORT", "STATUS"]
    unplugged = next(line for line in lines if line.startswith("unplugged"))
    assert unplugged.split()[:4] == ["unplugged", "/dev/ttyACM9", "not", "found"]


def test_no_status_column_without_probing() -> None:
    rig = _rig(BoardSpec(name="gone", urls=("/dev/ttyACM9",)))
    rows = list_devices(rig=rig, lister=lister, prober=RecordingProber({}))
    assert rows[0].status == ""
    assert "STATUS" not in format_devices(rows)
