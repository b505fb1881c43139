"""Tests in this folder run numba-cuda kernels in numba's CUDA simulator.

The Makefile runs this folder in its own pytest process with NUMBA_ENABLE_CUDASIM=1 already in
the environment (it must be set before numba is imported, and pytest's warning filters in
pyproject.toml import numba before this conftest); a run without it stops with that message.

On a machine with a real GPU, ``ASSB_CUDA_TESTS=real python -m pytest tests/cudasim`` runs the
same differential tests (``device="cuda"`` against ``device="cpu"``) with CuPy arrays and the
compiled kernels instead of the simulator (``benchmarks/gpu_session.sh``); without a GPU they
are then skipped.
"""

import os
import sys

import pytest

REAL = os.environ.get("ASSB_CUDA_TESTS") == "real"

if not REAL:
    if "numba" in sys.modules and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        raise RuntimeError(
            "tests/cudasim must run in its own pytest process: "
            "NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cudasim"
        )
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
elif os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
    raise RuntimeError("ASSB_CUDA_TESTS=real needs NUMBA_ENABLE_CUDASIM unset (a real GPU)")


def pytest_collection_modifyitems(config, items):
    if not REAL:
        return
    from solvers.device import gpu_available

    if not gpu_available():
        skip = pytest.mark.skip(reason="ASSB_CUDA_TESTS=real needs a real CUDA GPU")
        for item in items:
            item.add_marker(skip)
