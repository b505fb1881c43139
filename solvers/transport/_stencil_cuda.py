"""GPU twins (numba-cuda) of the kernels in :mod:`solvers.transport._stencil`.

Same storage, same function names, same arguments and results; the arrays are CuPy arrays
(NumPy arrays under numba's CUDA simulator).  Grid-stride loops over the cells (or coarse blocks) on
a 1-D grid; reductions are summed per block in shared memory (float64) and added atomically to a
one-element float64 accumulator, whose value is copied to the host when the wrapper returns (the
only device sync points).  This module imports ``numba.cuda`` and is imported only on the GPU path.
"""

from __future__ import annotations

import math
from typing import Any

from numba import cuda, float64

from ..device import cuda_simulated, get_xp, launch_config, to_host
from . import _stencil_kernels

__all__ = [
    "build_faces",
    "coarsen",
    "residual_restrict",
    "prolong_add",
    "matvec_dot",
    "jacobi_dot",
    "rbgs",
    "block_labels",
    "residual_restrict_agg",
    "prolong_add_agg",
    "energy",
    "dot",
    "update_xr",
    "update_d",
]

_SHARED = 256  # >= threads per block used by launch_config
_MAX_BLOCKS = 4096


# ----------------------------------------------------------------------------- device helpers
@cuda.jit(device=True)
def _block_sum(v, acc):
    """Sum ``v`` over the block (shared memory, float64) and add it to ``acc[0]``."""
    sh = cuda.shared.array(_SHARED, float64)
    tid = cuda.threadIdx.x
    sh[tid] = v
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            sh[tid] += sh[tid + s]
        cuda.syncthreads()
        s //= 2
    if tid == 0:
        cuda.atomic.add(acc, 0, sh[0])


# the bodies shared with the CPU (solvers.transport._stencil_kernels), compiled for the GPU
_B = _stencil_kernels.compile_for(cuda.jit(device=True), float64)
_cell = _B["cell_ax_at"]
_neighbours = _B["neighbours"]
_gs_cell = _B["gs_cell"]
_block_pieces = _B["block_pieces"]
_prolong_cell = _B["prolong_cell"]
_energy_cell = _B["energy_cell"]
_restrict_agg_block = _B["restrict_agg_block"]
_prolong_agg_cell = _B["prolong_agg_cell"]
_faces_cell = _B["faces_cell"]
_coarse_faces_cell = _B["coarse_faces_cell"]
_update_xr_cell = _B["update_xr_cell"]
_update_d_cell = _B["update_d_cell"]


# ----------------------------------------------------------------------------- kernels
@cuda.jit
def _k_matvec(gx, gy, gz, x, y, acc):
    n0, n1, n2 = x.shape
    v = 0.0
    for t in range(cuda.grid(1), n0 * n1 * n2, cuda.gridsize(1)):
        k = t % n2
        j = (t // n2) % n1
        i = t // (n1 * n2)
        ax, _ = _cell(gx, gy, gz, x, i, j, k)
        y[i, j, k] = ax
        v += ax * x[i, j, k]
    _block_sum(v, acc)


@cuda.jit
def _k_jacobi(gx, gy, gz, r, z, acc):
    n0, n1, n2 = r.shape
    v = 0.0
    for t in range(cuda.grid(1), n0 * n1 * n2, cuda.gridsize(1)):
        k = t % n2
        j = (t // n2) % n1
        i = t // (n1 * n2)
        _, d = _cell(gx, gy, gz, r, i, j, k)
        zz = r[i, j, k] / d if d > 0 else 0.0
        z[i, j, k] = zz
        v += zz * r[i, j, k]
    _block_sum(v, acc)


@cuda.jit
def _k_rbgs(gx, gy, gz, x, b, color, zero_init):
    n0, n1, n2 = x.shape
    for t in range(cuda.grid(1), n0 * n1 * n2, cuda.gridsize(1)):
        k = t % n2
        j = (t // n2) % n1
        i = t // (n1 * n2)
        if (i + j + k) % 2 != color:
            if zero_init:
                x[i, j, k] = 0.0
        else:
            if zero_init:
                x[i, j, k] = 0.0
            im, ip, jm, jp, km, kp, fm, fp = _neighbours(i, j, k, n0, n1, n2)
            _gs_cell(gx, gy, gz, x, b, i, j, k, im, ip, jm, jp, km, kp, fm, fp, zero_init)


@cuda.jit
def _k_residual_restrict(gx, gy, gz, x, b, rc, c0, c1, c2):
    n0, n1, n2 = x.shape
    m0, m1, m2 = rc.shape
    for t in range(cuda.grid(1), m0 * m1 * m2, cuda.gridsize(1)):
        kc = t % m2
        jc = (t // m2) % m1
        ic = t // (m1 * m2)
        s = 0.0
        for i in range(ic * c0, min(ic * c0 + c0, n0)):
            for j in range(jc * c1, min(jc * c1 + c1, n1)):
                for k in range(kc * c2, min(kc * c2 + c2, n2)):
                    ax, _ = _cell(gx, gy, gz, x, i, j, k)
                    s += b[i, j, k] - ax
        rc[ic, jc, kc] = s


@cuda.jit
def _k_prolong_add(x, xc, c0, c1, c2):
    n0, n1, n2 = x.shape
    for t in range(cuda.grid(1), n0 * n1 * n2, cuda.gridsize(1)):
        _prolong_cell(x, xc, t // (n1 * n2), (t // n2) % n1, t % n2, c0, c1, c2)


@cuda.jit
def _k_block_labels(gx, gy, gz, lut, lab):
    n0, n1, n2 = lab.shape
    m1 = (n1 + 1) // 2
    m2 = (n2 + 1) // 2
    for t in range(cuda.grid(1), ((n0 + 1) // 2) * m1 * m2, cuda.gridsize(1)):
        _block_pieces(gx, gy, gz, lut, lab, t // (m1 * m2), (t // m2) % m1, t % m2, t * 8)


@cuda.jit
def _k_residual_restrict_agg(gx, gy, gz, x, b, agg, rc):
    # one thread per 2x2x2 block: its aggregates are its own, so no atomics are needed
    n0, n1, n2 = x.shape
    m1 = (n1 + 1) // 2
    m2 = (n2 + 1) // 2
    for t in range(cuda.grid(1), ((n0 + 1) // 2) * m1 * m2, cuda.gridsize(1)):
        _restrict_agg_block(gx, gy, gz, x, b, agg, rc, t // (m1 * m2), (t // m2) % m1, t % m2)


@cuda.jit
def _k_prolong_add_agg(x, xc, agg):
    n0, n1, n2 = x.shape
    for t in range(cuda.grid(1), n0 * n1 * n2, cuda.gridsize(1)):
        _prolong_agg_cell(x, xc, agg, t // (n1 * n2), (t // n2) % n1, t % n2)


@cuda.jit
def _k_energy(gx, gy, gz, x, acc):
    n0, n1, n2 = x.shape
    v = 0.0
    for t in range(cuda.grid(1), n0 * n1 * n2, cuda.gridsize(1)):
        v += _energy_cell(gx, gy, gz, x, t // (n1 * n2), (t // n2) % n1, t % n2)
    _block_sum(v, acc)


@cuda.jit
def _k_build_faces(phase, gtab, gdir, per1, per2, gx, gy, gz):
    n0, n1, n2 = phase.shape
    for t in range(cuda.grid(1), (n0 + 1) * n1 * n2, cuda.gridsize(1)):
        k = t % n2
        j = (t // n2) % n1
        i = t // (n1 * n2)
        _faces_cell(phase, gtab, gdir, per1, per2, gx, gy, gz, i, j, k)


@cuda.jit
def _k_coarsen(gx, gy, gz, c0, c1, c2, gxc, gyc, gzc):
    m0, m1, m2 = gyc.shape
    for t in range(cuda.grid(1), (m0 + 1) * m1 * m2, cuda.gridsize(1)):
        kc = t % m2
        jc = (t // m2) % m1
        ic = t // (m1 * m2)
        _coarse_faces_cell(gx, gy, gz, c0, c1, c2, gxc, gyc, gzc, ic, jc, kc)


@cuda.jit
def _k_dot(a, b, acc):
    n0, n1, n2 = a.shape
    v = 0.0
    for t in range(cuda.grid(1), n0 * n1 * n2, cuda.gridsize(1)):
        k = t % n2
        j = (t // n2) % n1
        i = t // (n1 * n2)
        v += float64(a[i, j, k]) * float64(b[i, j, k])
    _block_sum(v, acc)


@cuda.jit
def _k_update_xr(x, r, d, q, alpha, acc):
    n0, n1, n2 = x.shape
    v = 0.0
    for t in range(cuda.grid(1), n0 * n1 * n2, cuda.gridsize(1)):
        k = t % n2
        j = (t // n2) % n1
        i = t // (n1 * n2)
        v += _update_xr_cell(x, r, d, q, alpha, i, j, k)
    _block_sum(v, acc)


@cuda.jit
def _k_update_d(d, z, beta):
    n0, n1, n2 = d.shape
    for t in range(cuda.grid(1), n0 * n1 * n2, cuda.gridsize(1)):
        k = t % n2
        j = (t // n2) % n1
        i = t // (n1 * n2)
        _update_d_cell(d, z, beta, i, j, k)


# ----------------------------------------------------------------------------- wrappers
def _acc() -> Any:
    return get_xp("cuda").zeros(1, dtype="float64")


def _launch(kernel, n: int, *args: Any) -> None:
    """Launch ``kernel`` over ``n`` items; every kernel loops grid-stride over its items.

    On a GPU the grid covers ``n`` (capped at ``_MAX_BLOCKS`` blocks, which also bounds the
    atomic additions of the reductions); under the simulator one block of 8 threads does
    all the work, because each simulated thread is a Python thread.
    """
    if cuda_simulated():
        blocks, threads = 1, 8
    else:
        blocks, threads = launch_config(n)
        blocks = min(blocks, _MAX_BLOCKS)
    kernel[blocks, threads](*args)


def _size(a: Any) -> int:
    return int(math.prod(a.shape))


def matvec_dot(gx, gy, gz, x, y) -> float:
    """``y = A x``; return ``x . y`` (float64)."""
    acc = _acc()
    _launch(_k_matvec, _size(x), gx, gy, gz, x, y, acc)
    return float(to_host(acc)[0])  # device sync


def jacobi_dot(gx, gy, gz, r, z) -> float:
    """``z = D^-1 r``; return ``r . z`` (float64)."""
    acc = _acc()
    _launch(_k_jacobi, _size(r), gx, gy, gz, r, z, acc)
    return float(to_host(acc)[0])  # device sync


def rbgs(gx, gy, gz, x, b, color, zero_init) -> None:
    """Red-black Gauss-Seidel half sweep (see :func:`solvers.transport._stencil.rbgs`)."""
    _launch(_k_rbgs, _size(x), gx, gy, gz, x, b, int(color), bool(zero_init))


def residual_restrict(gx, gy, gz, x, b, rc, c0, c1, c2) -> None:
    """``rc = P^T (b - A x)``."""
    _launch(_k_residual_restrict, _size(rc), gx, gy, gz, x, b, rc, int(c0), int(c1), int(c2))


def prolong_add(x, xc, c0, c1, c2) -> None:
    """``x += P xc``."""
    _launch(_k_prolong_add, _size(x), x, xc, int(c0), int(c1), int(c2))


def coarsen(gx, gy, gz, c0, c1, c2, gxc, gyc, gzc) -> None:
    """Face conductances of the next coarser level."""
    _launch(_k_coarsen, _size(gxc), gx, gy, gz, int(c0), int(c1), int(c2), gxc, gyc, gzc)


def block_labels(gx, gy, gz, lut, lab) -> None:
    """Connected pieces of the 2x2x2 blocks (as :func:`solvers.transport._stencil.block_labels`)."""
    n0, n1, n2 = lab.shape
    nb = ((n0 + 1) // 2) * ((n1 + 1) // 2) * ((n2 + 1) // 2)
    _launch(_k_block_labels, nb, gx, gy, gz, lut, lab)


def residual_restrict_agg(gx, gy, gz, x, b, agg, rc) -> None:
    """``rc += P^T (b - A x)`` for the aggregation ``agg``."""
    n0, n1, n2 = x.shape
    nb = ((n0 + 1) // 2) * ((n1 + 1) // 2) * ((n2 + 1) // 2)
    _launch(_k_residual_restrict_agg, nb, gx, gy, gz, x, b, agg, rc)


def prolong_add_agg(x, xc, agg) -> None:
    """``x += P xc`` for the aggregation ``agg``."""
    _launch(_k_prolong_add_agg, _size(x), x, xc, agg)


def build_faces(phase, gtab, gdir, per1, per2, gx, gy, gz) -> None:
    """Face conductances of the voxel grid (see :func:`solvers.transport._stencil.build_faces`)."""
    _launch(_k_build_faces, _size(gx), phase, gtab, gdir, bool(per1), bool(per2), gx, gy, gz)


def energy(gx, gy, gz, x) -> float:
    """Dirichlet energy of ``x`` (see :func:`solvers.transport._stencil.energy`), float64."""
    acc = _acc()
    _launch(_k_energy, _size(x), gx, gy, gz, x, acc)
    return float(to_host(acc)[0])  # device sync


def dot(a, b) -> float:
    """``a . b`` accumulated in float64."""
    acc = _acc()
    _launch(_k_dot, _size(a), a, b, acc)
    return float(to_host(acc)[0])  # device sync


def update_xr(x, r, d, q, alpha) -> float:
    """``x += alpha d``, ``r -= alpha q``; return ``r . r`` (float64)."""
    acc = _acc()
    _launch(_k_update_xr, _size(x), x, r, d, q, float(alpha), acc)
    return float(to_host(acc)[0])  # device sync


def update_d(d, z, beta) -> None:
    """``d = z + beta d``."""
    _launch(_k_update_d, _size(d), d, z, float(beta))
