"""The named steps of a transport solve and the default stopping rule (accuracy of sigma_eff)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_cg import _fine
from test_precond import _spheres_and_grains
from test_transport import reference_sigma, smooth_random

from solvers import connected_to_face, tortuosity
from solvers.transport import _stencil
from solvers.transport._multigrid import Jacobi, Multigrid, PieceMultigrid
from solvers.transport._steps import (
    DEFAULT_ACCURACY,
    build_operator,
    choose_dtype,
    choose_preconditioner,
    classes,
    conductance_tables,
    measure,
    percolating_mask,
)


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("periodic", [False, True])
def test_percolating_mask_is_connected_to_both_faces(axis, periodic):
    m = smooth_random((14, 12, 10), 0.35, seed=axis + 3 * periodic, sigma=1.0)
    per = [periodic] * 3
    per[axis] = False
    both = connected_to_face(m, axis=axis, side=0, periodic=tuple(per)) & connected_to_face(
        m, axis=axis, side=-1, periodic=tuple(per)
    )
    got = percolating_mask(m, axis, periodic, "cpu")
    np.testing.assert_array_equal(got, both)


def test_classes_and_conductance_tables():
    img = np.array([0, 1, 3, 3, 2], dtype=np.uint8).reshape(5, 1, 1)
    cls, sig, eps, eps_sigma = classes(img, {1: 1e-2, 2: 0.0, 3: 5.0}, np)
    np.testing.assert_array_equal(cls.ravel(), [0, 1, 2, 2, 0])
    np.testing.assert_array_equal(sig, [0.0, 1e-2, 5.0])
    assert eps == pytest.approx(0.6) and eps_sigma == pytest.approx(0.2 * 1e-2 + 0.4 * 5.0)
    gtab, gdir, scale = conductance_tables(sig)
    assert scale == 5.0
    s = sig / 5.0
    assert gtab[1, 2] == pytest.approx(2 * s[1] * s[2] / (s[1] + s[2]))
    assert gtab[0, 1] == 0 and gtab[2, 2] == pytest.approx(1.0)
    np.testing.assert_allclose(gdir, 2 * s)


def test_choose_dtype():
    sig = np.array([0.0, 1e-2, 5.0, 3e-2])
    one = np.array([False, True, False, False])
    assert choose_dtype("auto", sig, one) == np.float32  # one phase
    assert choose_dtype("auto", sig, np.array([False, True, False, True])) == np.float32  # 3:1
    assert choose_dtype("auto", sig, np.array([False, True, True, False])) == np.float64  # 500:1
    assert choose_dtype("auto", sig, one, rtol=1e-8) == np.float64  # below float32
    assert choose_dtype("float64", sig, one) == np.float64
    assert choose_dtype("float32", sig, np.array([False, True, True, False])) == np.float32
    assert choose_dtype("auto", sig, one, contact_weights=True) == np.float64
    assert choose_dtype("float32", sig, one, contact_weights=True) == np.float32


def test_choose_preconditioner_and_operator():
    img = _spheres_and_grains(16, seed=1)
    cls, sig, _, _ = classes(img, {1: 1e-2, 3: 5.0}, np)
    gtab, gdir, _ = conductance_tables(sig)
    op = build_operator(cls, gtab, gdir, True, np.dtype(np.float64), "cpu")
    assert op.gx.shape == (17, 16, 16) and op.periodic
    both = np.array([False, True, True])
    assert isinstance(choose_preconditioner("multigrid", op, both, np, np.float64), PieceMultigrid)
    one = np.array([False, True, False])
    assert isinstance(choose_preconditioner("multigrid", op, one, np, np.float64), Multigrid)
    sparse = choose_preconditioner("multigrid", op, one, np, np.float64, solved_fraction=0.1)
    assert isinstance(sparse, PieceMultigrid)
    assert isinstance(choose_preconditioner("jacobi", op, both, np, np.float64), Jacobi)


@pytest.mark.parametrize("periodic", [False, True])
def test_energy_is_the_dirichlet_energy(periodic):
    """``energy(x) = sum_faces g (du)^2 = x.Ax - 2 b.x + sum(b)`` and equals the conductance at
    the solution."""
    rng = np.random.default_rng(5)
    img = percolating_mask(rng.random((9, 8, 7)) < 0.7, 0, periodic, "cpu")
    op = _fine(img, periodic=periodic)
    x = rng.random(img.shape)
    ax = np.empty_like(x)
    xax = op.matvec_dot(x, ax)
    b = np.zeros_like(x)
    b[-1] = op.gx[-1]
    assert _stencil.energy(*op.faces, x) == pytest.approx(xax - 2 * np.sum(b * x) + b.sum(),
                                                            rel=1e-12)
    res = tortuosity(img, periodic_lateral=periodic, rtol=1e-12, return_field=True)
    xs = np.nan_to_num(res.field)
    m = measure(op, xs, img.astype(np.uint8), np.array([0.0, 2.0]))
    assert m.conductance * 9 / 56 == pytest.approx(res.effective_conductivity, rel=1e-12)
    sigma_ref, _, _ = reference_sigma(img.astype(float), periodic)
    assert res.effective_conductivity == pytest.approx(sigma_ref, rel=1e-9)


@pytest.mark.parametrize(
    "make,cond",
    [
        (lambda: _spheres_and_grains(32, seed=5), {1: 1e-2, 3: 5.0}),  # 500:1
        (lambda: _spheres_and_grains(24, seed=6), {1: 1.0, 3: 1e6}),  # 1e6:1
        (lambda: smooth_random((40, 32, 32), 0.4, seed=7), None),  # one phase, float32
        (lambda: np.where(smooth_random((32, 32, 32), 0.5, seed=8), 1, 2).astype(np.uint8),
         {1: 1.0, 2: 1e-2}),  # CAM + SE-like, 100:1
    ],
)
def test_default_stops_at_the_requested_accuracy(make, cond):
    img = make()
    kw = {} if cond is None else {"conductivity": cond}
    tight = tortuosity(img, rtol=1e-11, dtype="float64", max_iter=5000, **kw)
    res = tortuosity(img, **kw)
    assert res.converged and res.iterations < tight.iterations
    err = abs(res.tau / tight.tau - 1)
    assert err <= 1e-4  # the default reaches 1e-4 in tau ...
    assert res.estimated_error <= DEFAULT_ACCURACY  # ... by its own estimate
    loose = tortuosity(img, accuracy=1e-3, **kw)
    assert loose.iterations <= res.iterations
    assert abs(loose.tau / tight.tau - 1) <= 1e-2


def test_rtol_alone_uses_the_residual_rule_and_accuracy_is_checked():
    img = smooth_random((16, 16, 16), 0.5, seed=9)
    res = tortuosity(img, rtol=1e-6)
    assert math.isnan(res.estimated_error) and res.residual <= 1e-6 * 1.01
    both = tortuosity(img, rtol=1e-6, accuracy=1e-12)
    assert both.iterations >= res.iterations and both.estimated_error <= 1e-12
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="accuracy"):
            tortuosity(img, accuracy=bad)


def test_progress_bar_never_goes_backwards():
    """Issue 12: the CG residual is not monotone (92 -> 94 -> 92 %); the bar must not be."""
    from solvers.transport._steps import _SolveProgress

    bar = _SolveProgress("solve", 1e-5)
    shown = []
    try:
        for it, res in enumerate([1e-1, 1e-3, 3e-3, 1e-2, 5e-4, 2e-4, 1e-3, 1e-6]):
            bar.update(it, res)
            shown.append(bar.bar.n)
    finally:
        bar.close()
    assert shown == sorted(shown) and shown[-1] == 5.0


def test_a_volume_too_big_for_memory_is_refused_before_any_work():
    """Issue 12: a memory estimate before allocating (a broadcast view: no memory itself)."""
    import time

    import numpy as np

    from solvers import tortuosity
    from solvers.memory import InsufficientMemoryError

    img = np.broadcast_to(np.True_, (4000, 4000, 4000))
    t0 = time.perf_counter()
    with pytest.raises(InsufficientMemoryError, match="image of shape"):
        tortuosity(img)
    assert time.perf_counter() - t0 < 1.0
