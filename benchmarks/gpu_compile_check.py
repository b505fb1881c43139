"""Compile every numba-cuda kernel the GPU path launches to PTX, without a GPU.

The CUDA simulator (tests/cudasim) runs the kernels as Python, so it never type-checks them the
way numba-cuda's compiler does; this script does, for a chosen compute capability (default
sm_90, the H200 of the lent machines), with the NVRTC / NVVM libraries of the
``nvidia-cuda-nvrtc`` and ``nvidia-cuda-nvcc`` wheels installed into a side folder:

    pip install --target /tmp/cudatk "nvidia-cuda-nvrtc>=13" "nvidia-cuda-nvcc>=13"
    LD_LIBRARY_PATH=/tmp/cudatk/nvidia/cu13/lib CUDA_HOME=/tmp/cudatk/nvidia/cu13 \\
        PYTHONPATH=/tmp/cudatk:. python benchmarks/gpu_compile_check.py

It works in two steps.  **Record:** a child process runs the simulator suite (``tests/cudasim``,
the whole GPU pipeline: generator, labeling, utilization, transport) and notes the argument
types of every kernel launch -- the types the launchers really pass, every dtype variant
(float32 / float64 solves, uint8 / int32 labels) included, so nothing is written by hand here
that could drift from the code.  It also lists the module-level kernels that no test
launched.  **Compile:** each (kernel, argument types) is compiled with ``cuda.compile_ptx``.
``--record-only FILE`` stops after the first step (no CUDA libraries needed).

Without a driver, numba-cuda cannot ask the current device for its compute capability when it
compiles a device function a kernel calls, so that query is answered with ``--cc`` here (a
numba-cuda internal: if it moves, this script says so).  Exit status 1 when a kernel fails to
compile or was never launched.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import types as pytypes
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("microstructure", "solvers")


# ------------------------------------------------------------------------------------- record
def _type_key(a: object) -> list:
    """A JSON-able key for the numba type of one kernel argument."""
    import numpy as np

    if isinstance(a, np.ndarray):
        layout = "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else "A"
        return ["array", a.dtype.str, a.ndim, layout]
    if isinstance(a, (bool, np.bool_)):
        return ["bool"]
    if isinstance(a, int):
        return ["int"]
    if isinstance(a, float):
        return ["float"]
    if isinstance(a, np.generic):
        return ["scalar", a.dtype.str]
    return ["other", type(a).__name__]


def record(out: Path) -> int:
    """Run the simulator suite (this process must have ``NUMBA_ENABLE_CUDASIM=1``) and write
    ``{"launched": [[module, name, [type keys]], ...], "never": [[module, name], ...]}``."""
    import pytest
    from numba.cuda.simulator import kernel as simk

    seen: set[tuple] = set()
    call = simk.FakeCUDAKernel.__call__

    def recording(self, *args):
        if not (self._device or simk._kernel_context):        # a launch from the host
            key = (self.fn.__module__, self.fn.__qualname__,
                   json.dumps([_type_key(a) for a in args]))
            seen.add(key)
        return call(self, *args)

    simk.FakeCUDAKernel.__call__ = recording
    rc = pytest.main(["-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "cudasim")])
    never = []
    for name, mod in sorted(sys.modules.items()):
        if name.split(".")[0] not in PACKAGES or mod is None:
            continue
        for attr, obj in sorted(vars(mod).items()):
            if (isinstance(obj, simk.FakeCUDAKernel) and not obj._device
                    and obj.fn.__module__ == name
                    and not any(m == name and q == obj.fn.__qualname__ for m, q, _ in seen)):
                never.append([name, attr])
    out.write_text(json.dumps({"launched": sorted([m, q, json.loads(t)] for m, q, t in seen),
                               "never": never, "pytest_exit": int(rc)}, indent=1))
    return int(rc)


# ------------------------------------------------------------------------------------ compile
def _numba_type(key: list):
    import numpy as np
    from numba import from_dtype
    from numba import types as T

    kind = key[0]
    if kind == "array":
        return T.Array(from_dtype(np.dtype(key[1])), key[2], key[3])
    if kind == "bool":
        return T.boolean
    if kind == "int":
        return T.int64
    if kind == "float":
        return T.float64
    if kind == "scalar":
        return from_dtype(np.dtype(key[1]))
    raise TypeError(f"argument of type {key[1]} has no numba type here")


def compile_all(recorded: dict, cc: tuple[int, int]) -> int:
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda

    if not hasattr(dispatcher, "get_current_device"):
        print("numba-cuda moved get_current_device: update this script", file=sys.stderr)
        return 2
    dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=cc)
    failed = 0                    # signatures that did not compile
    per_kernel: dict[tuple[str, str], list[int]] = {}
    for module, qualname, keys in recorded["launched"]:
        label = f"{module.rsplit('.', 1)[-1]}.{qualname}"
        try:
            kernel = getattr(importlib.import_module(module), qualname)
            sig = tuple(_numba_type(k) for k in keys)
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=cc)
            per_kernel.setdefault((module, qualname), []).append(len(ptx))
        except Exception as exc:  # noqa: BLE001 - report every kernel, then fail
            failed += 1
            print(f"FAIL  {label:<44} {keys}\n      {type(exc).__name__}: {str(exc)[:800]}")
    for (module, qualname), sizes in sorted(per_kernel.items()):
        label = f"{module.rsplit('.', 1)[-1]}.{qualname}"
        print(f"ok    {label:<44} {len(sizes)} signature(s), {max(sizes):>7} characters of PTX")
    never = recorded["never"]
    for module, attr in never:
        print(f"FAIL  {module.rsplit('.', 1)[-1]}.{attr:<30} never launched by tests/cudasim: "
              "no argument types to compile it with")
    n_sig = len(recorded["launched"])
    print(f"{n_sig - failed} of {n_sig} signatures ({len(per_kernel)} kernels) compiled for "
          f"sm_{cc[0]}{cc[1]}; {len(never)} kernel(s) never launched")
    return 0 if failed == 0 and not never else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cc", default="9.0", help="compute capability, e.g. 9.0 (default) or 8.0")
    ap.add_argument("--record-only", type=Path, metavar="FILE",
                    help="only run the simulator suite and write the launches' types to FILE")
    ap.add_argument("--from", dest="from_file", type=Path, metavar="FILE",
                    help="compile the launches recorded in FILE (skip the record step)")
    ap.add_argument("--_record", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._record is not None:                            # the child process
        return record(args._record)
    if args.from_file is not None:
        recorded_file = args.from_file
    else:
        recorded_file = args.record_only or Path(tempfile.mkstemp(suffix=".json")[1])
        env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        child = subprocess.run([sys.executable, __file__, "--_record", str(recorded_file)],
                               env=env, cwd=ROOT)
        if child.returncode != 0:
            print(f"the simulator suite failed (exit {child.returncode}): its launches are "
                  "incomplete", file=sys.stderr)
            return 1
    recorded = json.loads(recorded_file.read_text())
    if args.record_only is not None:
        print(f"{len(recorded['launched'])} launch signatures, {len(recorded['never'])} "
              f"kernel(s) never launched -> {recorded_file}")
        return 0
    cc = tuple(int(x) for x in args.cc.split("."))
    return compile_all(recorded, cc)


if __name__ == "__main__":
    sys.exit(main())
