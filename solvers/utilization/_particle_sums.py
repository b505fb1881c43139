"""Step 4 of :func:`cam_utilization`: per-particle sums in one pass over the voxels.

Volume, electronic flag, faces shared with the ionic phases and faces shared with the ionic
network, per particle id: a numba loop on the CPU, ``bincount`` on the GPU (the two are
compared in the tests).  Ionic contact is always face sharing, whatever the connectivity.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
import numpy as np

from ..device import array_module, to_host

__all__ = [
    "ParticleSums",
    "particle_sums",
    "particle_sums_cpu",
    "particle_sums_xp",
    "separator_faces",
]


class ParticleSums(NamedTuple):
    """Per-particle-id sums on the host, index = particle id (row 0, "no particle", is 0)."""

    volume: np.ndarray
    """Voxels (int64)."""
    electronic: np.ndarray
    """Any voxel in the electronic network (bool)."""
    contact_faces: np.ndarray
    """Voxel faces shared with a voxel of the ionic phases (int64)."""
    network_faces: np.ndarray
    """Voxel faces shared with the ionic network (int64)."""


def particle_sums(
    particle_ids: Any,
    elab: Any,
    ehit: Any,
    ilab: Any,
    ihit: Any,
    *,
    axis: int,
    wrap: bool,
    nid: int,
    device: str,
) -> ParticleSums:
    """Per-particle sums.

    Parameters
    ----------
    particle_ids : (nz, ny, nx) integer array
        Particle id per voxel, 0 for none.
    elab, ehit : labels of the electronic phases and, per label, "in the electronic network".
    ilab, ihit : labels of the ionic phases and, per label, "in the ionic network".
    axis : int
        Through-plane axis (never wrapped).
    wrap : bool
        Wrap the two other axes.
    nid : int
        Largest particle id + 1 (length of the returned arrays).
    device : {"cpu", "cuda"}

    Examples
    --------
    >>> import numpy as np
    >>> ids = np.array([1, 1, 0], dtype=np.int32).reshape(1, 1, 3)   # particle 1, then SE
    >>> ilab = np.array([0, 0, 1], dtype=np.int32).reshape(1, 1, 3)
    >>> yes = np.array([False, True])
    >>> s = particle_sums(ids, ilab * 0, yes, ilab, yes, axis=0, wrap=False, nid=2, device="cpu")
    >>> s.volume.tolist(), s.electronic.tolist(), s.contact_faces.tolist()
    ([0, 2], [False, False], [0, 1])
    """
    fn = particle_sums_cpu if device == "cpu" else particle_sums_xp
    return fn(particle_ids, elab, ehit, ilab, ihit, axis, wrap, nid)


def _neighbour_table(n: int, wrap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Previous / next index along one axis (-1: none), with or without wrap."""
    idx = np.arange(n, dtype=np.int64)
    prev, nxt = idx - 1, idx + 1
    if wrap:
        prev[0], nxt[-1] = n - 1, 0
    else:
        prev[0], nxt[-1] = -1, -1
    return prev, nxt


@numba.njit(inline="always")
def _touch(ilab, ihit, q):
    lq = ilab[q]
    if lq > 0:
        return 1, 1 if ihit[lq] else 0
    return 0, 0


@numba.njit(cache=True, nogil=True)
def _particle_sums_cpu(pid, elab, ehit, ilab, ihit, shape, zp, zn, yp, yn, xp_, xn, nid):
    """One pass over the voxels; returns (volume, electronic, contact faces, network faces).

    ``zp``/``zn`` (and y, x) give the previous / next index along each axis (-1: no
    neighbour), which encodes wrap on the lateral axes and none through-plane.
    """
    nz, ny, nx = shape
    nxy = ny * nx
    vol = np.zeros(nid, dtype=np.int64)
    elec = np.zeros(nid, dtype=np.bool_)
    contact = np.zeros(nid, dtype=np.int64)
    network = np.zeros(nid, dtype=np.int64)
    for z in range(nz):
        for y in range(ny):
            base = z * nxy + y * nx
            for x in range(nx):
                i = base + x
                p = pid[i]
                if p == 0:
                    continue
                vol[p] += 1
                if ehit[elab[i]]:
                    elec[p] = True
                c = 0
                w = 0
                if zp[z] >= 0:
                    a, b = _touch(ilab, ihit, zp[z] * nxy + y * nx + x)
                    c += a
                    w += b
                if zn[z] >= 0:
                    a, b = _touch(ilab, ihit, zn[z] * nxy + y * nx + x)
                    c += a
                    w += b
                if yp[y] >= 0:
                    a, b = _touch(ilab, ihit, z * nxy + yp[y] * nx + x)
                    c += a
                    w += b
                if yn[y] >= 0:
                    a, b = _touch(ilab, ihit, z * nxy + yn[y] * nx + x)
                    c += a
                    w += b
                if xp_[x] >= 0:
                    a, b = _touch(ilab, ihit, base + xp_[x])
                    c += a
                    w += b
                if xn[x] >= 0:
                    a, b = _touch(ilab, ihit, base + xn[x])
                    c += a
                    w += b
                contact[p] += c
                network[p] += w
    return vol, elec, contact, network


def particle_sums_cpu(
    pid: np.ndarray,
    elab: np.ndarray,
    ehit: np.ndarray,
    ilab: np.ndarray,
    ihit: np.ndarray,
    axis: int,
    wrap: bool,
    nid: int,
) -> ParticleSums:
    """CPU path of :func:`particle_sums` (numba)."""
    tables = []
    for a, n in enumerate(pid.shape):
        tables.extend(_neighbour_table(n, wrap and a != axis))
    return ParticleSums(
        *_particle_sums_cpu(
            pid.reshape(-1),
            elab.reshape(-1),
            ehit,
            ilab.reshape(-1),
            ihit,
            np.array(pid.shape, dtype=np.int64),
            *tables,
            nid,
        )
    )


def particle_sums_xp(
    pid: Any, elab: Any, ehit: Any, ilab: Any, ihit: Any, axis: int, wrap: bool, nid: int
) -> ParticleSums:
    """GPU path of :func:`particle_sums` (array operations; NumPy arrays work too)."""
    xp = array_module(pid)
    flat = pid.ravel().astype(xp.int64, copy=False)
    is_ionic = ilab > 0
    in_net = ihit[ilab]
    contact_v = xp.zeros(pid.shape, dtype=xp.int32)
    network_v = xp.zeros(pid.shape, dtype=xp.int32)
    for a in range(3):
        for step in (-1, 1):
            if a != axis and wrap:
                # neighbour at +step along a, wrapped: value at index c + step
                contact_v += xp.roll(is_ionic, -step, axis=a)
                network_v += xp.roll(in_net, -step, axis=a)
            else:
                n_a = pid.shape[a]
                dst = [slice(None)] * 3
                src = [slice(None)] * 3
                if step == 1:
                    dst[a], src[a] = slice(0, n_a - 1), slice(1, n_a)
                else:
                    dst[a], src[a] = slice(1, n_a), slice(0, n_a - 1)
                contact_v[tuple(dst)] += is_ionic[tuple(src)]
                network_v[tuple(dst)] += in_net[tuple(src)]
    vol = xp.bincount(flat, minlength=nid)
    f64 = xp.float64
    elec = xp.bincount(flat, weights=ehit[elab].ravel().astype(f64), minlength=nid) > 0
    contact = xp.bincount(flat, weights=contact_v.ravel().astype(f64), minlength=nid)
    network = xp.bincount(flat, weights=network_v.ravel().astype(f64), minlength=nid)
    out = ParticleSums(
        to_host(vol).astype(np.int64),
        to_host(elec),
        to_host(contact).round().astype(np.int64),
        to_host(network).round().astype(np.int64),
    )
    for a in out:
        a[0] = 0  # id 0 is "no particle"; the numba pass skips it
    return out


def separator_faces(particle_ids: Any, *, axis: int, nid: int) -> np.ndarray:
    """Voxel faces each particle id has on the separator face (last index along ``axis``).

    Host int64 array of length ``nid`` (row 0, "no particle", is 0); one array expression, the
    same on NumPy and CuPy arrays.

    Examples
    --------
    >>> import numpy as np
    >>> ids = np.zeros((3, 2, 2), dtype=np.int32)
    >>> ids[2, 0, :] = 1                      # particle 1 lies on the separator face
    >>> ids[0, 1, 1] = 2                      # particle 2 touches the collector only
    >>> separator_faces(ids, axis=0, nid=3).tolist()
    [0, 2, 0]
    """
    xp = array_module(particle_ids)
    last = xp.take(particle_ids, particle_ids.shape[axis] - 1, axis=axis)
    out = to_host(xp.bincount(last.ravel().astype(xp.int64, copy=False), minlength=nid))
    out = out[:nid].astype(np.int64)
    out[0] = 0
    return out
