"""Small helpers shared by the rig/config tests: write a rig file, catch its ConfigError."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mpharness.errors import ConfigError
from mpharness.rigs.rig import Rig


def write(directory: Path, name: str, text: str) -> Path:
    """Write dedented ``text`` to ``directory/name`` (creating folders) and return the path."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(directory: Path, text: str, name: str = "rig.yaml") -> Rig:
    """Load a rig made of one file with ``text``."""
    return Rig.load([str(write(directory, name, text))])


def load_error(directory: Path, text: str, name: str = "rig.yaml") -> ConfigError:
    """The ConfigError that loading a one-file rig with ``text`` raises."""
    with pytest.raises(ConfigError) as info:
        load(directory, text, name)
    return info.value


def where(err: ConfigError) -> tuple[str | None, int | None, str | None]:
    """(path, line, key) of a ConfigError."""
    return err.path, err.line, err.key
