"""Smoothed aggregation for the sparse coarse levels of :class:`~._multigrid.PieceMultigrid`.

Below the voxel grid and its block pieces the hierarchy is algebraic:

* **Aggregates** by Vanek's standard aggregation on the matrix graph (every off-diagonal
  nonzero is a connection; strength threshold 0, as pyamg's default): pass 1 makes an
  aggregate of every node whose neighbours are all free, together with those neighbours;
  pass 2 attaches each remaining node to the aggregate of a neighbour; pass 3 groups what is
  left with its free neighbours.  The aggregates follow the conducting network (a weak neck
  between two particles is just one more edge), unlike blocks of a grid, which tie unrelated
  pieces together -- on the 128³ electronic network of the example composite this alone
  cuts the iterations of the V-cycle-preconditioned CG by about 40 %.
* **Prolongation** ``P = (I - 4 / (3 rho) D^-1 A) P_tent``, ``rho`` the largest eigenvalue of
  ``D^-1 A`` (Lanczos), and ``A_next = P^T A P``.
* **Smoother**: ``2 nu`` damped Jacobi sweeps (weight ``4 / (3 rho)``), before and after.

The aggregation runs on the host (numba; on the GPU path the graph of each coarse level is
copied to the host once during set-up).  The cycle's sparse products run in parallel: numba
CSR kernels (``prange`` over rows) on the CPU, ``cupyx.scipy.sparse`` on the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from numba import njit, prange

from ..device import to_host

__all__ = [
    "SparseLevel",
    "csr_jacobi",
    "csr_matvec",
    "sparse_module",
    "smoothed_level",
    "spectral_radius",
    "standard_aggregation",
]

_OPTS = {"cache": True, "nogil": True}
#: Strength threshold of the aggregation graph.
THETA = 0.05
#: Rows below which the CSR kernels run serially (a parallel region costs a thread wake-up).
PARALLEL_ROWS = 1 << 14


def sparse_module(xp: ModuleType) -> ModuleType:
    """``scipy.sparse`` for NumPy arrays, ``cupyx.scipy.sparse`` for CuPy arrays."""
    if xp is np:
        import scipy.sparse

        return scipy.sparse
    import cupyx.scipy.sparse

    return cupyx.scipy.sparse


# ----------------------------------------------------------------------------- aggregation
@njit(**_OPTS)
def _strong_graph(indptr, indices, data, diag, theta):
    """The off-diagonal entries with ``|a_ij| >= theta sqrt(a_ii a_jj)`` as a CSR graph."""
    n = indptr.size - 1
    sp = np.zeros(n + 1, dtype=np.int64)
    si = np.empty(indices.size, dtype=np.int64)
    m = 0
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j != i and abs(data[p]) >= theta * np.sqrt(abs(diag[i] * diag[j])):
                si[m] = j
                m += 1
        sp[i + 1] = m
    return sp, si[:m]


@njit(**_OPTS)
def _standard_aggregation(indptr, indices, agg):
    """Vanek's three-pass standard aggregation of the graph ``(indptr, indices)``.

    Writes the aggregate of every node to ``agg`` and returns their count; a node without
    neighbours gets ``-1``.
    """
    n = indptr.size - 1
    for i in range(n):
        agg[i] = -1
    count = 0
    # pass 1: a node whose neighbours are all free seeds an aggregate with them
    for i in range(n):
        if agg[i] >= 0:
            continue
        has_nb = False
        free = True
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j != i:
                has_nb = True
                if agg[j] >= 0:
                    free = False
                    break
        if not has_nb or not free:
            continue
        agg[i] = count
        for p in range(indptr[i], indptr[i + 1]):
            agg[indices[p]] = count
        count += 1
    # pass 2: attach each remaining node to an aggregate of pass 1 among its neighbours
    pass1 = agg.copy()
    for i in range(n):
        if agg[i] >= 0:
            continue
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if pass1[j] >= 0:
                agg[i] = pass1[j]
                break
    # pass 3: what is left forms aggregates with its free neighbours (or alone)
    for i in range(n):
        if agg[i] >= 0:
            continue
        if indptr[i + 1] == indptr[i]:
            continue  # no strong connection: left to the smoother
        agg[i] = count
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if agg[j] < 0:
                agg[j] = count
        count += 1
    return count


def standard_aggregation(A: Any, theta: float | None = None) -> tuple[np.ndarray, int]:
    """Aggregate of every row of the CSR matrix ``A`` (host int32 array) and their number.

    Connections are the off-diagonal entries with ``|a_ij| >= theta sqrt(a_ii a_jj)``.  A row
    without any gets ``-1``: no coarse unknown (as in pyamg).  Such a node -- say a poorly
    conducting voxel piece among good conductors -- follows its neighbours, which the Jacobi
    sweeps and the smoothed prolongation provide; making it an aggregate of its own stalls the
    coarsening instead.  Deterministic (rows in index order).
    """
    indptr = to_host(A.indptr).astype(np.int64)  # device sync on the GPU path (set-up only)
    indices = to_host(A.indices).astype(np.int64)
    data = to_host(A.data).astype(np.float64)
    diag = to_host(A.diagonal()).astype(np.float64)
    theta = THETA if theta is None else float(theta)
    indptr, indices = _strong_graph(indptr, indices, data, diag, theta)
    agg = np.empty(indptr.size - 1, dtype=np.int32)
    count = _standard_aggregation(indptr, indices, agg)
    return agg, int(count)


# ----------------------------------------------------------------------------- CSR kernels
def _matvec_body(indptr, indices, data, x, y):
    n = indptr.size - 1
    for i in prange(n):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            s += data[p] * x[indices[p]]
        y[i] = s


def _jacobi_body(indptr, indices, data, w, x, b, y):
    n = indptr.size - 1
    for i in prange(n):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            s += data[p] * x[indices[p]]
        y[i] = x[i] + w[i] * (b[i] - s)


_matvec_par = njit(parallel=True, **_OPTS)(_matvec_body)
_matvec_ser = njit(**_OPTS)(_matvec_body)
_jacobi_par = njit(parallel=True, **_OPTS)(_jacobi_body)
_jacobi_ser = njit(**_OPTS)(_jacobi_body)


def csr_matvec(A: Any, x: Any, y: Any) -> None:
    """``y = A x`` for a SciPy CSR matrix (numba, parallel over rows when large)."""
    f = _matvec_par if A.shape[0] >= PARALLEL_ROWS else _matvec_ser
    f(A.indptr, A.indices, A.data, x, y)


def csr_jacobi(A: Any, w: Any, x: Any, b: Any, y: Any) -> None:
    """``y = x + w (b - A x)`` (one damped Jacobi sweep, ``y`` distinct from ``x``)."""
    f = _jacobi_par if A.shape[0] >= PARALLEL_ROWS else _jacobi_ser
    f(A.indptr, A.indices, A.data, w, x, b, y)


# ----------------------------------------------------------------------------- levels
def spectral_radius(A: Any, dinv: Any, xp: ModuleType, steps: int = 20) -> float:
    """Largest eigenvalue of ``D^-1 A`` by Lanczos on ``D^-1/2 A D^-1/2`` (deterministic start).

    Ritz values approach the top of the spectrum from below; 20 steps are within a few
    per cent, which is all the Jacobi weights need.
    """
    n = A.shape[0]
    sq = xp.sqrt(dinv)
    v = (1.0 + 0.5 * xp.sin(1.618 * xp.arange(n))) * (dinv > 0)
    v /= float(xp.sqrt(v @ v))
    v_prev = xp.zeros_like(v)
    alpha: list[float] = []
    beta: list[float] = []
    b = 0.0
    for _ in range(min(steps, n)):
        w = sq * (A @ (sq * v))
        a = float(w @ v)  # device sync
        alpha.append(a)
        w -= a * v + b * v_prev
        b = float(xp.sqrt(w @ w))
        if b <= 1e-12 * abs(a):
            break
        beta.append(b)
        v_prev, v = v, w / b
    k = len(alpha)
    T = np.diag(alpha) + np.diag(beta[: k - 1], 1) + np.diag(beta[: k - 1], -1)
    return max(float(np.linalg.eigvalsh(T)[-1]), 1e-300)


@dataclass
class SparseLevel:
    """A sparse coarse level: operator, Jacobi weights, transfers to the next level."""

    A: Any  # (n, n) CSR
    w: Any  # (n,) damped Jacobi weights omega / a_ii (0 on empty rows)
    P: Any  # (n, n_next) smoothed prolongation
    R: Any  # P^T as CSR

    def jacobi(self, x: Any, b: Any, work: Any) -> Any:
        """One damped Jacobi sweep ``x + w (b - A x)``; returns the new iterate (``work`` or a
        new array)."""
        if isinstance(x, np.ndarray):
            csr_jacobi(self.A, self.w, x, b, work)
            return work
        return x + self.w * (b - self.A @ x)

    def residual(self, x: Any, b: Any, work: Any) -> Any:
        """``b - A x`` (into ``work`` on the CPU)."""
        if isinstance(x, np.ndarray):
            csr_matvec(self.A, x, work)
            np.subtract(b, work, out=work)
            return work
        return b - self.A @ x

    @staticmethod
    def apply(M: Any, v: Any) -> Any:
        """``M v`` (parallel numba kernel on the CPU)."""
        if isinstance(v, np.ndarray):
            out = np.empty(M.shape[0], dtype=np.result_type(M.dtype, v.dtype))
            csr_matvec(M, v, out)
            return out
        return M @ v


def smoothed_level(
    A: Any, xp: ModuleType, dtype: Any
) -> tuple[SparseLevel, Any, int]:
    """Level of ``A`` (float64 CSR), the next operator ``P^T A P`` and its size.

    Aggregates by :func:`standard_aggregation`, prolongation smoothed by one damped Jacobi step.
    """
    sparse = sparse_module(xp)
    n = A.shape[0]
    agg_h, n_next = standard_aggregation(A)
    d = A.diagonal()
    dinv = xp.where(d > 0, 1.0 / xp.where(d > 0, d, 1.0), 0.0)
    omega = 4.0 / (3.0 * spectral_radius(A, dinv, xp))
    keep = np.flatnonzero(agg_h >= 0)
    P0 = sparse.csr_matrix(
        (xp.ones(keep.size), (xp.asarray(keep), xp.asarray(agg_h[keep]))), shape=(n, n_next)
    )
    ar = xp.arange(n + 1, dtype=np.int32)
    Dw = sparse.csr_matrix((omega * dinv, ar[:-1], ar), shape=(n, n))
    P = (P0 - Dw @ (A @ P0)).tocsr()
    R = P.T.tocsr()
    Ac = (R @ (A @ P)).tocsr()
    lvl = SparseLevel(
        A=A.astype(dtype, copy=False), w=(omega * dinv).astype(dtype, copy=False),
        P=P.astype(dtype, copy=False), R=R.astype(dtype, copy=False),
    )
    return lvl, Ac, n_next
