"""Tests in this folder run numba-cuda kernels in numba's CUDA simulator.

The Makefile runs this folder in its own pytest process with NUMBA_ENABLE_CUDASIM=1 already in
the environment; the line below makes a direct ``pytest tests/cudasim`` work too, as long as
numba has not been imported before this conftest.
"""

import os
import sys

if "numba" in sys.modules and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    raise RuntimeError(
        "tests/cudasim must run in its own pytest process: "
        "NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cudasim"
    )
os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
