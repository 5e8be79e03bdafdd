"""The raw-REPL / raw-paste state machine (sans-I/O).

Theory of operation
-------------------
The machine never reads a clock or a file descriptor. The board session tells it what it
is about to do (``enter_raw``, ``begin_exec``, ``begin_soft_reset``), writes the bytes the
machine returns, and feeds every byte the device sends to :meth:`RawReplMachine.receive`,
which returns :mod:`events <mpharness.protocol.events>`. Code bytes that raw-paste flow
control holds back are released by :meth:`RawReplMachine.data_to_send` as window credits
arrive.

States::

    UNKNOWN --enter_raw--> ENTERING --banner--> READY
    READY --begin_exec--> PASTE_REQUEST --R\\x01--> SENDING --all sent--> END_ACK --\\x04--> REPLY
                      \\--R\\x00> or "raw REPL...>" (old firmware)--> AWAIT_OK --OK--> REPLY
    READY --begin_exec (paste known absent)--> AWAIT_OK
    REPLY --frame end--> READY  |  --SystemExit--> REBOOTING
    READY --begin_soft_reset--> REBOOTING --"soft reboot\\r\\n"…banner--> READY
    READY --begin_sync--> SYNCING --the token's own reply--> READY

Device bytes that fit no frame (timer callbacks printing, boot text, a stale banner) come
out as :class:`~mpharness.protocol.events.Noise`. On a slow link an answer can arrive after
the host gave up on it and asked again, so every state change is confirmed by an answer that
can only belong to it: a reboot ends at a banner only after its ``soft reboot`` line (a banner
before it answers an earlier Ctrl-A), and :meth:`RawReplMachine.begin_sync` runs a statement
that prints a fresh token, whose reply comes after every stale answer still in flight.
Markers are searched for, never assumed to sit at a fixed position. Once raw-paste support
is known, a small exec is *pipelined*: the request, the code and the end byte leave in one
write (they fit in the first two windows the device grants), so an exec costs one round trip.
"""

from __future__ import annotations

import enum

from mpharness.errors import ProtocolError
from mpharness.protocol import constants as c
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
from mpharness.protocol.response import scan


class State(enum.Enum):
    UNKNOWN = "unknown"
    ENTERING = "entering raw REPL"
    READY = "ready"
    PASTE_REQUEST = "raw-paste request"
    SENDING = "sending code"
    END_ACK = "end-of-code acknowledgement"
    AWAIT_OK = "raw REPL OK"
    REPLY = "exec reply"
    REBOOTING = "soft reboot"
    SYNCING = "confirming the raw REPL"


#: Bytes of the request itself that sit in the device's stdin buffer next to pipelined code.
_PIPELINE_OVERHEAD = len(c.PASTE_REQUEST) + 1
_CREDIT = bytes([c.PASTE_CREDIT])
#: stdout bytes a finished reply keeps at each end; a flood's middle is streamed, then dropped
OUTPUT_KEEP = 256 * 1024
#: bytes dropped at least at once (dropping copies the kept part)
_MIN_DROP = 64 * 1024


def refuse_control_bytes(code: bytes) -> None:
    """Raise ProtocolError when ``code`` holds a byte the raw REPL takes as a command."""
    for special in c.RAW_SPECIAL:
        at = code.find(bytes([special]))
        if at >= 0:
            line = code.count(b"\n", 0, at) + 1
            raise ProtocolError(
                f"code contains the control byte 0x{special:02x} on line {line}; "
                f"write it as an escape ('\\x{special:02x}') instead"
            )


class RawReplMachine:
    """Tracks one board's REPL state and turns device bytes into events."""

    def __init__(self) -> None:
        self.state = State.UNKNOWN
        #: raw-paste support: None until the board answered a request
        self.paste_supported: bool | None = None
        self.window = 0
        self._buf = b""
        self._code = b""
        self._out = b""
        self._credit = 0
        self._pipelined = False
        self._marker = b""
        self._scan_from = 0
        self._streamed = 0
        self._reboot_seen = False
        self._dropped = 0
        self._sync_token = b""
        #: a host-initiated soft reset: only a banner after the reboot line ends it (a SystemExit
        #: reboot, confirmed by the reply's framing, may come from firmware that prints none)
        self._need_reboot_line = False
        #: stdout bytes kept per exec at each end (the middle of a flood is counted, not kept)
        self.output_keep = OUTPUT_KEEP

    # ----------------------------------------------------------------- commands
    def enter_raw(self) -> bytes:
        """Start waiting for the raw banner; returns the bytes that ask for it."""
        self._reset_buffers()
        self.state = State.ENTERING
        return b"\r" + c.CTRL_A

    def forget(self) -> None:
        """The board's state is unknown again (after a timeout, interrupt or link loss)."""
        self._reset_buffers()
        self.state = State.UNKNOWN

    def begin_sync(self, token: bytes) -> bytes:
        """From the idle raw REPL, confirm it past stale answers (banners of entry sequences
        that were sent again): returns the bytes of a plain raw exec that prints ``token``
        (ASCII letters and digits). Everything before its reply is noise; the reply ends in a
        :class:`~mpharness.protocol.events.RawReplReady` with an empty preamble."""
        self._require(State.READY, "confirm the raw REPL")
        self._sync_token = token
        self.state = State.SYNCING
        half = len(token) // 2  # the code never holds the token itself (an echo is no answer)
        return b"print('" + token[:half] + b"'+'" + token[half:] + b"')" + c.CTRL_D

    def begin_exec(self, code: bytes, marker: bytes) -> bytes:
        """Start one exec of ``code``; returns the bytes to write now.

        ``code`` must print ``marker`` as its last action; an empty marker means code that
        prints nothing (the engine's own helper execs), whose reply ends at the first frame.
        """
        self._require(State.READY, "begin an exec")
        refuse_control_bytes(code)
        self._reset_buffers()
        # An empty raw buffer ended by Ctrl-D is a soft reset, not an exec.
        self._code = (code or b" ") + c.CTRL_D
        self._marker = marker
        if self.paste_supported is False:
            self.state = State.AWAIT_OK
            self._out, self._code = self._code, b""
            return b""
        self.state = State.PASTE_REQUEST
        fits = len(self._code) + _PIPELINE_OVERHEAD <= 2 * self.window
        self._pipelined = bool(self.paste_supported) and fits
        if self._pipelined:
            request, self._code = c.PASTE_REQUEST + self._code, b""
            return request
        return c.PASTE_REQUEST

    def begin_soft_reset(self) -> bytes:
        """Soft-reset from the raw prompt; returns the byte that does it."""
        self._require(State.READY, "soft-reset")
        self._reset_buffers()
        self.state = State.REBOOTING
        self._need_reboot_line = True
        return c.CTRL_D

    def expect_reboot(self) -> None:
        """The board is rebooting on its own (SystemExit seen): wait for its banner."""
        self._reset_buffers()
        self.state = State.REBOOTING

    def interrupt(self) -> bytes:
        """Ctrl-C now: stop releasing code; the device answers with an interrupted frame."""
        if self.state in (State.SENDING, State.END_ACK):
            self._code = b""
            self._out = b""
            self.state = State.END_ACK  # the device acks the abort with \x04, no ack from us
        elif self.state is State.PASTE_REQUEST and not self._pipelined:
            # The Ctrl-C reaches the device right after the request: it answers R\x01 and
            # aborts at once. Send no code after it, and treat the \x04 that follows as the
            # abort ack (acking it would put a \x04 on an empty raw prompt: a soft reset).
            self._code = b""
            self._pipelined = True
        elif self.state is State.AWAIT_OK:
            self._out = b""
        return c.CTRL_C

    @property
    def pending_bytes(self) -> int:
        """Code bytes not yet released by :meth:`data_to_send`."""
        return len(self._out) + (len(self._code) if self.state is State.SENDING else 0)

    def data_to_send(self, limit: int | None = None) -> bytes:
        """Code bytes that may be written now (raw-paste credit, or the plain-raw body)."""
        if self.state is State.SENDING:
            n = min(self._credit, len(self._code))
            chunk, self._code = self._code[:n], self._code[n:]
            self._credit -= n
            if not self._code:
                self.state = State.END_ACK
            self._out += chunk
        if limit is None or limit >= len(self._out):
            out, self._out = self._out, b""
        else:
            out, self._out = self._out[:limit], self._out[limit:]
        return out

    def pending_reply_bytes(self) -> int:
        """Device bytes the machine holds on to (bounded during a reply, whatever its length)."""
        return len(self._buf)

    # ----------------------------------------------------------------- input
    def receive(self, data: bytes) -> list[Event]:
        """Digest device bytes; returns the events they complete, in order."""
        self._buf += data
        events: list[Event] = []
        while True:
            before = (self.state, len(self._buf))
            handler = _HANDLERS[self.state]
            handler(self, events)
            if (self.state, len(self._buf)) == before or not self._buf:
                break
        return events

    # ----------------------------------------------------------------- states
    def _on_idle(self, events: list[Event]) -> None:
        if self._buf:
            events.append(Noise(self._buf))
            self._buf = b""

    def _on_entering(self, events: list[Event]) -> None:
        at = self._buf.find(c.RAW_BANNER)
        if at < 0:
            self._spill_noise(events, len(c.RAW_BANNER) - 1)
            return
        events.append(RawReplReady(self._buf[:at]))
        self._buf = self._buf[at + len(c.RAW_BANNER) :]
        self.state = State.READY

    def _on_paste_request(self, events: list[Event]) -> None:
        buf = self._buf
        ok = buf.find(c.PASTE_OK)
        refused = buf.find(c.PASTE_NOT_SUPPORTED)
        # "R\x00" and ">" are separate writes (background output may come between): a refusal
        # counts once its ">" is here
        prompt = buf.find(c.RAW_PROMPT, refused + 2) if refused >= 0 else -1
        if prompt < 0:
            refused = -1
        banner = buf.find(c.RAW_BANNER)
        found = [(i, kind) for i, kind in ((ok, "ok"), (refused, "no"), (banner, "old")) if i >= 0]
        if not found:
            return
        at, kind = min(found)
        if kind == "ok":
            grant = self._window_grant(buf, at + 2)
            if grant is None:
                return
            window, size_at, end = grant
            self._accept_paste(window, events, buf[:at] + buf[at + 2 : size_at])
            self._buf = buf[end:]  # the \x01 after the window size is a credit
            return
        end = prompt + 1 if kind == "no" else at + len(c.RAW_BANNER)
        noise = buf[:at] + (buf[at + 2 : prompt] if kind == "no" else b"")
        if noise:
            events.append(Noise(noise))
        self._buf = buf[end:]
        # A board that once granted raw-paste keeps it: a refusal then is a request that noise
        # damaged; this exec goes in plain raw mode, the next asks again.
        if self.paste_supported is None:
            self.paste_supported = False
            events.append(PasteSupport(False))
        self._out, self._code = self._code, b""
        self.state = State.AWAIT_OK

    def _window_grant(self, buf: bytes, start: int) -> tuple[int, int, int] | None:
        """The window size after ``R\\x01``: ``(window, where it starts, where it ends)``, or
        None until it came.

        The size goes out in one write with the extra ``\\x01`` grant, but ``R\\x01`` is a
        write of its own: background output may come between them. Once the window is known,
        the size is looked for before the grant byte (what precedes it is noise); a different
        size (a power of two) right before that byte is taken (the firmware changed), and a
        damaged one keeps the known window. The first size is taken as it comes.
        """
        if not self.window:
            if len(buf) < start + 2:
                return None
            return int.from_bytes(buf[start : start + 2], "little"), start, start + 2
        known = self.window.to_bytes(2, "little")
        grant = buf.find(known + _CREDIT, start)
        abort = buf.find(c.CTRL_D, start)
        if buf.startswith(known, start) or 0 <= grant < (abort if abort >= 0 else len(buf)):
            at = start if buf.startswith(known, start) else grant
            return self.window, at, at + 2
        ends = [i for i in (buf.find(_CREDIT, start), abort) if i >= 0]
        if not ends:
            return None
        end = min(ends)  # the grant byte, or an abort: the size was damaged or lost
        size = int.from_bytes(buf[start:end], "little")
        if end == start + 2 and buf[end] == c.PASTE_CREDIT and not size & (size - 1):
            return size, start, end  # windows are half a power-of-two buffer
        if buf.endswith(known[:1]) or buf.endswith(known):
            return None  # the known size may be arriving after background output
        return self.window, end, end

    def _accept_paste(self, window: int, events: list[Event], noise: bytes) -> None:
        if noise:
            events.append(Noise(noise))
        if window == 0:
            raise ProtocolError("board granted a raw-paste window of 0 bytes")
        self.paste_supported = True
        self.window = window
        self._credit = window
        events.append(PasteSupport(True, window))
        self.state = State.END_ACK if self._pipelined else State.SENDING

    def _on_sending(self, events: list[Event]) -> None:
        noise = bytearray()
        for i, byte in enumerate(self._buf):
            if byte == c.PASTE_CREDIT:
                self._credit += self.window
            elif byte == c.PASTE_ABORT:
                # The device stopped reading (compile error, MemoryError): acknowledge it.
                self._code = b""
                self._out += c.CTRL_D
                self._buf = self._buf[i + 1 :]
                self._start_reply(events, noise)
                return
            else:
                noise.append(byte)
        self._buf = b""
        if noise:
            events.append(Noise(bytes(noise)))

    def _on_end_ack(self, events: list[Event]) -> None:
        at = self._buf.find(c.CTRL_D)
        head = self._buf if at < 0 else self._buf[:at]
        noise = head.replace(bytes([c.PASTE_CREDIT]), b"")
        if at < 0:
            self._buf = b""
            if noise:
                events.append(Noise(noise))
            return
        self._buf = self._buf[at + 1 :]
        self._start_reply(events, noise)

    def _on_await_ok(self, events: list[Event]) -> None:
        at = self._buf.find(c.RAW_OK)
        if at < 0:
            self._spill_noise(events, len(c.RAW_OK) - 1)
            return
        noise, self._buf = self._buf[:at], self._buf[at + 2 :]
        self._start_reply(events, noise)

    def _start_reply(self, events: list[Event], noise: bytes | bytearray) -> None:
        if noise:
            events.append(Noise(bytes(noise)))
        self.state = State.REPLY
        self._scan_from = 0
        self._streamed = 0
        self._dropped = 0

    def _on_reply(self, events: list[Event]) -> None:
        end, streamable, self._scan_from = scan(
            self._buf,
            self._marker,
            self._scan_from,
            self._streamed,
            exit_returns_prompt=self.paste_supported is False,
        )
        if end is None:
            if streamable > self._streamed:
                events.append(Stdout(self._buf[self._streamed : streamable]))
                self._streamed = streamable
            self._drop_middle()
            return
        if len(end.stdout) > self._streamed:
            events.append(Stdout(end.stdout[self._streamed :]))
        stdout = end.stdout
        keep = self.output_keep
        if self._dropped:
            dropped = self._dropped + max(0, len(stdout) - 2 * keep)
            note = b"\n[... %d bytes of output dropped ...]\n" % dropped
            stdout = stdout[:keep] + note + stdout[-keep:]
        events.append(ExecFinished(stdout, end.error, end.completed, end.exited, end.rebooting))
        self._buf = self._buf[end.consumed :]
        self.state = State.REBOOTING if end.rebooting else State.READY
        self._reboot_seen = False
        self._dropped = 0

    def _drop_middle(self) -> None:
        """Keep a reply's memory bounded: of the stdout already streamed and scanned past,
        keep the first and the last ``output_keep`` bytes and count the rest (the events
        streamed it all; the finished reply says how much it left out)."""
        keep = self.output_keep
        cut_end = min(self._streamed, self._scan_from) - keep
        if cut_end - keep < max(keep, _MIN_DROP):
            return
        self._buf = self._buf[:keep] + self._buf[cut_end:]
        dropped = cut_end - keep
        self._streamed -= dropped
        self._scan_from -= dropped
        self._dropped += dropped

    def _on_rebooting(self, events: list[Event]) -> None:
        if not self._reboot_seen:
            # the unix port ends the line with a bare \n
            for line in (c.SOFT_REBOOT, c.SOFT_REBOOT.replace(b"\r\n", b"\n")):
                at = self._buf.find(line)
                if at >= 0:
                    self._reboot_seen = True
                    events.append(SoftRebootSeen(self._buf[:at]))
                    self._buf = self._buf[at + len(line) :]
                    break
        at = self._buf.find(c.RAW_BANNER)
        if at < 0:
            return
        end = at + len(c.RAW_BANNER)
        if not self._reboot_seen and self._need_reboot_line:
            # a banner before the reboot line answers an earlier Ctrl-A (a slow link); every
            # firmware prints "soft reboot" when the host resets it (protocols.md §4)
            events.append(Noise(self._buf[:end]))
            self._buf = self._buf[end:]
            return
        events.append(RebootDone(self._buf[:at]))
        self._buf = self._buf[end:]
        self.state = State.READY
        self._need_reboot_line = False

    def _on_syncing(self, events: list[Event]) -> None:
        at = self._buf.find(self._sync_token)
        if at < 0:
            self._spill_noise(events, len(self._sync_token) - 1)
            return
        end = self._buf.find(c.CTRL_D + b">", at)
        if end < 0:
            return
        if at:
            events.append(Noise(self._buf[:at]))
        events.append(RawReplReady(b""))
        self._buf = self._buf[end + 2 :]
        self.state = State.READY

    # ----------------------------------------------------------------- helpers
    def _spill_noise(self, events: list[Event], keep: int) -> None:
        """Report all but the last ``keep`` bytes as noise (they cannot start a marker)."""
        if len(self._buf) > keep:
            cut = len(self._buf) - keep
            events.append(Noise(self._buf[:cut]))
            self._buf = self._buf[cut:]

    def _require(self, state: State, action: str) -> None:
        if self.state is not state:
            raise ProtocolError(f"cannot {action} while the REPL is in state {self.state.value!r}")

    def _reset_buffers(self) -> None:
        self._buf = b""
        self._code = b""
        self._out = b""
        self._credit = 0
        self._pipelined = False
        self._scan_from = 0
        self._streamed = 0
        self._reboot_seen = False
        self._dropped = 0
        self._need_reboot_line = False


_HANDLERS = {
    State.UNKNOWN: RawReplMachine._on_idle,
    State.READY: RawReplMachine._on_idle,
    State.ENTERING: RawReplMachine._on_entering,
    State.PASTE_REQUEST: RawReplMachine._on_paste_request,
    State.SENDING: RawReplMachine._on_sending,
    State.END_ACK: RawReplMachine._on_end_ack,
    State.AWAIT_OK: RawReplMachine._on_await_ok,
    State.REPLY: RawReplMachine._on_reply,
    State.REBOOTING: RawReplMachine._on_rebooting,
    State.SYNCING: RawReplMachine._on_syncing,
}
