"""Per-sphere voxel bodies, compiled for CPU (numba) and GPU (numba-cuda) from one source.

A voxel belongs to a sphere when its centre lies inside it.  Each body visits the voxel centres
within ``r_k + pad`` of sphere ``k``:

- :func:`stamp_soft_body` -- soft phases (SE, carbon) fill pore voxels only; spheres of one phase
  may overlap freely, so every thread writes the same value and order does not matter;
- :func:`stamp_hard_body` -- where hard CAM spheres overlap slightly, the voxel goes to the sphere
  with the smallest ``|x - c|^2 / r^2`` (ties: lowest id).  That rule is one 64-bit key per voxel,
  the normalised squared distance quantised to 31 bits in the high word and the particle id in the
  low word, so "smallest key wins" is the same on the CPU (compare-and-store) and on the GPU
  (``atomic.min``), whatever the thread order;
- :func:`clearance_body` -- the signed distance to the sphere surface, lowered into a field.

The bodies are plain Python calling helpers by global name (``axis_range``, ``key_min``,
``val_min``); :func:`compile_for` binds those names to the helpers compiled for one
target, so the CPU and GPU run the very same code.
"""

import math

from solvers.device import bind

#: Keys of voxels that no hard sphere covers.
NO_KEY = 2**63 - 1


def axis_range(c, reach, h, n, periodic):
    """First and last voxel index whose centre lies within ``reach`` of ``c`` along one axis
    (clamped to the grid on a non-periodic axis, wrapped later on a periodic one)."""
    lo = int(math.ceil((c - reach) / h - 0.5))
    hi = int(math.floor((c + reach) / h - 0.5))
    if periodic == 0:
        lo = max(lo, 0)
        hi = min(hi, n - 1)
    return lo, hi


# The three bodies share their loop over the voxel centres within ``r + pad`` of sphere ``k``;
# the per-voxel work is written inline (a per-voxel helper call costs ~30x in the CUDA simulator).


def stamp_soft_body(k, centers, radii, h, shape, periodic, pad, phases, code, into):
    """Set voxels of sphere ``k`` that hold ``into`` (pore) to ``code`` (``pad`` must be 0)."""
    cz = centers[k, 0]
    cy = centers[k, 1]
    cx = centers[k, 2]
    r = radii[k]
    reach = r + pad
    reach2 = reach * reach
    nz = shape[0]
    ny = shape[1]
    nx = shape[2]
    lo0, hi0 = axis_range(cz, reach, h, nz, periodic[0])  # noqa: F821 - bound per target
    lo1, hi1 = axis_range(cy, reach, h, ny, periodic[1])  # noqa: F821
    lo2, hi2 = axis_range(cx, reach, h, nx, periodic[2])  # noqa: F821
    for a in range(lo0, hi0 + 1):
        dz = (a + 0.5) * h - cz
        ia = a % nz
        for b in range(lo1, hi1 + 1):
            dy = (b + 0.5) * h - cy
            ib = b % ny
            rem = reach2 - dz * dz - dy * dy
            if rem < 0:
                continue
            for c in range(lo2, hi2 + 1):
                dx = (c + 0.5) * h - cx
                if dx * dx <= rem:
                    ic = c % nx
                    if phases[ia, ib, ic] == into:
                        phases[ia, ib, ic] = code


def stamp_hard_body(k, centers, radii, h, shape, periodic, pad, keys, a0, a1):
    """Offer sphere ``k`` (id ``k + 1``) to each voxel centre inside it; smallest key wins
    (``pad`` must be 0)."""
    cz = centers[k, 0]
    cy = centers[k, 1]
    cx = centers[k, 2]
    r = radii[k]
    reach = r + pad
    reach2 = reach * reach
    nz = shape[0]
    ny = shape[1]
    nx = shape[2]
    lo0, hi0 = axis_range(cz, reach, h, nz, periodic[0])  # noqa: F821 - bound per target
    lo1, hi1 = axis_range(cy, reach, h, ny, periodic[1])  # noqa: F821
    lo2, hi2 = axis_range(cx, reach, h, nx, periodic[2])  # noqa: F821
    for a in range(lo0, hi0 + 1):
        dz = (a + 0.5) * h - cz
        ia = a % nz
        for b in range(lo1, hi1 + 1):
            dy = (b + 0.5) * h - cy
            ib = b % ny
            rem = reach2 - dz * dz - dy * dy
            if rem < 0:
                continue
            for c in range(lo2, hi2 + 1):
                dx = (c + 0.5) * h - cx
                if dx * dx <= rem:
                    q = int((dz * dz + dy * dy + dx * dx) / reach2 * 2147483648.0)
                    key_min(keys, ia, ib, c % nx, q * 4294967296 + (k + 1))  # noqa: F821


def clearance_body(k, centers, radii, h, shape, periodic, pad, out, a0, a1):
    """Lower ``out`` to the signed distance (µm) to sphere ``k``'s surface within ``pad``."""
    cz = centers[k, 0]
    cy = centers[k, 1]
    cx = centers[k, 2]
    r = radii[k]
    reach = r + pad
    reach2 = reach * reach
    nz = shape[0]
    ny = shape[1]
    nx = shape[2]
    lo0, hi0 = axis_range(cz, reach, h, nz, periodic[0])  # noqa: F821 - bound per target
    lo1, hi1 = axis_range(cy, reach, h, ny, periodic[1])  # noqa: F821
    lo2, hi2 = axis_range(cx, reach, h, nx, periodic[2])  # noqa: F821
    for a in range(lo0, hi0 + 1):
        dz = (a + 0.5) * h - cz
        ia = a % nz
        for b in range(lo1, hi1 + 1):
            dy = (b + 0.5) * h - cy
            ib = b % ny
            rem = reach2 - dz * dz - dy * dy
            if rem < 0:
                continue
            for c in range(lo2, hi2 + 1):
                dx = (c + 0.5) * h - cx
                if dx * dx <= rem:
                    d = math.sqrt(dz * dz + dy * dy + dx * dx) - r
                    val_min(out, ia, ib, c % nx, d)  # noqa: F821 - bound per target


def compile_for(jit, *, key_min, val_min):
    """``{"stamp_soft", "stamp_hard", "clearance"}`` ball bodies compiled with ``jit``.

    ``jit`` compiles a helper for the target (``numba.njit`` or ``cuda.jit(device=True)``);
    ``key_min`` / ``val_min`` are the target's already compiled min-store helpers.
    """
    rng = jit(axis_range)
    return {
        "stamp_soft": jit(bind(stamp_soft_body, axis_range=rng)),
        "stamp_hard": jit(bind(stamp_hard_body, axis_range=rng, key_min=key_min)),
        "clearance": jit(bind(clearance_body, axis_range=rng, val_min=val_min)),
    }
