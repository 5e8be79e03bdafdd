"""Copying a rig entry's ``resources`` to the board before the first test (``--board-sync``).

The work is the engine's hash-based sync (:mod:`mpharness.files.sync`): IoT Kernel's rules for
where each resource goes (:func:`plan_resources`), only changed files uploaded, every upload
verified on the board.
"""

from __future__ import annotations

from mpharness.files.sync import DEFAULT_EXCLUDE, plan_resources, sync_resources

__all__ = ["DEFAULT_EXCLUDE", "plan_resources", "sync_resources"]
