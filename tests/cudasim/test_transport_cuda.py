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
    kw = dict(periodic_lateral=periodic, preconditioner=preconditioner, dtype=dtype, rtol=1e-7)
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
