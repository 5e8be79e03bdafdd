"""scripts/install-virtual-boards: what it does to a machine's services, with apt-get,
dpkg-query, systemctl and update-rc.d replaced by recording stand-ins and ``INSTALL_ROOT``
standing in for ``/`` (so nothing on this machine is installed or changed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-virtual-boards"

_FAKES = {
    # records its arguments, and whether a policy-rc.d forbade service starts while it ran
    "apt-get": """#!/bin/sh
policy="$INSTALL_ROOT/usr/sbin/policy-rc.d"
state=none
if [ -x "$policy" ]; then "$policy" ssh start; state="exit $?"; fi
echo "apt-get $* [policy: $state]" >> "$FAKE_LOG"
""",
    "dpkg-query": """#!/bin/sh
[ "$FAKE_SSHD_INSTALLED" = yes ] && printf 'install ok installed' && exit 0
exit 1
""",
    "systemctl": '#!/bin/sh\necho "systemctl $*" >> "$FAKE_LOG"\n',
    "update-rc.d": '#!/bin/sh\necho "update-rc.d $*" >> "$FAKE_LOG"\n',
    "sudo": '#!/bin/sh\nexec "$@"\n',
}


def _run(tmp_path: Path, sshd_installed: bool) -> tuple[subprocess.CompletedProcess[str], str]:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name, text in _FAKES.items():
        (fake_bin / name).write_text(text)
        (fake_bin / name).chmod(0o755)
    root = tmp_path / "root"
    (root / "usr" / "sbin").mkdir(parents=True)  # no firmware, no sshd: the script installs
    log = tmp_path / "log"
    log.touch()
    env = dict(
        os.environ,
        PATH=f"{fake_bin}:/usr/bin:/bin",
        INSTALL_ROOT=str(root),
        FAKE_LOG=str(log),
        FAKE_SSHD_INSTALLED="yes" if sshd_installed else "no",
    )
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert not (root / "usr" / "sbin" / "policy-rc.d").exists(), "policy-rc.d left behind"
    return result, log.read_text()


def test_fresh_install_leaves_no_ssh_service_running_or_enabled(tmp_path: Path) -> None:
    result, log = _run(tmp_path, sshd_installed=False)
    assert result.returncode == 0, result.stderr
    install = next(line for line in log.splitlines() if line.startswith("apt-get install"))
    assert "openssh-server" in install
    assert install.endswith("[policy: exit 101]")  # service starts were forbidden meanwhile
    assert "systemctl disable ssh.service ssh.socket" in log
    assert "systemctl stop ssh.service ssh.socket" in log
    assert "update-rc.d ssh disable" in log
    assert "installed openssh-server" in result.stdout and "disabled" in result.stdout


def test_an_existing_openssh_server_is_left_as_it_was(tmp_path: Path) -> None:
    result, log = _run(tmp_path, sshd_installed=True)
    assert result.returncode == 0, result.stderr
    assert "[policy: none]" in log
    assert "systemctl" not in log and "update-rc.d" not in log
    assert result.stdout == ""


def test_existing_policy_rc_d_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "keep"
    policy = root / "usr" / "sbin" / "policy-rc.d"
    policy.parent.mkdir(parents=True)
    policy.write_text("#!/bin/sh\nexit 0\n")
    policy.chmod(0o755)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name, text in _FAKES.items():
        (fake_bin / name).write_text(text)
        (fake_bin / name).chmod(0o755)
    env = dict(
        os.environ,
        PATH=f"{fake_bin}:/usr/bin:/bin",
        INSTALL_ROOT=str(root),
        FAKE_LOG=str(tmp_path / "log"),
        FAKE_SSHD_INSTALLED="no",
    )
    subprocess.run(["bash", str(SCRIPT)], env=env, check=True, capture_output=True, timeout=30)
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"


def test_readme_says_what_the_second_command_installs() -> None:
    text = (SCRIPT.parents[1] / "README.md").read_text()
    setup = text[text.index("## Set up and run") : text.index("## Quick tour")]
    assert "openssh-server" in setup and "disable" in setup
