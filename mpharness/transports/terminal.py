"""An interactive terminal on a transport (``mpharness repl``).

Theory of operation
-------------------
The local terminal goes raw; keys go to the board as they are typed and board output is
written to stdout as it arrives. ``Ctrl-]`` leaves. Two loops, one per direction: the
board-to-screen loop runs in a thread blocked in ``transport.read``; keyboard-to-board runs
in the caller's thread blocked in ``select`` on stdin.

A raw terminal does no output processing, so a line feed only moves down: boards whose REPL
ends lines with a bare LF (the unix port on a pty) would print a staircase. :class:`Screen`
therefore writes a lone LF as CR LF when stdout is a terminal (a CR LF from the board passes
as it is, also when the two bytes arrive in different reads), and on leaving ends the board's
last line (``>>> ``) so the shell prompt starts on a line of its own.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty
from typing import BinaryIO

from mpharness.deadline import Deadline
from mpharness.errors import TransportClosed
from mpharness.transports.base import Transport

__all__ = ["EXIT_KEY", "Screen", "run_terminal"]

EXIT_KEY = b"\x1d"  #: Ctrl-]
CR = b"\r"
LF = b"\n"
CRLF = CR + LF


class Screen:
    """Board output to a terminal: lone LFs become CR LF (``translate``); lines are ended
    on :meth:`finish`."""

    def __init__(self, out: BinaryIO, *, translate: bool) -> None:
        self.out = out
        self.translate = translate
        self._last = LF  # the last byte written: the screen starts at a line start
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            if self.translate:
                data = self._crlf(data)
            self.out.write(data)
            self.out.flush()
            self._last = data[-1:]

    def _crlf(self, data: bytes) -> bytes:
        """Each LF not preceded by a CR (in this piece or at the end of the last) as CR LF."""
        text = data.replace(CRLF, LF).replace(LF, CRLF)
        if data[:1] == LF and self._last == CR:
            text = text[1:]  # the board's CR came at the end of the previous piece
        return text

    def finish(self) -> None:
        """End the current line, so whatever the shell prints next starts on its own line."""
        with self._lock:
            if self._last not in (LF, CR):
                self.out.write(CRLF if self.translate else LF)
                self.out.flush()
                self._last = LF


def _board_to_screen(transport: Transport, screen: Screen, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            data = transport.read(Deadline.after(0.2))
        except TransportClosed as err:
            screen.finish()
            screen.write(f"[mpharness: {err}]\n".encode())
            stop.set()
            return
        screen.write(data)


def run_terminal(transport: Transport) -> None:
    """Pass bytes between this terminal and the board until Ctrl-] or the link drops."""
    fd = sys.stdin.fileno()
    is_tty = os.isatty(fd)
    saved = termios.tcgetattr(fd) if is_tty else None
    stop = threading.Event()
    screen = Screen(sys.stdout.buffer, translate=os.isatty(sys.stdout.fileno()))
    reader = threading.Thread(target=_board_to_screen, args=(transport, screen, stop), daemon=True)
    try:
        if is_tty:
            tty.setraw(fd)  # before any board output: keys typed after a prompt are never cooked
        reader.start()
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            data = os.read(fd, 1024)
            if not data or EXIT_KEY in data:
                data = data.split(EXIT_KEY, 1)[0]
                if data:
                    transport.write(data)
                break
            transport.write(data.replace(LF, CR) if not is_tty else data)
    finally:
        stop.set()
        if reader.ident is not None:
            reader.join(timeout=1.0)
        screen.finish()
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
