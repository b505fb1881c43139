"""Per-sphere voxel stamping bodies, compiled for CPU (numba) and GPU (numba-cuda).

A voxel belongs to a sphere when its centre lies inside it.  Where hard CAM spheres overlap
slightly, the voxel goes to the sphere with the smallest ``|x - c|^2 / r^2`` (ties: lowest id).
That rule is written as one 64-bit key per voxel, ``float32 bits of |x - c|^2 / r^2`` in the
high word and the particle id in the low word, so "smallest key wins" is the same on the CPU
(serial loop) and on the GPU (``atomic.min``), and the result does not depend on thread order.

Soft phases (SE, carbon) are stamped into pore voxels only; spheres of one phase may overlap
freely, so every thread writes the same value and order does not matter either.
"""

import math


def stamp_soft_body(k, centers, radii, h, shape, periodic, phases, code, into):
    """Set voxels of sphere ``k`` that currently hold ``into`` (pore) to ``code``."""
    cz = centers[k, 0]
    cy = centers[k, 1]
    cx = centers[k, 2]
    r = radii[k]
    r2 = r * r
    nz = shape[0]
    ny = shape[1]
    nx = shape[2]
    lo0 = int(math.ceil((cz - r) / h - 0.5))
    hi0 = int(math.floor((cz + r) / h - 0.5))
    lo1 = int(math.ceil((cy - r) / h - 0.5))
    hi1 = int(math.floor((cy + r) / h - 0.5))
    lo2 = int(math.ceil((cx - r) / h - 0.5))
    hi2 = int(math.floor((cx + r) / h - 0.5))
    if periodic[0] == 0:
        lo0 = max(lo0, 0)
        hi0 = min(hi0, nz - 1)
    if periodic[1] == 0:
        lo1 = max(lo1, 0)
        hi1 = min(hi1, ny - 1)
    if periodic[2] == 0:
        lo2 = max(lo2, 0)
        hi2 = min(hi2, nx - 1)
    for a in range(lo0, hi0 + 1):
        dz = (a + 0.5) * h - cz
        ia = a % nz
        for b in range(lo1, hi1 + 1):
            dy = (b + 0.5) * h - cy
            ib = b % ny
            rem = r2 - dz * dz - dy * dy
            if rem < 0:
                continue
            for c in range(lo2, hi2 + 1):
                dx = (c + 0.5) * h - cx
                if dx * dx <= rem:
                    ic = c % nx
                    if phases[ia, ib, ic] == into:
                        phases[ia, ib, ic] = code


#: Keys of voxels that no hard sphere covers.
NO_KEY = 2**63 - 1
_Q = 2**31  # normalised squared distances in [0, 1] are quantised to 31 bits


def stamp_hard_body(k, centers, radii, h, shape, periodic, keys):
    """Offer sphere ``k`` (id ``k + 1``) to each voxel centre inside it; smallest key wins.

    ``key_min(keys, a, b, c, key)`` is bound per target: a compare-and-store on the CPU, an
    ``atomic.min`` on the GPU (see :func:`bind`).
    """
    cz = centers[k, 0]
    cy = centers[k, 1]
    cx = centers[k, 2]
    r = radii[k]
    r2 = r * r
    nz = shape[0]
    ny = shape[1]
    nx = shape[2]
    lo0 = int(math.ceil((cz - r) / h - 0.5))
    hi0 = int(math.floor((cz + r) / h - 0.5))
    lo1 = int(math.ceil((cy - r) / h - 0.5))
    hi1 = int(math.floor((cy + r) / h - 0.5))
    lo2 = int(math.ceil((cx - r) / h - 0.5))
    hi2 = int(math.floor((cx + r) / h - 0.5))
    if periodic[0] == 0:
        lo0 = max(lo0, 0)
        hi0 = min(hi0, nz - 1)
    if periodic[1] == 0:
        lo1 = max(lo1, 0)
        hi1 = min(hi1, ny - 1)
    if periodic[2] == 0:
        lo2 = max(lo2, 0)
        hi2 = min(hi2, nx - 1)
    for a in range(lo0, hi0 + 1):
        dz = (a + 0.5) * h - cz
        ia = a % nz
        for b in range(lo1, hi1 + 1):
            dy = (b + 0.5) * h - cy
            ib = b % ny
            rem = r2 - dz * dz - dy * dy
            if rem < 0:
                continue
            for c in range(lo2, hi2 + 1):
                dx = (c + 0.5) * h - cx
                if dx * dx <= rem:
                    q = int((dz * dz + dy * dy + dx * dx) / r2 * 2147483648.0)
                    key = q * 4294967296 + (k + 1)
                    key_min(keys, ia, ib, c % nx, key)  # noqa: F821 - bound per target


def bind(func, **names):
    """A copy of ``func`` whose global ``names`` are replaced (per-target helpers)."""
    import types

    g = dict(func.__globals__)
    g.update(names)
    return types.FunctionType(func.__code__, g, func.__name__, func.__defaults__,
                              func.__closure__)


def clearance_body(k, centers, radii, h, shape, periodic, cap, out):
    """Lower ``out`` to ``|x - c_k| - r_k`` (signed distance to sphere ``k``'s surface, µm) on
    the voxels within ``cap`` of that surface.  ``val_min`` is bound per target."""
    cz = centers[k, 0]
    cy = centers[k, 1]
    cx = centers[k, 2]
    r = radii[k]
    reach = r + cap
    nz = shape[0]
    ny = shape[1]
    nx = shape[2]
    lo0 = int(math.ceil((cz - reach) / h - 0.5))
    hi0 = int(math.floor((cz + reach) / h - 0.5))
    lo1 = int(math.ceil((cy - reach) / h - 0.5))
    hi1 = int(math.floor((cy + reach) / h - 0.5))
    lo2 = int(math.ceil((cx - reach) / h - 0.5))
    hi2 = int(math.floor((cx + reach) / h - 0.5))
    if periodic[0] == 0:
        lo0 = max(lo0, 0)
        hi0 = min(hi0, nz - 1)
    if periodic[1] == 0:
        lo1 = max(lo1, 0)
        hi1 = min(hi1, ny - 1)
    if periodic[2] == 0:
        lo2 = max(lo2, 0)
        hi2 = min(hi2, nx - 1)
    reach2 = reach * reach
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
