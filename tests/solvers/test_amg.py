"""Smoothed aggregation of the sparse coarse levels: aggregates, CSR kernels, Galerkin levels."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from solvers.transport import _amg


def _poisson2d(n, holes=0.0, seed=0):
    rng = np.random.default_rng(seed)
    keep = rng.random((n, n)) >= holes
    idx = np.arange(n * n).reshape(n, n)
    rows, cols = [], []
    for a, b in ((idx[:-1], idx[1:]), (idx[:, :-1], idx[:, 1:])):
        k = keep.ravel()[a.ravel()] & keep.ravel()[b.ravel()]
        rows += [a.ravel()[k], b.ravel()[k]]
        cols += [b.ravel()[k], a.ravel()[k]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    W = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n * n,) * 2)
    deg = np.asarray(W.sum(axis=1)).ravel() + 0.1 * keep.ravel()
    A = (sp.diags(deg) - W).tocsr()
    A.eliminate_zeros()
    return A


@pytest.mark.parametrize("theta", [0.0, 0.05, 0.2])
def test_standard_aggregation_covers_and_connects(theta):
    A = _poisson2d(30, holes=0.2)
    agg, n = _amg.standard_aggregation(A, theta=theta)
    d = A.diagonal()
    C = abs(A - sp.diags(d)).tocsr()
    C.data = (C.data >= theta * np.sqrt(d[C.nonzero()[0]] * d[C.nonzero()[1]])).astype(float)
    C.eliminate_zeros()
    lonely = np.diff(C.indptr) == 0  # no strong connection
    assert np.all((agg < 0) == lonely) and set(np.unique(agg[~lonely])) == set(range(n))
    assert n < A.shape[0] / 3  # it coarsens
    # every aggregate is connected in the matrix graph
    for a in range(0, n, 7):
        rows = np.flatnonzero(agg == a)
        sub = A[rows][:, rows]
        assert connected_components(sub, directed=False)[0] == 1


def test_strength_threshold_drops_weak_connections():
    # a chain whose links alternate strong (1) and weak (1e-3): strength 0.05 pairs the strong
    n = 40
    w = np.where(np.arange(n - 1) % 2 == 0, 1.0, 1e-3)
    A = sp.diags([-w, -w], [-1, 1]) + sp.diags(np.r_[w, 0] + np.r_[0, w] + 1e-6)
    agg, m = _amg.standard_aggregation(A.tocsr(), theta=0.05)
    assert m == n // 2 and np.all(agg[0::2] == agg[1::2])


@pytest.mark.parametrize("n", [50, 40000])  # serial and parallel paths
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_csr_kernels_match_scipy(n, dtype):
    rng = np.random.default_rng(1)
    # ~8 random entries per row, drawn directly: sp.random would sample among n^2 positions
    # (13 GB at n = 40000)
    m = 8 * n
    g = np.random.default_rng(2)
    A = (sp.coo_matrix((g.random(m), (g.integers(0, n, m), g.integers(0, n, m))), shape=(n, n))
         + sp.eye(n)).tocsr()
    A = A.astype(dtype)
    x, b, w = (rng.random(n).astype(dtype) for _ in range(3))
    y = np.empty(n, dtype)
    _amg.csr_matvec(A, x, y)
    np.testing.assert_allclose(y, A @ x, rtol=1e-5 if dtype == np.float32 else 1e-12)
    _amg.csr_jacobi(A, w, x, b, y)
    np.testing.assert_allclose(y, x + w * (b - A @ x), rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 0)


def test_smoothed_level_is_a_galerkin_product():
    A = _poisson2d(24, holes=0.1)
    lvl, Ac, n_next = _amg.smoothed_level(A, np, np.float64)
    assert Ac.shape == (n_next, n_next) and lvl.P.shape == (A.shape[0], n_next)
    assert abs(Ac - lvl.P.T @ A @ lvl.P).max() < 1e-12
    assert abs(Ac - Ac.T).max() < 1e-12 and abs(lvl.R - lvl.P.T).max() == 0
    x = np.random.default_rng(0).random(A.shape[0])
    b = A @ x
    work = np.empty_like(x)
    r = lvl.residual(x, b, work)
    assert np.abs(r).max() < 1e-12
