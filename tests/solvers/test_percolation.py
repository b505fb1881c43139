"""Face connectivity and percolation: site percolation statistics, hand cases, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from solvers import connected_to_face, percolates
from solvers.labeling._percolation import fold_flags, label_face_hits

L = 48
SEEDS = range(30)


def spanning_probability(p: float, connectivity: int, size: int = L) -> float:
    hits = [
        percolates(np.random.default_rng(s).random((size,) * 3) < p, connectivity=connectivity)
        for s in SEEDS
    ]
    return float(np.mean(hits))


@pytest.mark.parametrize(
    ("connectivity", "p_below", "p_above"),
    # p_c = 0.3116 (6), 0.1372 (18), 0.0976 (26) for simple-cubic site percolation
    [(6, 0.28, 0.34), (18, 0.115, 0.16), (26, 0.08, 0.115)],
)
def test_site_percolation_threshold(connectivity, p_below, p_above):
    below = spanning_probability(p_below, connectivity)
    above = spanning_probability(p_above, connectivity)
    assert below <= 0.2, f"P_span({p_below}) = {below}, expected clearly below 1/2"
    assert above >= 0.8, f"P_span({p_above}) = {above}, expected clearly above 1/2"


def test_connected_to_face_matches_scipy_reference():
    rng = np.random.default_rng(1)
    mask = rng.random((20, 18, 16)) < 0.35
    ref_lab, _ = ndi.label(mask)
    for axis in range(3):
        for side in (0, -1):
            face = np.take(ref_lab, side, axis=axis)
            ids = np.setdiff1d(np.unique(face), [0])
            expected = np.isin(ref_lab, ids)
            got = connected_to_face(mask, axis=axis, side=side)
            assert got.dtype == bool
            np.testing.assert_array_equal(got, expected)


def test_percolates_agrees_with_faces():
    rng = np.random.default_rng(2)
    for p in (0.25, 0.3, 0.35):
        for _ in range(5):
            mask = rng.random((24, 24, 24)) < p
            both = connected_to_face(mask, side=0) & connected_to_face(mask, side=-1)
            assert percolates(mask) == bool(both.any())


def test_hand_cases_and_lateral_wrap():
    m = np.zeros((6, 5, 5), dtype=bool)
    m[:, 2, 2] = True
    assert percolates(m)
    assert not percolates(m, axis=1)
    m[3, 2, 2] = False
    assert not percolates(m)
    # a staircase that spans only when x wraps: column up to z=2 at x=4, then from x=0 on
    w = np.zeros((6, 3, 5), dtype=bool)
    w[:3, 1, 4] = True
    w[2:, 1, 0] = True
    assert not percolates(w)
    assert percolates(w, periodic=(False, False, True))
    assert not percolates(w, periodic=(False, True, False))
    face = connected_to_face(w, side=-1, periodic=(False, False, True))
    np.testing.assert_array_equal(face, w)


def test_empty_and_diagonal_connectivity():
    assert not percolates(np.zeros((4, 4, 4), bool))
    d = np.zeros((4, 4, 4), dtype=bool)
    for z in range(4):
        d[z, z, 1] = True  # edge-diagonal staircase
    assert not percolates(d, connectivity=6)
    assert percolates(d, connectivity=18)
    assert percolates(d, connectivity=26)


@pytest.mark.parametrize(
    ("func", "kwargs", "exc", "match"),
    [
        (connected_to_face, {"side": 1}, ValueError, "side must be 0 .* or -1 .*got 1"),
        (connected_to_face, {"axis": 3}, ValueError, "axis must be in"),
        (connected_to_face, {"axis": 1.0}, TypeError, "axis must be an integer"),
        (connected_to_face, {"periodic": (True, False, False)}, ValueError, "False along axis=0"),
        (percolates, {"axis": 2, "periodic": True}, ValueError, "False along axis=2"),
        (percolates, {"connectivity": 8}, ValueError, "6, 18 or 26, got 8"),
        (percolates, {"device": "tpu"}, ValueError, "device"),
    ],
)
def test_bad_input(func, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        func(np.ones((3, 3, 3), bool), **kwargs)


def test_empty_axis_has_no_faces():
    with pytest.raises(ValueError, match="no voxels along axis=0"):
        percolates(np.ones((0, 3, 3), bool))
    assert connected_to_face(np.ones((3, 0, 3), bool), axis=0).shape == (3, 0, 3)


def test_fold_flags_spreads_a_flag_over_merged_labels():
    table = np.array([0, 1, 1, 2])  # raw labels 1 and 2 are one component after the wrap
    np.testing.assert_array_equal(
        fold_flags(np.array([False, False, True, False]), table, 2), [False, True, True, False]
    )
    raw = np.array([False, True])
    assert fold_flags(raw, None, 1) is raw  # nothing merged: flags unchanged


def test_label_face_hits_staircase_spans_only_with_wrap():
    # the staircase of test_hand_cases_and_lateral_wrap: two raw components joined by x wrap
    w = np.zeros((6, 3, 5), dtype=bool)
    w[:3, 1, 4] = True
    w[2:, 1, 0] = True
    kw = {"axis": 0, "connectivity": 6, "device": "cpu"}
    off = label_face_hits(w, periodic=(False, False, False), **kw)
    on = label_face_hits(w, periodic=(False, False, True), **kw)
    assert (off.n, off.spans()) == (2, False)
    assert (on.n, on.spans()) == (1, True)
    assert np.unique(on.labels[w]).size == 2  # raw labels kept (no remap) ...
    assert on.first[on.labels[w]].all() and on.last[on.labels[w]].all()  # ... flags folded


@pytest.mark.parametrize("connectivity", [6, 26])
def test_label_face_hits_matches_connected_to_face(connectivity):
    rng = np.random.default_rng(connectivity)
    for axis in range(3):
        mask = rng.random((14, 12, 10)) < 0.3
        per = tuple(a != axis for a in range(3))
        h = label_face_hits(mask, axis=axis, connectivity=connectivity, periodic=per, device="cpu")
        kw = {"axis": axis, "connectivity": connectivity, "periodic": per}
        np.testing.assert_array_equal(h.first[h.labels], connected_to_face(mask, side=0, **kw))
        np.testing.assert_array_equal(h.last[h.labels], connected_to_face(mask, side=-1, **kw))
        assert h.spans() == percolates(mask, **kw)
