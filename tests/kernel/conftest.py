"""A real mpharness kernel process, driven over the Jupyter protocol with jupyter_client.

The kernel is started from the kernelspec shipped in the package (with this interpreter), so
the tests do not depend on which kernelspecs happen to be installed.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from jupyter_client.manager import KernelManager
from mpharness_kernel.install import packaged_kernel_spec_manager

from tests.conftest import require_virtual_board

START_TIMEOUT = 60.0
#: One IPython directory for the kernels of a test run (kept across kernels, as a user's is).
IPYTHON_DIR = tempfile.mkdtemp(prefix="mph-ipython-")


@dataclass
class Reply:
    """An execute reply with the IOPub messages that belonged to it."""

    content: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.content["status"])

    @property
    def ename(self) -> str | None:
        return self.content.get("ename")

    @property
    def stdout(self) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.messages
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.messages if m["msg_type"] == msg_type]

    @property
    def result(self) -> str | None:
        results = self.of_type("execute_result")
        return results[-1]["data"]["text/plain"] if results else None


class KernelHarness:
    """One kernel process and a blocking client."""

    def __init__(self, device: str | None, env: dict[str, str] | None = None, **start: Any) -> None:
        self.km = KernelManager(
            kernel_name="mpharness", kernel_spec_manager=packaged_kernel_spec_manager()
        )
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MPHARNESS_")}
        # the host shell's %store database and profile live here, not in the user's ~/.ipython
        full_env["IPYTHONDIR"] = IPYTHON_DIR
        if device:
            full_env["MPHARNESS_DEVICE"] = device
        full_env.update(env or {})
        self.km.start_kernel(env=full_env, **start)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=START_TIMEOUT)

    def execute(self, code: str, timeout: float = 30.0) -> Reply:
        """Run a cell; returns the reply and its output messages (with arrival times)."""
        messages: list[dict[str, Any]] = []

        def hook(msg: dict[str, Any]) -> None:
            msg["received"] = time.monotonic()
            messages.append(msg)

        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=hook)
        return Reply(reply["content"], messages)

    def request(self, method: str, *args: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Send a shell request (complete, inspect, is_complete, ...) and return the reply."""
        msg_id = getattr(self.kc, method)(*args)
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return dict(reply["content"])

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def _kernel(device: str) -> Iterator[KernelHarness]:
    require_virtual_board(device)
    harness = KernelHarness(device)
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture(scope="module")
def unix_kernel() -> Iterator[KernelHarness]:
    """A kernel on the unix board, shared by the tests of a module."""
    yield from _kernel("unix")


@pytest.fixture(scope="module")
def microbit_kernel() -> Iterator[KernelHarness]:
    """A kernel on the QEMU micro:bit, shared by the tests of a module."""
    yield from _kernel("microbit")
