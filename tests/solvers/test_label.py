"""Labeling: differential tests (SciPy, cc3d, a brute-force graph), periodic wrap, errors."""

from __future__ import annotations

import cc3d
import numpy as np
import pytest
import scipy.ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import solvers
from solvers import label
from solvers.labeling._neighbors import neighbor_offsets

STRUCTURE = {c: ndi.generate_binary_structure(3, r) for c, r in ((6, 1), (18, 2), (26, 3))}


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two label images have the same background and the same components."""
    if not np.array_equal(a == 0, b == 0):
        return False
    fg = a != 0
    pairs = np.unique(np.stack([a[fg], b[fg]]), axis=1)
    # a bijection between the label sets: each label of a meets one label of b and vice versa
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def brute_force_labels(mask: np.ndarray, connectivity: int, periodic) -> tuple[np.ndarray, int]:
    """Reference labels from an explicit neighbour graph (scipy.sparse.csgraph)."""
    shape = np.array(mask.shape)
    idx = np.argwhere(mask)
    flat = np.full(mask.shape, -1, dtype=np.int64)
    flat[mask] = np.arange(len(idx))
    rows, cols = [], []
    for d in neighbor_offsets(connectivity, half=False):
        q = idx + d
        ok = np.ones(len(idx), dtype=bool)
        for a in range(3):
            out = (q[:, a] < 0) | (q[:, a] >= shape[a])
            if periodic[a]:
                q[:, a] %= shape[a]
            else:
                ok &= ~out
        q, src = q[ok], np.flatnonzero(ok)
        nb = flat[q[:, 0], q[:, 1], q[:, 2]]
        keep = nb >= 0
        rows.append(src[keep])
        cols.append(nb[keep])
    r, c = np.concatenate(rows), np.concatenate(cols)
    g = coo_matrix((np.ones(len(r)), (r, c)), shape=(len(idx), len(idx)))
    n, comp = connected_components(g, directed=False)
    out = np.zeros(mask.shape, dtype=np.int64)
    out[mask] = comp + 1
    return out, n


@pytest.mark.parametrize("connectivity", [6, 18, 26])
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_matches_scipy_exactly(connectivity, p):
    mask = np.random.default_rng(int(p * 100) + connectivity).random((23, 17, 31)) < p
    ours, n = label(mask, connectivity=connectivity)
    ref, n_ref = ndi.label(mask, STRUCTURE[connectivity])
    assert ours.dtype == np.int32
    assert n == n_ref
    assert same_partition(ours, ref)
    # both number components by first voxel in C order, so the labels are identical
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("connectivity", [6, 18, 26])
def test_matches_cc3d_and_skimage_on_blobs(connectivity):
    rng = np.random.default_rng(7)
    mask = ndi.gaussian_filter(rng.random((40, 40, 40)), 2.0) > 0.5
    ours, n = label(mask, connectivity=connectivity)
    ref, n_ref = cc3d.connected_components(mask, connectivity=connectivity, return_N=True)
    assert n == n_ref > 1
    assert same_partition(ours, ref)


@pytest.mark.parametrize("p", [0.2, 0.35, 0.6])
def test_full_periodic_matches_cc3d(p):
    mask = np.random.default_rng(3).random((15, 12, 18)) < p
    ours, n = label(mask, connectivity=6, periodic=True)
    ref, n_ref = cc3d.connected_components(
        mask, connectivity=6, return_N=True, periodic_boundary=True
    )
    assert n == n_ref
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("connectivity", [6, 18, 26])
@pytest.mark.parametrize(
    "periodic",
    [(True, False, False), (False, True, True), (True, True, True), (False, False, True)],
)
@pytest.mark.parametrize("shape", [(9, 11, 10), (1, 7, 6), (2, 5, 3)])
def test_periodic_per_axis_matches_graph_reference(connectivity, periodic, shape):
    rng = np.random.default_rng(sum(shape) + connectivity)
    for p in (0.15, 0.3, 0.55):
        mask = rng.random(shape) < p
        ours, n = label(mask, connectivity=connectivity, periodic=periodic)
        ref, n_ref = brute_force_labels(mask, connectivity, periodic)
        assert n == n_ref
        assert same_partition(ours, ref)


def test_labels_ordered_by_first_voxel():
    mask = np.random.default_rng(11).random((12, 12, 12)) < 0.25
    lab, n = label(mask, connectivity=6, periodic=(False, True, True))
    flat = lab.ravel()
    _, first = np.unique(flat, return_index=True)
    order = flat[np.sort(first)]
    np.testing.assert_array_equal(order[order > 0], np.arange(1, n + 1))


def test_periodic_wrap_joins_only_the_axes_asked_for():
    mask = np.zeros((5, 5, 5), dtype=bool)
    mask[2, 2, 0] = mask[2, 2, 4] = True  # opposite x faces
    mask[0, 0, 2] = mask[4, 0, 2] = True  # opposite z faces
    assert label(mask)[1] == 4
    assert label(mask, periodic=(False, False, True))[1] == 3
    assert label(mask, periodic=(True, False, False))[1] == 3
    assert label(mask, periodic=(True, True, True))[1] == 2
    # edge-diagonal wrap: (0, 0, 2) and (4, 1, 2) meet through the z face only with 18/26
    mask2 = np.zeros((5, 5, 5), dtype=bool)
    mask2[0, 0, 2] = mask2[4, 1, 2] = True
    assert label(mask2, periodic=(True, False, False), connectivity=6)[1] == 2
    assert label(mask2, periodic=(True, False, False), connectivity=18)[1] == 1
    # corner wrap across two periodic faces at once: 26 only
    mask3 = np.zeros((4, 4, 4), dtype=bool)
    mask3[0, 0, 0] = mask3[3, 3, 3] = True
    assert label(mask3, periodic=True, connectivity=18)[1] == 2
    assert label(mask3, periodic=True, connectivity=26)[1] == 1
    assert label(mask3, periodic=(True, True, False), connectivity=26)[1] == 2


def test_integer_masks_empty_and_full():
    m = np.zeros((4, 5, 6), dtype=np.uint8)
    lab, n = label(m)
    assert n == 0 and lab.shape == m.shape and not lab.any()
    m[:] = 7
    lab, n = label(m, periodic=True)
    assert n == 1 and (lab == 1).all()
    lab, n = label(np.zeros((0, 3, 3), dtype=bool))
    assert n == 0 and lab.shape == (0, 3, 3)


def test_input_not_modified_and_any_memory_order():
    mask = np.random.default_rng(5).random((10, 11, 12)) < 0.4
    keep = mask.copy()
    f = np.asfortranarray(mask)
    lab, _ = label(f, connectivity=26)
    np.testing.assert_array_equal(mask, keep)
    np.testing.assert_array_equal(lab, label(mask, connectivity=26)[0])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"mask": np.zeros((4, 4), bool)}, ValueError, "3-D"),
        ({"mask": [[[True]]]}, TypeError, "3-D array"),
        ({"mask": np.zeros((3, 3, 3), float)}, TypeError, "boolean or integer"),
        ({"connectivity": 4}, ValueError, "6, 18 or 26, got 4"),
        ({"connectivity": True}, ValueError, "6, 18 or 26"),
        ({"periodic": (True, False)}, TypeError, "tuple of 3 bools"),
        ({"periodic": "yes"}, TypeError, "periodic"),
        ({"device": "gpu"}, ValueError, "'cpu' or 'cuda', got 'gpu'"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = {"mask": np.zeros((3, 3, 3), bool), **kwargs}
    mask = args.pop("mask")
    with pytest.raises(exc, match=match):
        label(mask, **args)


def test_public_exports():
    for name in (
        "label",
        "connected_to_face",
        "percolates",
        "cam_utilization",
        "UtilizationResult",
    ):
        assert name in solvers.__all__
        assert hasattr(solvers, name)


@pytest.mark.gpu
@pytest.mark.parametrize("connectivity", [6, 26])
def test_gpu_labels_identical_to_cpu(connectivity):
    import cupy

    rng = np.random.default_rng(0)
    for p, periodic in ((0.3, (False, True, True)), (0.5, (False, False, False))):
        mask = rng.random((96, 80, 64)) < p
        g, ng = label(
            cupy.asarray(mask), connectivity=connectivity, periodic=periodic, device="cuda"
        )
        c, nc = label(mask, connectivity=connectivity, periodic=periodic)
        assert isinstance(g, cupy.ndarray) and g.dtype == cupy.int32
        assert ng == nc
        np.testing.assert_array_equal(g.get(), c)
