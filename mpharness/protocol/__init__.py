"""Sans-I/O raw REPL and raw-paste protocol: bytes in, events out, never a clock or a socket."""

from __future__ import annotations

from mpharness.protocol.events import (
    Event,
    ExecFinished,
    Noise,
    PasteSupport,
    RawReplReady,
    RebootDone,
    SoftRebootSeen,
    Stdout,
)
from mpharness.protocol.framing import (
    DeviceException,
    make_marker,
    new_nonce,
    parse_exception,
    with_end_marker,
)
from mpharness.protocol.machine import RawReplMachine, State

__all__ = [
    "DeviceException",
    "Event",
    "ExecFinished",
    "Noise",
    "PasteSupport",
    "RawReplMachine",
    "RawReplReady",
    "RebootDone",
    "SoftRebootSeen",
    "State",
    "Stdout",
    "make_marker",
    "new_nonce",
    "parse_exception",
    "with_end_marker",
]
