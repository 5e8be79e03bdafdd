"""Which leases a board needs, and leasing the first free board of a pool.

Theory of operation: a board is identified for leasing (:mod:`mpharness.sharing.leases`) by its rig
name and by every physical link it has (:func:`lease_keys`). :func:`lease_one_of` takes the
first board of a pool whose keys are all free; when none is, it waits for the first key of
any board, then takes that board's other keys. Keys are always taken in sorted order, so
callers wanting overlapping sets of boards cannot deadlock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

from mpharness.deadline import Deadline
from mpharness.errors import BoardBusy
from mpharness.rigs.boardspec import BoardSpec
from mpharness.secret import redact_url
from mpharness.sharing.leases import Handover, Lease, acquire_all, acquire_first

__all__ = ["lease_keys", "lease_one_of"]

#: Schemes whose every open is a fresh, private board: nothing to lease.
_PRIVATE_SCHEMES = ("unix:", "qemu:", "loop:", "webrepl:")
#: Schemes that wrap another board URL (``shaped:OPTS;URL``): leased as the inner URL.
_WRAPPING_SCHEMES = ("shaped:",)


def lease_keys(spec: BoardSpec) -> list[str]:
    """The lease keys of a board, sorted: what must be held to use it.

    A rig entry is leased by name (``board:NAME``; a virtual board in a rig file, too, so that a
    pool of named ``unix:`` boards is shared like real ones). Every physical link is leased as
    well: a serial device by its real path (``port:...``, so ``/dev/serial/by-id/...`` and
    ``/dev/ttyUSB0`` are one board), a network link by its URL without credentials or query
    (``url:...``; ``ws://user:pw@host`` is ``url:ws://host``). The built-in
    virtual boards and ``unix:``/``qemu:``/``loop://`` URLs need no lease: every open is a
    fresh board. A ``shaped:OPTS;URL`` link is leased as its inner URL.
    """
    from mpharness.rigs.rig import BUILTIN_BOARDS, looks_like_url

    keys: set[str] = set()
    if not looks_like_url(spec.name) and spec.name not in BUILTIN_BOARDS:
        keys.add(f"board:{spec.name}")
    for url in spec.urls:
        key = _link_key(url)
        if key is not None:
            keys.add(key)
    return sorted(keys)


def lease_one_of(
    specs: Sequence[BoardSpec],
    *,
    wait_s: float | None,
    purpose: str = "",
    handover: Handover | None = None,
) -> tuple[BoardSpec, list[Lease]]:
    """Lease the first free board of a pool: its spec and every lease it needs.

    Boards are tried in order without waiting; if all are taken, the caller waits (up to
    ``wait_s``) for the first key of any of them, then takes that board's other keys (keys are
    always taken in sorted order, so two pools sharing boards cannot deadlock).

    Raises:
        BoardBusy: no board became free in time.
    """
    if not specs:
        raise ValueError("empty board pool")
    deadline = Deadline.after(wait_s)
    for spec in specs:
        keys = lease_keys(spec)
        if not keys:
            return spec, []
        with contextlib.suppress(BoardBusy):
            return spec, acquire_all(keys, wait_s=0, purpose=purpose, handover=handover)
    if len(specs) == 1:
        keys = lease_keys(specs[0])
        return specs[0], acquire_all(keys, wait_s=wait_s, purpose=purpose, handover=handover)
    by_first: dict[str, BoardSpec] = {}
    for spec in specs:
        by_first.setdefault(lease_keys(spec)[0], spec)
    names = ", ".join(spec.name for spec in specs)
    first = acquire_first(
        list(by_first),
        wait_s=deadline.remaining(),
        purpose=purpose,
        what=f"pool {names}",
        handover=handover,
    )
    spec = by_first[first.key]
    try:
        rest = acquire_all(
            lease_keys(spec)[1:], wait_s=deadline.remaining(), purpose=purpose, handover=handover
        )
    except BaseException:
        first.release()
        raise
    return spec, [first, *rest]


def _link_key(url: str) -> str | None:
    """The lease key of one link, or None for a private (virtual) one."""
    from mpharness.transports import url_scheme

    lowered = url.lower()
    if lowered.startswith(_WRAPPING_SCHEMES) and ";" in url:
        return _link_key(url.split(";", 1)[1])
    if lowered.startswith(_PRIVATE_SCHEMES):
        return None
    if url_scheme(url) is None:
        return f"port:{os.path.realpath(url) if url.startswith('/') else url}"
    return f"url:{redact_url(url.split('?', 1)[0]).rstrip('/').lower()}"  # no credentials
