"""Events the raw-REPL state machine emits while it digests device bytes.

All events are frozen dataclasses. The board session reacts to them; the machine itself
never performs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Noise:
    """Device bytes outside any frame (background prints, boot text, stale output)."""

    data: bytes


@dataclass(frozen=True)
class RawReplReady:
    """The raw banner arrived: the board sits at the raw prompt with an empty buffer."""

    preamble: bytes  #: bytes that came before the banner in this phase


@dataclass(frozen=True)
class PasteSupport:
    """The board answered the raw-paste request."""

    supported: bool
    window: int = 0  #: window increment in bytes when supported


@dataclass(frozen=True)
class Stdout:
    """A chunk of the running code's standard output (streamed as it arrives)."""

    data: bytes


@dataclass(frozen=True)
class ExecFinished:
    """The framed reply to one exec is complete.

    Attributes:
        stdout: everything the code printed (the end marker removed).
        error: the device's error section: an exception traceback, or empty.
        completed: True when the code ran to its end (the per-exec end marker was printed).
        exited: True when the code ended with SystemExit (or machine.soft_reset).
        rebooting: True when the board is now soft-rebooting (modern firmware after
            SystemExit: no prompt follows, the reboot text does).
    """

    stdout: bytes
    error: bytes
    completed: bool
    exited: bool
    rebooting: bool = False


@dataclass(frozen=True)
class SoftRebootSeen:
    """The soft-reset text ("... soft reboot") arrived; boot.py output may follow."""

    preamble: bytes


@dataclass(frozen=True)
class RebootDone:
    """After a soft reset the raw banner arrived again; the interpreter is clean."""

    boot_output: bytes  #: bytes between the reboot line and the banner (boot.py output)


Event = Noise | RawReplReady | PasteSupport | Stdout | ExecFinished | SoftRebootSeen | RebootDone
