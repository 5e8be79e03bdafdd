"""WebREPL passwords never reach cell outputs, error replies or the kernel's log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_virtual_board
from tests.kernel.conftest import KernelHarness

RIG_PASSWORD = "hunter2-rig-secret"
ENV_PASSWORD = "env-webrepl-secret-9"
RIG = """\
boards:
  wsboard:
    url: ws://127.0.0.1:9
    password: ${MPH_TEST_PW}
"""


@pytest.fixture(scope="module")
def kernel_with_secrets(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[KernelHarness, Path]]:
    require_virtual_board("unix")
    tmp = tmp_path_factory.mktemp("secrets")
    (tmp / "rig.yaml").write_text(RIG)
    log = tmp / "kernel.log"
    env = {
        "MPHARNESS_RIG": str(tmp / "rig.yaml"),
        "MPH_TEST_PW": RIG_PASSWORD,
        "MPHARNESS_WEBREPL_PASSWORD": ENV_PASSWORD,
    }
    with log.open("w") as sink:
        harness = KernelHarness("unix", env, stdout=sink, stderr=sink, extra_arguments=["--debug"])
        try:
            yield harness, log
        finally:
            harness.close()


def _everything(reply: object) -> str:
    return repr(reply.content) + repr(reply.messages)  # type: ignore[attr-defined]


def test_secrets_never_shown(kernel_with_secrets: tuple[KernelHarness, Path]) -> None:
    kernel, log = kernel_with_secrets
    failed = kernel.execute("%connect wsboard")
    assert failed.status == "error"
    printed = kernel.execute("print('pw: env-webrepl-' + 'secret-9')")
    assert printed.stdout == "pw: ********\n"
    raised = kernel.execute("raise ValueError('env-webrepl-' + 'secret-9')")
    assert raised.content["evalue"] == "********"
    listing = kernel.execute("%discover")
    assert "wsboard" in listing.stdout
    kernel.execute("s = 'env-webrepl-' + 'secret-9'\n%store s")
    stored = kernel.execute("%%host\ns")
    assert stored.result == "'********'"
    for reply in (failed, printed, raised, listing, stored):
        text = _everything(reply)
        assert RIG_PASSWORD not in text and ENV_PASSWORD not in text
    logged = log.read_text()
    assert "DEBUG" in logged or "execute_request" in logged, "the kernel logged at debug level"
    assert RIG_PASSWORD not in logged and ENV_PASSWORD not in logged
