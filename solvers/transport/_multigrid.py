"""Preconditioners for the conductance operator: Jacobi and two aggregation multigrids.

Both multigrids smooth the voxel grid (level 0, face conductances, see
:mod:`solvers.transport._stencil`) by red-black Gauss-Seidel (``nu`` sweeps red then black before
the coarse correction, black then red after) and solve the last level (at most ``max_coarse``
unknowns) exactly with a dense inverse.  A V-cycle is a symmetric positive definite operator
and hence a valid preconditioner for conjugate gradients -- except with periodic sides of odd
length, where the wrap couples cells of one colour and the red-black sweep is slightly
non-symmetric (``symmetric`` is then False and the caller switches to flexible conjugate
gradients).  The voxel-grid residual is restricted in the same pass that computes it.

:class:`Multigrid` (geometric; one conducting phase)
    Each coarser level groups ``2 x 2 x 2`` cells (a single cell along an axis of length 1;
    the last block along an odd axis is thinner) and keeps a 7-point conductance operator on
    the coarse grid: a coarse face conductance is the sum of the fine faces it covers divided
    by the coarsening factor along its normal.  With the piecewise constant prolongation
    ``P`` this is the Galerkin product ``P^T A P`` with each direction's couplings scaled by
    ``1 / c`` -- the re-discretisation of a homogeneous medium.  Cheap to set up and fast on
    single-phase networks; every level smoothed by red-black Gauss-Seidel.

:class:`PieceMultigrid` (aggregation; several conducting phases)
    A block straddling two CAM particles that touch elsewhere, or a carbon grain and the CAM
    around it, ties unrelated voxels to one coarse value in the geometric hierarchy; on the
    128³ example composite's electronic network (CAM : carbon = 1 : 500) that costs 212
    iterations.  Here:

    1. *Level 1: connected pieces of 2 x 2 x 2 blocks.*  Each block is split into its pieces
       connected through open faces inside the block (a lookup table over the 12 inner
       faces, :func:`_block_lut`); every piece is one coarse unknown, and the operator is the
       Galerkin product ``A_1 = P_0^T A P_0`` with the piecewise constant ``P_0`` (the
       coupling of two pieces is the sum of the voxel faces between them).
    2. *Levels 2, 3, ...: smoothed aggregation* (:mod:`solvers.transport._amg`): aggregates
       grown along the strong connections of the matrix graph (Vanek's standard
       aggregation, ``|a_ij| >= 0.05 sqrt(a_ii a_jj)``), the prolongation smoothed by one
       damped Jacobi step, ``P = (I - 4 / (3 rho) D^-1 A) P_tent`` with ``rho`` the largest
       eigenvalue of ``D^-1 A`` (20 Lanczos steps), and ``A_{l+1} = P^T A_l P``.  These
       levels are smoothed by ``COARSE_SWEEPS`` (4) damped Jacobi sweeps (weight ``4 / (3 rho)``)
       before and after, with parallel numba CSR kernels on the CPU and ``cupyx.scipy.sparse`` on
       the GPU.

    On the 128³ example composite's electronic network, to a relative residual of 1e-5: 212
    iterations with the geometric hierarchy, 95 with geometric (block-of-blocks) aggregates
    below the pieces, 21 with the strength-based aggregates (a strength threshold of 0 gives
    67, and 0.25 fails on connected pieces of high contrast: 214 at 64³).  The sparse set-up
    (triple products) costs more than the geometric hierarchy, which is why single-phase
    networks keep :class:`Multigrid`.

The voxel-grid kernels come from :mod:`solvers.transport._stencil` (CPU) or
:mod:`solvers.transport._stencil_cuda` (GPU), both compiled from the one source
:mod:`solvers.transport._stencil_kernels`; this module holds the glue, written against the
array namespace ``xp`` and its sparse module.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ..device import to_host
from ._amg import SparseLevel, smoothed_level, sparse_module
from ._pieces import compact_labels, piece_galerkin

__all__ = [
    "COARSE_SWEEPS",
    "FineOperator",
    "Jacobi",
    "Multigrid",
    "PieceMultigrid",
    "coarse_shape",
]

#: Damped Jacobi sweeps before and after the coarse correction on the sparse levels.
COARSE_SWEEPS = 4


@dataclass
class FineOperator:
    """The voxel-grid operator as face conductances (transport axis = axis 0)."""

    gx: Any  # (n0 + 1, n1, n2), Dirichlet faces first and last
    gy: Any  # (n0, n1, n2), last entry = periodic wrap face
    gz: Any  # (n0, n1, n2)
    kernels: ModuleType
    periodic: bool = False  # lateral wrap (axes 1 and 2)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.gy.shape)

    @property
    def faces(self) -> tuple[Any, Any, Any]:
        return self.gx, self.gy, self.gz

    def matvec_dot(self, x: Any, y: Any) -> float:
        """``y = A x``; return ``x . y``."""
        return self.kernels.matvec_dot(self.gx, self.gy, self.gz, x, y)


def coarse_shape(shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Coarse grid shape and coarsening factors (2 along axes longer than 1, else 1)."""
    factors = tuple(2 if n > 1 else 1 for n in shape)
    return tuple(-(-n // c) for n, c in zip(shape, factors, strict=True)), factors


@dataclass
class _Level:
    shape: tuple[int, int, int]
    factors: tuple[int, int, int]  # coarsening factors from the level above to this one
    gx: Any
    gy: Any
    gz: Any
    x: Any
    b: Any


class _DenseSolve:
    """Exact solve of a small coarsest-level operator: a dense inverse over its non-empty rows.

    ``A`` is the host float64 matrix; rows with a zero diagonal (cells or pieces without any
    conducting face) get 0.  Calls take and return vectors of the device namespace ``xp``.
    """

    def __init__(self, A: np.ndarray, xp: ModuleType) -> None:
        idx = np.flatnonzero(np.diag(A) > 0)
        Ainv = np.linalg.inv(A[np.ix_(idx, idx)]) if idx.size else np.zeros((0, 0))
        self.n = A.shape[0]
        self.size = int(idx.size)
        self.xp = xp
        self._idx = xp.asarray(idx)
        self._ainv = xp.asarray(Ainv)

    def __call__(self, b: Any) -> Any:
        x = self.xp.zeros(self.n, dtype=b.dtype)
        if self.size:
            x[self._idx] = (self._ainv @ b[self._idx].astype(self.xp.float64)).astype(b.dtype)
        return x


class Jacobi:
    """Diagonal (point Jacobi) preconditioner ``z = D^-1 r``."""

    name = "jacobi"
    symmetric = True

    def __init__(self, op: FineOperator) -> None:
        self.op = op

    def __call__(self, r: Any, z: Any) -> float:
        """``z = M r``; return ``r . z``."""
        op = self.op
        return op.kernels.jacobi_dot(op.gx, op.gy, op.gz, r, z)

    def __repr__(self) -> str:
        return f"Jacobi(shape={self.op.shape})"


class _VCycle:
    """What the two multigrid preconditioners share: operator, namespace, sweeps, dtype."""

    def __init__(self, op: FineOperator, xp: ModuleType, dtype: Any, nu: int) -> None:
        self.op = op
        self.xp = xp
        if int(nu) < 1:
            raise ValueError(f"nu must be an integer >= 1, got {nu!r}")
        self.nu = int(nu)
        self.dtype = np.dtype(dtype)


def _red_black_symmetric(periodic: bool, shapes: list[tuple[int, ...]]) -> bool:
    """False when a periodic side of odd length (> 1) on a red-black smoothed grid couples
    cells of one colour, which makes the V-cycle slightly non-symmetric."""
    return not (
        periodic and any((s[1] % 2 and s[1] > 1) or (s[2] % 2 and s[2] > 1) for s in shapes)
    )


class Multigrid(_VCycle):
    """Geometric multigrid over 2x2x2 blocks (see the module docstring).

    Parameters
    ----------
    op : FineOperator
        Fine-level operator.
    xp : module
        Array namespace of the device (NumPy or CuPy).
    dtype : numpy dtype
        Storage dtype of the coarse levels.
    max_coarse : int
        Coarsen until a level has at most this many cells; solve it exactly.
    nu : int
        Red-black Gauss-Seidel sweeps before and after the coarse correction.
    gamma : {1, 2}
        Cycles per coarse level: 1 a V-cycle, 2 (default) a W-cycle.  The voxel grid is
        smoothed once per application either way and the coarse levels shrink 8x each, so
        the W-cycle roughly doubles only the coarse part (~7.5 of ~45 ms per cycle at 200³);
        on porosity-0.4 blobs at 200³ it takes CG from 13 to 4 iterations (0.81 s -> 0.45 s).
    """

    name = "multigrid"

    def __init__(
        self, op: FineOperator, xp: ModuleType, dtype: Any, *, max_coarse: int = 512, nu: int = 1,
        gamma: int = 2,
    ) -> None:
        _VCycle.__init__(self, op, xp, dtype, nu)
        if int(gamma) not in (1, 2):
            raise ValueError(f"gamma must be 1 (V-cycle) or 2 (W-cycle), got {gamma!r}")
        self.gamma = int(gamma)
        K = op.kernels
        self.levels: list[_Level] = []
        shape, factors = coarse_shape(op.shape)
        lvl = self._new_level(shape, factors)
        K.coarsen(op.gx, op.gy, op.gz, *factors, lvl.gx, lvl.gy, lvl.gz)
        self.levels.append(lvl)
        while int(np.prod(shape)) > max_coarse and max(shape) > 1:
            prev = lvl
            shape, factors = coarse_shape(shape)
            lvl = self._new_level(shape, factors)
            K.coarsen(prev.gx, prev.gy, prev.gz, *factors, lvl.gx, lvl.gy, lvl.gz)
            self.levels.append(lvl)
        self._setup_direct(lvl)
        self.symmetric = _red_black_symmetric(
            op.periodic, [op.shape] + [lv.shape for lv in self.levels[:-1]]
        )

    def _new_level(self, shape: tuple[int, ...], factors: tuple[int, ...]) -> _Level:
        xp, dt = self.xp, self.dtype
        n0, n1, n2 = shape
        return _Level(
            shape=tuple(shape),
            factors=tuple(factors),
            gx=xp.zeros((n0 + 1, n1, n2), dtype=dt),
            gy=xp.zeros((n0, n1, n2), dtype=dt),
            gz=xp.zeros((n0, n1, n2), dtype=dt),
            x=xp.zeros((n0, n1, n2), dtype=dt),
            b=xp.zeros((n0, n1, n2), dtype=dt),
        )

    def _setup_direct(self, lvl: _Level) -> None:
        """Exact solver of the coarsest level (host assembly, once)."""
        gx, gy, gz = (to_host(a).astype(np.float64) for a in (lvl.gx, lvl.gy, lvl.gz))
        self._coarse = _DenseSolve(assemble_dense(gx, gy, gz)[0], self.xp)

    def _direct(self, lvl: _Level) -> None:
        lvl.x.reshape(-1)[...] = self._coarse(lvl.b.reshape(-1))

    def _cycle(self, li: int) -> None:
        """Approximately solve level ``li`` for ``levels[li].x`` from ``levels[li].b``: exactly
        on the last level, else by ``gamma`` cycles (the second from where the first ended)."""
        lvl = self.levels[li]
        if li == len(self.levels) - 1:
            self._direct(lvl)
            return
        for c in range(self.gamma):
            self._vcycle((lvl.gx, lvl.gy, lvl.gz), lvl.x, lvl.b, li + 1, zero=c == 0)

    def _vcycle(
        self, faces: tuple[Any, Any, Any], x: Any, b: Any, nxt_i: int, zero: bool = True
    ) -> None:
        """Smooth, restrict, recurse, prolong, smooth (symmetric: pre RB, post BR); with
        ``zero`` the current ``x`` is taken as 0."""
        K = self.op.kernels
        nxt = self.levels[nxt_i]
        for s in range(self.nu):
            K.rbgs(*faces, x, b, 0, zero and s == 0)
            K.rbgs(*faces, x, b, 1, False)
        K.residual_restrict(*faces, x, b, nxt.b, *nxt.factors)
        self._cycle(nxt_i)
        K.prolong_add(x, nxt.x, *nxt.factors)
        for _ in range(self.nu):
            K.rbgs(*faces, x, b, 1, False)
            K.rbgs(*faces, x, b, 0, False)

    def __call__(self, r: Any, z: Any) -> float:
        """``z = M r`` (one V-cycle from a zero guess); return ``r . z``."""
        self._vcycle(self.op.faces, z, r, 0)
        return self.op.kernels.dot(r, z)

    def __repr__(self) -> str:
        shapes = " -> ".join(
            "x".join(map(str, s)) for s in [self.op.shape] + [lv.shape for lv in self.levels]
        )
        return (
            f"Multigrid(levels={len(self.levels) + 1}, nu={self.nu}, gamma={self.gamma}, "
            f"grids={shapes}, coarse_cells={self._coarse.size})"
        )


class PieceMultigrid(_VCycle):
    """Multigrid over the connected pieces of 2x2x2 blocks (see the module docstring).

    Parameters
    ----------
    op : FineOperator
        Fine-level operator.
    xp : module
        Array namespace of the device (NumPy or CuPy).
    dtype : numpy dtype
        Storage dtype of the coarse levels.
    max_coarse : int
        Coarsen until a level has at most this many unknowns; solve it exactly.
    nu : int
        Red-black Gauss-Seidel sweeps on the voxel grid before and after the coarse correction
        (the sparse levels do ``COARSE_SWEEPS`` damped Jacobi sweeps, W-cycle below the first).
    """

    name = "multigrid-pieces"

    def __init__(
        self, op: FineOperator, xp: ModuleType, dtype: Any, *, max_coarse: int = 512, nu: int = 1
    ) -> None:
        _VCycle.__init__(self, op, xp, dtype, nu)
        sparse = sparse_module(xp)
        K = op.kernels
        # level 1: connected pieces of the 2x2x2 blocks of the voxel grid
        lab = xp.empty(op.shape, dtype=np.int64)
        K.block_labels(op.gx, op.gy, op.gz, xp.asarray(_block_lut()), lab)
        grid, _ = coarse_shape(op.shape)
        if xp is np:  # one or two numba passes instead of sorts and a COO conversion
            self._agg, keys = compact_labels(lab, 8 * int(np.prod(grid)))
            del lab
            n1 = int(keys.size)
            A = piece_galerkin(*op.faces, self._agg, n1)
        else:
            self._agg, keys = _compact(xp, lab, 8 * int(np.prod(grid)))
            del lab
            n1 = int(keys.size)
            A = _fine_galerkin(op, self._agg, n1, xp, sparse)
        self._b1 = xp.zeros(n1, dtype=self.dtype)
        self.sizes = [n1]
        self.levels: list[SparseLevel] = []
        # levels 2, 3, ...: smoothed aggregation (solvers.transport._amg)
        while A.shape[0] > max_coarse:
            lvl, Ac, n_next = smoothed_level(A, xp, self.dtype)
            if n_next >= A.shape[0]:  # no coarsening left (e.g. only isolated nodes)
                break
            self.levels.append(lvl)
            self.sizes.append(n_next)
            A = Ac
        self._work = [
            (np.empty(lv.A.shape[0], self.dtype), np.empty(lv.A.shape[0], self.dtype))
            if xp is np else (None, None)
            for lv in self.levels
        ]
        self._setup_direct(A)
        self.symmetric = _red_black_symmetric(op.periodic, [op.shape])

    def _setup_direct(self, A: Any) -> None:
        """Exact solver of the coarsest level (host, once)."""
        self._coarse = _DenseSolve(to_host(A.toarray()).astype(np.float64), self.xp)

    def _direct(self, b: Any) -> Any:
        return self._coarse(b)

    def _coarse_cycle(self, li: int, b: Any) -> Any:
        """One cycle from a zero guess on sparse level ``li + 1``; returns ``x``.

        ``COARSE_SWEEPS`` damped Jacobi sweeps before and after; below the first sparse
        level the coarse problem gets two cycles (a W-cycle), which costs little there
        (the levels shrink about 6x each) and on the 192³ example composite's electronic
        network takes 24 -> 17 iterations (residual 1e-5; 64³: 14 -> 12).
        """
        if li == len(self.levels):
            return self._direct(b)
        lv = self.levels[li]
        w1, w2 = self._work[li]
        x = lv.w * b
        for _ in range(COARSE_SWEEPS - 1):
            x, w1 = lv.jacobi(x, b, w1), x
        bc = lv.apply(lv.R, lv.residual(x, b, w2))
        xc = self._coarse_cycle(li + 1, bc)
        if 0 < li + 1 < len(self.levels):
            xc = xc.copy()  # may be a work array of level li + 1
            nxt = self.levels[li + 1]
            xc += self._coarse_cycle(li + 1, nxt.residual(xc, bc, self.xp.empty_like(bc)))
        x += lv.apply(lv.P, xc)
        for _ in range(COARSE_SWEEPS):
            x, w1 = lv.jacobi(x, b, w1), x
        return x

    def __call__(self, r: Any, z: Any) -> float:
        """``z = M r`` (one V-cycle from a zero guess); return ``r . z``."""
        K = self.op.kernels
        faces = self.op.faces
        for s in range(self.nu):
            K.rbgs(*faces, z, r, 0, s == 0)
            K.rbgs(*faces, z, r, 1, False)
        b1 = self._b1
        b1[...] = 0
        K.residual_restrict_agg(*faces, z, r, self._agg, b1)
        K.prolong_add_agg(z, self._coarse_cycle(0, b1), self._agg)
        for _ in range(self.nu):
            K.rbgs(*faces, z, r, 1, False)
            K.rbgs(*faces, z, r, 0, False)
        return K.dot(r, z)

    def __repr__(self) -> str:
        sizes = " -> ".join(map(str, self.sizes))
        return (
            f"PieceMultigrid(levels={len(self.sizes) + 1}, nu={self.nu}, "
            f"grid={'x'.join(map(str, self.op.shape))}, coarse_sizes={sizes}, "
            f"coarse_cells={self._coarse.size})"
        )


@functools.cache
def _block_lut() -> np.ndarray:
    """``lut[code, loc]``: smallest cell of the piece of a 2x2x2 block that holds ``loc``.

    ``code`` has a bit per open face inside the block (see ``_stencil.block_code``).
    """
    faces = []
    for u in range(2):
        for v in range(2):
            faces.append((0 * 4 + u * 2 + v, 1 * 4 + u * 2 + v))  # axis 0, line (u, v)
    for u in range(2):
        for v in range(2):
            faces.append((u * 4 + 0 * 2 + v, u * 4 + 1 * 2 + v))  # axis 1, line (u, v)
    for u in range(2):
        for v in range(2):
            faces.append((u * 4 + v * 2 + 0, u * 4 + v * 2 + 1))  # axis 2, line (u, v)
    lut = np.empty((1 << 12, 8), dtype=np.int64)
    for code in range(1 << 12):
        lab = list(range(8))
        changed = True
        while changed:
            changed = False
            for bit, (a, b) in enumerate(faces):
                if code >> bit & 1 and lab[a] != lab[b]:
                    lab[a] = lab[b] = min(lab[a], lab[b])
                    changed = True
        lut[code] = lab
    return lut


def _compact(xp: ModuleType, keys: Any, n_keys: int) -> tuple[Any, Any]:
    """Number the distinct keys (``-1``: none) ``0, 1, ...`` in increasing order.

    Returns the int32 numbers (``-1`` where the key is ``-1``) and the sorted distinct keys.
    """
    flag = xp.zeros(n_keys, dtype=bool)
    flag[keys[keys >= 0]] = True
    new = xp.cumsum(flag, dtype=np.int64).astype(np.int32) - 1
    agg = xp.where(keys >= 0, new[xp.maximum(keys, 0)], -1).astype(np.int32)
    return agg, xp.flatnonzero(flag)


def _fine_galerkin(op: FineOperator, agg: Any, n: int, xp: ModuleType, sparse: ModuleType) -> Any:
    """``P^T A P`` (CSR, float64) for the piecewise constant aggregation ``agg``."""
    gx, gy, gz = op.faces
    rows, cols, vals = [], [], []
    diag = xp.zeros(n, dtype=np.float64)

    def couple(a: Any, b: Any, g: Any) -> None:
        keep = (g != 0) & (a != b)
        a, b, g = a[keep], b[keep], g[keep].astype(np.float64)
        rows.extend((a, b))
        cols.extend((b, a))
        vals.extend((-g, -g))
        diag[...] += xp.bincount(a, weights=g, minlength=n)
        diag[...] += xp.bincount(b, weights=g, minlength=n)

    couple(agg[:-1], agg[1:], gx[1:-1])
    couple(agg, xp.roll(agg, -1, axis=1), gy)
    couple(agg, xp.roll(agg, -1, axis=2), gz)
    for a, g in ((agg[0], gx[0]), (agg[-1], gx[-1])):
        keep = g != 0
        diag[...] += xp.bincount(a[keep], weights=g[keep].astype(np.float64), minlength=n)
    ar = xp.arange(n, dtype=np.int32)
    A = sparse.coo_matrix(
        (xp.concatenate(vals + [diag]), (xp.concatenate(rows + [ar]), xp.concatenate(cols + [ar]))),
        shape=(n, n),
    )
    return A.tocsr()


def assemble_dense(gx: np.ndarray, gy: np.ndarray, gz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense matrix of a coarse-level operator (host, small grids only) and its non-empty cells."""
    n0, n1, n2 = gy.shape
    n = n0 * n1 * n2
    idx = np.arange(n).reshape(n0, n1, n2)
    A = np.zeros((n, n))
    diag = gx[:-1] + gx[1:] + gy + np.roll(gy, 1, axis=1) + gz + np.roll(gz, 1, axis=2)
    A[idx.ravel(), idx.ravel()] = diag.ravel()

    def couple(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> None:
        keep = (a != b) & (g != 0)
        np.add.at(A, (a[keep], b[keep]), -g[keep])
        np.add.at(A, (b[keep], a[keep]), -g[keep])

    couple(idx[:-1], idx[1:], gx[1:-1])
    couple(idx, np.roll(idx, -1, axis=1), gy)
    couple(idx, np.roll(idx, -1, axis=2), gz)
    return A, diag.ravel() > 0
