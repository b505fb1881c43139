"""Transport solver: analytic cases, TauFactor/SciPy agreement, bounds and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers import TransportProperties, TransportResult, tortuosity, transport_properties


def smooth_random(shape, frac, seed, sigma=1.5):
    """A blobby random two-phase structure with volume fraction ``frac`` of True."""
    rng = np.random.default_rng(seed)
    f = ndi.gaussian_filter(rng.random(shape), sigma, mode="wrap")
    return f <= np.quantile(f, frac)


DIRECT_MAX = 40_000  # unknowns: SuperLU's 3-D fill-in makes a 40^3 solve take minutes


def _reference_solve(A, b):
    """SuperLU for small systems; larger ones by CG with pyamg's smoothed aggregation to a
    relative residual of 1e-14 (on the 40^3 staircase it agrees with SuperLU to 3e-14 in
    sigma_eff, in 1 s instead of 115-215 s)."""
    if A.shape[0] <= DIRECT_MAX:
        return spla.spsolve(A, b)
    import pyamg

    residuals = []
    x = pyamg.smoothed_aggregation_solver(A.tocsr()).solve(
        b, tol=1e-14, accel="cg", maxiter=1000, residuals=residuals
    )
    assert residuals[-1] <= 1e-13 * residuals[0], "reference AMG-CG did not converge"
    return x


def reference_sigma(cond_field, periodic=False):
    """sigma_eff by an assembled sparse system solved apart from ours (axis 0, same FV scheme)."""
    n0, n1, n2 = cond_field.shape
    idx = np.arange(cond_field.size).reshape(cond_field.shape)
    rows, cols, vals = [], [], []
    diag = np.zeros(cond_field.size)
    b = np.zeros(cond_field.size)

    def harm(a, c):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((a > 0) & (c > 0), 2 * a * c / (a + c), 0.0)

    for ax in range(3):
        a = cond_field
        c = np.roll(cond_field, -1, axis=ax)
        g = harm(a, c)
        i0 = idx
        i1 = np.roll(idx, -1, axis=ax)
        sl = [slice(None)] * 3
        if ax == 0 or not periodic:
            sl[ax] = slice(0, cond_field.shape[ax] - 1)
        g, i0, i1 = g[tuple(sl)].ravel(), i0[tuple(sl)].ravel(), i1[tuple(sl)].ravel()
        keep = (g > 0) & (i0 != i1)
        g, i0, i1 = g[keep], i0[keep], i1[keep]
        rows += [i0, i1]
        cols += [i1, i0]
        vals += [-g, -g]
        np.add.at(diag, i0, g)
        np.add.at(diag, i1, g)
    gd = 2 * cond_field
    diag[idx[0].ravel()] += gd[0].ravel()
    diag[idx[-1].ravel()] += gd[-1].ravel()
    b[idx[-1].ravel()] = gd[-1].ravel()
    active = diag > 0
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(diag.size,) * 2
    )
    A = A + sp.diags(diag)
    a_idx = np.flatnonzero(active)
    sub = A[a_idx][:, a_idx].tocsc()
    # drop floating clusters (singular blocks): keep rows connected to a Dirichlet face
    n, lab = sp.csgraph.connected_components(sub, directed=False)
    touch_in = np.isin(a_idx, idx[0].ravel()) & (gd.ravel()[a_idx] > 0)
    touch_out = np.isin(a_idx, idx[-1].ravel()) & (gd.ravel()[a_idx] > 0)
    good = np.isin(lab, np.intersect1d(lab[touch_in], lab[touch_out]))
    x = np.zeros(diag.size)
    sub = sub[good][:, good]
    x[a_idx[good]] = _reference_solve(sub, b[a_idx[good]])
    solved = np.zeros(diag.size, dtype=bool)
    solved[a_idx[good]] = True
    solved = solved.reshape(cond_field.shape)
    flux_out = np.sum((gd[-1] * (1 - x.reshape(cond_field.shape)[-1]))[solved[-1]])
    return flux_out * n0 / (n1 * n2), x.reshape(cond_field.shape), (sub, b[a_idx[good]])


# --------------------------------------------------------------------------- analytic cases
@pytest.mark.parametrize("preconditioner", ["multigrid", "jacobi"])
@pytest.mark.parametrize("shape", [(20, 20, 20), (40, 20, 20), (20, 20, 40)])
def test_uniform_block(shape, preconditioner):
    img = np.ones(shape, dtype=bool)
    img[:, 0] = False  # a sealed lateral slab of non-conducting voxels changes nothing
    res = tortuosity(img, preconditioner=preconditioner)
    assert isinstance(res, TransportResult)
    assert res.tau == pytest.approx(1.0, abs=1e-6)
    assert res.relative_conductivity == pytest.approx(res.volume_fraction, rel=1e-6)
    assert res.converged and res.percolating_fraction == 1.0


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("periodic", [False, True])
def test_straight_strip(axis, periodic):
    img = np.zeros((20, 20, 20), dtype=bool)
    sl = [slice(0, 10)] * 3
    sl[axis] = slice(None)
    img[tuple(sl)] = True
    res = tortuosity(img, axis=axis, periodic_lateral=periodic)
    assert res.tau == pytest.approx(1.0, abs=1e-6)
    assert res.volume_fraction == pytest.approx(0.25)


def test_blocked_phase_is_infinite_without_iterating():
    img = np.zeros((20, 20, 20), dtype=bool)
    img[0] = True  # touches the inlet only
    res = tortuosity(img)
    assert res.tau == math.inf and res.effective_conductivity == 0.0
    assert res.iterations == 0 and res.percolating_fraction == 0.0 and res.converged


def test_dead_end_is_infinite():
    img = np.zeros((10, 50, 50), dtype=bool)
    img[:8, 25, 25] = True
    res = tortuosity(img, return_field=True)
    assert res.tau == math.inf and res.effective_conductivity == 0.0 and res.iterations == 0
    assert np.isnan(res.field).all()


def test_empty_image():
    res = tortuosity(np.zeros((4, 4, 4), dtype=bool))
    assert res.tau == math.inf and res.volume_fraction == 0.0


def test_slanted_staircase_strip():
    n = 20
    img = np.zeros((n, n + 1, n + 1), dtype=bool)
    for i in range(n):
        img[i, i : i + 2, i : i + 2] = True
    res = tortuosity(img, rtol=1e-9)
    assert res.tau == pytest.approx(7.51667, abs=1e-5)


def test_parallel_slabs_of_different_conductivity():
    img = np.ones((20, 20, 20), dtype=np.uint8)
    img[:, :10, :10] = 2
    img[:, :10, 10:] = 3
    res = tortuosity(img, conductivity={1: 1.0, 2: 0.5, 3: 2.0})
    assert res.tau == pytest.approx(1.0, abs=1e-6)
    assert res.effective_conductivity == pytest.approx(0.5 * 1 + 0.25 * 0.5 + 0.25 * 2, rel=1e-6)


@pytest.mark.parametrize(
    "contrast,dtype", [(3.0, "float64"), (1e3, "float64"), (1e6, "float64"), (3.0, "float32")]
)
def test_series_laminate_exact(contrast, dtype):
    rng = np.random.default_rng(1)
    codes = rng.integers(1, 4, size=17)
    img = np.broadcast_to(codes[:, None, None], (17, 6, 7)).astype(np.int16)
    cond = {1: 1.0, 2: contrast, 3: 1.0 / math.sqrt(contrast)}
    f = np.array([np.mean(codes == c) for c in (1, 2, 3)])
    s = np.array([cond[c] for c in (1, 2, 3)])
    expected = 1.0 / np.sum(f / s)
    res = tortuosity(
        img, conductivity=cond, dtype=dtype, rtol=1e-10 if dtype == "float64" else 1e-6
    )
    assert res.converged
    assert res.effective_conductivity == pytest.approx(
        expected, rel=1e-5 if dtype == "float64" else 1e-4
    )
    assert res.tau == pytest.approx(np.sum(f * s) / expected, rel=1e-4)


def test_convention_tau2():
    img = smooth_random((16, 16, 16), 0.5, seed=3)
    a = tortuosity(img)
    b = tortuosity(img, convention="tau2")
    assert b.tau == pytest.approx(math.sqrt(a.tau), rel=1e-9)
    assert b.convention == "tau2" and "tau2" in repr(b)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hashin_shtrikman_bounds(seed):
    s1, s2 = 1.0, 20.0
    m = smooth_random((24, 24, 24), 0.45, seed=seed)
    img = np.where(m, 2, 1).astype(np.uint8)
    f2 = m.mean()
    f1 = 1 - f2
    res = tortuosity(img, conductivity={1: s1, 2: s2}, periodic_lateral=True)
    lower = s1 + f2 / (1 / (s2 - s1) + f1 / (3 * s1))
    upper = s2 + f1 / (1 / (s1 - s2) + f2 / (3 * s2))
    assert lower <= res.effective_conductivity <= upper


# --------------------------------------------------------------------------- references
@pytest.mark.parametrize(
    "shape,frac,seed,periodic",
    [((20, 18, 16), 0.55, 0, False), ((16, 16, 16), 0.45, 1, True), ((24, 20, 20), 0.4, 2, False)],
)
def test_agrees_with_taufactor(shape, frac, seed, periodic):
    import taufactor as tf  # in the test extra: a missing install fails, it does not skip
    img = smooth_random(shape, frac, seed, sigma=1.0)
    cls = tf.PeriodicSolver if periodic else tf.Solver
    solver = cls(img.astype(np.uint8), device="cpu")
    solver.solve(verbose=False, conv_crit=1e-5, iter_limit=200000)
    ref = float(np.asarray(solver.tau).ravel()[0])
    ours = tortuosity(img, periodic_lateral=periodic, rtol=1e-8)
    assert ours.tau == pytest.approx(ref, rel=1e-3)


@pytest.mark.parametrize("periodic", [False, True])
def test_agrees_with_sparse_direct_solve(periodic):
    img = smooth_random((12, 11, 10), 0.6, seed=5, sigma=1.0).astype(np.uint8)
    img[smooth_random((12, 11, 10), 0.3, seed=6, sigma=1.0)] = 2
    cond = {1: 1.0, 2: 1e-6}
    sigma_ref, x_ref, _ = reference_sigma(np.vectorize(lambda c: cond.get(c, 0.0))(img), periodic)
    res = tortuosity(
        img, conductivity=cond, periodic_lateral=periodic, rtol=1e-10, return_field=True
    )
    assert res.converged
    assert res.effective_conductivity == pytest.approx(sigma_ref, rel=1e-7)
    solved = ~np.isnan(res.field)
    np.testing.assert_allclose(res.field[solved], x_ref[solved], atol=1e-6)


def test_pcg_matches_scipy_cg_iterates_on_assembled_system():
    """Our CG (Jacobi) reaches the same solution as scipy's CG on the assembled matrix."""
    img = smooth_random((10, 9, 8), 0.6, seed=7, sigma=1.0)
    sigma_ref, x_ref, (A, b) = reference_sigma(img.astype(float))
    x_cg, info = spla.cg(A, b, rtol=1e-10, maxiter=2000, M=sp.diags(1 / A.diagonal()))
    assert info == 0
    res = tortuosity(img, preconditioner="jacobi", rtol=1e-10, return_field=True)
    np.testing.assert_allclose(res.field[~np.isnan(res.field)], x_cg, atol=1e-7)
    assert res.effective_conductivity == pytest.approx(sigma_ref, rel=1e-8)


def test_high_contrast_converges_with_both_preconditioners():
    m = smooth_random((24, 24, 24), 0.5, seed=8)
    img = np.where(m, 1, 2).astype(np.uint8)
    # accuracy as before the default became 3e-5 (the flux mismatch follows the stopping rule)
    for pc in ("multigrid", "jacobi"):
        res = tortuosity(img, conductivity={1: 1.0, 2: 1e-6}, preconditioner=pc, max_iter=5000,
                         accuracy=1e-5)
        assert res.converged and res.flux_mismatch < 1e-3


def test_float32_matches_float64():
    img = smooth_random((24, 24, 24), 0.45, seed=9)
    a = tortuosity(img, dtype="float64")
    b = tortuosity(img, dtype="float32")
    assert b.tau == pytest.approx(a.tau, rel=1e-4)


def test_float32_below_its_floor_is_not_called_converged():
    """An rtol float32 cannot reach: the recursive residual meets it, the true one does not
    (4e-7 at rtol 1e-9 before); the result says so, with a warning naming the dtype."""
    img = np.random.default_rng(1).integers(0, 4, (24, 24, 24)).astype(np.uint8)
    cond = {1: 0.01, 3: 5.0}
    with pytest.warns(RuntimeWarning, match=r"true relative residual .*\(dtype float32\)"):
        low = tortuosity(img, conductivity=cond, axis=1, dtype="float32", rtol=1e-9)
    assert not low.converged and low.residual > 2e-9
    fine = tortuosity(img, conductivity=cond, axis=1, dtype="float64", rtol=1e-9)
    assert fine.converged and fine.residual <= 1e-9
    ok = tortuosity(img, conductivity=cond, axis=1, dtype="float32", rtol=1e-4)
    assert ok.converged and ok.residual <= 2e-4


def test_multigrid_beats_jacobi_and_is_flat_in_size():
    its = {}
    for n in (24, 48):
        img = smooth_random((n, n, n), 0.5, seed=10, sigma=n / 16)
        its[n] = tortuosity(img).iterations
        if n == 48:
            jac = tortuosity(img, preconditioner="jacobi").iterations
    assert its[48] <= 1.5 * its[24]
    assert its[48] * 5 < jac


def test_return_field_axis_order_and_range():
    img = smooth_random((10, 12, 14), 0.6, seed=11, sigma=1.0)
    res = tortuosity(img, axis=2, return_field=True)
    f = res.field
    assert f.shape == img.shape
    ok = ~np.isnan(f)
    assert ok.sum() == round(res.percolating_fraction * img.sum())
    assert np.all((f[ok] > 0) & (f[ok] < 1))
    # potential rises from the current-collector side (index 0) to the separator side
    assert np.nanmean(f[:, :, 0]) < np.nanmean(f[:, :, -1])


def test_non_convergence_warns_and_flags():
    img = smooth_random((24, 24, 24), 0.5, seed=12)
    with pytest.warns(RuntimeWarning, match="converged=False"):
        res = tortuosity(img, preconditioner="jacobi", max_iter=2)
    assert not res.converged and res.iterations == 2


def test_repr_is_readable():
    r = repr(tortuosity(np.ones((4, 4, 4), dtype=bool)))
    assert r.startswith("TransportResult(tau=1 [tau]") and "S/cm" in r and "field" not in r


# --------------------------------------------------------------------------- composite
def test_transport_properties_composite():
    ph = np.full((10, 8, 8), 2, dtype=np.uint8)
    ph[:, :, :4] = 1
    ph[:, :2, :4] = 3
    tp = transport_properties(ph, {1: 1e-2, 2: 3e-3, 3: 5.0}, voxel_size_um=0.5)
    assert isinstance(tp, TransportProperties)
    assert tp.ionic.tau == pytest.approx(1.0) and tp.electronic.tau == pytest.approx(1.0)
    assert tp.ionic.effective_conductivity == pytest.approx(0.5 * 3e-3)
    assert tp.electronic.effective_conductivity == pytest.approx(0.375 * 1e-2 + 0.125 * 5.0)
    assert tp.thickness_um == pytest.approx(5.0)
    assert tp.ionic_resistance_ohm_cm2 == pytest.approx(5e-4 / 1.5e-3)
    assert "ionic=" in repr(tp)


def test_transport_properties_needs_every_conductivity():
    ph = np.ones((4, 4, 4), dtype=np.uint8)
    ph[0, 0, 0] = 2
    transport_properties(ph, {1: 1.0, 2: 1e-3})  # carbon (3) absent: no entry needed
    ph[0, 0, 1] = 3
    with pytest.raises(ValueError, match="conductivities has no entry"):
        transport_properties(ph, {1: 1.0, 2: 1e-3})


@pytest.mark.parametrize("kwargs, match", [
    ({"ionic_phases": (1, 2)}, r"share phase code\(s\) \[1\]"),
    ({"electronic_phases": (2, 3)}, r"share phase code\(s\) \[2\]"),
    ({"ionic_phases": ()}, "ionic_phases must be a non-empty tuple of phase codes"),
    ({"electronic_phases": (1, 7)}, "electronic_phases must be a non-empty tuple"),
])
def test_transport_properties_networks_are_two_disjoint_sets_of_codes(kwargs, match):
    ph = np.full((6, 4, 4), 2, dtype=np.uint8)
    ph[:, :, :2] = 1
    with pytest.raises(ValueError, match=match):
        transport_properties(ph, {1: 1e-2, 2: 3e-3}, **kwargs)


def test_transport_properties_refuses_unknown_phase_codes():
    # code 5 where CAM should be: an electronic tau of inf was returned without a word
    ph = np.full((6, 4, 4), 2, dtype=np.uint8)
    ph[:, :, :2] = 5
    with pytest.raises(ValueError, match=r"unknown phase codes \[5\]; allowed are \(0, 1, 2, 3\)"):
        transport_properties(ph, {1: 1e-2, 2: 3e-3})


def test_transport_properties_progress_is_a_bool():
    ph = np.full((6, 4, 4), 2, dtype=np.uint8)
    with pytest.raises(TypeError, match="progress must be a bool .*got 'x'"):
        transport_properties(ph, {1: 1e-2, 2: 3e-3}, progress="x")


def test_transport_properties_checks_memory_before_reading_the_array():
    from solvers.memory import InsufficientMemoryError

    big = np.broadcast_to(np.uint8(2), (1500,) * 3)    # no memory behind it: any scan is slow
    with pytest.raises(InsufficientMemoryError, match="use a smaller phases array$"):
        transport_properties(big, {2: 1.0})


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"conductivity": {1: -1.0}}, ValueError, "conductivity"),
        ({"conductivity": {1: float("nan")}}, ValueError, "conductivity"),
        ({"conductivity": [1.0]}, TypeError, "conductivity"),
        ({"axis": 3}, ValueError, "axis"),
        ({"axis": 1.0}, TypeError, "axis"),
        ({"rtol": 0.0}, ValueError, "rtol"),
        ({"rtol": -1e-3}, ValueError, "rtol"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"preconditioner": "ilu"}, ValueError, "preconditioner"),
        ({"convention": "tau3"}, ValueError, "convention"),
        ({"dtype": "float16"}, ValueError, "dtype"),
        ({"device": "gpu"}, ValueError, "device"),
        ({"periodic_lateral": 1}, TypeError, "periodic_lateral"),
        ({"conductivity": {1: "1"}}, TypeError, r"conductivity\[1\] must be a number"),
        ({"rtol": "1e-3"}, TypeError, "rtol must be a number, got '1e-3'"),
        ({"accuracy": 2.0}, ValueError, "accuracy must be a relative error below 1"),
        ({"conductivity": {0: 2.0}}, ValueError, "boolean mask: only its True voxels"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        tortuosity(np.ones((4, 4, 4), dtype=bool), **kwargs)


def test_bad_images():
    with pytest.raises(ValueError, match="3-D"):
        tortuosity(np.ones((4, 4), dtype=bool))
    with pytest.raises(TypeError, match="image"):
        tortuosity([[[1]]])
    with pytest.raises(TypeError, match="dtype"):
        tortuosity(np.ones((4, 4, 4)))
    with pytest.raises(ValueError, match="needs conductivity"):
        tortuosity(np.full((4, 4, 4), 2, dtype=np.uint8))


def test_progress_bar_does_not_change_the_result(capsys):
    rng = np.random.default_rng(7)
    img = rng.random((16, 12, 12)) < 0.7
    quiet = tortuosity(img)
    shown = tortuosity(img, progress="pore")
    assert shown.tau == quiet.tau and shown.iterations == quiet.iterations
    assert "pore" in capsys.readouterr().err
    with pytest.raises(TypeError, match="progress"):
        tortuosity(img, progress=1)


def test_labels_spread_wider_than_the_image_are_mapped_by_the_codes_present():
    """Codes of a segmentation's labels (10^12) once sized a lookup table over their range
    (a 931 GiB MemoryError); the same image with small codes gives the same answer."""
    ph = np.random.default_rng(0).integers(0, 4, (12, 12, 12)).astype(np.int64)
    small = tortuosity(ph, conductivity={1: 1e-2, 2: 3e-3})
    for code in (10**12, -(10**12)):
        big = tortuosity(np.where(ph == 1, code, ph), conductivity={code: 1e-2, 2: 3e-3})
        assert big.effective_conductivity == small.effective_conductivity
        assert big.volume_fraction == small.volume_fraction and big.tau == small.tau
