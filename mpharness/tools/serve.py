"""``mpharness serve``: share one local board on the network as an RFC 2217 port.

Theory of operation
-------------------
The board (rig name, built-in ``unix``/``microbit`` or URL) is leased for as long as it is
served, so no local session uses it meanwhile, and its first URL is opened as a plain transport
(no raw REPL: the server only moves bytes). :class:`~mpharness.transports.rfc2217_server.
Rfc2217Server` then serves it; any host opens it as ``rfc2217://HOST:PORT`` (a board URL like any
other). A local serial port is driven directly, so DTR/RTS from the client reach the wires; a
virtual board gets the ESP auto-reset circuit emulated, i.e. an esptool-style hard reset
restarts it (see the server module).

Security: RFC 2217 has no authentication, and a served board runs whatever code a client sends
(the ``unix`` board runs it as the serving user, with that user's files). So the default bind is
``127.0.0.1`` (reach it from elsewhere through an SSH tunnel: ``ssh -L PORT:127.0.0.1:PORT``);
any other address must be asked for, and :func:`exposure` says what it exposes, which the CLI
prints. A pre-shared token was considered and left out: the clients that matter (pyserial,
esptool, mpremote) cannot send one.
"""

from __future__ import annotations

import contextlib
import getpass
import ipaddress
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from mpharness.connect import resolve_board
from mpharness.sharing import leases
from mpharness.sharing.board_pool import lease_keys
from mpharness.transports import open_transport
from mpharness.transports.rfc2217_server import Rfc2217Server

if TYPE_CHECKING:
    from mpharness.rigs.rig import Rig

__all__ = ["LOOPBACK", "exposure", "serve_board", "served_board"]

#: The default bind address: this host only.
LOOPBACK = "127.0.0.1"

log = logging.getLogger(__name__)


@contextlib.contextmanager
def served_board(
    name_or_url: str,
    *,
    port: int = 0,
    host: str = LOOPBACK,
    rig: Rig | Sequence[str] | None = None,
    lease_wait_s: float | None = 0.0,
) -> Iterator[Rfc2217Server]:
    """Lease and open a board, and serve it over RFC 2217 while the ``with`` block runs.

    Args:
        name_or_url: rig board name, built-in name or URL of the local board.
        port: TCP port to listen on (0: a free one; see the server's ``address``).
        host: address to bind ("" or "0.0.0.0": every interface).
        rig: a loaded rig or rig file paths (default: the usual search).
        lease_wait_s: seconds to wait while another session holds the board (None: for ever).

    Raises:
        ConfigError, BoardBusy, ConnectError: as :func:`mpharness.open_board`.
        OSError: the TCP port cannot be bound.
    """
    spec = resolve_board(name_or_url, rig)
    held = leases.acquire_all(lease_keys(spec), wait_s=lease_wait_s, purpose="rfc2217 serve")
    try:
        transport = open_transport(spec.urls[0], baudrate=spec.baudrate)
        try:
            server = Rfc2217Server(
                transport, host, port, serial_port=getattr(transport, "serial_port", None)
            )
            with server:
                yield server
        finally:
            transport.close()
    finally:
        for lease in held:
            lease.release()


def serve_board(
    name_or_url: str,
    port: int,
    *,
    host: str = LOOPBACK,
    rig: Rig | Sequence[str] | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve a board until Ctrl-C or until its link fails (then the TransportError is raised).

    ``on_ready`` is called once with the ``rfc2217://`` URL clients should open.
    """
    with served_board(name_or_url, port=port, host=host, rig=rig) as server:
        if on_ready is not None:
            on_ready(server.url)
        try:
            server.wait()
        except KeyboardInterrupt:
            return
        if server.error is not None:
            raise server.error


def exposure(host: str, port: int, board: str) -> str | None:
    """A warning for a bind that reaches beyond this host, or None for a loopback bind."""
    try:
        loopback = host not in ("", "0.0.0.0", "::") and ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: whatever interfaces it resolves to
        loopback = host == "localhost"
    if loopback:
        return None
    where = "every interface" if host in ("", "0.0.0.0", "::") else host
    return (
        f"serving {board} on {where}, port {port}, without authentication: anyone who can reach "
        f"it can run code on the board (on the unix board: as {getpass.getuser()} on this host)"
    )
