"""IoT Kernel and jupyter_micropython_kernel magics, over the Jupyter protocol on virtual boards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import mpharness
from mpharness.errors import BoardBusy
from mpharness.virtual.unix_board import open_unix_board
from mpharness.virtual.webrepl_board import WebReplServer
from tests.conftest import require_virtual_board
from tests.kernel.conftest import KernelHarness

pytestmark = pytest.mark.unix_board

SECRET = "wifi-secret-4711"
DEVICES = """\
iotunix:
  url: "unix:"
  resources:
    - pystone.py
    - secrets.py: /
    - bno055
spare:
  url: "unix:"
dual:
  url: ["ws://127.0.0.1:9", "unix:"]
"""


@pytest.fixture(scope="module")
def iot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KernelHarness, Path]]:
    """A kernel started in a folder laid out for IoT Kernel: device file, libs, secrets."""
    require_virtual_board("unix")
    root = tmp_path_factory.mktemp("iot")
    files = {
        "devices/boards.yaml": DEVICES,
        "libs/pystone.py": "LOOPS = 1\n",
        "libs/bno055/__init__.py": "",
        "libs/bno055/bno055.py": "ADDRESS = 0x28\n",
        "private/secrets.py": f"wifi_password = {SECRET!r}\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    locks = root / "locks"
    locks.mkdir()
    env = {
        "IOT_DEVICES": str(root / "devices"),
        "IOT_LIBS": str(root / "libs"),
        "IOT_SECRETS": str(root / "private" / "secrets.py"),
        "MPHARNESS_LOCK_DIR": str(locks),
    }
    (root / "work").mkdir()
    harness = KernelHarness(None, env, cwd=str(root / "work"))
    try:
        yield harness, root
    finally:
        harness.close()


def _ok(kernel: KernelHarness, code: str) -> str:
    reply = kernel.execute(code)
    assert reply.status == "ok", reply.content
    return reply.stdout


# ------------------------------------------------------------------ host dispatch (IoT rule)
def test_writefile_and_shell_lines_run_on_the_host(iot: tuple[KernelHarness, Path]) -> None:
    kernel, root = iot
    assert "Writing main.py" in _ok(kernel, "%%writefile main.py\nprint('from main')\n")
    assert (root / "work" / "main.py").read_text() == "print('from main')\n"
    assert _ok(kernel, "!cat main.py") == "print('from main')\n"
    assert kernel.execute("%pwd").result == repr(str(root / "work"))
    mixed = kernel.execute("%connect iotunix\nx = 6\n!echo between\nx * 7")
    assert mixed.status == "ok" and "between\n" in mixed.stdout and mixed.result == "42"


def test_host_cells_are_ipython(iot: tuple[KernelHarness, Path]) -> None:
    kernel, _ = iot
    reply = kernel.execute(
        "%%host\nfiles = !ls\n%env MPH_DEMO=1\nimport os\nos.environ['MPH_DEMO']"
    )
    assert reply.status == "ok", reply.content
    assert reply.result == "'1'"
    assert kernel.execute("%%host\n'main.py' in files").result == "True"
    failed = kernel.execute("%%host\n1/0")
    assert failed.ename == "ZeroDivisionError"
    assert kernel.execute("%nosuchmagic").ename == "UsageError"


# ------------------------------------------------------------------ %rsync / %rdiff (IoT)
def test_rsync_of_resources_with_iot_defaults(iot: tuple[KernelHarness, Path]) -> None:
    kernel, root = iot
    _ok(kernel, "%connect iotunix")
    plan = _ok(kernel, "%rdiff")
    assert sorted(plan.splitlines()) == [
        "ADD /lib/bno055/__init__.py",
        "ADD /lib/bno055/bno055.py",
        "ADD /lib/pystone.py",
        "ADD /secrets.py",
    ]
    assert _ok(kernel, "%rsync") == plan
    assert _ok(kernel, "%rdiff") == "Directories match\n"
    assert _ok(kernel, "%cat /lib/bno055/bno055.py") == "ADDRESS = 0x28\n"
    _ok(kernel, "%sendtofile /lib/stale.py\nOLD = 1\n")
    (root / "libs" / "pystone.py").write_text("LOOPS = 2\n")
    assert _ok(kernel, "%rdiff -u") == "UPDATE /lib/pystone.py\n"
    assert _ok(kernel, "%rdiff") == "UPDATE /lib/pystone.py\nDELETE /lib/stale.py\n"
    _ok(kernel, "%rsync -u")
    assert "stale.py" in _ok(kernel, "%ls /lib")
    _ok(kernel, "%rsync")
    assert "stale.py" not in _ok(kernel, "%ls /lib")
    assert "boot" not in _ok(kernel, "%rdiff"), "the root folder is never swept"


def test_secrets_py_never_shown(iot: tuple[KernelHarness, Path]) -> None:
    kernel, root = iot
    _ok(kernel, "%connect iotunix\n%rsync")
    shown = kernel.execute("%cat /secrets.py")
    printed = kernel.execute("exec(open('/secrets.py').read())\nprint(wifi_password)")
    value = kernel.execute("wifi_password")
    shown_rich = kernel.execute(
        "display({'pw': wifi_password})\ndisplay(wifi_password, 'text/html')"
    )
    secrets_py = root / "private" / "secrets.py"
    host = kernel.execute(
        f"%%host\nfrom IPython.display import HTML\nHTML(open({str(secrets_py)!r}).read())"
    )
    assert host.status == "ok" and "text/html" in host.of_type("execute_result")[0]["data"]
    for reply in (shown, printed, value, shown_rich, host):
        assert SECRET not in repr(reply.content) + repr(reply.messages)
    assert printed.stdout == "********\n" and value.result == "'********'"
    assert shown_rich.of_type("display_data")[0]["data"]["application/json"] == {"pw": "********"}


def test_rsync_without_resources_is_a_clear_error(iot: tuple[KernelHarness, Path]) -> None:
    kernel, _ = iot
    _ok(kernel, "%connect spare")
    reply = kernel.execute("%rsync")
    assert reply.ename == "UsageError" and "declares no resources" in reply.content["evalue"]


# ------------------------------------------------------------------ %store (IoT)
def test_store_lists_restores_clears_and_persists(iot: tuple[KernelHarness, Path]) -> None:
    kernel, _ = iot
    _ok(kernel, "%connect iotunix\n%store -z")
    assert _ok(kernel, "%store") == "the store is empty\n"
    _ok(kernel, "level = {'a': [1, 2]}\n%store level")
    assert _ok(kernel, "%store") == "level -> {'a': [1, 2]}\n"
    _ok(kernel, "%softreset")
    assert kernel.execute("level").ename == "NameError"
    _ok(kernel, "%store -r level")
    assert kernel.execute("level['a'][1]").result == "2"
    # another kernel session (same IPython directory) sees the stored value
    other = KernelHarness("unix")
    try:
        assert other.execute("%store -r level\nlevel").result == "{'a': [1, 2]}"
        assert other.execute("%%host\n%store -r level\nlevel['a']").result == "[1, 2]"
    finally:
        other.close()
    _ok(kernel, "%store -d level")
    assert kernel.execute("%store -r level").ename == "KeyError"


# ------------------------------------------------------------------ jupyter_micropython_kernel
def test_sendtofile_variants(iot: tuple[KernelHarness, Path]) -> None:
    kernel, root = iot
    _ok(kernel, "%connect iotunix")
    assert _ok(kernel, "%sendtofile /a.py\nA = 1\n") == "sent 6 bytes to /a.py\n"
    _ok(kernel, "%sendtofile --append /a.py\nB = 2\n")
    assert _ok(kernel, "%cat /a.py") == "A = 1\nB = 2\n"
    ran = kernel.execute("%sendtofile -x /b.py\nprint('ran too')\n")
    assert ran.stdout.endswith("ran too\n")
    (root / "work" / "data.bin").write_bytes(bytes(range(256)))
    _ok(kernel, f"%sendtofile --mkdir --source {root / 'work' / 'data.bin'} /d/")
    assert "256  /d/data.bin" in _ok(kernel, "%ls -r /")
    _ok(kernel, "%%sendtofile /c.txt\nplain")
    assert _ok(kernel, "%cat /c.txt") == "plain\n"


def test_fetchfile_capture_comment_reboot(iot: tuple[KernelHarness, Path]) -> None:
    kernel, root = iot
    _ok(kernel, "%connect iotunix\n%sendtofile /log.txt\nline 1\nline 2\n")
    assert "Saved 14 bytes to 'log.txt'" in _ok(kernel, "%fetchfile /log.txt")
    assert (root / "work" / "log.txt").read_text() == "line 1\nline 2\n"
    assert _ok(kernel, "%fetchfile --print /log.txt") == "line 1\nline 2\n"
    captured = kernel.execute("%capture -q out.txt\nfor i in range(3):\n    print('row', i)")
    assert captured.status == "ok" and "3 lines captured." in captured.stdout
    assert "row 0" not in captured.stdout
    assert (root / "work" / "out.txt").read_text() == "row 0\nrow 1\nrow 2\n"
    assert _ok(kernel, "%comment step two: calibrate") == "step two: calibrate\n"
    _ok(kernel, "kept = 1\n%reboot")
    assert kernel.execute("kept").ename == "NameError"


def test_raw_line_magics_name_the_tool(iot: tuple[KernelHarness, Path]) -> None:
    kernel, _ = iot
    for code in ("%readbytes", '%writebytes -b "\\x03"'):
        reply = kernel.execute(code)
        assert reply.ename == "NotSupported" and "mpharness repl" in reply.content["evalue"]


def test_esptool_goes_through_the_flashing_code(iot: tuple[KernelHarness, Path]) -> None:
    kernel, root = iot
    firmware = root / "work" / "fw.bin"
    firmware.write_bytes(b"\xe9" + bytes(64))
    _ok(kernel, "%connect iotunix")
    assert "erased" in _ok(kernel, "%esptool erase")
    reply = kernel.execute(f"%esptool esp32 {firmware}")
    assert reply.ename == "ConfigError", reply.content
    assert "serial" in reply.content["evalue"]
    assert kernel.execute("1 + 1").result == "2", "the board is back after the attempt"


def test_lsmagic_lists_the_jmk_magics(iot: tuple[KernelHarness, Path]) -> None:
    kernel, _ = iot
    listing = _ok(kernel, "%lsmagic")
    for name in (
        "%serialconnect",
        "%websocketconnect",
        "%disconnect",
        "%sendtofile",
        "%fetchfile",
        "%ls",
        "%reboot",
        "%capture",
        "%esptool",
        "%comment",
    ):
        assert f"\n{name} " in "\n" + listing, name
    assert "%%writefile writes a host file" in listing


def test_serialconnect_and_switching_release_boards(
    iot: tuple[KernelHarness, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel, root = iot
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", str(root / "locks"))
    rig = [str(root / "devices" / "boards.yaml")]
    _ok(kernel, "%connect spare")
    with pytest.raises(BoardBusy):
        mpharness.open_board("spare", rig=rig, lease_wait_s=0)
    _ok(kernel, "%connect iotunix")
    mpharness.open_board("spare", rig=rig, lease_wait_s=0).close()
    assert "Disconnected from iotunix" in _ok(kernel, "%disconnect")
    mpharness.open_board("iotunix", rig=rig, lease_wait_s=0).close()
    assert kernel.execute("1").ename == "NoBoard"
    connected = _ok(kernel, "%serialconnect unix: --baud 57600\nprint('on', 'serial')")
    assert "Connected to unix:" in connected and connected.endswith("on serial\n")


def test_websocketconnect_masks_the_password(iot: tuple[KernelHarness, Path]) -> None:
    kernel, _ = iot
    password = "wspass77"
    with WebReplServer(open_unix_board(None), password) as server:
        url = f"ws://127.0.0.1:{server.port}"
        reply = kernel.execute(
            f"%websocketconnect {url} --password {password}\nprint('pw is {password}')"
        )
        assert reply.status == "ok", reply.content
        assert "pw is ********" in reply.stdout and password not in reply.stdout
        _ok(kernel, "%disconnect")


# ------------------------------------------------------------------ connecting (IoT)
def test_connect_picks_a_link_and_connect_all_runs_everywhere(
    iot: tuple[KernelHarness, Path],
) -> None:
    kernel, _ = iot
    assert "Connected to dual (unix:)" in _ok(kernel, "%connect dual serial")
    refused = kernel.execute("%connect dual ws")
    assert refused.status == "error" and "ws://127.0.0.1:9" in refused.content["evalue"]
    _ok(kernel, "%connect spare")
    everywhere = _ok(kernel, "%%connect --all\nimport sys\nprint(sys.platform)")
    for name in ("iotunix", "spare", "dual"):
        assert f"--- {name} ---\nlinux\n" in everywhere
    listing = _ok(kernel, "%discover -v")
    for name in ("iotunix", "spare", "unix", "microbit", "webrepl"):
        assert f"\n{name} " in listing, name
