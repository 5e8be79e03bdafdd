"""Board URLs for shaped links: ``shaped:OPTS;URL``.

``shaped:baud=115200,latency_ms=2;unix:`` is the board ``unix:`` behind a
:class:`~mpharness.virtual.shaper.ShapedTransport` (115200 baud, 2 ms each way);
``shaped:latency_ms=300,jitter_ms=50;unix:`` adds 300 to 350 ms each way (order kept);
``shaped:up_latency_ms=1000;unix:`` holds host->board bytes for 1 s;
``shaped:hold_ms=1000;unix:`` delivers host->board bytes written in the link's first second only
then (a modern board on QEMU's ``-serial pty``). Such a URL
works wherever a board URL does (``open_board``, ``--device``, rig files);
:func:`shaped_url` builds one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from mpharness.errors import ConfigError, TransportError
from mpharness.transports.base import Transport
from mpharness.virtual.shaper import ShapedTransport

__all__ = ["SHAPED_SCHEME", "open_shaped", "parse_shaped_url", "shaped_url"]

SHAPED_SCHEME = "shaped:"

_URL_KEYS: dict[str, tuple[str, Callable[[str], object]]] = {
    "baud": ("baudrate", int),
    "latency_ms": ("latency_s", lambda v: float(v) / 1000.0),
    "up_latency_ms": ("up_latency_s", lambda v: float(v) / 1000.0),
    "down_latency_ms": ("down_latency_s", lambda v: float(v) / 1000.0),
    "jitter_ms": ("jitter_s", lambda v: float(v) / 1000.0),
    "hold_ms": ("hold_s", lambda v: float(v) / 1000.0),
    "drop": ("drop_rate", float),
    "corrupt": ("corrupt_rate", float),
    "seed": ("seed", str),
}


def shaped_url(
    url: str,
    *,
    baudrate: int | None = None,
    latency_s: float = 0.0,
    up_latency_s: float | None = None,
    down_latency_s: float | None = None,
    jitter_s: float = 0.0,
    hold_s: float = 0.0,
    drop_rate: float = 0.0,
    corrupt_rate: float = 0.0,
    seed: int | str | None = None,
) -> str:
    """The board URL of ``url`` behind a shaped link, e.g. ``shaped:baud=115200;unix:``.

    Usable everywhere a board URL is (``open_board``, ``--device``, rig files).
    """
    opts = []
    if baudrate:
        opts.append(f"baud={baudrate}")
    if latency_s:
        opts.append(f"latency_ms={latency_s * 1000.0:g}")
    if up_latency_s is not None:
        opts.append(f"up_latency_ms={up_latency_s * 1000.0:g}")
    if down_latency_s is not None:
        opts.append(f"down_latency_ms={down_latency_s * 1000.0:g}")
    if jitter_s:
        opts.append(f"jitter_ms={jitter_s * 1000.0:g}")
    if hold_s:
        opts.append(f"hold_ms={hold_s * 1000.0:g}")
    if drop_rate:
        opts.append(f"drop={drop_rate:g}")
    if corrupt_rate:
        opts.append(f"corrupt={corrupt_rate:g}")
    if seed is not None:
        opts.append(f"seed={seed}")
    return f"{SHAPED_SCHEME}{','.join(opts)};{url}"


def parse_shaped_url(url: str) -> tuple[str, dict[str, object]]:
    """Split ``shaped:OPTS;INNER`` into the inner URL and ShapedTransport keyword arguments.

    OPTS is a comma-separated list of ``baud=N``, ``latency_ms=X`` (each way),
    ``up_latency_ms=X`` (host->board), ``down_latency_ms=X`` (board->host), ``jitter_ms=X``,
    ``hold_ms=X`` (no host->board byte arrives before X ms after opening),
    ``drop=P``, ``corrupt=P``, ``seed=S`` (any may be left out).

    Raises:
        ConfigError: not a shaped URL, no ``;`` before the inner URL, or a bad option.
    """
    if not url.lower().startswith(SHAPED_SCHEME) or ";" not in url:
        raise ConfigError(
            f"expected shaped:OPTIONS;URL (e.g. shaped:baud=115200;unix:), not {url!r}"
        )
    opts_text, inner = url[len(SHAPED_SCHEME) :].split(";", 1)
    kwargs: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in opts_text.split(","))):
        key, _, value = item.partition("=")
        if key not in _URL_KEYS:
            raise ConfigError(
                f"unknown shaper option {key!r} in {url!r}; known: {', '.join(_URL_KEYS)}"
            )
        name, convert = _URL_KEYS[key]
        try:
            kwargs[name] = convert(value)
        except ValueError as exc:
            raise ConfigError(f"bad shaper option {item!r} in {url!r}: {exc}") from None
    if not inner:
        raise ConfigError(f"no board URL after ';' in {url!r}")
    return inner, kwargs


def open_shaped(
    url: str,
    *,
    baudrate: int | None = None,
    password: str | None = None,
    timeout: float | None = 10.0,
    open_inner: Callable[..., Transport],
) -> ShapedTransport:
    """Open a ``shaped:OPTS;INNER`` URL: the inner board's transport behind a shaper.

    ``baudrate`` and ``password`` go to the inner transport (a rig's serial speed, WebREPL).
    ``open_inner`` opens the inner URL (the URL dispatcher,
    :func:`mpharness.transports.open_transport`, passes itself: virtual boards never import
    the dispatcher that imports them).
    """
    inner_url, kwargs = parse_shaped_url(url)
    inner = open_inner(inner_url, baudrate=baudrate, password=password, timeout=timeout)
    try:
        shaped = ShapedTransport(inner, **kwargs)  # type: ignore[arg-type]
    except BaseException:
        with contextlib.suppress(TransportError):
            inner.close()
        raise
    shaped.url = url
    return shaped
