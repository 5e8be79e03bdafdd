"""The board modules of mpharness itself: the board's pytest and its on-demand parts.

Theory of operation
-------------------
Every on-board test program imports the board's pytest (``pytest_core.py`` from
``mpharness/_device``, on the board ``_mphpt<hash>``); a test module's ``import pytest``
becomes an import of it. The rest of pytest's board API lives in modules of its own
(``pytest_outcomes.py``, ``pytest_approx.py``, ``pytest_raises.py``, ...), imported by the
program only when the test's code names what they define (:data:`ON_DEMAND`): a micro:bit
compiles about 7 ms per KB after every soft reset. Each module's board name ends in its
content hash, so a board that lists the file has the current version (``board_cache.py``).
:class:`BoardModule` is the unit the plugin writes to a board (also used for module images).
"""

from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass, field
from functools import lru_cache


def digest(text: str | bytes, size: int = 8) -> str:
    """A short hex content hash for board file names."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:size]


@lru_cache(maxsize=8)
def device_helper(name: str) -> str:
    """A device-side file from ``mpharness/_device``, compacted for small boards.

    Comment and blank lines are dropped and indentation shrunk (the files use 4 spaces).
    """
    text = importlib.resources.files("mpharness").joinpath("_device", name).read_text("utf-8")
    kept = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            body = line.lstrip(" ")
            kept.append(" " * ((len(line) - len(body)) // 4) + body)  # 4-space indents -> 1
    return "\n".join(kept) + "\n"


@dataclass(frozen=True)
class BoardModule:
    """A module file the board imports.

    Attributes:
        name: module name on the board (the file is ``name + ".py"``).
        text: the file's content.
        source: the host file whose lines it keeps (None for mpharness' own modules).
        plain_asserts: line -> expression source of each rewritten non-comparison assert.
    """

    name: str
    text: str
    source: str | None = None
    plain_asserts: dict[int, str] = field(default_factory=dict, compare=False)
    #: name prefix shared by the other versions of this module (removed when it is written)
    family: str = ""

    @property
    def filename(self) -> str:
        return self.name + ".py"


#: (device file, board name prefix) of mpharness' board modules, in the order they are
#: written (a module's imports first).
RUNTIME_FILES = (
    ("pytest_core.py", "_mphpt"),
    ("pytest_outcomes.py", "_mphsk"),
    ("pytest_approx.py", "_mphap"),
    ("pytest_raises.py", "_mphrs"),
    ("pytest_warns.py", "_mphwn"),
)


@lru_cache(maxsize=1)
def runtime_modules() -> tuple[BoardModule, ...]:
    """mpharness' board modules: the board's pytest (``_mphpt``: outcome exceptions, skip,
    fail, xfail, importorskip, the test program's steps), which every test program imports
    and a test module's ``import pytest`` becomes, then ``approx`` and ``raises``, imported
    only when the test's code names them. Each name ends in its content hash; a placeholder
    such as ``_MPHPT`` in a file is replaced by the board name of a module before it."""
    modules: list[BoardModule] = []
    names: dict[str, str] = {}
    for filename, prefix in RUNTIME_FILES:
        text = device_helper(filename)
        for placeholder, name in names.items():
            text = text.replace(placeholder, name)
        module = BoardModule(prefix + digest(text), text, family=prefix)
        names[prefix.upper()] = module.name
        modules.append(module)
    return tuple(modules)


def core_name() -> str:
    """The board module name of the board's pytest."""
    return runtime_modules()[0].name


#: runtime modules imported on demand: prefix -> the words of the test's code that need it
#: (each module sets its functions on the board's pytest when imported)
ON_DEMAND = {
    "_mphsk": frozenset({"skip", "fail", "xfail", "importorskip"}),
    "_mphap": frozenset({"approx"}),
    "_mphrs": frozenset({"raises"}),
    "_mphwn": frozenset({"warns", "deprecated_call", "warnings"}),
}
#: standard modules the boards lack, stood in for by a runtime module: a test module's
#: imports of them are rewritten to import it (``shipping.py``)
STAND_INS = {"warnings": "_mphwn"}


def runtime_name(prefix: str) -> str:
    """The board module name of the runtime module with this prefix."""
    return next(m.name for m in runtime_modules() if m.family == prefix)
