"""The run-based CPU labeler on bit-packed rows, against scipy.ndimage.label.

Aimed at the places where the bit-level algorithm can go wrong: rows whose length is not a
multiple of 64, runs and diagonal contacts across 64-bit word boundaries, the seams between
slabs scanned in parallel, and non-boolean or non-contiguous input.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from solvers.labeling._label_runs import label_runs, neighbour_rows

STRUCTURE = {c: ndi.generate_binary_structure(3, r) for c, r in ((6, 1), (18, 2), (26, 3))}


def check(mask: np.ndarray, connectivity: int, **kw) -> None:
    ours, n = label_runs(mask, connectivity, **kw)
    ref, n_ref = ndi.label(mask, STRUCTURE[connectivity])
    assert ours.dtype == np.int32
    assert n == n_ref
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("connectivity", [6, 18, 26])
@pytest.mark.parametrize("nx", [1, 5, 63, 64, 65, 127, 128, 130, 200])
def test_row_lengths_across_word_boundaries(connectivity, nx):
    rng = np.random.default_rng(nx + connectivity)
    for p in (0.15, 0.3, 0.5, 0.7, 0.95):
        check(rng.random((6, 5, nx)) < p, connectivity)


@pytest.mark.parametrize("connectivity", [6, 18, 26])
@pytest.mark.parametrize("slabs", [1, 2, 3, 7, 50])
def test_slab_seams(connectivity, slabs):
    rng = np.random.default_rng(slabs)
    for p in (0.3, 0.6):
        check(rng.random((11, 9, 70)) < p, connectivity, slabs=slabs)


@pytest.mark.parametrize("connectivity", [6, 18, 26])
def test_diagonal_contact_at_word_boundary(connectivity):
    # one-voxel runs that touch only along edges or corners, across the bit 63 | 64 and
    # 127 | 128 word boundaries
    mask = np.zeros((2, 2, 130), dtype=bool)
    mask[0, 0, 63] = True
    mask[0, 1, 64] = True  # edge neighbour of (0, 0, 63), offset (0, 1, 1): 18 and 26
    mask[1, 0, 128] = True
    mask[0, 1, 127] = True  # corner neighbour of (1, 0, 128), offset (-1, 1, -1): 26 only
    lab, n = label_runs(mask, connectivity)
    assert n == {6: 4, 18: 3, 26: 2}[connectivity]
    check(mask, connectivity)


def test_empty_full_and_degenerate_shapes():
    for shape in [(1, 1, 1), (1, 1, 70), (70, 1, 1), (1, 70, 1), (3, 4, 1)]:
        for fill in (False, True):
            for c in (6, 18, 26):
                check(np.full(shape, fill), c)
    lab, n = label_runs(np.zeros((0, 4, 5), dtype=bool), 6)
    assert n == 0 and lab.shape == (0, 4, 5)


def test_integer_and_strided_input():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 3, (9, 8, 70)).astype(np.uint16)  # foreground = nonzero
    check(values, 6)
    big = rng.random((40, 50, 140)) < 0.35
    check(big[::2, 1:, ::3], 26)


def test_neighbour_rows():
    # (dz, dy, ext): 6 -> the face rows only, exact overlap; 26 -> four rows, all diagonal
    assert neighbour_rows(6).tolist() == [[0, -1, 0], [-1, 0, 0]]
    assert neighbour_rows(18).tolist() == [[0, -1, 1], [-1, -1, 0], [-1, 0, 1], [-1, 1, 0]]
    assert neighbour_rows(26).tolist() == [[0, -1, 1], [-1, -1, 1], [-1, 0, 1], [-1, 1, 1]]
