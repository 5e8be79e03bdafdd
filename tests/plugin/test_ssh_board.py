"""On-board pytest tests on a Linux board's CPython, over ``ssh://`` (loopback sshd)."""
# ruff: noqa: F811  (fixtures imported from tests.sshd_server are parameters here)

from __future__ import annotations

import pytest

from tests.plugin.helpers import run
from tests.sshd_server import ssh_url, sshd  # noqa: F401 - fixtures


def test_on_board_tests_run_on_cpython_over_ssh(pytester: pytest.Pytester, ssh_url: str) -> None:
    pytester.makepyfile(
        """
        import pytest
        pytestmark = pytest.mark.on_board

        @pytest.mark.parametrize("n", [1, 2])
        def test_on_board(n):
            import sys
            assert sys.implementation.name == "cpython"
            assert n * 2 in (2, 4)

        def test_fails_on_board():
            assert 1 + 1 == 3
        """
    )
    result = run(pytester, ssh_url)
    result.assert_outcomes(passed=2, failed=1)
