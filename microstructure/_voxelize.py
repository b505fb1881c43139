"""Voxelization of sphere packings (CPU kernels; the GPU twins live in ``_packing_cuda.py``).

A voxel belongs to a sphere when its centre lies inside the sphere.  Hard CAM spheres are
stamped with the keyed rule of :mod:`._voxelize_kernels` (nearest centre relative to radius
wins where spheres overlap); soft SE and carbon spheres fill pore voxels only.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from . import _voxelize_kernels as VK


@numba.njit(cache=True)
def _key_min_cpu(keys, a, b, c, key):
    if key < keys[a, b, c]:
        keys[a, b, c] = key


_B = VK.compile_for(numba.njit(cache=True), key_min=_key_min_cpu, val_min=_key_min_cpu)
_nb_soft, _nb_hard, _nb_clear = _B["stamp_soft"], _B["stamp_hard"], _B["clearance"]


@numba.njit(cache=True)
def _stamp_hard_cpu(centers, radii, h, shape, periodic, keys):
    # serial: the keyed min makes the result independent of order anyway
    for k in range(centers.shape[0]):
        _nb_hard(k, centers, radii, h, shape, periodic, 0.0, keys, 0, 0)


@numba.njit(cache=True)
def _clearance_cpu(centers, radii, h, shape, periodic, cap, out):
    for k in range(centers.shape[0]):
        _nb_clear(k, centers, radii, h, shape, periodic, cap, out, 0, 0)


@numba.njit(parallel=True, cache=True)
def _stamp_soft_cpu(centers, radii, h, shape, periodic, phases, code, into):
    # every sphere writes the same value into pore voxels: order does not matter
    for k in numba.prange(centers.shape[0]):
        _nb_soft(k, centers, radii, h, shape, periodic, 0.0, phases, code, into)


def stamp_hard(kern: Any, centers: Any, radii: Any, shape: tuple[int, int, int], h: float,
               periodic: np.ndarray) -> Any:
    """Voxel ids (int32, 1..n; 0 outside) of hard spheres, by the keyed nearest-centre rule."""
    xp = kern.xp
    keys = xp.full(shape, VK.NO_KEY, dtype=xp.int64)
    if centers.shape[0]:
        kern.stamp_hard(centers, radii, float(h), xp.asarray(np.asarray(shape, np.int64)),
                        xp.asarray(np.asarray(periodic, np.int8)), keys)
    ids = xp.where(keys == VK.NO_KEY, 0, keys & 0xFFFFFFFF).astype(xp.int32)
    return ids


def clearance(kern: Any, centers: Any, radii: Any, shape: tuple[int, int, int], h: float,
              periodic: np.ndarray, cap: float) -> Any:
    """Distance (µm, float32) from each voxel centre to the nearest hard-sphere surface.

    Negative inside spheres; values are exact up to ``cap`` and equal ``cap`` beyond it.
    """
    xp = kern.xp
    out = xp.full(shape, np.float32(cap), dtype=xp.float32)
    if centers.shape[0]:
        kern.clearance(centers, radii, float(h), xp.asarray(np.asarray(shape, np.int64)),
                       xp.asarray(np.asarray(periodic, np.int8)), np.float32(cap), out)
    return out


def stamp_soft(kern: Any, phases: Any, centers: Any, radii: Any, h: float, periodic: np.ndarray,
               code: int, into: int = 0) -> None:
    """Set the voxels of every sphere that hold ``into`` to ``code`` (in place)."""
    xp = kern.xp
    if centers.shape[0] == 0:
        return
    kern.stamp_soft(centers, radii, float(h), xp.asarray(np.asarray(phases.shape, np.int64)),
                    xp.asarray(np.asarray(periodic, np.int8)), phases, np.uint8(code),
                    np.uint8(into))
