"""The incremental websocket frame parser: same events however the bytes are cut, and refusals."""

from __future__ import annotations

import struct

import pytest

from mpharness.transports.ws_frames import (
    BinaryMessage,
    Close,
    FrameError,
    FrameParser,
    Ping,
    TextData,
)


def frame(payload: bytes, opcode: int = 1, fin: bool = True, mask: bytes = b"") -> bytes:
    first = (0x80 if fin else 0) | opcode
    bit = 0x80 if mask else 0
    if len(payload) < 126:
        head = struct.pack(">BB", first, bit | len(payload))
    elif len(payload) < 0x10000:
        head = struct.pack(">BBH", first, bit | 126, len(payload))
    else:
        head = struct.pack(">BBQ", first, bit | 127, len(payload))
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + payload


STREAM = b"".join(
    [
        frame(b"hello "),
        frame(b"x" * 300),  # 16-bit length
        frame(b"y" * 70000),  # 64-bit length
        frame(b"masked text", mask=b"\x01\x02\x03\x04"),
        frame(b"", opcode=9),
        frame(b"pi", opcode=9),
        frame(b"part1-", fin=False),
        frame(b"part2", opcode=0),
        frame(b"WB\x00\x00", opcode=2, fin=False),
        frame(b"rest", opcode=0, mask=b"\xff\x00\xff\x00"),
        frame(b"\x03\xe8", opcode=8),
    ]
)


def _collapse(events: list[object]) -> list[object]:
    """Join adjacent TextData pieces (how text is cut depends on how bytes arrive)."""
    out: list[object] = []
    for event in events:
        if isinstance(event, TextData) and out and isinstance(out[-1], TextData):
            out[-1] = TextData(out[-1].data + event.data)
        elif not (isinstance(event, TextData) and not event.data):
            out.append(event)
    return out


EXPECTED = [
    TextData(b"hello " + b"x" * 300 + b"y" * 70000 + b"masked text"),
    Ping(b""),
    Ping(b"pi"),
    TextData(b"part1-part2"),
    BinaryMessage(b"WB\x00\x00rest"),
    Close(b"\x03\xe8"),
]


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 1000, len(STREAM)])
def test_same_events_however_the_bytes_are_cut(cut: int) -> None:
    parser = FrameParser()
    events: list[object] = []
    for start in range(0, len(STREAM), cut):
        events += parser.feed(STREAM[start : start + cut])
    assert _collapse(events) == EXPECTED


def test_text_is_handed_on_before_its_frame_ends() -> None:
    parser = FrameParser()
    head = struct.pack(">BBQ", 0x81, 127, 10_000_000)
    assert parser.feed(head + b"abc") == [TextData(b"abc")]
    assert parser.feed(b"def") == [TextData(b"def")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (struct.pack(">BBQ", 0x81, 127, 2**62), "announces 4611686018427387904 bytes"),
        (b"\xc1\x00", "reserved bits"),
        (b"\x83\x00", "reserved opcode"),
        (b"\x8b\x00", "reserved opcode"),
        (b"\x80\x01a", "continuation frame without a message"),
        (frame(b"a", fin=False) + frame(b"b"), "started inside another"),
        (frame(b"p" * 126, opcode=9), "control frame over 125"),
        (frame(b"", opcode=9, fin=False), "fragmented"),
        (frame(b"b" * 70000, opcode=2, fin=False) + frame(b"", opcode=0), "binary message"),
    ],
)
def test_refusals(data: bytes, message: str) -> None:
    parser = FrameParser(max_binary=65536)
    events = parser.feed(frame(b"before") + data)
    assert events[:1] == [TextData(b"before")]  # what came before the bad frame is kept
    assert parser.error is not None and message in str(parser.error)
    with pytest.raises(FrameError, match=message):
        parser.feed(b"")
