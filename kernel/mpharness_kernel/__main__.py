"""``python -m mpharness_kernel``: start the kernel (Jupyter runs this from the kernelspec).

``python -m mpharness_kernel install [--user | --prefix PREFIX]`` installs the kernelspec
by hand, for installs that did not place it (it normally comes with ``pip install``).
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Start the kernel, or install its kernelspec."""
    if sys.argv[1:2] == ["install"]:
        from mpharness_kernel.install import main as install

        raise SystemExit(install(sys.argv[2:]))
    # figures are captured from %%host cells as PNG; no GUI or IPython inline backend here
    os.environ["MPLBACKEND"] = "Agg"
    from ipykernel.kernelapp import IPKernelApp

    from mpharness_kernel.kernel import MPHarnessKernel

    IPKernelApp.launch_instance(kernel_class=MPHarnessKernel)


if __name__ == "__main__":
    main()
