"""Plugin tests: pytester runs of small test files against the virtual boards."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # pytester is a pytest plugin that must be enabled explicitly; pytest_plugins is only
    # allowed in the top-level conftest, so enable it here when it is not already on.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
