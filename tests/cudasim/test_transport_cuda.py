"""device="cuda" transport (numba-cuda kernels in the CUDA simulator) against the CPU path."""

from __future__ import annotations

import math

import numpy as np
import pytest

from solvers import tortuosity, transport_properties


def _random(shape, frac, seed):
    return np.random.default_rng(seed).random(shape) < frac


@pytest.mark.parametrize(
    "shape,periodic,preconditioner,dtype",
    [
        ((8, 7, 6), False, "multigrid", "float64"),
        ((8, 8, 6), True, "multigrid", "float32"),
        ((7, 6, 5), True, "jacobi", "float64"),
    ],
)
def test_cuda_matches_cpu(shape, periodic, preconditioner, dtype):
    img = _random(shape, 0.65, seed=sum(shape))
    # float32's rtol above its floor (~1e-6): the true residual must meet it too
    kw = dict(periodic_lateral=periodic, preconditioner=preconditioner, dtype=dtype,
              rtol=1e-5 if dtype == "float32" else 1e-7)
    cpu = tortuosity(img, **kw)
    gpu = tortuosity(img, device="cuda", return_field=True, **kw)
    assert gpu.device == "cuda" and gpu.converged
    assert gpu.tau == pytest.approx(cpu.tau, rel=1e-5 if dtype == "float32" else 1e-9)
    assert gpu.iterations == pytest.approx(cpu.iterations, abs=2)
    assert gpu.percolating_fraction == cpu.percolating_fraction
    assert gpu.field.shape == img.shape


def test_cuda_multiphase_axis_and_composite():
    rng = np.random.default_rng(4)
    ph = rng.integers(0, 4, size=(6, 7, 8)).astype(np.uint8)
    ph[ph == 0] = 2
    cond = {1: 1e-2, 2: 3e-3, 3: 5.0}
    cpu = transport_properties(ph, cond, axis=2, rtol=1e-8)
    gpu = transport_properties(ph, cond, axis=2, rtol=1e-8, device="cuda")
    for a, b in ((cpu.ionic, gpu.ionic), (cpu.electronic, gpu.electronic)):
        if math.isinf(a.tau):
            assert math.isinf(b.tau)
        else:
            assert b.tau == pytest.approx(a.tau, rel=1e-8)


def test_cuda_non_percolating():
    img = np.zeros((6, 6, 6), dtype=bool)
    img[:4, 2, 2] = True
    res = tortuosity(img, device="cuda")
    assert res.tau == math.inf and res.iterations == 0


def test_cuda_aggregation_kernels_match_cpu():
    """Block pieces, restriction and prolongation of the multigrid: simulator vs CPU."""
    from solvers.transport import _stencil, _stencil_cuda
    from solvers.transport._multigrid import _block_lut

    rng = np.random.default_rng(7)
    shape = (7, 6, 5)
    g = [rng.random((8, 6, 5)), rng.random(shape), rng.random(shape)]
    for a in g:
        a[rng.random(a.shape) < 0.45] = 0.0
    g[0][3, 2:4] = 0.0
    g[1][3, 2:4] = 0.0
    g[2][3, 2:4] = 0.0  # cells (3, 3, :) may lose every face
    lut = _block_lut()
    lab_cpu = np.empty(shape, dtype=np.int64)
    lab_gpu = np.empty(shape, dtype=np.int64)
    _stencil.block_labels(*g, lut, lab_cpu)
    _stencil_cuda.block_labels(*g, lut, lab_gpu)
    np.testing.assert_array_equal(lab_gpu, lab_cpu)
    keys = np.unique(lab_cpu[lab_cpu >= 0])
    agg = np.where(lab_cpu >= 0, np.searchsorted(keys, lab_cpu), -1).astype(np.int32)
    x, b = rng.random(shape), rng.random(shape)
    rc_cpu, rc_gpu = np.zeros(keys.size), np.zeros(keys.size)
    _stencil.residual_restrict_agg(*g, x, b, agg, rc_cpu)
    _stencil_cuda.residual_restrict_agg(*g, x, b, agg, rc_gpu)
    np.testing.assert_allclose(rc_gpu, rc_cpu, rtol=1e-12)
    xc = rng.random(keys.size)
    y_cpu, y_gpu = x.copy(), x.copy()
    _stencil.prolong_add_agg(y_cpu, xc, agg)
    _stencil_cuda.prolong_add_agg(y_gpu, xc, agg)
    np.testing.assert_array_equal(y_gpu, y_cpu)


@pytest.mark.parametrize("periodic", [False, True])
def test_cuda_high_contrast_composite_matches_cpu(periodic):
    """CAM-like spheres with carbon grains at 500:1 (the electronic network of a composite)."""
    z, y, x = np.indices((14, 13, 12))
    img = np.zeros((14, 13, 12), dtype=np.uint8)
    for c in ((3, 3, 3), (3, 9, 8), (9, 4, 8), (10, 9, 3), (7, 6, 6)):
        img[(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= 12] = 1
    img[::4, ::3, 1::5] = 3
    img[1::4, ::3, 1::5] = 3
    cond = {1: 1e-2, 3: 5.0}
    kw = dict(conductivity=cond, periodic_lateral=periodic, rtol=1e-9)
    cpu = tortuosity(img, **kw)
    gpu = tortuosity(img, device="cuda", **kw)
    assert cpu.converged and gpu.converged and math.isfinite(cpu.tau)
    assert gpu.effective_conductivity == pytest.approx(cpu.effective_conductivity, rel=1e-9)
    assert gpu.iterations == pytest.approx(cpu.iterations, abs=2)


@pytest.mark.parametrize(
    "shape,periodic", [((7, 6, 4), True), ((7, 5, 3), False), ((6, 5, 1), False)]
)
def test_cuda_stencil_kernels_match_cpu(shape, periodic):
    """Every kernel built from the shared bodies (solvers.transport._stencil_kernels):
    simulator vs CPU on random faces, with zero rows and lateral wrap (even lateral sizes when
    periodic: on odd ones red-black Gauss-Seidel is order-dependent by design)."""
    from solvers.transport import _stencil, _stencil_cuda

    rng = np.random.default_rng(11)
    n0, n1, n2 = shape
    g = [rng.random((n0 + 1, n1, n2)), rng.random(shape), rng.random(shape)]
    for a in g:
        a[rng.random(a.shape) < 0.3] = 0.0
    if not periodic:
        g[1][:, -1] = 0.0
        g[2][:, :, -1] = 0.0
    g[0][2:4, 1] = g[1][2, 0:2] = g[2][2, 1] = 0.0  # a cell without faces
    x, b = rng.random(shape), rng.random(shape)
    outs = {}
    for name, K in (("cpu", _stencil), ("gpu", _stencil_cuda)):
        y = np.zeros(shape)
        z = np.zeros(shape)
        s = (K.matvec_dot(*g, x, y), K.jacobi_dot(*g, x, z), K.energy(*g, x))
        w = x.copy()
        K.rbgs(*g, w, b, 0, True)
        K.rbgs(*g, w, b, 1, False)
        K.rbgs(*g, w, b, 0, False)
        cshape = tuple(-(-n // 2) if n > 1 else 1 for n in shape)
        fac = tuple(2 if n > 1 else 1 for n in shape)
        rc = np.zeros(cshape)
        K.residual_restrict(*g, x, b, rc, *fac)
        p = x.copy()
        K.prolong_add(p, rc, *fac)
        outs[name] = (s, y, z, w, rc, p)
    (s_c, *a_c), (s_g, *a_g) = outs["cpu"], outs["gpu"]
    np.testing.assert_allclose(s_g, s_c, rtol=1e-12)
    for u, v in zip(a_g, a_c, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("periodic", [False, True])
def test_cuda_face_coarsen_update_kernels_match_cpu(periodic):
    """Faces, coarsening and vector updates: simulator vs CPU (one source
    in ``_stencil_kernels``)."""
    from solvers.transport import _stencil, _stencil_cuda

    rng = np.random.default_rng(11)
    shape = (7, 6, 5)
    phase = rng.integers(0, 3, size=shape).astype(np.uint8)
    gtab = np.array([[0, 0, 0], [0, 1.0, 0.02], [0, 0.02, 0.01]])
    gdir = np.array([0, 2.0, 0.02])
    g_cpu = [np.zeros((8, 6, 5)), np.zeros(shape), np.zeros(shape)]
    g_gpu = [np.zeros((8, 6, 5)), np.zeros(shape), np.zeros(shape)]
    _stencil.build_faces(phase, gtab, gdir, periodic, periodic, *g_cpu)
    _stencil_cuda.build_faces(phase, gtab, gdir, periodic, periodic, *g_gpu)
    for a, b in zip(g_cpu, g_gpu, strict=True):
        np.testing.assert_array_equal(a, b)
    c_cpu = [np.zeros((5, 3, 3)), np.zeros((4, 3, 3)), np.zeros((4, 3, 3))]
    c_gpu = [np.zeros((5, 3, 3)), np.zeros((4, 3, 3)), np.zeros((4, 3, 3))]
    _stencil.coarsen(*g_cpu, 2, 2, 2, *c_cpu)
    _stencil_cuda.coarsen(*g_cpu, 2, 2, 2, *c_gpu)
    for a, b in zip(c_cpu, c_gpu, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-15)
    x, r, d, q, b = (rng.random(shape) for _ in range(5))
    x2, r2, d2 = x.copy(), r.copy(), d.copy()
    s1 = _stencil.update_xr(x, r, d, q, 0.3)
    s2 = _stencil_cuda.update_xr(x2, r2, d2, q, 0.3)
    np.testing.assert_allclose(x, x2, rtol=1e-13)
    np.testing.assert_allclose(r, r2, rtol=1e-13)  # FMA on one side
    assert s1 == pytest.approx(s2, rel=1e-12)
    _stencil.update_d(d, q, 0.7)
    _stencil_cuda.update_d(d2, q, 0.7)
    np.testing.assert_allclose(d, d2, rtol=1e-13)


@pytest.mark.parametrize("periodic", [False, True])
def test_cuda_contact_conductance_matches_cpu(periodic):
    """The contact weights (array glue only, on the device's array module) give the same tau."""
    from solvers import ContactConductance

    rng = np.random.default_rng(11)
    img = rng.random((8, 7, 6)) < 0.7
    labels = (rng.integers(1, 4, size=img.shape) * img).astype(np.int32)
    pairs = np.array([[1, 2], [2, 3], [1, 3]])
    cc = ContactConductance(labels, pairs, np.array([0.05, 0.2, 0.1]), 0.25)
    kw = dict(periodic_lateral=periodic, rtol=1e-10, contacts=cc)
    cpu = tortuosity(img, **kw)
    gpu = tortuosity(img, device="cuda", **kw)
    plain = tortuosity(img, periodic_lateral=periodic, rtol=1e-10, dtype="float64")
    assert cpu.contacts_weighted == gpu.contacts_weighted == 3
    assert cpu.tau > plain.tau                        # these contacts are narrower than a face
    assert gpu.tau == pytest.approx(cpu.tau, rel=1e-8)
    sub = slice(2, 7)                                 # the bulk, as the analysis solves it
    kw["contacts"] = cc.subvolume(sub)
    cpu_b, gpu_b = tortuosity(img[sub], **kw), tortuosity(img[sub], device="cuda", **kw)
    assert gpu_b.tau == pytest.approx(cpu_b.tau, rel=1e-8)
    assert gpu_b.contacts_weighted == cpu_b.contacts_weighted > 0
