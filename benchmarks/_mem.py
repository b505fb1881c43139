"""Peak extra resident memory of one call (Linux ``/proc/self``), shared by the benchmarks."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def vm_kib(key: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (``"VmRSS"``, ``"VmHWM"``); None when unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset the process's VmHWM to its current RSS; False when the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def timed_peak(fn: Callable[[], object]) -> tuple[object, float, float | None]:
    """Run ``fn()``; return (result, seconds, peak extra MiB over the RSS before the call).

    The memory is None where VmHWM cannot be read or reset (not Linux).
    """
    gc.collect()
    base = vm_kib("VmRSS")
    ok = reset_peak()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    peak = vm_kib("VmHWM")
    mib = None if not ok or base is None or peak is None else max(peak - base, 0) / 1024
    return out, seconds, mib
