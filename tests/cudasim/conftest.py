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
import time

import pytest

REAL = os.environ.get("ASSB_CUDA_TESTS") == "real"


def _yielding_block_threads():
    """Let the simulator's scheduler give up the GIL each time it polls a thread.

    numba-cuda's simulator runs each block's threads as Python threads while the launching
    thread spins over ``is_alive()`` until they end; that spin competes with the threads for
    the GIL and made a 2184-cell multigrid solve take 124 s at 3 iterations (10.7 s with the
    yield).  Only the scheduling changes: every thread still runs the same kernel code.
    """
    from numba.cuda.simulator import kernel as sim

    thread_cls = getattr(sim, "BlockThread", None)
    if thread_cls is None or getattr(thread_cls, "_assb_yields", False):
        return
    poll = thread_cls.is_alive

    def is_alive(self):
        time.sleep(0)  # releases the GIL to the simulated threads
        return poll(self)

    thread_cls.is_alive = is_alive
    thread_cls._assb_yields = True


if not REAL:
    if "numba" in sys.modules and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        raise RuntimeError(
            "tests/cudasim must run in its own pytest process: "
            "NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cudasim"
        )
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    _yielding_block_threads()
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
