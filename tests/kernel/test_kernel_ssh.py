"""The kernel on an ``ssh://`` board (loopback sshd): an interrupt stops the cell, not the link."""
# ruff: noqa: F811  (fixtures imported from tests.sshd_server are parameters here)

from __future__ import annotations

import os

from tests.kernel.conftest import KernelHarness
from tests.sshd_server import ssh_url, sshd  # noqa: F401 - fixtures


def test_interrupt_keeps_the_ssh_session(ssh_url: str) -> None:
    kernel = KernelHarness(ssh_url, {"MPHARNESS_SSH_CONFIG": os.environ["MPHARNESS_SSH_CONFIG"]})
    try:
        assert kernel.execute("kept = 'namespace'").status == "ok"
        kc = kernel.kc
        msg_id = kc.execute(
            "import time\nprint('looping', flush=True)\nwhile True:\n    time.sleep(0.01)"
        )
        while True:  # wait until the board runs the loop
            msg = kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                break
        kernel.km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=30)
        assert reply["content"]["ename"] == "KeyboardInterrupt", reply["content"]
        after = kernel.execute("print(kept)")
        assert (after.status, after.stdout) == ("ok", "namespace\n"), after.content
    finally:
        kernel.close()
