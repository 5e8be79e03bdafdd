"""Lease tests: every test gets its own lock directory (other runs on the host keep theirs)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def lock_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private, short lock directory (AF_UNIX want sockets need short paths)."""
    path = tempfile.mkdtemp(prefix="mphl-", dir="/tmp")
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", path)
    monkeypatch.delenv("MPHARNESS_LEASE_WAIT_S", raising=False)
    yield path
    shutil.rmtree(path, ignore_errors=True)
