"""Piece-aggregation multigrid: block pieces, Galerkin level 1, high-contrast convergence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from test_transport import reference_sigma, smooth_random

from solvers import tortuosity
from solvers.transport import _stencil
from solvers.transport._multigrid import FineOperator, PieceMultigrid, _block_lut, _fine_galerkin
from solvers.transport._stencil_kernels import PIECE_STRENGTH


def _fine(cond, periodic):
    """Voxel-grid operator of a conductivity field (harmonic faces, 2 s to the Dirichlet faces)."""
    n0, n1, n2 = cond.shape
    vals = np.unique(cond)
    cls = np.searchsorted(vals, cond).astype(np.uint8)
    with np.errstate(divide="ignore", invalid="ignore"):
        gtab = np.where(
            (vals[:, None] > 0) & (vals[None, :] > 0),
            2 * vals[:, None] * vals[None, :] / (vals[:, None] + vals[None, :]),
            0.0,
        )
    g = [np.zeros((n0 + 1, n1, n2)), np.zeros(cond.shape), np.zeros(cond.shape)]
    _stencil.build_faces(cls, gtab, 2 * vals, periodic, periodic, *g)
    return FineOperator(*g, kernels=_stencil, periodic=periodic)


def _assembled(op):
    """The voxel operator as a sparse matrix (zero rows kept)."""
    gx, gy, gz = op.faces
    idx = np.arange(gy.size).reshape(gy.shape)
    rows, cols, vals = [], [], []
    for a, b, g in (
        (idx[:-1], idx[1:], gx[1:-1]),
        (idx, np.roll(idx, -1, 1), gy),
        (idx, np.roll(idx, -1, 2), gz),
    ):
        k = (g != 0) & (a != b)
        rows += [a[k], b[k]]
        cols += [b[k], a[k]]
        vals += [-g[k], -g[k]]
    diag = gx[:-1] + gx[1:] + gy + np.roll(gy, 1, 1) + gz + np.roll(gz, 1, 2)
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(idx.size,) * 2
    )
    return (A + sp.diags(diag.ravel())).tocsr()


def _spheres_and_grains(n, seed):
    """Touching CAM-like spheres (narrow necks) plus small carbon grains, codes 1 and 3."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices((n, n, n))
    img = np.zeros((n, n, n), dtype=np.uint8)
    r = 4.6
    for c0 in range(4, n, 8):
        for c1 in range(4, n, 8):
            for c2 in range(4, n, 8):
                c = np.array([c0, c1, c2]) + rng.normal(0, 0.6, 3)
                img[(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r] = 1
    for _ in range(n * n * n // 300):
        c = rng.integers(0, n, 3)
        img[c[0] : c[0] + 2, c[1] : c[1] + 2, c[2] : c[2] + 2] = 3
    return img


def test_block_lut():
    lut = _block_lut()
    assert lut.shape == (4096, 8)
    np.testing.assert_array_equal(lut[0], np.arange(8))  # no open face: eight pieces
    np.testing.assert_array_equal(lut[4095], np.zeros(8))  # all open: one piece
    # axis-0 face of line (0, 0) joins cells 0 and 4; axis-2 face of line (1, 1) joins 6 and 7
    np.testing.assert_array_equal(lut[1 | 1 << 11], [0, 1, 2, 3, 0, 5, 6, 6])


@pytest.mark.parametrize(
    "shape,periodic", [((9, 8, 7), True), ((8, 6, 10), False), ((5, 1, 6), False)]
)
def test_aggregates_are_the_connected_pieces_of_each_block(shape, periodic):
    rng = np.random.default_rng(sum(shape))
    cond = np.where(rng.random(shape) < 0.6, rng.choice([1.0, 1e-3], size=shape), 0.0)
    op = _fine(cond, periodic)
    M = PieceMultigrid(op, np, np.float64, max_coarse=20)
    agg = M._agg
    A = _assembled(op)
    active = A.diagonal() > 0
    assert np.array_equal(agg.ravel() >= 0, active)
    # every aggregate is one piece of one block connected through strong faces
    # (|a_ij| >= 0.05 sqrt(a_ii a_jj)), and every piece is one aggregate
    block = np.ravel_multi_index(
        tuple(np.indices(shape)[a] // 2 for a in range(3)), [(n + 1) // 2 for n in shape]
    ).ravel()
    coo = A.tocoo()
    d = A.diagonal()
    strong = np.abs(coo.data) >= PIECE_STRENGTH * np.sqrt(d[coo.row] * d[coo.col])
    same = (block[coo.row] == block[coo.col]) & (coo.row != coo.col) & strong
    G = sp.csr_matrix((np.ones(same.sum()), (coo.row[same], coo.col[same])), shape=A.shape)
    _, piece = connected_components(G, directed=False)
    a, p = agg.ravel()[active], piece[active]
    assert len(np.unique(a)) == len(np.unique(p)) == M.sizes[0]
    assert len(np.unique(a * (p.max() + 1) + p)) == M.sizes[0]  # same partition
    # level 1 is the Galerkin product with the piecewise constant prolongation
    rows = np.flatnonzero(active)
    P0 = sp.csr_matrix((np.ones(rows.size), (rows, a)), shape=(A.shape[0], M.sizes[0]))
    A1 = _fine_galerkin(op, agg, M.sizes[0], np, sp)
    assert abs(A1 - P0.T @ A @ P0).max() < 1e-12


@pytest.mark.parametrize("periodic", [False, True])
def test_thin_staircase_wires_in_a_poor_matrix(periodic):
    """Four thin wires (1 S/cm) stepping sideways every 4 layers in a 1e-3 S/cm matrix."""
    n = 40
    img = np.full((n, n, n), 2, dtype=np.uint8)
    for j0, k0 in ((3, 5), (17, 30), (31, 11), (25, 24)):
        for i in range(n):
            img[i, (j0 + i // 4) % n, k0] = 1
            img[i, (j0 + (i + 1) // 4) % n, k0] = 1
    cond = {1: 1.0, 2: 1e-3}
    sigma_ref, _, _ = reference_sigma(np.where(img == 1, 1.0, 1e-3), periodic)
    res = tortuosity(img, conductivity=cond, periodic_lateral=periodic, rtol=1e-8)
    assert res.converged and res.iterations <= 20  # 19-21 with the old block averaging
    assert res.effective_conductivity == pytest.approx(sigma_ref, rel=1e-7)
    # the wires carry most of the current: far above the matrix, far below a straight wire
    assert 1e-3 < res.effective_conductivity < (4 * 1.0 + (n * n - 4) * 1e-3) / (n * n)


def test_series_laminate_high_contrast_converges_quickly():
    n = 48
    codes = np.where(np.arange(n) % 6 < 3, 1, 3)
    img = np.broadcast_to(codes[:, None, None], (n, 20, 20)).astype(np.uint8)
    cond = {1: 1e-2, 3: 5.0}
    res = tortuosity(img, conductivity=cond, rtol=1e-8)
    assert res.converged and res.iterations <= 20
    assert res.effective_conductivity == pytest.approx(1 / (0.5 / 1e-2 + 0.5 / 5.0), rel=1e-8)


@pytest.mark.parametrize("periodic", [False, True])
def test_touching_spheres_with_carbon_match_direct_solve(periodic):
    """The electronic network of a composite: CAM spheres with narrow necks, carbon at 500:1."""
    img = _spheres_and_grains(32, seed=3)
    cond = {1: 1e-2, 3: 5.0}
    field = np.vectorize(lambda c: cond.get(c, 0.0))(img)
    sigma_ref, _, _ = reference_sigma(field, periodic)
    res = tortuosity(img, conductivity=cond, periodic_lateral=periodic, rtol=1e-8)
    assert res.converged and res.iterations <= 76  # 87-89 with the old block averaging
    assert res.effective_conductivity == pytest.approx(sigma_ref, rel=1e-7)


def test_coarse_levels_are_symmetric_positive():
    img = _spheres_and_grains(24, seed=4)
    cond = np.where(img == 1, 1e-2 / 5.0, np.where(img == 3, 1.0, 0.0))
    op = _fine(cond, periodic=True)
    M = PieceMultigrid(op, np, np.float64, max_coarse=30)
    assert len(M.levels) >= 2 and "coarse_sizes=" in repr(M)
    rng = np.random.default_rng(0)
    active = M._agg >= 0
    r1, r2 = rng.random(img.shape) * active, rng.random(img.shape) * active
    z1, z2 = np.zeros_like(r1), np.zeros_like(r2)
    assert M(r1, z1) > 0 and M(r2, z2) > 0
    assert float(np.sum(z1 * r2)) == pytest.approx(float(np.sum(z2 * r1)), rel=1e-10)
    for lv in M.levels:
        assert abs(lv.A - lv.A.T).max() <= 1e-12 * abs(lv.A).max()
        assert abs(lv.R - lv.P.T).max() == 0


@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("shape", [(9, 8, 7), (6, 1, 5), (8, 6, 10)])
def test_numba_piece_setup_matches_the_array_version(shape, periodic):
    from solvers.transport._multigrid import _compact, coarse_shape
    from solvers.transport._pieces import compact_labels, piece_galerkin

    rng = np.random.default_rng(len(shape) + sum(shape))
    cond = np.where(rng.random(shape) < 0.6, rng.choice([1.0, 1e-3], size=shape), 0.0)
    op = _fine(cond, periodic)
    lab = np.empty(op.shape, dtype=np.int64)
    _stencil.block_labels(*op.faces, _block_lut(), lab)
    n_keys = 8 * int(np.prod(coarse_shape(op.shape)[0]))
    agg, keys = _compact(np, lab, n_keys)
    agg2, keys2 = compact_labels(lab, n_keys)
    np.testing.assert_array_equal(agg, agg2)
    np.testing.assert_array_equal(keys, keys2)
    A = _fine_galerkin(op, agg, keys.size, np, sp)
    B = piece_galerkin(*op.faces, agg, keys.size)
    assert B.has_canonical_format
    assert abs(A - B).max() <= 1e-14 * abs(A).max()



def test_w_cycle_needs_fewer_iterations_than_v_cycle_for_the_same_answer():
    """The geometric hierarchy's W-cycle (default) against its V-cycle on a porous network."""
    from solvers.transport import _steps
    from solvers.transport._multigrid import Multigrid

    img = smooth_random((48, 48, 48), 0.4, seed=12, sigma=3)
    cls, sig, _, _ = _steps.classes(img, None, np)
    perc = _steps.percolating_mask(cls > 0, 0, False, "cpu")
    phase = np.where(perc, cls, 0).astype(np.uint8)
    gtab, gdir, _ = _steps.conductance_tables(sig)
    op = _steps.build_operator(phase, gtab, gdir, False, np.dtype(np.float64), "cpu")
    out = {}
    for g in (1, 2):
        M = Multigrid(op, np, np.float64, max_coarse=64, gamma=g)
        x, info = _steps.solve(op, M, phase, gdir, rtol=1e-8, accuracy=None, max_iter=500)
        out[g] = (info.iterations, _steps.measure(op, x, phase, gdir).conductance)
    assert out[2][0] < out[1][0]
    assert out[2][1] == pytest.approx(out[1][1], rel=1e-7)
