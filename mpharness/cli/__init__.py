"""The ``mpharness`` command (front end): argument parsing and user-facing output.

May import: the public API and ``tools/``, ``files.sync``, ``rigs.discovery``; nothing
below imports it.
"""

from __future__ import annotations

from mpharness.cli.main import main

__all__ = ["main"]
