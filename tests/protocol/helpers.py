"""Shared pieces of the protocol tests: transcripts, feeding strategies and a host driver.

A transcript is a list of *phases*. Each phase is the device bytes that may arrive before
the host has to write something again (causality: a device cannot acknowledge code it has not
received yet). Inside a phase, :data:`NOISE` marks a place where a real device may emit bytes
that belong to no frame (a timer callback printing, ESP ROM garbage before a banner); the
tests render each transcript with and without noise there.

:class:`Driver` plays the host side the way the board session does: it feeds device bytes to
the machine in the requested chunking and writes what ``data_to_send`` releases after every
chunk, recording both the events and the bytes written.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from mpharness.protocol import (
    Event,
    ExecFinished,
    Noise,
    RawReplMachine,
    RawReplReady,
    Stdout,
    make_marker,
)

NONCE = b"5eed1234"
MARKER = make_marker(NONCE)
BANNER = b"raw REPL; CTRL-B to exit\r\n>"
PASTE_REQUEST = b"\x05A\x01"

NOISE = object()
"""Placeholder for background output inside a transcript phase."""

EOLS = {"crlf": b"\r\n", "lf": b"\n"}
"""Line endings: hardware ports send ``\\r\\n``, the unix port ``\\n``."""

FEED_MODES = ("whole", "bytewise", "random-1", "random-2", "random-3")

#: Noise variants: background prints (per line ending) and ESP ROM garbage bytes.
NOISE_KINDS = ("none", "tick", "garbage")
ESP_ROM_GARBAGE = b"\x00\xff\xe0\x8c\xfe\x92 ets Jun  8 2016 00:22:57\r\n\x9c\xa5"

Part = bytes | object
Phase = Sequence[Part]


def noise_bytes(kind: str, eol: bytes, *, banner_phase: bool = False) -> bytes:
    """The noise to insert for ``kind``; ROM garbage only where a reset can precede it."""
    if kind == "none":
        return b""
    if kind == "garbage" and banner_phase:
        return ESP_ROM_GARBAGE
    return b"tick" + eol + b"tick" + eol


def render(phase: Phase, noise: bytes = b"") -> bytes:
    """Join a phase's parts, putting ``noise`` in every :data:`NOISE` slot."""
    return b"".join(noise if part is NOISE else part for part in phase)  # type: ignore[misc]


def chunks(data: bytes, mode: str) -> list[bytes]:
    """Split ``data`` the way a link might deliver it."""
    if mode == "whole":
        return [data] if data else []
    if mode == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(f"{mode}:{data!r}")
    out, i = [], 0
    while i < len(data):
        step = rng.randint(1, 7)
        out.append(data[i : i + step])
        i += step
    return out


def all_splits(data: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """Every feed mode with its chunks."""
    for mode in FEED_MODES:
        yield mode, chunks(data, mode)


@dataclass
class Driver:
    """Host side of the protocol: feeds device bytes, writes what the machine releases."""

    machine: RawReplMachine = field(default_factory=RawReplMachine)
    sent: bytearray = field(default_factory=bytearray)
    events: list[Event] = field(default_factory=list)
    #: size of every ``data_to_send`` result, in order
    releases: list[int] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        self.sent += data

    def flush(self) -> bytes:
        out = self.machine.data_to_send()
        self.sent += out
        self.releases.append(len(out))
        return out

    def feed(self, data: bytes, mode: str = "whole") -> list[Event]:
        """Feed ``data`` in ``mode`` chunks, flushing after each; returns the new events."""
        new: list[Event] = []
        for chunk in chunks(data, mode):
            got = self.machine.receive(chunk)
            new += got
            self.flush()
        self.events += new
        return new

    def play(self, phases: Sequence[Phase], mode: str, noise: bytes = b"") -> list[Event]:
        """Feed every phase in turn (the host flushes between phases)."""
        new: list[Event] = []
        for phase in phases:
            new += self.feed(render(phase, noise), mode)
        return new

    def of_type(self, kind: type) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]

    def finished(self) -> ExecFinished:
        """The one ExecFinished, after checking the streaming invariants."""
        done = self.of_type(ExecFinished)
        assert len(done) == 1, self.events
        check_streaming(self.events)
        result = done[0]
        assert isinstance(result, ExecFinished)
        return result

    def noise(self) -> bytes:
        return b"".join(e.data for e in self.events if isinstance(e, Noise))


def check_streaming(events: Sequence[Event]) -> None:
    """Stdout chunks before each ExecFinished add up to its stdout and never hold the marker."""
    streamed = b""
    for event in events:
        if isinstance(event, Stdout):
            assert event.data, "empty Stdout event"
            assert MARKER not in event.data
            streamed += event.data
        elif isinstance(event, ExecFinished):
            assert streamed == event.stdout
            streamed = b""
    assert MARKER not in streamed


def ready_machine(paste: bool | None = None, window: int = 128) -> RawReplMachine:
    """A machine at the raw prompt; ``paste`` True/False pretends support is already known."""
    machine = RawReplMachine()
    machine.enter_raw()
    events = machine.receive(BANNER)
    assert any(isinstance(e, RawReplReady) for e in events)
    machine.paste_supported = paste
    machine.window = window if paste else 0
    return machine


def code_of(size: int) -> bytes:
    """Valid-looking code of exactly ``size`` bytes without control bytes."""
    line = b"x = 1234567890  # padding padding padding padding\n"
    body = (line * (size // len(line) + 1))[:size]
    return body
