"""Message-level conformance with jupyter_kernel_test (schemas of every reply and output).

The kernel runs on the unix board. Features the kernel does not offer (pager payloads,
clear_output, history) are skipped by jupyter_kernel_test itself, with its reason.
"""

from __future__ import annotations

import os
import unittest

import pytest
from jupyter_client.manager import KernelManager
from mpharness_kernel.install import packaged_kernel_spec_manager

from tests.conftest import virtual_board_missing

jkt = pytest.importorskip("jupyter_kernel_test", reason="jupyter_kernel_test is a dev dependency")

pytestmark = pytest.mark.unix_board


class TestMPHarnessKernelMessages(jkt.KernelTests):  # type: ignore[misc,name-defined]
    kernel_name = "mpharness"
    language_name = "python"
    file_extension = ".py"
    code_hello_world = "print('hello, world')"
    code_stderr = "%%host\nimport sys\nprint('oops', file=sys.stderr)"
    completion_samples = [
        {"text": "import machine; machine.mem", "matches": {"mem8", "mem16", "mem32"}}
    ]
    complete_code_samples = ["x = 1", "print('hi')", "%timeout 5"]
    incomplete_code_samples = ["if x:", "for i in range(3):\n    pass"]
    invalid_code_samples = ["def f(:", "x = )"]
    code_execute_result = [{"code": "6 * 7", "result": "42"}]
    code_display_data = [{"code": "display({'a': 1})", "mime": "application/json"}]
    code_inspect_sample = "print"
    code_generate_error = "raise ValueError('boom')"

    @classmethod
    def setUpClass(cls) -> None:
        missing = virtual_board_missing("unix")
        if missing and os.environ.get("MPHARNESS_REQUIRE_VIRTUAL") != "1":
            raise unittest.SkipTest(missing)
        cls.km = KernelManager(
            kernel_name="mpharness", kernel_spec_manager=packaged_kernel_spec_manager()
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("MPHARNESS_")}
        cls.km.start_kernel(env={**env, "MPHARNESS_DEVICE": "unix"})
        cls.kc = cls.km.client()
        cls.kc.start_channels()
        cls.kc.wait_for_ready(timeout=60)
