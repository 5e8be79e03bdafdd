"""``mpharness devices``: rig boards beside attached serial ports.

A port is matched to a rig board when a URL of the board is the port's path (or a symlink
to it, e.g. /dev/serial/by-id/...). Only with ``probe=True`` are ports opened, and then only
ports that a rig board names: an unknown port might be a modem or a board mid-flash.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from mpharness.errors import MPHarnessError
from mpharness.transports.ports import SerialPortInfo, list_serial_ports


@dataclass
class DeviceRow:
    """One line of the listing."""

    name: str
    url: str
    port: SerialPortInfo | None = None
    probe: dict[str, object] = field(default_factory=dict)
    note: str = ""


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except OSError:
        return path


def list_devices(rig_paths: Sequence[str] | None = None, probe: bool = False) -> list[DeviceRow]:
    """Rig boards (with their port when attached) followed by unclaimed serial ports."""
    from mpharness.rig import Rig

    rig = Rig.load(list(rig_paths) if rig_paths else None)
    ports = list_serial_ports()
    by_path = {_real(p.device): p for p in ports}
    rows: list[DeviceRow] = []
    claimed: set[str] = set()
    for spec in rig:
        url = spec.url or f"uid:{spec.uid}"
        port = next((by_path[_real(u)] for u in spec.urls if _real(u) in by_path), None)
        row = DeviceRow(spec.name, url, port)
        if port is not None:
            claimed.add(port.device)
        if probe and (port is not None or not url.startswith(("/", "uid:"))):
            row.probe, row.note = _probe(spec.name, rig_paths)
        rows.append(row)
    rows += [DeviceRow("-", p.device, p) for p in ports if p.device not in claimed]
    return rows


def _probe(name: str, rig_paths: Sequence[str] | None) -> tuple[dict[str, object], str]:
    import mpharness

    try:
        with mpharness.open_board(name, rig=rig_paths, timeout=8.0, soft_reset=False) as board:
            info = dict(board.info())
            try:
                info["uid"] = board.eval(
                    "__import__('binascii').hexlify(__import__('machine').unique_id()).decode()",
                    timeout=3.0,
                )
            except MPHarnessError:
                info["uid"] = None
            return info, ""
    except MPHarnessError as err:
        return {}, f"probe failed: {err}"


def format_devices(rows: list[DeviceRow]) -> str:
    """A plain-text table of ``rows``."""
    header = ("BOARD", "URL/PORT", "VID:PID", "SERIAL", "DESCRIPTION")
    lines = [header]
    for row in rows:
        p = row.port
        desc = p.description if p else ""
        if row.probe:
            desc = f"{row.probe.get('sys_version', '')} uid={row.probe.get('uid')}"
        lines.append(
            (
                row.name,
                row.url,
                p.vid_pid if p else "",
                (p.serial_number or "") if p else "",
                (desc + (" " + row.note if row.note else "")).strip(),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "".join(
        "  ".join(col.ljust(w) for col, w in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in lines
    )
