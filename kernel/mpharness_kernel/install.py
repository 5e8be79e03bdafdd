"""Installing the ``mpharness`` kernelspec by hand (``python -m mpharness_kernel install``).

``pip install`` places the kernelspec already (data files under ``share/jupyter/kernels``);
this is for unusual installs, and it pins the current interpreter in the spec.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from mpharness_kernel import KERNEL_NAME


def main(argv: Sequence[str] | None = None) -> int:
    """Install the kernelspec; returns an exit status."""
    parser = argparse.ArgumentParser(prog="python -m mpharness_kernel install")
    parser.add_argument("--user", action="store_true", help="install for the current user")
    parser.add_argument("--prefix", help="install under this prefix (e.g. a venv)")
    args = parser.parse_args(argv)
    from jupyter_client.kernelspec import KernelSpecManager

    spec = json.loads((files("mpharness_kernel") / "kernelspec" / "kernel.json").read_text())
    spec["argv"][0] = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kernel.json").write_text(json.dumps(spec, indent=2))
        prefix = args.prefix if args.prefix else (None if args.user else sys.prefix)
        manager = KernelSpecManager()
        try:
            dest = manager.install_kernel_spec(tmp, KERNEL_NAME, user=args.user, prefix=prefix)
        except PermissionError:
            if args.user or args.prefix:
                raise
            # a system interpreter's prefix is not writable: the user's directory is found too
            dest = manager.install_kernel_spec(tmp, KERNEL_NAME, user=True)
    sys.stdout.write(f"installed kernelspec {KERNEL_NAME!r} in {dest}\n")
    return 0


def packaged_spec_dir() -> str:
    """The directory of the kernelspec shipped inside the package."""
    return str(files("mpharness_kernel") / "kernelspec")


def packaged_kernel_spec_manager() -> object:
    """A KernelSpecManager whose ``mpharness`` spec is the one shipped in this package.

    Used by the notebook test runner (and tests) so the kernel always runs with the
    interpreter and package version of the caller, whatever kernelspecs are installed.
    """
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class _Packaged(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            if kernel_name != KERNEL_NAME:
                return super().get_kernel_spec(kernel_name)
            spec = KernelSpec.from_resource_dir(packaged_spec_dir())
            spec.argv = [sys.executable, *spec.argv[1:]]
            return spec

    return _Packaged()
