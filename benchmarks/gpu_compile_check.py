"""Compile every numba-cuda kernel of the generator to PTX, without a GPU.

The CUDA simulator (tests/cudasim) runs the kernels as Python, so it never type-checks them the
way numba-cuda's compiler does; this script does, for a chosen compute capability (default
sm_90, the H200 of the lent machines), with the NVRTC / NVVM libraries of the
``nvidia-cuda-nvrtc`` and ``nvidia-cuda-nvcc`` wheels installed into a side folder:

    pip install --target /tmp/cudatk "nvidia-cuda-nvrtc>=13" "nvidia-cuda-nvcc>=13"
    LD_LIBRARY_PATH=/tmp/cudatk/nvidia/cu13/lib CUDA_HOME=/tmp/cudatk/nvidia/cu13 \\
        PYTHONPATH=/tmp/cudatk:. python benchmarks/gpu_compile_check.py

Without a driver, numba-cuda cannot ask the current device for its compute capability when it
compiles a device function a kernel calls, so that query is answered with ``--cc`` here (a
numba-cuda internal: if it moves, this script says so).  The argument types are those the
launchers pass (``_packing_cuda.CudaKernels``).  Exit status 1 when a kernel fails to compile.
"""

from __future__ import annotations

import argparse
import sys
import types as pytypes

import numba.cuda.dispatcher as dispatcher
from numba import cuda
from numba import types as T


def _signatures() -> dict[str, tuple]:
    f8, f4, i8, i4, i1, u1, b1 = (T.float64, T.float32, T.int64, T.int32, T.int8, T.uint8,
                                  T.boolean)

    def a(t, n):
        return T.Array(t, n, "C")

    pos, vec, idx = a(f8, 2), a(f8, 1), a(i8, 1)
    return {
        "_neighbours_kernel": (pos, vec, idx, idx, idx, vec, vec, a(i1, 1), f8, a(i8, 2), idx),
        "_force_kernel": (pos, vec, idx, idx, vec, a(i1, 1), pos, vec),
        "_overlap_kernel": (pos, vec, idx, idx, vec, a(i1, 1), vec, vec),
        "_fire_power_kernel": (pos, pos, vec, b1, pos),
        "_fire_step_kernel": (pos, pos, pos, vec, b1, f8, f8, f8, f8, vec, a(i1, 1), pos, vec),
        "_press_force_kernel": (pos, vec, idx, idx, idx, vec, a(i1, 1), a(f8, 3), f8, pos, vec,
                                vec),
        "_press_pull_kernel": (pos, vec, idx, idx, idx, vec, a(i1, 1), f8, f8, pos),
        "_press_hard_lens_kernel": (pos, vec, idx, idx, idx, vec, a(i1, 1), vec),
        "_press_contacts_kernel": (pos, vec, idx, idx, vec, a(i1, 1), f8, a(i8, 2), idx),
        "_stamp_hard_kernel": (pos, vec, f8, idx, a(i1, 1), a(i8, 3)),
        "_stamp_soft_kernel": (pos, vec, f8, idx, a(i1, 1), a(u1, 3), u1, u1),
        "_clearance_kernel": (pos, vec, f8, idx, a(i1, 1), f4, a(f4, 3)),
        "_topo_stamp_kernel": (pos, vec, idx, f8, idx, idx, a(i8, 3)),
        "_topo_neck_kernel": (pos, vec, idx, a(i8, 2), a(b1, 1), a(b1, 1), f8, idx, idx,
                              a(i4, 3), a(i8, 3), idx),
        "_topo_losers_kernel": (pos, vec, idx, idx, idx, vec, f8, idx, idx, a(i4, 3),
                                a(u1, 3), a(u1, 3), i8, idx),
        "_topo_settle_kernel": (idx, pos, vec, idx, idx, idx, vec, f8, idx, idx, a(i4, 3),
                                a(u1, 3), a(u1, 3), a(u1, 1)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cc", default="9.0", help="compute capability, e.g. 9.0 (default) or 8.0")
    args = ap.parse_args()
    cc = tuple(int(x) for x in args.cc.split("."))
    if not hasattr(dispatcher, "get_current_device"):
        print("numba-cuda moved get_current_device: update this script", file=sys.stderr)
        return 2
    dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=cc)
    from microstructure import _packing_cuda as kernels

    sigs = _signatures()
    missing = sorted(n for n in dir(kernels) if n.endswith("_kernel") and n not in sigs)
    compiled = 0
    for name, sig in sigs.items():
        try:
            ptx, _ = cuda.compile_ptx(getattr(kernels, name).py_func, sig, cc=cc)
            compiled += 1
            print(f"ok    {name:<26} {len(ptx):>7} characters of PTX")
        except Exception as exc:  # noqa: BLE001 - report every kernel, then fail
            print(f"FAIL  {name:<26} {type(exc).__name__}: {str(exc)[:800]}")
    for name in missing:
        print(f"FAIL  {name:<26} no argument types here: add them to _signatures()")
    total = len(sigs) + len(missing)
    print(f"{compiled} of {total} kernels compiled for sm_{cc[0]}{cc[1]}")
    return 0 if compiled == total else 1


if __name__ == "__main__":
    sys.exit(main())
