"""Host stand-ins for board-only modules while pytest imports a test file.

Theory of operation
-------------------
A test file for the board may import MicroPython's port modules at its top (``from machine
import Pin``, ``import network``). The host cannot import them, and an ``ImportError`` during
collection would stop the whole file from being collected. While pytest imports a test file
(:func:`stubbed`), a finder at the *end* of ``sys.meta_path`` answers only for module names of
the ini list ``mpharness_board_modules`` that no real finder found: it gives a
:class:`BoardOnlyModule`, whose every attribute is a :class:`BoardOnly` placeholder (callable,
with attributes of its own), so top-level code such as ``LED = Pin(2, Pin.OUT)`` runs.
``micropython.const`` returns its argument, as on the board. A module the host does have is
never replaced. After the file is imported the finder and the stand-ins are removed again, so
code that runs on the host later (host-driven tests) gets the real ``ImportError``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

#: MicroPython port modules a host lacks (the ini key's default).
DEFAULT_BOARD_MODULES = (
    "machine",
    "micropython",
    "network",
    "esp",
    "esp32",
    "espnow",
    "pyb",
    "rp2",
    "bluetooth",
    "ubluetooth",
    "neopixel",
    "framebuf",
    "microbit",
    "uctypes",
    "btree",
    "onewire",
    "ds18x20",
    "dht",
    "umachine",
    "cryptolib",
)


class BoardOnly:
    """A placeholder for something that exists only on the board."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> BoardOnly:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return BoardOnly(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> BoardOnly:
        return BoardOnly(f"{self._name}(...)")

    def __repr__(self) -> str:
        return f"<board-only {self._name}>"


class BoardOnlyModule(types.ModuleType):
    """A host stand-in for a board-only module (see the module docstring)."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if self.__name__ == "micropython" and attr == "const":
            return lambda value: value
        return BoardOnly(f"{self.__name__}.{attr}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        self.made: list[str] = []

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.names:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        self.made.append(spec.name)
        return BoardOnlyModule(spec.name, "board-only module (mpharness host stand-in)")

    def exec_module(self, module: types.ModuleType) -> None:
        return None


@contextmanager
def stubbed(names: Iterable[str]) -> Iterator[None]:
    """Within the block, importing a missing module of ``names`` gives a stand-in."""
    finder = _Finder(names)
    if not finder.names:
        yield
        return
    sys.meta_path.append(finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in finder.made:
            if isinstance(sys.modules.get(name), BoardOnlyModule):
                del sys.modules[name]
