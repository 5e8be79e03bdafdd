"""The byte-link interface every transport implements.

A transport moves opaque bytes between the host and one board. It knows nothing of the
raw REPL. Reads block in ``select``/``read`` for at most the deadline's remaining time
(never sleep-polling) and return whatever is available, at least one byte unless the
deadline passed. A link that is gone raises :class:`~mpharness.errors.TransportClosed`.

Transports that can do more than move bytes say so through the ``can_*`` properties:
a hard reset (DTR/RTS on serial, respawn on virtual boards) and a reconnect (WebREPL after
a soft reset drops the socket).
"""

from __future__ import annotations

import abc

from mpharness.deadline import Deadline


class Transport(abc.ABC):
    """A bidirectional byte link to one board."""

    #: the URL this transport was opened from (never contains a password)
    url: str = ""

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Send all of ``data``; raises TransportClosed if the link is gone."""

    @abc.abstractmethod
    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        """Return up to ``size`` available bytes.

        Blocks until at least one byte is available or the deadline passes, in which case it
        returns ``b""``. Raises TransportClosed when the link is gone.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the link and anything it started (processes, sockets). Idempotent."""

    @property
    def closed(self) -> bool:
        """True once the link is gone or closed."""
        return False

    @property
    def may_corrupt(self) -> bool:
        """Whether the link can damage bytes unnoticed (a UART has no checksum; TCP, a pty
        or a socket pair do not lose bytes). Decides ``integrity: auto``."""
        return False

    @property
    def binary_clean(self) -> bool:
        """Whether REPL traffic may hold any byte value (WebREPL's text frames may not): file
        transfers then send data as raw bytes, see :mod:`mpharness.files.binary`."""
        return True

    @property
    def can_hard_reset(self) -> bool:
        """Whether :meth:`hard_reset` does anything."""
        return False

    def hard_reset(self, deadline: Deadline) -> None:
        """Reset the MCU (or restart a virtual board); it boots to the friendly REPL."""
        raise NotImplementedError(f"{type(self).__name__} cannot hard-reset")

    @property
    def can_reconnect(self) -> bool:
        """Whether :meth:`reconnect` can restore a dropped link."""
        return False

    def reconnect(self, deadline: Deadline) -> None:
        """Re-open a link that dropped (e.g. WebREPL after a soft reset)."""
        raise NotImplementedError(f"{type(self).__name__} cannot reconnect")

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
