"""Incoming websocket frames, parsed a piece at a time with bounded memory (client side).

Theory of operation
-------------------
websocket-client reads a whole frame before returning it and believes any length a header
announces, so a peer that announces 2**62 bytes, sends a 200 MB frame, fragments a message
without end or trickles one frame forever makes a reader hold everything or block past any
deadline. :class:`FrameParser` is a sans-I/O parser instead: the transport reads whatever the
socket has (after ``select`` says it is readable, so a read never blocks past its deadline),
feeds the bytes in, and gets back events:

* :class:`TextData`: a piece of a text message's payload, handed on as it arrives (the REPL is
  a byte stream: nothing waits for the end of a frame, so a frame of any length costs no
  memory here);
* :class:`BinaryMessage`: a whole binary message (the file protocol's replies: small), held
  until complete, up to :data:`MAX_BINARY`;
* :class:`Ping` (to be answered with a pong) and :class:`Close`.

The parser keeps its state between feeds, so a frame cut by a deadline simply continues on the
next read. It refuses (:class:`FrameError`, the link is then dropped) what no WebREPL sends: a
length above :data:`MAX_ANNOUNCED`, a binary message above :data:`MAX_BINARY`, a control frame
over 125 bytes or fragmented, a continuation without a message, reserved opcodes or RSV bits.
Payloads of masked frames (which servers must not send) are unmasked all the same.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mpharness.errors import ProtocolError

__all__ = [
    "MAX_ANNOUNCED",
    "MAX_BINARY",
    "BinaryMessage",
    "Close",
    "FrameError",
    "FrameParser",
    "Ping",
    "TextData",
]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
FIN_BIT = 0x80
RSV_BITS = 0x70
MASK_BIT = 0x80
LENGTH_16, LENGTH_64 = 126, 127
MAX_CONTROL = 125  #: RFC 6455: control frames carry at most 125 bytes
#: largest frame length believed (text is streamed, so this is about lies, not memory): far
#: above anything a board prints in one write (a MicroPython WebREPL sends at most 64 KiB per
#: frame); 2**62 is a lie
MAX_ANNOUNCED = 1024 * 1024 * 1024
#: largest binary message held (file-protocol replies are an 82-byte header's answer or a
#: chunk of at most a few KiB)
MAX_BINARY = 1024 * 1024
_MAX_HEADER = 14  #: 2 bytes, 8 of extended length, 4 of mask


class FrameError(ProtocolError):
    """The peer sent a frame no WebREPL sends (the message says which)."""


@dataclass(frozen=True)
class TextData:
    """Payload bytes of a text message (a piece: messages are not reassembled)."""

    data: bytes


@dataclass(frozen=True)
class BinaryMessage:
    """A complete binary message."""

    data: bytes


@dataclass(frozen=True)
class Ping:
    """A ping; answer with a pong carrying ``data``."""

    data: bytes


@dataclass(frozen=True)
class Close:
    """The peer closed the websocket."""

    data: bytes


Event = TextData | BinaryMessage | Ping | Close


class FrameParser:
    """Turns received bytes into :data:`Event` objects, keeping state between feeds."""

    def __init__(self, *, max_announced: int = MAX_ANNOUNCED, max_binary: int = MAX_BINARY):
        self.max_announced = max_announced
        self.max_binary = max_binary
        self._header = bytearray()
        self._opcode = 0
        self._fin = True
        self._remaining = 0  # payload bytes of the current frame still to come
        self._mask = b""
        self._mask_at = 0
        self._in_payload = False
        self._message: int | None = None  # OP_TEXT/OP_BINARY of a message being continued
        self._binary = bytearray()
        self._control = bytearray()
        #: the frame error met so far (raised by the next :meth:`feed`), or None
        self.error: FrameError | None = None

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data``; the events it completes, in order.

        Events before a bad frame are returned; the bad frame's :class:`FrameError` is then
        raised by the next call (and every call after it: the stream cannot be resynchronised).

        Raises:
            FrameError: an earlier feed met a frame no WebREPL sends.
        """
        if self.error is not None:
            raise self.error
        events: list[Event] = []
        try:
            self._parse(memoryview(data), events)
        except FrameError as err:
            self.error = err
        return events

    def _parse(self, view: memoryview, events: list[Event]) -> None:
        while view:
            if not self._in_payload:
                view = self._take_header(view)
                if not self._in_payload:
                    break  # the header is not complete yet
                if self._remaining == 0:
                    self._end_frame(events)
                continue
            take = min(len(view), self._remaining)
            self._payload(bytes(view[:take]), events)
            view = view[take:]
            self._remaining -= take
            if self._remaining == 0:
                self._end_frame(events)

    # -- header ---------------------------------------------------------------------------------

    def _take_header(self, view: memoryview) -> memoryview:
        """Move header bytes from ``view`` until the header is complete; the rest of ``view``."""
        while view and len(self._header) < self._header_size():
            need = self._header_size() - len(self._header)
            self._header += view[:need]
            view = view[need:]
        if len(self._header) >= 2 and len(self._header) == self._header_size():
            self._start_frame()
        return view

    def _header_size(self) -> int:
        if len(self._header) < 2:
            return 2
        length_bits = self._header[1] & 0x7F
        extra = 2 if length_bits == LENGTH_16 else 8 if length_bits == LENGTH_64 else 0
        return 2 + extra + (4 if self._header[1] & MASK_BIT else 0)

    def _start_frame(self) -> None:
        first, second = self._header[0], self._header[1]
        if first & RSV_BITS:
            raise FrameError(f"websocket frame with reserved bits set (0x{first:02x})")
        opcode, length_bits = first & 0x0F, second & 0x7F
        at = 2
        if length_bits == LENGTH_16:
            length = struct.unpack_from(">H", self._header, at)[0]
            at += 2
        elif length_bits == LENGTH_64:
            length = struct.unpack_from(">Q", self._header, at)[0]
            at += 8
        else:
            length = length_bits
        if length > self.max_announced:
            raise FrameError(
                f"websocket frame announces {length} bytes (more than the {self.max_announced} "
                "believed): refused"
            )
        fin = bool(first & FIN_BIT)
        if opcode >= OP_CLOSE:
            if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                raise FrameError(f"websocket frame with reserved opcode 0x{opcode:x}")
            if length > MAX_CONTROL or not fin:
                raise FrameError("websocket control frame over 125 bytes or fragmented")
        elif opcode == OP_CONT:
            if self._message is None:
                raise FrameError("websocket continuation frame without a message")
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._message is not None:
                raise FrameError("websocket message started inside another one")
            self._message = opcode
        else:
            raise FrameError(f"websocket frame with reserved opcode 0x{opcode:x}")
        self._opcode, self._fin, self._remaining = opcode, fin, length
        self._mask = bytes(self._header[at : at + 4]) if second & MASK_BIT else b""
        self._mask_at = 0
        self._in_payload = True
        self._header.clear()

    # -- payload --------------------------------------------------------------------------------

    def _payload(self, data: bytes, events: list[Event]) -> None:
        if self._mask:
            data = self._unmask(data)
        if self._opcode >= OP_CLOSE:
            self._control += data
        elif self._message == OP_TEXT:
            events.append(TextData(data))
        else:
            if len(self._binary) + len(data) > self.max_binary:
                raise FrameError(
                    f"websocket binary message longer than {self.max_binary} bytes: refused"
                )
            self._binary += data

    def _unmask(self, data: bytes) -> bytes:
        start = self._mask_at
        self._mask_at = (start + len(data)) % 4
        key = (self._mask * ((len(data) + start) // 4 + 2))[start : start + len(data)]
        return bytes(a ^ b for a, b in zip(data, key, strict=True))

    def _end_frame(self, events: list[Event]) -> None:
        self._in_payload = False
        opcode = self._opcode
        if opcode >= OP_CLOSE:
            payload, self._control = bytes(self._control), bytearray()
            if opcode == OP_CLOSE:
                events.append(Close(payload))
            elif opcode == OP_PING:
                events.append(Ping(payload))
            return
        if not self._fin:
            return
        if self._message == OP_BINARY:
            events.append(BinaryMessage(bytes(self._binary)))
            self._binary.clear()
        self._message = None
