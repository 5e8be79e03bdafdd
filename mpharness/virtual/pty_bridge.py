"""Expose any transport on a new pseudo-terminal, so serial tools can drive the board.

Theory of operation
-------------------
:class:`PtyBridge` opens a pty pair and keeps both ends: tools (mpremote, pyserial, screen,
picocom) open the slave by its ``/dev/pts/N`` path, or by a symlink such as ``/tmp/ttyACM0``.
Holding our own slave fd open means the master never sees the hang-up (EIO) that follows the
last client's close, so clients may come and go. The slave starts raw; clients set their own
attributes.

Two daemon threads move opaque bytes:

* tool -> board blocks in ``select`` on the master and a stop pipe, then writes to the
  transport;
* board -> tool blocks in ``transport.read`` (whose deadline is at most :data:`STOP_CHECK`, so a
  stop is noticed) and writes to the master. With nobody reading the slave, its input queue
  fills; after :data:`WRITE_STALL` seconds further output is dropped, as on a serial line
  with no listener.

Transports that respawn or reconnect underneath (the unix board's soft reset) keep working,
since the bridge only sees bytes. If the transport fails (:class:`TransportClosed`), both
threads stop and :attr:`PtyBridge.error` holds the reason.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
import tty
from collections.abc import Callable
from types import TracebackType

from mpharness.deadline import Deadline
from mpharness.errors import TransportError
from mpharness.transports.base import Transport

__all__ = ["PtyBridge", "serve_pty"]

log = logging.getLogger(__name__)

STOP_CHECK = (
    0.25  #: s the board -> tool thread may block in ``transport.read`` before checking for stop
)
WRITE_STALL = 1.0  #: s to wait for a tool to read the slave before dropping board output
READ_SIZE = 65536


class PtyBridge:
    """Forwards bytes between a transport and a new pty (context manager).

    Attributes:
        slave_path: the pty's ``/dev/pts/N`` path (valid after :meth:`start`).
        link_path: the symlink to ``slave_path`` made by :meth:`start`, if one was asked for.
        error: why forwarding stopped on its own (the transport failed), else None.
    """

    def __init__(self, transport: Transport, link_path: str | None = None) -> None:
        self.transport = transport
        self.link_path = link_path
        self.slave_path = ""
        self.error: TransportError | None = None
        self._master = self._slave = -1
        self._stop_r = self._stop_w = -1
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> PtyBridge:
        """Open the pty (and symlink) and start forwarding.

        Raises:
            FileExistsError: ``link_path`` exists and is not a symlink.
        """
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.slave_path = os.ttyname(self._slave)
        self._stop_r, self._stop_w = os.pipe()
        try:
            if self.link_path is not None:
                _replace_symlink(self.slave_path, self.link_path)
        except BaseException:
            self._close_fds()
            raise
        for target, name in ((self._tool_to_board, "in"), (self._board_to_tool, "out")):
            thread = threading.Thread(target=target, name=f"mpharness-pty-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        log.debug("pty bridge for %s on %s", self.transport.url, self.link_path or self.slave_path)
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until forwarding stopped (transport failure or :meth:`stop`); True if it did."""
        return self._stopped.wait(timeout)

    def stop(self) -> None:
        """Stop forwarding, remove the symlink and close the pty. Idempotent."""
        self._stopping.set()
        if self._stop_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._stop_w, b"x")
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(STOP_CHECK * 4)
        self._threads.clear()
        if self.link_path is not None:
            with contextlib.suppress(OSError):
                if os.readlink(self.link_path) == self.slave_path:
                    os.unlink(self.link_path)
        self._close_fds()
        self._stopped.set()

    def __enter__(self) -> PtyBridge:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the forwarding threads -----------------------------------------------------------------

    def _tool_to_board(self) -> None:
        try:
            while not self._stopping.is_set():
                ready, _, _ = select.select([self._master, self._stop_r], [], [])
                if self._stop_r in ready:
                    return
                data = _read_master(self._master)
                if data:
                    self.transport.write(data)
        except TransportError as exc:
            self._fail(exc)
        except (OSError, ValueError):  # fds closed by stop()
            pass

    def _board_to_tool(self) -> None:
        try:
            while not self._stopping.is_set():
                data = self.transport.read(Deadline.after(STOP_CHECK), READ_SIZE)
                if data:
                    self._write_master(data)
        except TransportError as exc:
            self._fail(exc)
        except (OSError, ValueError):
            pass

    def _write_master(self, data: bytes) -> None:
        view = memoryview(data)
        stall = Deadline.after(WRITE_STALL)
        while view and not self._stopping.is_set():
            try:
                view = view[os.write(self._master, view) :]
                continue
            except BlockingIOError:
                pass
            _, writable, _ = select.select([self._stop_r], [self._master], [], stall.remaining())
            if not writable and stall.expired():
                log.debug("pty %s: nobody reads; dropped %d bytes", self.slave_path, len(view))
                return

    def _fail(self, exc: TransportError) -> None:
        if self._stopping.is_set():
            return
        log.info("pty bridge %s: transport failed: %s", self.slave_path, exc)
        self.error = exc
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")
        self._stopped.set()

    def _close_fds(self) -> None:
        for name in ("_master", "_slave", "_stop_r", "_stop_w"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)


def _read_master(master: int) -> bytes:
    try:
        return os.read(master, READ_SIZE)
    except BlockingIOError:
        return b""
    except OSError as exc:
        if exc.errno == errno.EIO:  # cannot happen while we hold the slave; be safe
            return b""
        raise


def _replace_symlink(target: str, link: str) -> None:
    """Point ``link`` at ``target`` atomically; refuse to replace anything but a symlink."""
    if os.path.lexists(link) and not os.path.islink(link):
        raise FileExistsError(errno.EEXIST, "exists and is not a symlink", link)
    temp = f"{link}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)
    os.symlink(target, temp)
    os.replace(temp, link)


def serve_pty(transport: Transport, link_path: str | None, on_ready: Callable[[str], None]) -> None:
    """Bridge ``transport`` to a new pty until Ctrl-C (or until the transport fails).

    Args:
        transport: an open transport; it stays open (the caller closes it).
        link_path: optional symlink to create for the pty (e.g. ``/tmp/ttyACM0``).
        on_ready: called once with the path tools should open (the link, else the pty).

    Raises:
        TransportError: the transport failed while serving.
    """
    with PtyBridge(transport, link_path) as bridge:
        on_ready(link_path or bridge.slave_path)
        try:
            bridge.wait()
        except KeyboardInterrupt:
            return
    if bridge.error is not None:
        raise bridge.error
