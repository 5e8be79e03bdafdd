"""``mpharness flash``: write MicroPython firmware to an ESP board with esptool's Python API.

Theory of operation
-------------------
1. Read the firmware file: the MicroPython banner it embeds (``MicroPython v1.24.1 on
   2024-11-29``, the same text ``sys.version`` ends with on the board) and, for ESP32-family
   images (magic ``0xE9`` at offset 0), the chip id of the image's extended header.
2. Lease the board (waiting up to ``lease_wait_s`` while another session holds it) and keep
   the lease until the end, so no session talks to it while it is probed, written and checked,
   and a second flasher that waited finds the new build and writes nothing.
   Dry probe: open the board without a soft reset and read ``sys.version``. If it names the same
   build, nothing is written (unless ``force``). A board that does not answer (blank, broken
   firmware) is flashed.
3. Note the port's USB identity (serial number, VID:PID) while it is still listed.
4. esptool, through :mod:`esptool.cmds` (the module boundary tests replace): ``detect_chip``
   (reset into the ROM bootloader), refuse an image built for another chip, ``run_stub``,
   ``attach_flash``, optional ``erase_flash``, ``write_flash`` at the chip's usual address
   (0x1000 on ESP32/ESP32-S2, 0x2000 on ESP32-P4, 0 elsewhere), ``reset_chip("hard-reset")``.
5. Reconnect: native-USB boards re-enumerate, possibly under a new name; the port is found again
   by its USB serial number (:mod:`mpharness.transports.usb_ports`), waiting for ``/dev`` changes.
6. Verify: probe ``sys.version`` again (retrying while the board boots) and compare it with the
   firmware's banner.

Only the decision logic and the esptool call sequence are tested (with a fake esptool module);
none of this has been run against real hardware yet.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpharness.connect import open_board, open_leased, resolve_board
from mpharness.deadline import Deadline
from mpharness.errors import ConfigError, MPHarnessError
from mpharness.sharing import leases
from mpharness.sharing.board_pool import lease_keys
from mpharness.transports import url_scheme
from mpharness.transports.usb_ports import (
    DeviceWatcher,
    PortLister,
    find_port,
    identify,
    port_info,
    system_ports,
)

if TYPE_CHECKING:
    from mpharness.rigs.boardspec import BoardSpec
    from mpharness.rigs.rig import Rig

__all__ = [
    "FirmwareImage",
    "FlashError",
    "FlashResult",
    "flash_address",
    "flash_board",
    "probe_version",
    "read_firmware",
    "version_of",
]

log = logging.getLogger(__name__)

ESP_IMAGE_MAGIC = 0xE9
_CHIP_ID_OFFSET = 12  #: u16 LE chip id in the extended header of an ESP32-family image
#: esptool chip names by image chip id (esp-idf ``esp_chip_id_t``)
IMAGE_CHIPS = {
    0: "ESP32",
    2: "ESP32-S2",
    5: "ESP32-C3",
    9: "ESP32-S3",
    12: "ESP32-C2",
    13: "ESP32-C6",
    16: "ESP32-H2",
    18: "ESP32-P4",
}
#: where MicroPython's firmware.bin goes, by chip; 0 for the others
FLASH_ADDRESSES = {"ESP32": 0x1000, "ESP32-S2": 0x1000, "ESP32-P4": 0x2000}
#: ``MicroPython TAG on DATE``; TAG is a version (``v1.24.1``, ``v1.25.0-preview.49.g1a2b3c4``) or,
#: for builds not made from a tag, a bare git hash (the PyPI unix port: ``9458e3a23f``)
_BANNER = re.compile(rb"MicroPython ([\x21-\x3a\x3c-\x7e]{4,}) on (\d{4}-\d{2}-\d{2})")
PROBE_TIMEOUT = 5.0  #: s for one dry probe of sys.version


class FlashError(MPHarnessError):
    """Flashing failed, or the board did not come back with the new firmware."""


@dataclass(frozen=True)
class FirmwareImage:
    """What a firmware file says about itself."""

    path: Path
    version: str | None  #: ``MicroPython v1.24.1 on 2024-11-29``, or None if not found
    chip: str | None  #: esptool chip name from an ESP32-family image header


@dataclass(frozen=True)
class FlashResult:
    """What :func:`flash_board` did."""

    action: str  #: ``"skipped"`` (same firmware) or ``"flashed"``
    port: str  #: where the board is now (may differ after re-enumeration)
    chip: str | None
    before: str | None  #: ``sys.version`` before (None: the board did not answer)
    after: str | None  #: ``sys.version`` after flashing


def version_of(text: str | bytes) -> str | None:
    """The ``MicroPython TAG on DATE`` build name in a ``sys.version`` or a firmware file."""
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    match = _BANNER.search(data)
    if match is None:
        return None
    return f"MicroPython {match.group(1).decode()} on {match.group(2).decode()}"


def read_firmware(path: str | Path) -> FirmwareImage:
    """Read a firmware file's build name and target chip.

    Raises:
        ConfigError: the file cannot be read or is empty.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read firmware {path}: {exc.strerror}") from exc
    if not data:
        raise ConfigError(f"firmware {path} is empty")
    chip = None
    if data[0] == ESP_IMAGE_MAGIC and len(data) > _CHIP_ID_OFFSET + 1:
        chip = IMAGE_CHIPS.get(
            int.from_bytes(data[_CHIP_ID_OFFSET : _CHIP_ID_OFFSET + 2], "little")
        )
    return FirmwareImage(path, version_of(data), chip)


def flash_address(chip: str) -> int:
    """Where MicroPython's ``firmware.bin`` is written on ``chip``."""
    return FLASH_ADDRESSES.get(chip.upper(), 0)


def probe_version(
    url: str,
    timeout: float = PROBE_TIMEOUT,
    *,
    rig: Rig | Sequence[str] | None = None,
    lease: bool = True,
) -> str | None:
    """The board's ``sys.version``, or None when it does not answer (no soft reset).

    Args:
        url: rig name or URL of the board.
        timeout: seconds for opening the board and the answer.
        rig: a loaded rig or rig file paths.
        lease: take the board's lease (False: the caller holds it).
    """
    try:
        if lease:
            board = open_board(
                url, rig=rig, timeout=timeout, soft_reset=False, purpose="flash probe"
            )
        else:
            board = open_leased(resolve_board(url, rig), [], timeout=timeout, soft_reset=False)
        with board:
            return str(board.eval("__import__('sys').version", timeout=timeout))
    except MPHarnessError as err:
        log.info("%s did not answer the probe: %s", url, err)
        return None


#: s for a flashed board to come back and answer (flash_board's default ``timeout``)
FLASH_BACK_S = 60.0


def _load_esptool() -> Any:
    try:
        return importlib.import_module("esptool.cmds")
    except ImportError as exc:
        raise ConfigError("flashing needs esptool: pip install 'esptool>=5'") from exc


def flash_board(
    name_or_url: str,
    firmware: str | Path,
    *,
    erase: bool = False,
    force: bool = False,
    address: int | None = None,
    baudrate: int = 460800,
    rig: Rig | Sequence[str] | None = None,
    timeout: float = FLASH_BACK_S,
    lease_wait_s: float | None = -1.0,
    esptool: Any = None,
    probe: Callable[[str], str | None] | None = None,
    port_lister: PortLister = system_ports,
    quiet: bool = False,
) -> FlashResult:
    """Flash ``firmware`` onto a board unless it already runs that build (see module docstring).

    Args:
        name_or_url: rig name or serial port / ``rfc2217://`` URL of an ESP board.
        firmware: the firmware file (``firmware.bin``).
        erase: erase the whole flash first (also wipes the board's filesystem).
        force: flash even when the board reports the same build.
        address: flash offset (default: by chip, see :func:`flash_address`).
        baudrate: esptool's speed for the transfer.
        rig: a loaded rig or rig file paths.
        timeout: seconds for the board to come back and answer after the reset.
        lease_wait_s: seconds to wait while another session holds the board (None: for ever;
            default ``$MPHARNESS_LEASE_WAIT_S``, else 0: fail at once).
        esptool: the ``esptool.cmds`` API (tests pass a fake).
        probe: reads ``sys.version`` from a board URL or name, None when it does not answer
            (default: :func:`probe_version` without a lease of its own).
        port_lister: lists serial ports (tests pass a fake).
        quiet: silence esptool's own output (its progress bar and stage lines) while it runs,
            e.g. when the output is not a terminal; its errors still raise FlashError.

    Raises:
        ConfigError: unreadable firmware, no esptool, a board that is not a serial port, or an
            image built for another chip.
        BoardBusy: another session held the board for ``lease_wait_s`` seconds.
        FlashError: esptool failed, or the board did not come back with the new firmware.
    """
    image = read_firmware(firmware)
    spec = resolve_board(name_or_url, rig)
    if probe is None:
        probe = functools.partial(probe_version, rig=rig, lease=False)
    wait = leases.wait_from_env(0.0) if lease_wait_s == -1.0 else lease_wait_s
    held = leases.acquire_all(lease_keys(spec), wait_s=wait, purpose="flashing")
    try:
        return _flash_leased(
            spec,
            name_or_url,
            image,
            probe,
            erase=erase,
            force=force,
            address=address,
            baudrate=baudrate,
            timeout=timeout,
            esptool=esptool,
            port_lister=port_lister,
            quiet=quiet,
        )
    finally:
        for lease in held:
            lease.release()


def _flash_leased(
    spec: BoardSpec,
    name_or_url: str,
    image: FirmwareImage,
    probe: Callable[[str], str | None],
    *,
    erase: bool,
    force: bool,
    address: int | None,
    baudrate: int,
    timeout: float,
    esptool: Any,
    port_lister: PortLister,
    quiet: bool = False,
) -> FlashResult:
    """:func:`flash_board`'s steps once the board is leased."""
    port = spec.urls[0]
    before = probe(name_or_url)
    if not force and image.version and before and version_of(before) == image.version:
        log.info("%s already runs %s: not flashed", spec.name, image.version)
        return FlashResult("skipped", port, None, before, before)
    if url_scheme(port) not in (None, "rfc2217"):
        raise ConfigError(f"cannot flash {spec.name!r} through {port}: esptool needs a serial port")
    identity = identify(port_info(port, port_lister)) if url_scheme(port) is None else None
    api = esptool if esptool is not None else _load_esptool()
    with _esptool_verbosity(api, "silent" if quiet else None):
        chip = _write(api, port, image, erase=erase, address=address, baudrate=baudrate)
    deadline = Deadline.after(timeout)
    if identity is not None:
        port = _find_again(identity, port, deadline, port_lister)
    after = _verify(probe, port if port != spec.urls[0] else name_or_url, image, deadline)
    return FlashResult("flashed", port, chip, before, after)


@contextlib.contextmanager
def _esptool_verbosity(api: Any, verbosity: str | None) -> Iterator[None]:
    """esptool's logger (``esptool.cmds.log``) at ``verbosity`` for a while (None: unchanged);
    back to esptool's default, ``auto``, afterwards."""
    logger = getattr(api, "log", None)
    if verbosity is None or logger is None or not hasattr(logger, "set_verbosity"):
        yield
        return
    logger.set_verbosity(verbosity)
    try:
        yield
    finally:
        logger.set_verbosity("auto")


def _write(
    api: Any, port: str, image: FirmwareImage, *, erase: bool, address: int | None, baudrate: int
) -> str:
    """Run esptool's steps; returns the detected chip name."""
    try:
        esp = api.detect_chip(port, baudrate)
    except Exception as exc:  # esptool raises its own FatalError and serial errors
        raise FlashError(f"esptool could not talk to the bootloader on {port}: {exc}") from exc
    with esp:
        chip = str(esp.CHIP_NAME)
        if image.chip and chip.startswith("ESP32") and image.chip != chip:
            raise ConfigError(f"{image.path.name} is built for {image.chip}, the board is {chip}")
        where = flash_address(chip) if address is None else address
        log.info("flashing %s (%s) at 0x%x on %s", image.path.name, chip, where, port)
        try:
            esp = api.run_stub(esp)
            api.attach_flash(esp)
            if erase:
                api.erase_flash(esp)
            api.write_flash(esp, [(where, str(image.path))])
            api.reset_chip(esp, "hard-reset")
        except Exception as exc:
            raise FlashError(f"esptool failed on {port} ({chip}): {exc}") from exc
    return chip


def _find_again(identity: Any, port: str, deadline: Deadline, lister: PortLister) -> str:
    """The port's name after the reset (native USB re-enumerates; the name may change)."""
    with DeviceWatcher() as watcher:
        while True:
            found = find_port(identity, lister)
            if found is not None:
                if found != port:
                    log.info("%s came back as %s", identity, found)
                return found
            if deadline.expired():
                raise FlashError(f"the board with {identity} did not come back after flashing")
            watcher.wait(deadline)


def _verify(
    probe: Callable[[str], str | None], target: str, image: FirmwareImage, deadline: Deadline
) -> str:
    """Probe until the board answers; its build must be the firmware's (when that is known)."""
    with DeviceWatcher() as watcher:
        while True:
            after = probe(target)
            if after is not None:
                break
            if deadline.expired():
                raise FlashError(f"{target} did not answer after flashing")
            watcher.wait(deadline)
    if image.version and version_of(after) != image.version:
        raise FlashError(f"{target} reports {after!r} after flashing {image.version}")
    return after
