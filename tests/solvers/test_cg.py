"""The backend-generic PCG loop against scipy.sparse.linalg.cg, and the multigrid operator."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.transport import _stencil
from solvers.transport._cg import pcg
from solvers.transport._multigrid import FineOperator, Jacobi, Multigrid


def _ops(A, Minv):
    def mv(v, out):
        out[:] = A @ v
        return float(v @ out)

    def pc(r, out):
        out[:] = Minv @ r
        return float(r @ out)

    def uxr(x, r, d, q, a):
        x += a * d
        r -= a * q
        return float(r @ r)

    def ud(d, z, beta):
        d[:] = z + beta * d

    return mv, pc, uxr, ud


def test_pcg_matches_scipy_cg():
    rng = np.random.default_rng(0)
    n = 200
    B = sp.random(n, n, density=0.03, random_state=1)
    A = (B @ B.T + sp.eye(n) * 0.5).tocsr()
    b = rng.random(n)
    Minv = sp.diags(1 / A.diagonal())
    x = np.zeros(n)
    r = b.copy()
    info = pcg(
        *_ops(A, Minv),
        x,
        r,
        np.zeros(n),
        np.zeros(n),
        bnorm=float(np.linalg.norm(b)),
        rtol=1e-10,
        max_iter=1000,
    )
    x_ref, flag = spla.cg(A, b, rtol=1e-10, maxiter=1000, M=Minv)
    assert flag == 0 and info.converged
    np.testing.assert_allclose(x, x_ref, rtol=1e-7, atol=1e-9)
    assert np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b) * 1.01


def test_pcg_reports_max_iter():
    A = sp.diags(np.linspace(1, 1e4, 500)).tocsr()
    b = np.ones(500)
    x = np.zeros(500)
    info = pcg(
        *_ops(A, sp.eye(500)),
        x,
        b.copy(),
        np.zeros(500),
        np.zeros(500),
        bnorm=float(np.linalg.norm(b)),
        rtol=1e-12,
        max_iter=3,
    )
    assert not info.converged and info.iterations == 3 and info.residual > 1e-12


def _fine(img, dtype=np.float64, periodic=False):
    n0, n1, n2 = img.shape
    g = [np.zeros((n0 + 1, n1, n2), dtype), np.zeros(img.shape, dtype), np.zeros(img.shape, dtype)]
    _stencil.build_faces(
        img.astype(np.uint8),
        np.array([[0.0, 0.0], [0.0, 1.0]]),
        np.array([0.0, 2.0]),
        periodic,
        periodic,
        *g,
    )
    return FineOperator(*g, kernels=_stencil, periodic=periodic)


@pytest.mark.parametrize("periodic", [False, True])
def test_multigrid_and_jacobi_are_symmetric_positive(periodic):
    rng = np.random.default_rng(2)
    img = rng.random((17, 12, 8)) < 0.7
    op = _fine(img, periodic=periodic)
    active = op.gx[:-1] + op.gx[1:] + op.gy + op.gz > 0
    cycles = [Multigrid(op, np, np.float64, max_coarse=50, gamma=g) for g in (1, 2)]
    for M in (*cycles, Jacobi(op)):
        assert M.symmetric
        r1 = rng.random(img.shape) * active
        r2 = rng.random(img.shape) * active
        z1, z2 = np.zeros_like(r1), np.zeros_like(r2)
        M(r1, z1)
        M(r2, z2)
        assert float(np.sum(z1 * r2)) == pytest.approx(float(np.sum(z2 * r1)), rel=1e-10)
        assert M(r1, z1) > 0
    assert "Multigrid(levels=" in repr(Multigrid(op, np, np.float64, max_coarse=50))
    assert len(cycles[1].levels) >= 2  # a W-cycle below the first coarse level was exercised
    with pytest.raises(ValueError, match="gamma"):
        Multigrid(op, np, np.float64, gamma=3)


def test_matvec_matches_assembled_operator():
    rng = np.random.default_rng(3)
    img = rng.random((6, 5, 4)) < 0.7
    op = _fine(img, periodic=True)
    n = img.size
    A = np.zeros((n, n))
    e = np.zeros(img.shape)
    y = np.zeros(img.shape)
    for i in range(n):
        e.ravel()[:] = 0
        e.ravel()[i] = 1
        op.matvec_dot(e, y)
        A[:, i] = y.ravel()
    np.testing.assert_allclose(A, A.T, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(A) > -1e-12)


def _energy_problem(n=300, seed=4):
    """An SPD system and ``E(x) = x.Ax - 2 b.x + c`` with ``min E = 1``."""
    rng = np.random.default_rng(seed)
    B = sp.random(n, n, density=0.02, random_state=seed)
    A = (B @ B.T + sp.diags(np.linspace(1e-3, 1.0, n))).tocsr()
    b = rng.random(n)
    xs = spla.spsolve(A.tocsc(), b)
    c = 1.0 + float(b @ xs)

    def E(x):
        return float(x @ (A @ x) - 2 * b @ x + c)

    return A, b, xs, E


@pytest.mark.parametrize("tol", [1e-3, 1e-6, 1e-9])
def test_pcg_energy_rule_bounds_the_energy_error(tol):
    A, b, xs, E = _energy_problem()
    x = np.zeros(b.size)
    info = pcg(*_ops(A, sp.diags(1 / A.diagonal())), x, b.copy(), np.zeros(b.size),
               np.zeros(b.size), bnorm=float(np.linalg.norm(b)), rtol=None, max_iter=5000,
               energy=E(x), energy_rtol=tol)  # fmt: skip
    assert info.converged
    actual = (E(x) - 1.0) / E(x)
    assert info.energy_error <= tol
    assert actual <= 3 * tol  # the estimate is not far off ...
    assert actual >= 1e-4 * tol  # ... and the rule does not over-solve by orders of magnitude


def test_pcg_needs_a_stopping_rule():
    A, b, _, E = _energy_problem(50)
    args = (*_ops(A, sp.eye(50)), np.zeros(50), b.copy(), np.zeros(50), np.zeros(50))
    with pytest.raises(ValueError, match="stopping rule"):
        pcg(*args, bnorm=1.0, rtol=None, max_iter=10)
    with pytest.raises(ValueError, match="energy"):
        pcg(*args, bnorm=1.0, rtol=None, max_iter=10, energy_rtol=1e-3)
