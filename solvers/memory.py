"""Memory estimates from shapes and counts, checked against the memory available, before work.

Every heavy entry point (``generate``, ``cam_utilization``; ``tortuosity`` and a sweep point
through the estimators here) first turns its input sizes into a :class:`MemoryEstimate` and
calls :func:`check_memory`, which raises :class:`InsufficientMemoryError` -- naming the field,
the estimate and the limit -- instead of letting the kernel kill the process after minutes of
work (or NumPy raise a bare ``MemoryError`` half way through).

Calibration (peak resident memory over the RSS before the call, ``VmHWM`` in
``/proc/self/status``, CPU, NCM82 : Li6PS5Cl : C65 example spec, kernels compiled beforehand):

=====================  ============  =========  ================  ===========================
call                   shape         voxel µm   particles placed  measured peak
=====================  ============  =========  ================  ===========================
generate               192³          0.25       0.98 M            212 MB  (estimate 240 MB)
generate               256³          0.25       2.32 M            431 MB  (estimate 560 MB)
generate               256³          0.5        15.0 M            1.17 GB (estimate 1.66 GB)
generate               256³          1.0        104 M             8.02 GB (estimate 10.5 GB)
cam_utilization relay  192³, 256³    0.25       --                15.7 B per voxel
transport_properties   128³, 192³    0.25       --                80-82 B per voxel
=====================  ============  =========  ================  ===========================

The generator's memory is one term per voxel and one per particle: the soft phases are placed
as overlapping particles until their voxel counts are met, and at a coarse voxel size the
particle lists (neighbour cells, clearances) outweigh the voxel arrays.  Hence the formulas,
each an upper bound of the measurements (factors 1.1-1.7):

* generate: ``24 B x voxels + 60 B x particles``, ``particles`` = 2 x the expected count
  ``sum_i V_i / E[v_i]`` (target volume of phase i over its number-mean particle volume; the
  factor 2 covers the overlap of soft particles, measured 1.2-1.8);
* cam_utilization: ``5 B x voxels`` of input (uint8 phases, int32 ids) held by the caller, plus
  ``20 B x voxels`` (masks, labels, per-voxel contact counts; measured 15.7);
* tortuosity / transport_properties: ``96 B x voxels`` (measured 80-82 for both networks;
  the solver is being rewritten -- re-measure then);
* a sweep point: the largest of generate and the structure (``5 B x voxels + 20 B x
  particles``) plus utilization or transport.

The limit is the memory available *now*: ``MemAvailable`` of ``/proc/meminfo``, lowered to the
headroom of the process's cgroup (``memory.max - memory.current``, v2; ``limit - usage``, v1)
where one is set, or ``psutil.virtual_memory().available`` where ``/proc`` is missing; on the
CUDA path the free GPU memory (``cupy.cuda.runtime.memGetInfo`` plus the free blocks of CuPy's
pool).  An estimate above the limit is refused; one below it is no guarantee (other processes
may take memory meanwhile), but the gross cases -- a 4000³ box, a typo'd shape -- fail in
milliseconds with a message instead of an OOM kill.

Examples
--------
>>> from solvers.memory import estimate_utilization, check_memory
>>> est = estimate_utilization((64, 64, 64))
>>> est.host_bytes
5242880
>>> check_memory(est, field="phases", limit_bytes=10**9)       # fits: returns the estimate
MemoryEstimate(cam_utilization, shape=(64, 64, 64), host 5.24 MB)
>>> try:
...     check_memory(estimate_utilization((4000, 4000, 4000)), field="phases",
...                  limit_bytes=16 * 10**9)
... except InsufficientMemoryError as exc:
...     print(str(exc)[:81])
phases of shape (4000, 4000, 4000): cam_utilization needs about 1.28 TB of memory
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BYTES_PER_PARTICLE_GENERATE",
    "BYTES_PER_VOXEL_GENERATE",
    "BYTES_PER_VOXEL_TORTUOSITY",
    "BYTES_PER_VOXEL_UTILIZATION",
    "InsufficientMemoryError",
    "MemoryEstimate",
    "MemoryLimit",
    "available_memory",
    "check_memory",
    "estimate_generate",
    "estimate_sweep_point",
    "estimate_tortuosity",
    "estimate_utilization",
    "format_bytes",
]

#: Fixed working memory of a generate call (temporaries, progress, small tables); at 96³ the
#: measured peak was 0.5 % above the per-voxel + per-particle terms alone.
BASE_BYTES_GENERATE = 16 * 2**20
#: Generator: bytes per voxel (phases, ids, distance maps, keys; measured 18-25).
BYTES_PER_VOXEL_GENERATE = 24
#: Generator: bytes per placed particle (measured 58-77 per expected particle x overlap 1.2-1.8).
BYTES_PER_PARTICLE_GENERATE = 60
#: cam_utilization: bytes per voxel on top of its inputs (measured 15.7, cam_relay rule).
BYTES_PER_VOXEL_UTILIZATION = 20
#: tortuosity / transport_properties: bytes per voxel (measured 80-82, both networks; the
#: example at 160³ with the electronic contact conductance 72.5, without 61.8).
BYTES_PER_VOXEL_TORTUOSITY = 96
#: A stored structure: uint8 phases + int32 CAM ids + int32 carbon ids per voxel.
_BYTES_PER_VOXEL_STRUCTURE = 9
#: A particle table row: id, phase, centre (3 x float32), radius, plus slack.
_BYTES_PER_PARTICLE_TABLE = 20


class InsufficientMemoryError(MemoryError):
    """The memory estimate of a call is above the memory available; raised before any work.

    Attributes
    ----------
    estimate : MemoryEstimate
    limit : MemoryLimit
        The limit that was exceeded (host or GPU).
    field : str
        The input that sets the size (``"domain.shape"``, ``"phases"``).
    """

    def __init__(self, message: str, *, estimate: MemoryEstimate, limit: MemoryLimit,
                 field: str) -> None:
        super().__init__(message)
        self.estimate = estimate
        self.limit = limit
        self.field = field


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory a call is expected to need (an upper bound of measured peaks)."""

    what: str
    """The call (``"generate"``, ``"cam_utilization"``, ``"tortuosity"``, ``"sweep point"``)."""
    shape: tuple[int, ...]
    """Voxel shape the estimate is for."""
    host_bytes: int
    """Peak host (RAM) bytes, B."""
    device_bytes: int = 0
    """Peak GPU bytes on the CUDA path, B (0 on the CPU)."""
    device: str = "cpu"
    """``"cpu"`` or ``"cuda"``."""
    formula: str = ""
    """How the number was made, with the numbers put in."""

    def __repr__(self) -> str:
        gpu = f", GPU {format_bytes(self.device_bytes)}" if self.device_bytes else ""
        return (f"MemoryEstimate({self.what}, shape={self.shape}, host "
                f"{format_bytes(self.host_bytes)}{gpu})")


@dataclass(frozen=True)
class MemoryLimit:
    """Memory available to this process now."""

    bytes: int
    """Available bytes, B."""
    source: str
    """Where the number comes from (e.g. ``"MemAvailable in /proc/meminfo"``)."""


def format_bytes(n: float) -> str:
    """``1.60 TB``, ``512 MB`` (decimal units).

    >>> from solvers.memory import format_bytes
    >>> format_bytes(1.6e12), format_bytes(2048)
    ('1.60 TB', '2.05 kB')
    """
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}" if n / scale >= 100 else f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def _nvox(shape: Sequence[int], name: str) -> int:
    try:
        dims = [int(s) for s in shape]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of integers, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{name} must not have negative sizes, got {tuple(dims)}")
    return math.prod(dims)


def estimate_generate(shape: Sequence[int], *, expected_particles: float,
                      device: str = "cpu") -> MemoryEstimate:
    """Peak memory of ``microstructure.generate`` for a box of ``shape`` voxels.

    Parameters
    ----------
    shape : sequence of int
        ``domain.shape``.
    expected_particles : float
        ``sum_i V_i / E[v_i]`` over the solid phases: target volume over number-mean particle
        volume (``microstructure._memory.expected_particles(spec)``); doubled here for the
        overlap of the soft particles.
    device : {"cpu", "cuda"}
        On ``"cuda"`` the working arrays are on the GPU; the host holds the result.

    Examples
    --------
    >>> from solvers.memory import estimate_generate
    >>> estimate_generate((100, 100, 100), expected_particles=1e4).host_bytes
    41977216
    """
    nvox = _nvox(shape, "shape")
    if not (expected_particles >= 0 and math.isfinite(expected_particles)):
        raise ValueError(f"expected_particles must be a finite number >= 0, got "
                         f"{expected_particles!r}")
    particles = 2.0 * expected_particles
    work = (BASE_BYTES_GENERATE + BYTES_PER_VOXEL_GENERATE * nvox
            + BYTES_PER_PARTICLE_GENERATE * particles)
    formula = (f"{BASE_BYTES_GENERATE // 2**20} MiB + {BYTES_PER_VOXEL_GENERATE} B x "
               f"{nvox:.3g} voxels + "
               f"{BYTES_PER_PARTICLE_GENERATE} B x {particles:.3g} particles (2 x "
               f"{expected_particles:.3g} expected)")
    if device == "cuda":
        host = _BYTES_PER_VOXEL_STRUCTURE * nvox + _BYTES_PER_PARTICLE_TABLE * particles
        return MemoryEstimate("generate", tuple(int(s) for s in shape), int(host), int(work),
                              device, formula)
    return MemoryEstimate("generate", tuple(int(s) for s in shape), int(work), 0, device,
                          formula)


def estimate_utilization(shape: Sequence[int], *, device: str = "cpu") -> MemoryEstimate:
    """Peak memory of ``solvers.cam_utilization`` on arrays of ``shape`` (inputs excluded)."""
    nvox = _nvox(shape, "shape")
    work = BYTES_PER_VOXEL_UTILIZATION * nvox
    formula = f"{BYTES_PER_VOXEL_UTILIZATION} B x {nvox:.3g} voxels"
    shape = tuple(int(s) for s in shape)
    if device == "cuda":
        return MemoryEstimate("cam_utilization", shape, 0, work, device, formula)
    return MemoryEstimate("cam_utilization", shape, work, 0, device, formula)


def estimate_tortuosity(shape: Sequence[int], *, device: str = "cpu") -> MemoryEstimate:
    """Peak memory of ``solvers.tortuosity`` / ``transport_properties`` on ``shape``."""
    nvox = _nvox(shape, "shape")
    work = BYTES_PER_VOXEL_TORTUOSITY * nvox
    formula = f"{BYTES_PER_VOXEL_TORTUOSITY} B x {nvox:.3g} voxels"
    shape = tuple(int(s) for s in shape)
    if device == "cuda":
        return MemoryEstimate("tortuosity", shape, 0, work, device, formula)
    return MemoryEstimate("tortuosity", shape, work, 0, device, formula)


def estimate_sweep_point(shape: Sequence[int], *, expected_particles: float,
                         transport: bool = True, device: str = "cpu") -> MemoryEstimate:
    """Peak memory of one sweep point: generate, then utilization and (optionally) transport
    on the structure it holds.  For ``N`` parallel workers compare ``N`` times this
    (``check_memory(..., copies=N)``).

    Examples
    --------
    >>> from solvers.memory import estimate_sweep_point
    >>> e = estimate_sweep_point((64, 64, 64), expected_particles=1e4)
    >>> e.host_bytes == 9 * 64**3 + 20 * 2e4 + 96 * 64**3
    True
    """
    gen = estimate_generate(shape, expected_particles=expected_particles, device=device)
    nvox = _nvox(shape, "shape")
    held = _BYTES_PER_VOXEL_STRUCTURE * nvox + _BYTES_PER_PARTICLE_TABLE * 2 * expected_particles
    solve = (estimate_tortuosity if transport else estimate_utilization)(shape, device=device)
    if transport:
        solve_u = estimate_utilization(shape, device=device)
        host = max(solve.host_bytes, solve_u.host_bytes)
        dev = max(solve.device_bytes, solve_u.device_bytes)
    else:
        host, dev = solve.host_bytes, solve.device_bytes
    host_total = max(gen.host_bytes, int(held) + host)
    dev_total = max(gen.device_bytes, dev)
    formula = (f"max(generate: {gen.formula}; structure {format_bytes(held)} + "
               f"{'transport' if transport else 'utilization'}: {solve.formula})")
    return MemoryEstimate("sweep point", gen.shape, int(host_total), int(dev_total), device,
                          formula)


# ---------------------------------------------------------------------------------------------
# what is available


def _meminfo(key: str) -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_headroom() -> int | None:
    """``limit - usage`` of this process's memory cgroup, or None when unlimited/unknown."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        base = Path("/sys/fs/cgroup")
        if controllers == "":                                   # v2 unified hierarchy
            d = base / rel.lstrip("/")
            limit, usage = _read_int(d / "memory.max"), _read_int(d / "memory.current")
            if limit is None:                                   # "max", or a nested view
                limit, usage = (_read_int(base / "memory.max"),
                                _read_int(base / "memory.current"))
        elif "memory" in controllers.split(","):               # v1
            d = base / "memory" / rel.lstrip("/")
            if not d.is_dir():
                d = base / "memory"
            limit = _read_int(d / "memory.limit_in_bytes")
            usage = _read_int(d / "memory.usage_in_bytes")
            if limit is not None and limit >= 1 << 60:          # v1 "unlimited"
                limit = None
        else:
            continue
        if limit is not None and usage is not None:
            return max(limit - usage, 0)
    return None


def available_memory(device: str = "cpu") -> MemoryLimit:
    """Memory available now on the host (``"cpu"``) or the current GPU (``"cuda"``).

    Host: ``MemAvailable`` of ``/proc/meminfo``, lowered to the cgroup headroom where a cgroup
    limit is set; ``psutil.virtual_memory().available`` without ``/proc``.  GPU: free device
    memory plus the free blocks of CuPy's default pool.  Under numba's CUDA simulator the
    "GPU" arrays are host arrays, so the host limit is returned.
    """
    if device == "cuda":
        from .device import cuda_simulated, get_xp

        if not cuda_simulated():
            cupy = get_xp("cuda")  # CuPy, or a clear error without it or without a GPU
            free, _total = cupy.cuda.runtime.memGetInfo()
            pool = cupy.get_default_memory_pool().free_bytes()
            return MemoryLimit(int(free + pool), "free GPU memory (cudaMemGetInfo + CuPy pool)")
    avail = _meminfo("MemAvailable")
    source = "MemAvailable in /proc/meminfo"
    if avail is None:
        try:
            import psutil
        except ImportError:
            return MemoryLimit(-1, "unknown (no /proc/meminfo, no psutil)")
        avail, source = int(psutil.virtual_memory().available), "psutil available memory"
    cg = _cgroup_headroom()
    if cg is not None and cg < avail:
        avail, source = cg, "headroom of this process's cgroup (memory limit - usage)"
    return MemoryLimit(int(avail), source)


def check_memory(estimate: MemoryEstimate, *, field: str, copies: int = 1,
                 limit_bytes: int | None = None,
                 device_copies: int | None = None) -> MemoryEstimate:
    """Raise :class:`InsufficientMemoryError` when ``copies`` x ``estimate`` exceeds what is
    available (host, and the GPU on the CUDA path); return the estimate otherwise.

    Parameters
    ----------
    estimate : MemoryEstimate
    field : str
        The input that sets the size, named in the message (``"domain.shape"``).
    copies : int
        Calls that will run at the same time (parallel sweep workers).
    limit_bytes : int, optional
        Use this host limit instead of :func:`available_memory` (tests, a scheduler's
        per-worker share).
    device_copies : int, optional
        Calls at the same time on one GPU, where the workers are spread over several
        (default: ``copies``).
    """
    device_copies = copies if device_copies is None else device_copies
    for name, n in (("copies", copies), ("device_copies", device_copies)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    checks = [("host", estimate.host_bytes)]
    if estimate.device == "cuda" and estimate.device_bytes:
        checks.append(("cuda", estimate.device_bytes))
    for where, need in checks:
        if where == "host":
            limit = (MemoryLimit(int(limit_bytes), "limit_bytes") if limit_bytes is not None
                     else available_memory("cpu"))
            times = copies
        else:
            limit = available_memory("cuda")
            times = device_copies
        need = need * times
        if limit.bytes < 0 or need <= limit.bytes:
            continue
        mem = "GPU memory" if where == "cuda" else "memory"
        at_once = f" ({times} at once)" if times > 1 else ""
        raise InsufficientMemoryError(
            f"{_shape_text(field, estimate.shape)}: {estimate.what}{at_once} needs about "
            f"{format_bytes(need)} of {mem} (estimate: {estimate.formula}), but "
            f"{format_bytes(limit.bytes)} are available ({limit.source}); use a smaller "
            f"{field}{'' if field.endswith('shape') else ' array'}"
            + (" or a larger voxel size (fewer particles)"
               if estimate.what in ("generate", "sweep point") else ""),
            estimate=estimate, limit=limit, field=field)
    return estimate


def _shape_text(field: str, shape: tuple[int, ...]) -> str:
    if field.endswith("shape"):
        return f"{field} = {list(shape)}"
    return f"{field} of shape {tuple(shape)}"

