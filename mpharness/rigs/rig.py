"""The rig: the boards named by rig files, and resolving a board name or URL to a spec.

Theory of operation: ``Rig.load`` finds rig files (``--rig`` paths, else ``$MPHARNESS_RIG``,
else ``hil_rigs/*.yaml`` of the project: the current directory's ``hil_rigs/``, else the nearest
parent directory's, as pytest looks upward for its rootdir; the search stops at the first
directory that marks a project top, ``pyproject.toml``, ``.git``..., see :func:`find_rig_dir`;
plus the folders of IoT Kernel's ``$IOT_DEVICES``), parses each with ``mpharness.rigs.rig_file``
and merges their boards; a name defined in two files is an error naming both. Loading never
substitutes ``${VAR}``: ``Rig.resolve`` does, for the one board being used (the password only
later, through ``BoardSpec.webrepl_password``). ``resolve`` looks a string up as a rig
name, then as a built-in (``unix``, ``microbit``, ``webrepl``; a rig file may redefine them),
then takes anything that looks like a port or URL (contains ``:``, ``/`` or ``\\``, or is
``COMn``) as an anonymous board; anything else is an unknown name, reported with the closest
known names.
Rig names can never look like a URL, so ``resolve_board`` skips loading rig files for URLs.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from mpharness.errors import ConfigError
from mpharness.rigs.boardspec import (
    PASSWORD_ENV,
    RESET_MODES,
    BoardSpec,
    Resource,
    RigText,
    Source,
    expand_text,
)
from mpharness.rigs.rig_file import load_rig_file

__all__ = [
    "BUILTIN_BOARDS",
    "PASSWORD_ENV",
    "RESET_MODES",
    "RIG_ENV",
    "BoardSpec",
    "Resource",
    "Rig",
    "RigText",
    "Source",
    "expand_text",
    "find_rig_dir",
    "looks_like_url",
    "resolve_board",
]

#: Environment variable with rig file paths (``os.pathsep``-separated; files, dirs or globs).
RIG_ENV = "MPHARNESS_RIG"
#: IoT Kernel's list of folders holding device files (``os.pathsep``-separated), read in
#: addition to ``hil_rigs/`` when neither ``--rig`` nor ``$MPHARNESS_RIG`` is given.
IOT_DEVICES_ENV = "IOT_DEVICES"
#: Where rig files are looked for when neither ``--rig`` nor ``$MPHARNESS_RIG`` is given.
DEFAULT_RIG_GLOBS = ("hil_rigs/*.yaml", "hil_rigs/*.yml")
#: The directory of default rig files, looked for in the current directory and its parents.
RIG_DIR = "hil_rigs"
#: Files or directories that mark a project's top directory: the upward search ends there.
PROJECT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini")

#: Boards that need no rig file.
BUILTIN_BOARDS: Mapping[str, BoardSpec] = MappingProxyType(
    {
        "unix": BoardSpec(
            name="unix",
            urls=("unix:",),
            description="virtual board: unix-port MicroPython on a pty, fresh temporary root",
        ),
        "microbit": BoardSpec(
            name="microbit",
            urls=("qemu:microbit",),
            description="virtual board: micro:bit MicroPython 1.9.2 in QEMU",
        ),
        "webrepl": BoardSpec(
            name="webrepl",
            urls=("webrepl:",),
            description="virtual board: a unix board behind a local WebREPL server",
        ),
    }
)

_COM_RE = re.compile(r"(?i)com\d+")
_GLOB_CHARS = frozenset("*?[")


def looks_like_url(text: str) -> bool:
    """Whether ``text`` addresses a board directly (port path or URL) rather than by name."""
    return any(c in text for c in ":/\\") or _COM_RE.fullmatch(text) is not None


@dataclass(frozen=True, eq=False)
class Rig:
    """The boards of a set of rig files (not including the built-ins).

    Attributes:
        boards: rig name -> spec, in file order; values are raw (``${VAR}`` not substituted).
        files: the rig files loaded, absolute paths, in load order.
        searched: where rig files were looked for, for messages.
        rig_dir: the default ``hil_rigs`` directory found (None when rig files were named,
            or none was found); its sub-directories are searched for hints on unknown names.
    """

    boards: Mapping[str, BoardSpec] = field(default_factory=lambda: MappingProxyType({}))
    files: tuple[str, ...] = ()
    searched: str = ""
    rig_dir: str | None = None

    @classmethod
    def load(
        cls,
        paths: Sequence[str | os.PathLike[str]] | None = None,
        *,
        cwd: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Rig:
        """Load the rig files.

        Args:
            paths: rig files, directories (their ``*.yaml``/``*.yml``) or globs, e.g. the
                repeatable ``--rig`` option. If empty or None: ``$MPHARNESS_RIG`` (same kinds
                of entries, ``os.pathsep``-separated), else ``hil_rigs/*.yaml`` in ``cwd`` or
                its nearest parent that has one (:func:`find_rig_dir`; none: an empty rig).
            cwd: directory relative paths are taken from (default: the process's).
            environ: environment to read ``MPHARNESS_RIG`` from (default ``os.environ``).

        Raises:
            ConfigError: a named file is missing, a glob matches nothing, a file is invalid,
                or two files define the same board.
        """
        base = os.path.abspath(os.fspath(cwd) if cwd is not None else os.getcwd())
        env = os.environ if environ is None else environ
        if isinstance(paths, (str, os.PathLike)):  # one path, not a sequence of characters
            paths = [paths]
        if paths:
            entries = [os.fspath(p) for p in paths]
            searched = "--rig " + " --rig ".join(entries)
        elif env.get(RIG_ENV, "").strip():
            entries = [e for e in env[RIG_ENV].split(os.pathsep) if e.strip()]
            searched = f"${RIG_ENV}={env[RIG_ENV]}"
        else:
            rig_dir, searched = find_rig_dir(base)
            iot_devices = env.get(IOT_DEVICES_ENV, "")
            files = _default_files(rig_dir) + _iot_device_files(iot_devices, base)
            if iot_devices.strip():
                searched += f" and ${IOT_DEVICES_ENV}={iot_devices}"
            rig = cls.from_files(files, searched=searched)
            return dataclasses.replace(rig, rig_dir=rig_dir)
        files = [f for entry in entries for f in _expand_entry(entry, base)]
        return cls.from_files(files, searched=searched)

    @classmethod
    def from_files(cls, files: Sequence[str], *, searched: str = "") -> Rig:
        """Load the given rig files (no search); duplicates of one file are read once."""
        unique: dict[str, str] = {}
        for path in files:
            unique.setdefault(os.path.realpath(path), os.path.abspath(path))
        return cls.from_specs(
            [spec for path in unique.values() for spec in load_rig_file(path)],
            files=tuple(unique.values()),
            searched=searched,
        )

    @classmethod
    def from_specs(
        cls, specs: Sequence[BoardSpec], *, files: Sequence[str] = (), searched: str = ""
    ) -> Rig:
        """A rig of the given specs; a name given twice is a ConfigError naming both places."""
        boards: dict[str, BoardSpec] = {}
        for spec in specs:
            first = boards.get(spec.name)
            if first is not None:
                raise _duplicate(spec, first)
            boards[spec.name] = spec
        return cls(MappingProxyType(boards), tuple(files), searched)

    def resolve(self, name_or_url: str, *, environ: Mapping[str, str] | None = None) -> BoardSpec:
        """The spec for a board name or URL, with ``${VAR}`` substituted (not the password).

        Order: a rig name; a built-in (``unix``, ``microbit``); a port path or URL (anything
        with ``:``, ``/`` or ``\\``, or ``COMn``) as an anonymous spec named by the URL.

        Raises:
            ConfigError: unknown name (with the closest known names and the rig files), or an
                unset variable in the board's settings (naming file, line, key, variable).
        """
        text = name_or_url.strip()
        if not text:
            raise ConfigError("no board given: expected a rig name, a port or a URL")
        spec = self.boards.get(text) or BUILTIN_BOARDS.get(text)
        if spec is None:
            if not looks_like_url(text):
                raise self._unknown(text)
            spec = BoardSpec(name=text, urls=(text,))
        return spec.expand_vars(environ)

    def get(self, name: str) -> BoardSpec | None:
        """The raw spec of a rig or built-in name, or None."""
        return self.boards.get(name) or BUILTIN_BOARDS.get(name)

    def names(self) -> list[str]:
        """The rig's board names, in file order (without built-ins)."""
        return list(self.boards)

    def all_names(self) -> list[str]:
        """Rig names followed by the built-ins no rig file redefines."""
        return self.names() + [n for n in BUILTIN_BOARDS if n not in self.boards]

    def __iter__(self) -> Iterator[BoardSpec]:
        return iter(self.boards.values())

    def __len__(self) -> int:
        return len(self.boards)

    def __contains__(self, name: object) -> bool:
        return name in self.boards

    def __repr__(self) -> str:
        return f"Rig(names={self.names()!r}, files={self.files!r})"

    def _unknown(self, name: str) -> ConfigError:
        known = self.all_names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        if not close:  # case slips: "ESP32" for "esp32"
            close = [n for n in known if n.lower() == name.lower()]
        message = f"unknown board {name!r}"
        if close:
            message += "; did you mean " + " or ".join(repr(n) for n in close) + "?"
        message += "" if close else ";"
        message += f" known boards: {', '.join(known)}"
        if self.files:
            message += f" (from files {', '.join(self.files)})"
        else:
            message += f" (no rig files: looked for {self.searched or 'none'})"
        for path in _defined_below(self.rig_dir, name):
            rel = os.path.relpath(path)
            message += (
                f"; {name!r} is defined in {rel}, which is not read by default (only "
                f"{RIG_DIR}/*.yaml is): pass --rig {rel} or set {RIG_ENV}"
            )
        return ConfigError(message + "; a port or URL must contain ':' or '/'")


def resolve_board(
    name_or_url: str,
    *,
    rig_paths: Sequence[str | os.PathLike[str]] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> BoardSpec:
    """Resolve a board name or URL as ``Rig.load(...).resolve(...)`` does.

    A port path or URL is returned without reading any rig file (no rig name can look like
    one), so a broken rig file does not stop ``--device /dev/ttyUSB0``.

    Raises:
        ConfigError: see ``Rig.load`` and ``Rig.resolve``.
    """
    text = name_or_url.strip()
    if text and looks_like_url(text):
        return BoardSpec(name=text, urls=(text,))
    return Rig.load(rig_paths, cwd=cwd, environ=environ).resolve(text, environ=environ)


def _duplicate(spec: BoardSpec, first: BoardSpec) -> ConfigError:
    where = "" if first.source is None else f" (first defined at {first.source})"
    source = spec.source
    return ConfigError(
        f"board {spec.name!r} is defined twice{where}",
        path=None if source is None else source.path,
        line=None if source is None else source.line,
        key=spec.name if source is None else source.key,
    )


def find_rig_dir(base: str) -> tuple[str | None, str]:
    """The project's ``hil_rigs`` directory seen from ``base``, and where it was looked for.

    ``base/hil_rigs``, else that of the nearest parent; the search stops after the first
    directory holding a :data:`PROJECT_MARKERS` entry (the project's top), or at the root.

    Returns:
        (the directory or None, a description of the search for messages).
    """
    here = os.path.abspath(base)
    while True:
        candidate = os.path.join(here, RIG_DIR)
        if os.path.isdir(candidate):
            return candidate, os.path.join(candidate, "*.yaml")
        parent = os.path.dirname(here)
        if parent == here or any(os.path.exists(os.path.join(here, m)) for m in PROJECT_MARKERS):
            break
        here = parent
    start = os.path.join(os.path.abspath(base), RIG_DIR)
    if here == os.path.abspath(base):
        return None, f"{start}/*.yaml"
    return None, f"{start}/*.yaml and {RIG_DIR}/*.yaml in the parent directories up to {here}"


def _defined_below(rig_dir: str | None, name: str) -> list[str]:
    """Rig files below ``rig_dir``'s sub-directories that define ``name`` (broken ones skipped)."""
    if rig_dir is None:
        return []
    found = []
    for pattern in ("**/*.yaml", "**/*.yml"):
        for path in sorted(glob.glob(os.path.join(rig_dir, "*", pattern), recursive=True)):
            try:
                if any(spec.name == name for spec in load_rig_file(path)):
                    found.append(path)
            except ConfigError:
                continue
    return found


def _default_files(rig_dir: str | None) -> list[str]:
    if rig_dir is None:
        return []
    return sorted(f for g in ("*.yaml", "*.yml") for f in glob.glob(os.path.join(rig_dir, g)))


def _iot_device_files(value: str, base: str) -> list[str]:
    """The ``*.yaml``/``*.yml`` files of the ``$IOT_DEVICES`` folders that exist (IoT Kernel
    lists optional folders there, so a missing one is skipped)."""
    found: list[str] = []
    for entry in value.split(os.pathsep):
        path = os.path.join(base, os.path.expanduser(os.path.expandvars(entry.strip())))
        if entry.strip() and os.path.isdir(path):
            found += sorted(
                f for g in ("*.yaml", "*.yml") for f in glob.glob(os.path.join(path, g))
            )
        elif entry.strip() and os.path.isfile(path):
            found.append(path)
    return list(dict.fromkeys(os.path.abspath(f) for f in found))


def _expand_entry(entry: str, base: str) -> list[str]:
    """Files named by one ``--rig``/``$MPHARNESS_RIG`` entry: a file, a directory or a glob."""
    path = os.path.join(base, os.path.expanduser(entry.strip()))
    if any(c in entry for c in _GLOB_CHARS):
        matches = sorted(m for m in glob.glob(path) if os.path.isfile(m))
        if not matches:
            raise ConfigError(f"no rig files match {entry!r}", path=path)
        return matches
    if os.path.isdir(path):
        return sorted(f for g in ("*.yaml", "*.yml") for f in glob.glob(os.path.join(path, g)))
    if not os.path.exists(path):
        raise ConfigError("rig file not found", path=path)
    return [path]
