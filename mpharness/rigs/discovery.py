"""``mpharness devices``: rig boards beside attached serial ports.

Theory of operation
-------------------
The attached ports come from pyserial's ``list_ports`` (or a stand-in lister, for tests). Each
rig board is matched to a port by one of its URLs: a path (or a symlink to it, e.g.
``/dev/serial/by-id/...``), or ``usb-serial:SERIAL``, the port whose USB serial number is
SERIAL (so the board is found again after re-plugging under another name).

Probing (``probe=True``) opens boards and asks them for ``sys.implementation``, the firmware
version and ``machine.unique_id()``. It touches only what the rig names: rig boards whose port
is attached, and rig boards on non-serial links (virtual boards, WebREPL, network ports). A
board the rig knows only by ``uid`` (no URL, or ``uid:HEX``) is found among the probed ports by
its unique id. Ports that no rig entry names are opened only with ``probe_all=True``: an unknown
port might be a modem or a board in the middle of being flashed, and entering the raw REPL sends
Ctrl-C to whatever runs there. Even then ports without USB ids (built-in UARTs) are skipped.

When probing, every rig board gets a status: ``reachable`` (it answered), ``not found`` (its
port is not attached, or no probed port has its uid), ``busy (...)`` (another mpharness session
holds its lease, or another program has its port open: the holder is named, from the lease
record or from ``/proc/*/fd`` on Linux), ``no answer`` (opened, but the raw REPL did not answer
in time), ``cannot open`` (any other connection failure, e.g. permissions) or ``error`` (e.g.
an unset variable in the rig entry); the reason of a failure is in the row's note.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mpharness.errors import (
    BoardBroken,
    BoardBusy,
    BoardTimeout,
    ConnectError,
    MPHarnessError,
    ProtocolError,
    TransportError,
)
from mpharness.transports.ports import SerialPortInfo, list_serial_ports
from mpharness.transports.usb_ports import PortLister

if TYPE_CHECKING:
    from mpharness.rigs.rig import BoardSpec, Rig

__all__ = [
    "UID_SCHEME",
    "USB_SERIAL_SCHEME",
    "DeviceRow",
    "Prober",
    "format_devices",
    "list_devices",
    "port_for_url",
    "port_holders",
    "probe_board",
]

USB_SERIAL_SCHEME = "usb-serial:"
UID_SCHEME = "uid:"
PROBE_TIMEOUT = 8.0  #: s to open a board and read its facts
#: Probe statuses (``busy`` and ``cannot open`` carry details after them).
REACHABLE, NOT_FOUND, BUSY, NO_ANSWER, CANNOT_OPEN, ERROR = (
    "reachable",
    "not found",
    "busy",
    "no answer",
    "cannot open",
    "error",
)

#: Reads a board's facts: given a spec whose first URL is the link to use.
Prober = Callable[["BoardSpec"], dict[str, Any]]

_FACTS_CODE = (
    "(lambda s,o:{'implementation':s.implementation.name,"
    "'version':'.'.join(str(v) for v in s.implementation.version),"
    "'firmware':o.uname().version if hasattr(o,'uname') else s.version,"
    "'platform':s.platform,'machine':getattr(s.implementation,'_machine','')})"
    "(__import__('sys'),__import__('os'))"
)
_UID_CODE = "__import__('binascii').hexlify(__import__('machine').unique_id()).decode()"


@dataclass
class DeviceRow:
    """One line of the listing.

    Attributes:
        name: the rig board's name, or ``-`` for a port no rig board names.
        url: the board's URL as the rig writes it (for a port: its device path).
        port: the attached port the board is on, if any.
        probe: what probing found (``implementation``, ``version``, ``firmware``, ``uid``...).
        note: how the port was matched, or why probing failed.
        status: with probing, ``reachable``, ``not found``, ``busy (holder)``, ``no answer``,
            ``cannot open`` or ``error``; empty when not probed.
    """

    name: str
    url: str
    port: SerialPortInfo | None = None
    probe: dict[str, object] = field(default_factory=dict)
    note: str = ""
    status: str = ""


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except OSError:
        return path


def port_for_url(url: str, ports: Sequence[SerialPortInfo]) -> tuple[SerialPortInfo | None, str]:
    """The attached port a URL names, and how (``path`` or ``usb-serial``); (None, "") if none."""
    if url.lower().startswith(USB_SERIAL_SCHEME):
        wanted = url[len(USB_SERIAL_SCHEME) :].strip().lower()
        for port in ports:
            if port.serial_number and port.serial_number.lower() == wanted:
                return port, "usb-serial"
        return None, ""
    if not url.startswith(("/", "\\")) and ":" in url and not _is_com(url):
        return None, ""  # a URL (unix:, ws://, socket://...), not a port path
    real = _real(url)
    for port in ports:
        if _real(port.device) == real or (os.name == "nt" and port.device.upper() == url.upper()):
            return port, "path"
    return None, ""


def _is_com(text: str) -> bool:
    head = text.rstrip(":").upper()
    return head.startswith("COM") and head[3:].isdigit()


def _uid_of(spec: BoardSpec) -> str | None:
    """The uid a board is to be found by: ``uid:HEX`` among its URLs, else a URL-less uid."""
    for url in spec.urls:
        if url.lower().startswith(UID_SCHEME):
            return url[len(UID_SCHEME) :]
    return spec.uid if not spec.urls else None


def _needs_port(url: str) -> bool:
    """Whether a URL addresses a local serial port (probed only when attached)."""
    lowered = url.lower()
    return lowered.startswith((USB_SERIAL_SCHEME, UID_SCHEME, "/", "\\")) or _is_com(url)


def list_devices(
    rig_paths: Sequence[str] | None = None,
    probe: bool = False,
    probe_all: bool = False,
    *,
    rig: Rig | None = None,
    lister: PortLister | None = None,
    prober: Prober | None = None,
) -> list[DeviceRow]:
    """Rig boards (with their port when attached) followed by the ports no rig board names.

    Args:
        rig_paths: rig files (default: the usual search); ignored when ``rig`` is given.
        probe: open the boards the rig names and read their facts.
        probe_all: with ``probe``, also open ports that no rig board names.
        rig: an already loaded rig.
        lister: stand-in for ``serial.tools.list_ports.comports`` (tests).
        prober: stand-in for :func:`probe_board` (tests).
    """
    from mpharness.rigs.rig import Rig

    if rig is None:
        rig = Rig.load(list(rig_paths) if rig_paths else None)
    ports = list_serial_ports(lister)
    prober = prober or probe_board
    rows: list[DeviceRow] = []
    by_uid: list[tuple[BoardSpec, DeviceRow]] = []
    claimed: set[str] = set()
    for spec in rig:
        row = _rig_row(spec, ports, claimed)
        if _uid_of(spec) is not None and row.port is None:
            by_uid.append((spec, row))
        elif probe and (row.port is not None or not any(map(_needs_port, spec.urls))):
            _probe_into(row, spec, prober)
        elif probe:
            row.status = NOT_FOUND
        rows.append(row)
    free = [DeviceRow("-", p.device, p) for p in ports if p.device not in claimed]
    if probe and probe_all:
        for row in free:
            if row.port is not None and row.port.vid is None:  # a built-in UART, not a board
                row.note = "not probed: no USB ids"
                continue
            _probe_into(row, _port_spec(row.url), prober)
    for spec, row in by_uid:
        _find_by_uid(spec, row, rows + free, probe)
    return rows + [row for row in free if row.port is not None]


def _rig_row(spec: BoardSpec, ports: Sequence[SerialPortInfo], claimed: set[str]) -> DeviceRow:
    url = spec.url or f"{UID_SCHEME}{spec.uid}"
    for candidate in spec.urls:
        port, how = port_for_url(candidate, ports)
        if port is not None:
            claimed.add(port.device)
            note = "" if how == "path" else f"found by {how}"
            return DeviceRow(spec.name, url, port, note=note)
    return DeviceRow(spec.name, url)


def _port_spec(device: str) -> BoardSpec:
    from mpharness.rigs.rig import BoardSpec

    return BoardSpec(name=device, urls=(device,))


def _probe_into(row: DeviceRow, spec: BoardSpec, prober: Prober) -> None:
    """Probe the board of ``row`` through its port if attached, else through its own URL."""
    target = spec
    if row.port is not None:  # through the port found (a usb-serial: URL, a symlink)
        target = dataclasses.replace(spec, urls=(row.port.device,), uid=None)
    try:
        row.probe = prober(target)
    except MPHarnessError as err:
        row.status = _failure_status(err, target.urls[0] if target.urls else "")
        row.note = (row.note + "; " if row.note else "") + f"probe failed: {err}"
        return
    row.status = REACHABLE
    expected = spec.uid
    uid = row.probe.get("uid")
    if expected and uid and not _uid_equal(expected, str(uid)):
        row.note = (row.note + "; " if row.note else "") + f"uid mismatch: rig expects {expected}"


def _failure_status(err: MPHarnessError, url: str) -> str:
    """The status of a board whose probe raised ``err``."""
    if isinstance(err, BoardBusy):
        return f"{BUSY} ({_describe_lease_holder(err.holder)})"
    if isinstance(err, (BoardTimeout, ProtocolError, BoardBroken)):
        return NO_ANSWER
    if isinstance(err, ConnectError) and _needs_port(url):
        holders = port_holders(url)
        if holders:
            return f"{BUSY} (open in {', '.join(holders)})"
    if isinstance(err, TransportError):
        return CANNOT_OPEN  # the reason is in the row's note
    return ERROR


def _describe_lease_holder(holder: dict[str, object]) -> str:
    if not holder.get("pid"):
        return "another mpharness session"
    text = f"PID {holder['pid']} on {holder.get('host', '?')}"
    return text + (f", {holder['purpose']}" if holder.get("purpose") else "")


def port_holders(device: str, proc: str = "/proc") -> list[str]:
    """Processes that have ``device`` open, as ``PID 1234 (screen)`` (Linux; elsewhere [])."""
    target = _real(device)
    found = []
    try:
        pids = sorted((e for e in os.listdir(proc) if e.isdigit()), key=int)
    except OSError:
        return []
    for pid in pids:
        fd_dir = os.path.join(proc, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # gone, or another user's process
            continue
        if any(_link(os.path.join(fd_dir, fd)) == target for fd in fds):
            try:
                with open(os.path.join(proc, pid, "comm"), encoding="utf-8") as handle:
                    name = handle.read().strip()
            except OSError:
                name = "?"
            found.append(f"PID {pid} ({name})")
    return found


def _link(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:  # closed meanwhile
        return None


def _find_by_uid(spec: BoardSpec, row: DeviceRow, probed: list[DeviceRow], probe: bool) -> None:
    """Give a uid-only rig board the port whose probe reported its uid."""
    if not probe:
        row.note = "found by uid only when probing (--probe)"
        return
    uid = _uid_of(spec) or ""
    for other in probed:
        found = other.probe.get("uid")
        if other is not row and other.port is not None and found and _uid_equal(uid, str(found)):
            row.port, row.probe, row.note = other.port, other.probe, "found by uid"
            row.status = REACHABLE
            if other.name == "-":
                other.port = None  # the port now shows as this board's row
            return
    row.note = "not found among the probed ports"
    row.status = NOT_FOUND


def _uid_equal(a: str, b: str) -> bool:
    from mpharness.rigs.rig import BoardSpec

    return BoardSpec(name="-", uid=a).uid_matches(b)


def probe_board(spec: BoardSpec) -> dict[str, Any]:
    """Open the board ``spec`` describes (no soft reset) and read its facts.

    Returns:
        ``implementation``, ``version`` (sys.implementation), ``firmware`` (os.uname().version
        or sys.version), ``platform``, ``machine`` and ``uid`` (hex, None without
        ``machine.unique_id``).

    Raises:
        MPHarnessError: the board could not be opened or did not answer.
    """
    import mpharness
    from mpharness.rigs.rig import Rig

    rig = Rig.from_specs([spec])
    with mpharness.open_board(spec.name, rig=rig, timeout=PROBE_TIMEOUT, soft_reset=False) as board:
        facts: dict[str, Any] = dict(board.eval(_FACTS_CODE, timeout=3.0))
        try:
            facts["uid"] = board.eval(_UID_CODE, timeout=3.0)
        except MPHarnessError:
            facts["uid"] = None
        return facts


def format_devices(rows: list[DeviceRow]) -> str:
    """A plain-text table of ``rows`` (with a STATUS column when any row was probed)."""
    with_status = any(row.status for row in rows)
    header = ("BOARD", "URL/PORT", "VID:PID", "SERIAL", "DESCRIPTION")
    header = (*header[:2], "STATUS", *header[2:]) if with_status else header
    lines = [header]
    for row in rows:
        p = row.port
        desc = p.description if p else ""
        if row.probe:
            facts = row.probe
            desc = (
                f"{facts.get('implementation', '')} {facts.get('version', '')} "
                f"fw={facts.get('firmware', '')} uid={facts.get('uid')}"
            )
        url = row.url if p is None or p.device == row.url else f"{row.url} -> {p.device}"
        status = (row.status or "-",) if with_status else ()
        lines.append(
            (
                row.name,
                url,
                *status,
                p.vid_pid if p else "",
                (p.serial_number or "") if p else "",
                (desc + (" [" + row.note + "]" if row.note else "")).strip(),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "".join(
        "  ".join(col.ljust(w) for col, w in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in lines
    )
