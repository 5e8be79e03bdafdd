"""DTR/RTS line sequences that reset boards, kept as data.

Theory of operation
-------------------
Many boards reset when the host toggles the serial port's DTR and RTS modem lines:
ESP boards behind a USB-UART bridge wire them through two transistors to EN (reset) and IO0
(boot mode), and the ESP32-C3/S3/C6 USB-Serial/JTAG block decodes the same line states in
hardware (protocols.md §4.1). With pyserial's convention (``True`` = line asserted):

* ``RTS=True, DTR=False``  -> EN low: the chip is held in reset;
* ``DTR=True, RTS=False``  -> IO0 low: boot mode, sampled only when EN rises;
* equal levels             -> no effect.

A sequence is a tuple of steps: :class:`SetLine` changes one line, :class:`Hold` keeps the
current levels for a while. :func:`apply_sequence` plays one on anything with settable ``dtr``
and ``rts`` attributes (a pyserial port, or a fake recording the order in tests). The pauses are
pulse widths, not polling, and a sequence always runs to its end once started: stopping half way
could leave the chip held in reset. Every sequence here ends with both lines asserted again, DTR
first, which is the state the port is opened in (USB-CDC firmware needs DTR; IO0 only matters at
the moment EN rises, so the brief ``DTR=1, RTS=0`` state on the way is harmless).

Add a new sequence by writing its steps below and listing it in :data:`SEQUENCES`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "CLASSIC_RESET",
    "HARD_RESET",
    "HARD_RESET_USB_JTAG",
    "SEQUENCES",
    "USB_JTAG_BOOTLOADER_RESET",
    "Hold",
    "LinePort",
    "ResetSequence",
    "SetLine",
    "apply_sequence",
    "hard_reset_sequence_for",
]

#: USB vendor ID of Espressif's native USB (USB-Serial/JTAG and TinyUSB).
ESPRESSIF_VID = 0x303A
#: Product ID of the ESP32-C3/S3/C6 USB-Serial/JTAG controller.
ESPRESSIF_USB_JTAG_PID = 0x1001
#: Vendor IDs of boards whose USB is the MCU's own: DTR/RTS cannot reset them.
NATIVE_USB_VIDS = frozenset({0x2E8A, 0xF055, 0x239A})  # Raspberry Pi rp2, MicroPython, Adafruit


@dataclass(frozen=True)
class SetLine:
    """Set one modem line: ``line`` is ``"dtr"`` or ``"rts"``, ``level`` True = asserted."""

    line: Literal["dtr", "rts"]
    level: bool


@dataclass(frozen=True)
class Hold:
    """Keep the current line levels for ``seconds``."""

    seconds: float


Step = SetLine | Hold


@dataclass(frozen=True)
class ResetSequence:
    """A named series of line changes and holds."""

    name: str
    steps: tuple[Step, ...]
    description: str = ""

    @property
    def duration(self) -> float:
        """Total of the holds, in seconds."""
        return sum(step.seconds for step in self.steps if isinstance(step, Hold))


class LinePort(Protocol):
    """Anything whose ``dtr`` and ``rts`` attributes drive the modem lines."""

    dtr: bool
    rts: bool


def _dtr(level: bool) -> SetLine:
    return SetLine("dtr", level)


def _rts(level: bool) -> SetLine:
    return SetLine("rts", level)


#: Back to the state a port is opened in: both lines asserted, DTR first (see module docstring).
RESTORE: tuple[Step, ...] = (_dtr(True), _rts(True))

HARD_RESET = ResetSequence(
    "hard-reset",
    (_dtr(False), _rts(True), Hold(0.1), _rts(False), *RESTORE),
    "Pulse EN low for 0.1 s with IO0 high: the chip restarts into its app (esptool HardReset).",
)

HARD_RESET_USB_JTAG = ResetSequence(
    "hard-reset-usb-jtag",
    (_dtr(False), _rts(True), Hold(0.2), _rts(False), *RESTORE),
    "HardReset for the USB-Serial/JTAG block, which needs RTS held longer (0.2 s).",
)

CLASSIC_RESET = ResetSequence(
    "classic-reset",
    (
        _dtr(False),
        _rts(True),
        Hold(0.1),  # EN low, IO0 high: in reset
        _dtr(True),
        _rts(False),
        Hold(0.05),  # IO0 low while EN rises: ROM download mode
        _dtr(False),  # release IO0
        *RESTORE,
    ),
    "Reset into the ESP ROM bootloader through a USB-UART bridge (esptool ClassicReset).",
)

USB_JTAG_BOOTLOADER_RESET = ResetSequence(
    "usb-jtag-bootloader-reset",
    (
        _rts(False),
        _dtr(False),
        Hold(0.1),  # idle
        _dtr(True),
        _rts(False),
        Hold(0.1),  # IO0 low
        _rts(True),
        _dtr(False),
        Hold(0.1),  # reset, passing through (1,1) rather than (0,0)
        _dtr(False),
        _rts(False),  # out of reset with IO0 sampled low
        *RESTORE,
    ),
    "Reset into the ROM bootloader through the ESP USB-Serial/JTAG block.",
)

#: Every known sequence by name.
SEQUENCES: dict[str, ResetSequence] = {
    seq.name: seq
    for seq in (HARD_RESET, HARD_RESET_USB_JTAG, CLASSIC_RESET, USB_JTAG_BOOTLOADER_RESET)
}


def hard_reset_sequence_for(vid: int | None, pid: int | None) -> ResetSequence | None:
    """The line sequence that restarts a board into its app, or None if lines cannot.

    Boards whose USB port is the MCU itself (rp2, stm32/samd/nrf MicroPython, Adafruit, ESP32-S2/S3
    TinyUSB) do not wire DTR/RTS to reset: they need ``machine.reset()`` instead. Unknown boards
    (no USB IDs, RFC 2217 servers, bridges) get :data:`HARD_RESET`.
    """
    if vid in NATIVE_USB_VIDS:
        return None
    if vid == ESPRESSIF_VID:
        return HARD_RESET_USB_JTAG if pid == ESPRESSIF_USB_JTAG_PID else None
    return HARD_RESET


def apply_sequence(
    port: LinePort, sequence: ResetSequence, *, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Play ``sequence`` on ``port``, in order, to its end.

    Args:
        port: an object with settable ``dtr`` and ``rts`` attributes.
        sequence: the steps to play.
        sleep: how to hold (tests pass a recorder).

    Raises:
        Whatever setting a line raises (for pyserial: ``SerialException``/``OSError``).
    """
    for step in sequence.steps:
        if isinstance(step, Hold):
            sleep(step.seconds)
        else:
            setattr(port, step.line, step.level)
