"""An interactive terminal on a transport (``mpharness repl``).

The local terminal goes raw; keys go to the board as they are typed and board output is
written to stdout as it arrives. ``Ctrl-]`` leaves. Two loops, one per direction: the
board-to-screen loop runs in a thread blocked in ``transport.read``; keyboard-to-board runs
in the caller's thread blocked in ``select`` on stdin.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty

from mpharness.deadline import Deadline
from mpharness.errors import TransportClosed
from mpharness.transports.base import Transport

EXIT_KEY = b"\x1d"  #: Ctrl-]


def _board_to_screen(transport: Transport, stop: threading.Event) -> None:
    out = sys.stdout.buffer
    while not stop.is_set():
        try:
            data = transport.read(Deadline.after(0.2))
        except TransportClosed as err:
            out.write(f"\r\n[mpharness: {err}]\r\n".encode())
            out.flush()
            stop.set()
            return
        if data:
            out.write(data)
            out.flush()


def run_terminal(transport: Transport) -> None:
    """Pass bytes between this terminal and the board until Ctrl-] or the link drops."""
    fd = sys.stdin.fileno()
    is_tty = os.isatty(fd)
    saved = termios.tcgetattr(fd) if is_tty else None
    stop = threading.Event()
    reader = threading.Thread(target=_board_to_screen, args=(transport, stop), daemon=True)
    reader.start()
    try:
        if is_tty:
            tty.setraw(fd)
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
            transport.write(data.replace(b"\n", b"\r") if not is_tty else data)
    finally:
        stop.set()
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        reader.join(timeout=1.0)
