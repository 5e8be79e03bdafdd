"""mpharness_kernel: a Jupyter kernel that runs cells on a MicroPython board through mpharness.

The kernelspec ``mpharness`` is installed with the package (``share/jupyter/kernels``); the
default board comes from ``MPHARNESS_DEVICE``, ``%connect NAME_OR_URL`` switches. Notebooks
written for it run as pytest tests (``pytest --device NAME notebook.ipynb``, see
:mod:`mpharness_kernel.pytest_notebooks`).
"""

from __future__ import annotations

__version__ = "0.1.0"

KERNEL_NAME = "mpharness"

__all__ = ["KERNEL_NAME", "__version__"]
