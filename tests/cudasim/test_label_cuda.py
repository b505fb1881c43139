"""numba-cuda labeling kernels in the CUDA simulator: same labels as the CPU path.

Small volumes only: every simulated thread is a Python thread.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from solvers import connected_to_face, label, percolates
from solvers.device import cuda_simulated

STRUCTURE = {c: ndi.generate_binary_structure(3, r) for c, r in ((6, 1), (18, 2), (26, 3))}


def test_simulator_is_on():
    assert cuda_simulated()


@pytest.mark.parametrize(
    ("connectivity", "p", "periodic"),
    [
        (6, 0.25, (False, False, False)),
        (6, 0.45, (False, True, True)),
        (6, 0.7, (True, True, True)),
        (18, 0.15, (False, False, False)),
        (18, 0.3, (True, False, True)),
        (26, 0.1, (False, True, True)),
        (26, 0.5, (False, False, False)),
    ],
)
def test_same_labels_as_cpu(connectivity, p, periodic):
    rng = np.random.default_rng(int(100 * p) + connectivity)
    for density in (p, p + 0.15):
        mask = rng.random((12, 11, 13)) < density
        g, ng = label(mask, connectivity=connectivity, periodic=periodic, device="cuda")
        c, nc = label(mask, connectivity=connectivity, periodic=periodic)
        assert g.dtype == np.int32 and g.shape == mask.shape
        assert ng == nc
        np.testing.assert_array_equal(g, c)  # identical, not only the same partition
        if not any(periodic):
            ref, nref = ndi.label(mask, STRUCTURE[connectivity])
            assert ng == nref
            np.testing.assert_array_equal(g, ref)


@pytest.mark.parametrize("connectivity", [6, 18, 26])
def test_periodic_wrap_hand_cases(connectivity):
    m = np.zeros((4, 4, 4), dtype=bool)
    m[0, 0, 0] = m[3, 3, 3] = True  # corner to corner: joined only by 26 with all axes wrapped
    m[1, 2, 0] = m[1, 2, 3] = True  # opposite x faces: joined by any wrap along x
    for periodic in ((False, False, False), (False, False, True), (True, True, True)):
        g, ng = label(m, connectivity=connectivity, periodic=periodic, device="cuda")
        c, nc = label(m, connectivity=connectivity, periodic=periodic)
        assert ng == nc
        np.testing.assert_array_equal(g, c)
    assert label(m, connectivity=connectivity, periodic=True, device="cuda")[1] == (
        2 if connectivity == 26 else 3
    )


def test_integer_mask_and_empty():
    m = np.zeros((3, 4, 5), dtype=np.int16)
    g, n = label(m, device="cuda")
    assert n == 0 and not g.any()
    m[1, 1:3, :] = 9
    g, n = label(m, device="cuda")
    assert n == 1 and (g == (m != 0)).all()


def test_face_connectivity_and_percolation_match_cpu():
    mask = np.random.default_rng(5).random((10, 9, 9)) < 0.4
    for side in (0, -1):
        np.testing.assert_array_equal(
            connected_to_face(mask, side=side, periodic=(False, True, True), device="cuda"),
            connected_to_face(mask, side=side, periodic=(False, True, True)),
        )
    col = np.zeros((6, 3, 3), dtype=bool)
    col[:, 1, 1] = True
    assert percolates(col, device="cuda")
    col[2, 1, 1] = False
    assert not percolates(col, device="cuda")


def test_bad_input_raises_before_launch():
    with pytest.raises(ValueError, match="6, 18 or 26, got 4"):
        label(np.ones((3, 3, 3), bool), connectivity=4, device="cuda")
    with pytest.raises(TypeError, match="boolean or integer"):
        label(np.ones((3, 3, 3)), device="cuda")
