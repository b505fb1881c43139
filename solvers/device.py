"""Device selection shared by every compute entry point (public: the generator uses it too).

One algorithm, two backends: ``device="cpu"`` runs NumPy/SciPy/numba code, ``device="cuda"``
runs the same algorithm on CuPy arrays with numba-cuda kernels.  Under numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported) the GPU path runs with NumPy arrays
and simulated kernels, so CI exercises the whole GPU pipeline, glue and kernels, without a GPU.

There is no silent fallback: asking for ``"cuda"`` without a GPU (and without the simulator)
raises a clear error.  CuPy and ``numba.cuda`` are imported only on the GPU path.
"""

from __future__ import annotations

import os
import types
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "DEVICES",
    "array_module",
    "bind",
    "check_device",
    "cuda_simulated",
    "get_cuda",
    "get_xp",
    "gpu_available",
    "launch_config",
    "to_host",
    "visible_gpus",
]

DEVICES = ("cpu", "cuda")


def check_device(device: object) -> str:
    """Return ``device`` if it is ``"cpu"`` or ``"cuda"``; raise ``ValueError`` otherwise."""
    if device not in DEVICES:
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return str(device)


def cuda_simulated() -> bool:
    """True when numba's CUDA simulator is switched on for this process."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def gpu_available() -> bool:
    """True when a real CUDA GPU and CuPy are usable (never true under the simulator)."""
    if cuda_simulated():
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - any failure means "no usable GPU"
        return False


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries: the first ones of
    its own ``CUDA_VISIBLE_DEVICES`` when that is set (indices or UUIDs), else ``"0"`` ...
    ``"n-1"`` for the n GPUs the driver reports.  Empty without CuPy or a GPU, and under the
    simulator (its one simulated GPU needs no pinning).  A local sweep on ``"cuda"`` gives each
    worker process one of them."""
    if not gpu_available():
        return []
    import cupy

    n = int(cupy.cuda.runtime.getDeviceCount())
    env = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if env:  # CUDA stops at the first entry it cannot use: the first n are the visible ones
        return [e.strip() for e in env.split(",") if e.strip()][:n]
    return [str(i) for i in range(n)]


def get_xp(device: str) -> ModuleType:
    """Array namespace for ``device``.

    NumPy for ``"cpu"``; CuPy for ``"cuda"`` (NumPy under the CUDA simulator).
    """
    check_device(device)
    if device == "cpu" or cuda_simulated():
        return np
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "device='cuda' needs CuPy and numba-cuda: pip install 'assb-microstructure[gpu]'"
        ) from exc
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001  # pragma: no cover - depends on the machine
        raise RuntimeError(f"device='cuda' but no CUDA GPU is usable: {exc}") from exc
    if n == 0:  # pragma: no cover - depends on the machine
        raise RuntimeError("device='cuda' but no CUDA GPU was found")
    return cupy


def get_cuda() -> Any:
    """The ``numba.cuda`` module (imported lazily, only on the GPU path)."""
    from numba import cuda

    return cuda


def launch_config(n: int, threads: int = 256) -> tuple[int, int]:
    """``(blocks, threads_per_block)`` covering ``n`` items with a 1-D grid.

    Under the simulator every thread is a Python thread, so blocks are kept small there.
    """
    if cuda_simulated():
        threads = min(threads, 32)
    n = max(int(n), 1)
    return (n + threads - 1) // threads, threads


def to_host(a: Any) -> np.ndarray:
    """Copy ``a`` to a NumPy array (a device sync point for CuPy arrays)."""
    if hasattr(a, "get"):
        return a.get()
    return np.asarray(a)


def array_module(a: Any) -> ModuleType:
    """NumPy or CuPy, whichever owns ``a``."""
    if type(a).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def bind(func: Any, **names: Any) -> Any:
    """A copy of the plain-Python kernel body ``func`` whose global ``names`` are replaced.

    The one-source pattern for CPU and GPU kernels: a body calls its helpers by global name,
    and each target binds those names to the helpers compiled for it (``numba.njit`` or
    ``cuda.jit(device=True)``) before compiling the body itself.

    Examples
    --------
    >>> def body(x):
    ...     return helper(x) + 1  # noqa: F821 - bound per target
    >>> bind(body, helper=lambda x: 2 * x)(3)
    7
    """
    g = dict(func.__globals__)
    g.update(names)
    return types.FunctionType(func.__code__, g, func.__name__, func.__defaults__,
                              func.__closure__)
