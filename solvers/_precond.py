"""Preconditioners for the conductance operator: Jacobi and a geometric-aggregation multigrid.

Multigrid
---------
Level 0 is the voxel grid (face conductances, see :mod:`solvers._stencil`).  Each coarser level groups ``2 x 2 x 2`` cells (a single
cell along an axis of length 1; the last block along an odd axis is thinner) and keeps a
7-point conductance operator on the coarse grid: a coarse face conductance is the sum of the
fine faces it covers divided by the coarsening factor along its normal.  With the piecewise
constant prolongation ``P`` this is the Galerkin product ``P^T A P`` with each direction's
couplings scaled by ``1 / c`` -- the scaling that turns the (too stiff) unsmoothed-aggregation
operator into the re-discretised one of a homogeneous medium -- so every coarse operator is
again a symmetric positive (semi)definite conductance Laplacian with Dirichlet terms on the
two transport faces.  Coarsening stops when a level has at most ``max_coarse`` cells; that
level is solved exactly with a dense inverse over its non-empty cells.

One application is a V-cycle with red-black Gauss-Seidel smoothing (``nu`` pre-sweeps red
then black, ``nu`` post-sweeps black then red), which is a symmetric positive definite
operator and hence a valid preconditioner for conjugate gradients -- except with periodic
sides of odd length on some level, where the wrap couples cells of one colour and the cycle
is slightly non-symmetric (``symmetric`` is then False and the caller switches to flexible
conjugate gradients).  The residual is restricted
in the same pass that computes it, so the fine level needs no work array besides the output.

The kernels come from :mod:`solvers._stencil` (CPU) or :mod:`solvers._stencil_cuda` (GPU);
this module only holds the glue, written against the array namespace ``xp``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ._backend import to_host

__all__ = ["FineOperator", "Jacobi", "Multigrid", "coarse_shape"]


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


class Multigrid:
    """Geometric-aggregation multigrid V-cycle (see the module docstring).

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
    """

    name = "multigrid"

    def __init__(
        self, op: FineOperator, xp: ModuleType, dtype: Any, *, max_coarse: int = 512, nu: int = 1
    ) -> None:
        self.op = op
        self.xp = xp
        if int(nu) < 1:
            raise ValueError(f"nu must be an integer >= 1, got {nu!r}")
        self.nu = int(nu)
        self.dtype = np.dtype(dtype)
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
        shapes = [op.shape] + [lv.shape for lv in self.levels[:-1]]
        self.symmetric = not (
            op.periodic and any((s[1] % 2 and s[1] > 1) or (s[2] % 2 and s[2] > 1) for s in shapes)
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
        """Dense inverse of the coarsest operator over its non-empty cells (host, once)."""
        gx, gy, gz = (to_host(a).astype(np.float64) for a in (lvl.gx, lvl.gy, lvl.gz))
        A, active = assemble_dense(gx, gy, gz)
        idx = np.flatnonzero(active)
        Ainv = np.linalg.inv(A[np.ix_(idx, idx)]) if idx.size else np.zeros((0, 0))
        self._idx = self.xp.asarray(idx)
        self._ainv = self.xp.asarray(Ainv)

    def _direct(self, lvl: _Level) -> None:
        xp = self.xp
        xf = lvl.x.reshape(-1)
        xf[...] = 0
        if self._idx.size:
            bf = lvl.b.reshape(-1)[self._idx].astype(xp.float64)
            xf[self._idx] = (self._ainv @ bf).astype(lvl.x.dtype)

    def _cycle(self, li: int) -> None:
        """Approximately solve level ``li`` for ``levels[li].x`` from ``levels[li].b``."""
        lvl = self.levels[li]
        if li == len(self.levels) - 1:
            self._direct(lvl)
            return
        self._vcycle((lvl.gx, lvl.gy, lvl.gz), lvl.x, lvl.b, li + 1)

    def _vcycle(self, faces: tuple[Any, Any, Any], x: Any, b: Any, nxt_i: int) -> None:
        """Smooth, restrict, recurse, prolong, smooth (symmetric: pre RB, post BR)."""
        K = self.op.kernels
        nxt = self.levels[nxt_i]
        for s in range(self.nu):
            K.rbgs(*faces, x, b, 0, s == 0)
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
        return f"Multigrid(levels={len(self.levels) + 1}, nu={self.nu}, grids={shapes}, coarse_cells={int(self._idx.size)})"


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
