"""Board-side helper code, kept as real ``.py`` files in ``_device/``.

The files are loaded with :mod:`importlib.resources` and shrunk before sending (comment and
blank lines dropped, indentation cut to one space per level): every byte costs time on boards
without raw-paste. They must therefore use four-space indentation and no multi-line strings.
Arguments reach the board as ``repr()`` literals, never by string formatting into the code.
"""

from __future__ import annotations

import functools
import importlib.resources


@functools.cache
def device_source(name: str) -> str:
    """The shrunk source of ``_device/<name>.py``."""
    text = (importlib.resources.files("mpharness_kernel") / "_device" / f"{name}.py").read_text(
        encoding="utf-8"
    )
    lines = []
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        depth = (len(line) - len(stripped)) // 4
        lines.append(" " * depth + stripped)
    return "\n".join(lines) + "\n"


def device_call(name: str, func: str, *args: object) -> str:
    """Code that defines ``func`` from ``_device/<name>.py``, calls it with ``args``, deletes it."""
    call = f"{func}({', '.join(repr(arg) for arg in args)})"
    return f"{device_source(name)}{call}\ndel {func}\n"


def device_define(name: str, target: str, factory: str, *args: object) -> str:
    """Code that defines ``target = factory(args)`` from ``_device/<name>.py`` and deletes the
    factory (so what it closed over is reachable only through ``target``)."""
    call = f"{factory}({', '.join(repr(arg) for arg in args)})"
    return f"{device_source(name)}{target} = {call}\ndel {factory}\n"
