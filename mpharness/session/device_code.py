"""Board-side helper code: real ``.py`` files in ``mpharness/_device/``, sent as source.

Theory of operation: the helpers are read with :mod:`importlib.resources` and compacted
(comments and blank lines dropped, indentation cut to one space per level) because every byte
costs time on slow links. :func:`device_code` joins the helper files an operation needs and
appends statements; :func:`call` makes one call whose arguments are ``repr()`` literals, so no
host value is ever pasted into board code as text.
"""

from __future__ import annotations

import functools
import importlib.resources


@functools.cache
def helper_source(name: str) -> str:
    """The compacted source of ``mpharness/_device/<name>.py``."""
    text = importlib.resources.files("mpharness").joinpath("_device", f"{name}.py")
    lines = []
    for line in text.read_text("utf-8").split("\n"):
        stripped = line.lstrip(" ")
        if stripped and not stripped.startswith("#"):
            lines.append(" " * ((len(line) - len(stripped)) // 4) + stripped)
    return "\n".join(lines) + "\n"


def call(func: str, *args: object) -> str:
    """``func(arg, ...)`` with every argument a ``repr()`` literal."""
    return f"{func}({', '.join(repr(arg) for arg in args)})"


def device_code(helpers: tuple[str, ...], *statements: str) -> str:
    """The helper files named, then ``statements`` (one per line)."""
    return "".join(helper_source(h) for h in helpers) + "\n".join(statements) + "\n"
