"""CPU kernels (numba, parallel) for the cell-centred 7-point conductance operator.

Storage (transport axis moved to axis 0; the voxel grid and every level of the geometric
multigrid hierarchy use it):

``gx`` shape ``(n0 + 1, n1, n2)``
    ``gx[i]`` couples cells ``i - 1`` and ``i`` along axis 0; ``gx[0]`` and ``gx[n0]`` are
    the conductances to the two Dirichlet faces.
``gy``, ``gz`` shape ``(n0, n1, n2)``
    ``gy[:, j]`` couples ``j`` and ``j + 1`` along axis 1 (``gz`` likewise along axis 2); the
    last entry is the periodic wrap face, zero when the sides are sealed or the axis has
    length 1.

The operator is ``(A x)_c = sum_faces g_f (x_c - x_nb)`` with ``x_nb = 0`` on the Dirichlet
faces (the fixed potentials enter through the right-hand side).  A cell whose faces are all
zero (not solved) has a zero row: it gets 0 from the matvec, Jacobi and the smoother.

The transfers of the piece-aggregation multigrid to its first coarse level
(:mod:`solvers.transport._multigrid`) use an aggregation array ``agg`` (int32, the voxel grid's
shape): the coarse unknown of each cell, ``-1`` for cells with a zero row; every aggregate lies
inside one ``2 x 2 x 2`` block.

The per-cell arithmetic (stencil, Gauss-Seidel update, Dirichlet energy, block pieces,
transfers) is written once in :mod:`solvers.transport._stencil_kernels` and compiled here with
``numba.njit(inline="always")`` and in :mod:`solvers.transport._stencil_cuda` with
``cuda.jit(device=True)``; this module holds the CPU drivers.  They work row by row (fixed
``i, j``) with a branch-free inner loop over ``k`` so that LLVM vectorises the inlined body;
``prange`` splits axis 0 over the threads.  Reductions are accumulated in float64 whatever the
storage dtype.  ``build_faces``, ``coarsen`` and the vector updates (``dot``, ``update_xr``,
``update_d``) are short enough to be written per target.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from . import _stencil_kernels

_OPTS = {"cache": True, "fastmath": True, "nogil": True}
# the bodies shared with the GPU (solvers.transport._stencil_kernels), compiled for the CPU
_B = _stencil_kernels.compile_for(njit(inline="always", **_OPTS), numba.float64)
block_code = _B["block_code"]
_energy_cell = _B["energy_cell"]
_prolong_agg_cell = _B["prolong_agg_cell"]

__all__ = [
    "build_faces",
    "coarsen",
    "residual_restrict",
    "prolong_add",
    "block_code",
    "block_labels",
    "matvec_dot",
    "jacobi_dot",
    "rbgs",
    "residual_restrict_agg",
    "prolong_add_agg",
    "energy",
    "dot",
    "update_xr",
    "update_d",
]


_neighbours = _B["neighbours"]
_cell_ax = _B["cell_ax"]
_gs_cell = _B["gs_cell"]
_block_pieces = _B["block_pieces"]
_prolong_cell = _B["prolong_cell"]
_faces_cell = _B["faces_cell"]
_coarse_faces_cell = _B["coarse_faces_cell"]
_update_xr_cell = _B["update_xr_cell"]
_update_d_cell = _B["update_d_cell"]


# The CPU drivers walk rows (fixed i, j): the interior cells k = 1 .. n2-2 with km = k - 1,
# kp = k + 1 (a loop LLVM vectorises), then the two wrap cells k = 0 and k = n2 - 1.
@njit(parallel=True, **_OPTS)
def _matvec_dot(gx, gy, gz, x, y):
    """``y = A x``; return ``x . y`` (float64)."""
    n0, n1, n2 = x.shape
    s = 0.0
    for i in prange(n0):
        acc = 0.0
        for j in range(n1):
            im, ip, jm, jp, _, _, fm, fp = _neighbours(i, j, 0, n0, n1, n2)
            for k in range(1, n2 - 1):
                ax, _ = _cell_ax(gx, gy, gz, x, i, j, k, im, ip, jm, jp, k - 1, k + 1, fm, fp)
                y[i, j, k] = ax
                acc += np.float64(ax) * np.float64(x[i, j, k])
            for k in range(0, n2, max(n2 - 1, 1)):
                _, _, _, _, km, kp, _, _ = _neighbours(i, j, k, n0, n1, n2)
                ax, _ = _cell_ax(gx, gy, gz, x, i, j, k, im, ip, jm, jp, km, kp, fm, fp)
                y[i, j, k] = ax
                acc += np.float64(ax) * np.float64(x[i, j, k])
        s += acc
    return s


@njit(parallel=True, **_OPTS)
def _jacobi_dot(gx, gy, gz, r, z):
    """``z = D^-1 r`` (0 where the diagonal is 0); return ``r . z`` (float64)."""
    n0, n1, n2 = r.shape
    s = 0.0
    for i in prange(n0):
        acc = 0.0
        for j in range(n1):
            im, ip, jm, jp, _, _, fm, fp = _neighbours(i, j, 0, n0, n1, n2)
            for k in range(n2):
                km = k - 1 if k > 0 else n2 - 1
                _, d = _cell_ax(gx, gy, gz, r, i, j, k, im, ip, jm, jp, km, k, fm, fp)
                v = r[i, j, k] / d if d > 0 else 0.0
                z[i, j, k] = v
                acc += np.float64(v) * np.float64(r[i, j, k])
        s += acc
    return s


@njit(parallel=True, **_OPTS)
def _rbgs(gx, gy, gz, x, b, color, zero_init):
    """Red-black Gauss-Seidel half sweep on the cells with ``(i + j + k) % 2 == color``.

    With ``zero_init`` the current ``x`` is taken as zero: cells of ``color`` get
    ``b / diag`` and all other cells 0 (saves clearing ``x``).
    On a periodic axis of odd length the last and first planes share a colour; they are then
    updated one after the other (CPU) or concurrently (GPU), which makes the V-cycle slightly
    non-symmetric -- the caller then uses flexible conjugate gradients.
    """
    n0, n1, n2 = x.shape
    for i in prange(n0):
        for j in range(n1):
            im, ip, jm, jp, _, _, fm, fp = _neighbours(i, j, 0, n0, n1, n2)
            if zero_init:
                x[i, j, :] = 0.0
            k0 = (i + j + color) % 2
            # interior cells: no wrap along k
            for k in range(k0 if k0 > 0 else 2, n2 - 1, 2):
                _gs_cell(gx, gy, gz, x, b, i, j, k, im, ip, jm, jp, k - 1, k + 1, fm, fp,
                         zero_init)
            for k in range(0, n2, max(n2 - 1, 1)):
                if (k % 2) == k0 and (k == 0 or k == n2 - 1):
                    _, _, _, _, km, kp, _, _ = _neighbours(i, j, k, n0, n1, n2)
                    _gs_cell(gx, gy, gz, x, b, i, j, k, im, ip, jm, jp, km, kp, fm, fp,
                             zero_init)


@njit(parallel=True, **_OPTS)
def _residual_restrict(gx, gy, gz, x, b, rc, c0, c1, c2):
    """``rc = P^T (b - A x)``: the residual summed over blocks of ``c0 x c1 x c2`` cells.

    Each row's residual goes to a buffer first (the vectorised interior loop), then is summed
    in pairs along ``k``.
    """
    n0, n1, n2 = x.shape
    m0 = rc.shape[0]
    for ic in prange(m0):
        buf = np.empty(n2, dtype=x.dtype)
        rc[ic] = 0.0
        for i in range(ic * c0, min(ic * c0 + c0, n0)):
            for j in range(n1):
                im, ip, jm, jp, _, _, fm, fp = _neighbours(i, j, 0, n0, n1, n2)
                for k in range(1, n2 - 1):
                    ax, _ = _cell_ax(gx, gy, gz, x, i, j, k, im, ip, jm, jp, k - 1, k + 1, fm, fp)
                    buf[k] = b[i, j, k] - ax
                for k in range(0, n2, max(n2 - 1, 1)):
                    _, _, _, _, km, kp, _, _ = _neighbours(i, j, k, n0, n1, n2)
                    ax, _ = _cell_ax(gx, gy, gz, x, i, j, k, im, ip, jm, jp, km, kp, fm, fp)
                    buf[k] = b[i, j, k] - ax
                out = rc[ic, j // c1]
                if c2 == 2:
                    for kc in range(n2 // 2):
                        out[kc] += buf[2 * kc] + buf[2 * kc + 1]
                    if n2 % 2:
                        out[n2 // 2] += buf[n2 - 1]
                else:
                    for k in range(n2):
                        out[k] += buf[k]


@njit(parallel=True, **_OPTS)
def _prolong_add(x, xc, c0, c1, c2):
    """``x += P xc`` (piecewise constant over the blocks): the shared ``prolong_cell`` formula
    ``x[i, j, k] += xc[i // c0, j // c1, k // c2]`` with the division along ``k`` unrolled for
    ``c2 == 2`` so that the row loop vectorises (the simulator test compares it with the GPU)."""
    n0, n1, n2 = x.shape
    for i in prange(n0):
        for j in range(n1):
            xr = x[i, j]
            cr = xc[i // c0, j // c1]
            if c2 == 2:
                for kc in range(n2 // 2):
                    v = cr[kc]
                    xr[2 * kc] += v
                    xr[2 * kc + 1] += v
                if n2 % 2:
                    xr[n2 - 1] += cr[n2 // 2]
            else:
                for k in range(n2):
                    _prolong_cell(x, xc, i, j, k, c0, c1, c2)


@njit(parallel=True, **_OPTS)
def _block_labels(gx, gy, gz, lut, lab):
    """Connected pieces of the ``2 x 2 x 2`` blocks (see ``block_code`` for the code).

    ``lab[i, j, k] = 8 * block + lut[code, local]`` on solved cells, ``-1`` on cells with a
    zero row; ``block`` is the row-major index of the block on the coarse grid.
    """
    n0, n1, n2 = lab.shape
    m0 = (n0 + 1) // 2
    m1 = (n1 + 1) // 2
    m2 = (n2 + 1) // 2
    for bi in prange(m0):
        for bj in range(m1):
            for bk in range(m2):
                _block_pieces(gx, gy, gz, lut, lab, bi, bj, bk, ((bi * m1 + bj) * m2 + bk) * 8)


@njit(parallel=True, **_OPTS)
def _residual_restrict_agg(gx, gy, gz, x, b, agg, rc):
    """``rc += P^T (b - A x)`` with ``P`` the aggregation ``agg`` (``-1``: no aggregate).

    Aggregates lie inside ``2 x 2 x 2`` blocks, so the threads (pairs of planes) never add
    to the same entry of ``rc``.
    """
    n0, n1, n2 = x.shape
    for ic in prange((n0 + 1) // 2):
        for i in range(2 * ic, min(2 * ic + 2, n0)):
            for j in range(n1):
                im, ip, jm, jp, _, _, fm, fp = _neighbours(i, j, 0, n0, n1, n2)
                for k in range(n2):
                    a = agg[i, j, k]
                    if a >= 0:
                        km = k - 1 if k > 0 else n2 - 1
                        kp = k + 1 if k < n2 - 1 else 0
                        ax, _ = _cell_ax(gx, gy, gz, x, i, j, k, im, ip, jm, jp, km, kp, fm, fp)
                        rc[a] += b[i, j, k] - ax


@njit(parallel=True, **_OPTS)
def _prolong_add_agg(x, xc, agg):
    """``x += P xc`` (piecewise constant over the aggregates; cells without one unchanged)."""
    n0, n1, n2 = x.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                _prolong_agg_cell(x, xc, agg, i, j, k)


@njit(parallel=True, **_OPTS)
def _energy(gx, gy, gz, x):
    """Dirichlet energy ``sum_faces g (du)^2`` of ``x`` (potential 0 before index 0, 1 after
    the last index along axis 0), float64: the conductance when ``x`` solves ``A x = b``."""
    n0, n1, n2 = x.shape
    s = 0.0
    for i in prange(n0):
        acc = 0.0
        for j in range(n1):
            for k in range(n2):
                acc += _energy_cell(gx, gy, gz, x, i, j, k)
        s += acc
    return s


@njit(parallel=True, **_OPTS)
def _build_faces(phase, gtab, gdir, per1, per2, gx, gy, gz):
    """Face conductances of the voxel grid from class indices and the class tables.

    ``gtab[a, b]`` is the face conductance between classes ``a`` and ``b`` (0 for class 0),
    ``gdir[a]`` the conductance to a Dirichlet face half a voxel away (shared ``faces_cell``).
    """
    n0, n1, n2 = phase.shape
    for i in prange(n0 + 1):
        for j in range(n1):
            for k in range(n2):
                _faces_cell(phase, gtab, gdir, per1, per2, gx, gy, gz, i, j, k)


@njit(parallel=True, **_OPTS)
def _coarsen(gx, gy, gz, c0, c1, c2, gxc, gyc, gzc):
    """Face conductances of the next coarser level (blocks of ``c0 x c1 x c2`` cells, shared
    ``coarse_faces_cell``)."""
    m0, m1, m2 = gyc.shape
    for ic in prange(m0 + 1):
        for jc in range(m1):
            for kc in range(m2):
                _coarse_faces_cell(gx, gy, gz, c0, c1, c2, gxc, gyc, gzc, ic, jc, kc)


@njit(parallel=True, **_OPTS)
def _dot(a, b):
    """``a . b`` of two 3-D arrays, accumulated in float64."""
    n0, n1, n2 = a.shape
    s = 0.0
    for i in prange(n0):
        acc = 0.0
        for j in range(n1):
            ar = a[i, j]
            br = b[i, j]
            for k in range(n2):
                acc += np.float64(ar[k]) * np.float64(br[k])
        s += acc
    return s


@njit(parallel=True, **_OPTS)
def _update_xr(x, r, d, q, alpha):
    """``x += alpha d``, ``r -= alpha q``; return ``r . r`` (float64, shared ``update_xr_cell``)."""
    n0, n1, n2 = x.shape
    s = 0.0
    for i in prange(n0):
        acc = 0.0
        for j in range(n1):
            for k in range(n2):
                acc += _update_xr_cell(x, r, d, q, alpha, i, j, k)
        s += acc
    return s


@njit(parallel=True, **_OPTS)
def _update_d(d, z, beta):
    """``d = z + beta d`` (shared ``update_d_cell``)."""
    n0, n1, n2 = d.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                _update_d_cell(d, z, beta, i, j, k)


# ----------------------------------------------------------------------------- dispatch
# Small grids (coarse levels, small volumes) run the same parallel compilation on the calling
# thread only: waking the other threads costs little on a quiet machine but can stall a call
# for a scheduler slice when the cores are shared.  (A separate serial ``njit`` of these
# bodies was tried and is 3-12x slower per cell than the parallel compilation run on one
# thread -- numba's parfor lowering vectorises the row loops better -- 50^3 red-black half
# sweep: 1.42 ms serial vs 0.22 ms on one thread, 0.11 ms on two.)
ONE_THREAD_BELOW = 1 << 15


def _dispatch(par):
    def kernel(*args):
        n = max(a.size for a in args if getattr(a, "ndim", 0) == 3)
        if n >= ONE_THREAD_BELOW:
            return par(*args)
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return par(*args)
        finally:
            numba.set_num_threads(threads)

    kernel.__name__ = par.__name__[1:]
    kernel.__doc__ = par.__doc__
    kernel.parallel = par
    return kernel


matvec_dot = _dispatch(_matvec_dot)
jacobi_dot = _dispatch(_jacobi_dot)
rbgs = _dispatch(_rbgs)
build_faces = _dispatch(_build_faces)
coarsen = _dispatch(_coarsen)
residual_restrict = _dispatch(_residual_restrict)
prolong_add = _dispatch(_prolong_add)
block_labels = _dispatch(_block_labels)
residual_restrict_agg = _dispatch(_residual_restrict_agg)
prolong_add_agg = _dispatch(_prolong_add_agg)
energy = _dispatch(_energy)
dot = _dispatch(_dot)
update_xr = _dispatch(_update_xr)
update_d = _dispatch(_update_d)
