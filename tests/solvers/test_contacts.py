"""Sub-voxel contact conductance (solvers.transport._contacts): analytic lattice checks."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from solvers import ContactConductance, tortuosity
from solvers.transport._contacts import (
    MAX_WEIGHT,
    MIN_RADIUS_VOXELS,
    contact_weights,
    lattice_constriction,
)


def _two_blocks(neck: list[tuple[int, int]], m: int = 6, w: int = 8):
    """Two blocks (labels 1 and 2) along axis 0, separated by a pore layer except for neck
    cells (label 1) at the given (y, z): every 1|2 face is a neck face."""
    img = np.ones((2 * m + 1, w, w), dtype=bool)
    img[m] = False
    labels = np.zeros(img.shape, dtype=np.int32)
    labels[:m] = 1
    labels[m + 1:] = 2
    for y, z in neck:
        img[m, y, z] = True
        labels[m, y, z] = 1
    return img, labels


def _resistance(res, shape):
    """1 / conductance of the volume in units of 1 / (sigma h) (unit conductivity, voxel)."""
    n0, n1, n2 = shape
    return n0 / (res.effective_conductivity * n1 * n2)


@pytest.mark.parametrize("neck,radius_vox", [([(3, 3)], 0.3), ([(3, 3), (3, 4), (4, 3), (4, 4)],
                                                                 0.5)])
def test_weight_adds_the_exact_series_resistance(neck, radius_vox):
    """A neck of n faces carrying all the current: the weight adds (1/w - 1)/n exactly."""
    img, labels = _two_blocks(neck)
    n = len(neck)
    cc = ContactConductance(labels, np.array([[1, 2]]), np.array([radius_vox * 0.5]), 0.5)
    plain = tortuosity(img, rtol=1e-12, dtype="float64")
    weighted = tortuosity(img, rtol=1e-12, contacts=cc)
    w = contact_weights(np.array([[n, 0, 0]]), np.array([radius_vox]))[0]
    added = _resistance(weighted, img.shape) - _resistance(plain, img.shape)
    assert weighted.contacts_weighted == 1 and plain.contacts_weighted == 0
    assert added == pytest.approx((1 / w - 1) / n, rel=1e-8)


def test_weight_gives_the_continuum_constriction():
    """S(n) + 1/(w n) = h / (2 a): the grid contact resists like the contact circle."""
    counts = np.array([[1, 0, 0], [4, 0, 0], [0, 9, 0], [30, 0, 7]])
    a = np.array([0.3, 0.4, 1.2, 1.5])
    w = contact_weights(counts, a)
    n = np.sqrt((counts.astype(float) ** 2).sum(1))
    r = lattice_constriction(n) + (1 / w - 1) / counts.sum(1)
    np.testing.assert_allclose(r, 1 / (2 * a), rtol=1e-12)
    # one face resists a little more than a 0.3-voxel contact (lattice 1.686 vs 1 / 0.6);
    # the larger apertures are drawn wider than their contacts and lose conductance
    assert w[0] == pytest.approx(1.02, abs=0.01) and np.all(w[1:] < 1)


def test_staircase_spreads_as_its_projected_area_and_weights_all_its_faces():
    """A tilted contact's faces along several axes spread like |(n0, n1, n2)| faces, and the
    weight adds (1/w - 1) / (n0 + n1 + n2): the faces carry the current side by side."""
    w = contact_weights(np.array([[3, 4, 0]]), np.array([0.4]))[0]
    assert lattice_constriction(5.0) + (1 / w - 1) / 7 == pytest.approx(1 / 0.8, rel=1e-12)
    flat = contact_weights(np.array([[5, 0, 0]]), np.array([0.4]))[0]
    assert w < flat                      # 7 faces side by side carry what 5 flat ones do


def _column(normal, rho, radius_vox=None):
    """``column`` of ``benchmarks/tilted_contacts.py`` (loaded from its file, so the benchmark
    cannot rot), 40 x 16 x 16: a plane through the column's centre with ``normal`` insulates but
    for the aperture within ``rho`` voxels of its axis (weighted as a contact of ``radius_vox``
    when given).  Returns the resistance above the open column's (units 1 / (sigma h)) and the
    aperture's faces per axis."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "tilted_contacts.py"
    spec = importlib.util.spec_from_file_location("tilted_contacts", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench.column(normal, rho, 16, radius_vox, length=40)


@pytest.mark.parametrize("normal", [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 1, 0)])
def test_a_tilted_contact_resists_as_its_circle(normal):
    """A flat or tilted staircase aperture of 4-12 faces weighted for a 0.3-voxel contact adds
    what the formula means it to: 1 / (2 a) - R_lat(n) on top of the unit-weight aperture, whose
    own resistance is 70-100 % of R_lat(|counts|) (the narrow column takes some off). The
    weights of 0.12 and before, made for |counts| faces, added 25-40 % too little here."""
    base, counts = _column(normal, 1.8)
    weighted, again = _column(normal, 1.8, radius_vox=0.3)
    n = float(np.sqrt((counts.astype(float) ** 2).sum()))
    assert (again == counts).all() and n >= 4
    assert 0.7 < base / float(lattice_constriction(n)) < 1.0
    intended = 1 / 0.6 - float(lattice_constriction(n))
    assert weighted - base == pytest.approx(intended, rel=0.02)


def test_weight_limits():
    w = contact_weights(np.array([[1, 0, 0], [0, 0, 0]]), np.array([50.0, 0.2]))
    assert w[0] == MAX_WEIGHT                  # the grid draws it far smaller than it is
    assert w[1] == 1.0                         # not drawn: unused


def test_a_tangent_contact_conducts_next_to_nothing():
    """Area 0 in a contact graph (spheres touching within float precision): the radius floor."""
    w0 = contact_weights(np.array([[1, 0, 0]]), np.array([0.0]))[0]
    assert w0 == contact_weights(np.array([[1, 0, 0]]), np.array([MIN_RADIUS_VOXELS]))[0]
    assert 0 < w0 < 3e-3
    img, labels = _two_blocks([(3, 3)])
    res = tortuosity(img, rtol=1e-10, contacts=ContactConductance(
        labels, np.array([[1, 2]]), np.array([0.0]), 0.5))
    assert res.converged and math.isfinite(res.tau) and res.tau > 1e3


def test_lattice_constriction_table():
    # one face: 1.90 x a disc of its area; large apertures approach the continuum
    assert float(lattice_constriction(1)) == pytest.approx(1.6864, abs=1e-4)
    big = float(lattice_constriction(193))
    assert 1.0 < big * 2 * math.sqrt(193 / math.pi) < 1.06


def test_faces_of_other_pairs_and_the_wrap_face():
    """Only the listed pair's faces change; a contact across the periodic side counts."""
    img = np.ones((6, 4, 6), dtype=bool)
    labels = np.zeros(img.shape, dtype=np.int32)
    labels[:, :, :3] = 1
    labels[:, :, 3:] = 2                       # 1|2 faces at z = 2|3 and across the wrap 5|0
    plain = tortuosity(img, periodic_lateral=True, rtol=1e-12, dtype="float64")
    other = ContactConductance(labels, np.array([[3, 4]]), np.array([0.1]), 1.0)
    same = tortuosity(img, periodic_lateral=True, rtol=1e-12, contacts=other)
    assert same.tau == pytest.approx(plain.tau, rel=1e-10) and same.contacts_weighted == 0
    from solvers.transport import _contacts, _steps

    ops = []
    real = _steps.build_operator

    def spy(*a, **k):
        ops.append(real(*a, **k))
        return ops[-1]

    cc = ContactConductance(labels, np.array([[2, 1]]), np.array([0.1]), 1.0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("solvers.transport._tortuosity.build_operator", spy)
        tortuosity(img, periodic_lateral=True, rtol=1e-12, contacts=cc)
    gz = ops[0].gz
    w = contact_weights(np.array([[0, 0, 2 * 6 * 4]]), np.array([0.1]))[0]
    assert w < 1
    np.testing.assert_allclose(gz[:, :, 2], w)     # z = 2|3
    np.testing.assert_allclose(gz[:, :, 5], w)     # the wrap face 5|0
    np.testing.assert_allclose(gz[:, :, [0, 1, 3, 4]], 1.0)
    assert _contacts.MAX_WEIGHT > 1


def test_bad_contacts_are_named():
    img = np.ones((4, 4, 4), dtype=bool)
    labels = np.ones((4, 4, 4), dtype=np.int32)
    with pytest.raises(ValueError, match="pairs must be an"):
        ContactConductance(labels, np.array([1, 2]), np.array([0.1]), 1.0)
    with pytest.raises(ValueError, match="radius_um must have one entry per pair"):
        ContactConductance(labels, np.array([[1, 2]]), np.array([0.1, 0.2]), 1.0)
    with pytest.raises(ValueError, match="radius_um must be finite and >= 0"):
        ContactConductance(labels, np.array([[1, 2]]), np.array([-0.1]), 1.0)
    with pytest.raises(ValueError, match="labels must be a 3-D integer array"):
        ContactConductance(labels.astype(float), np.array([[1, 2]]), np.array([0.1]), 1.0)
    with pytest.raises(ValueError, match="voxel_size_um"):
        ContactConductance(labels, np.array([[1, 2]]), np.array([0.1]), -1.0)
    cc = ContactConductance(labels[:3], np.array([[1, 2]]), np.array([0.1]), 1.0)
    with pytest.raises(ValueError, match=r"contacts.labels has shape \(3, 4, 4\)"):
        tortuosity(img, contacts=cc)
    with pytest.raises(TypeError, match="contacts must be a ContactConductance"):
        tortuosity(img, contacts={"labels": labels})
    twice = ContactConductance(labels * np.arange(1, 5)[:, None, None], np.array([[1, 2], [2, 1]]),
                               np.array([0.1, 0.1]), 1.0)
    with pytest.raises(ValueError, match="pairs lists a contact twice"):
        tortuosity(img, contacts=twice)


def test_subvolume_keeps_the_contacts_it_holds():
    """A sub-volume solve with cc.subvolume(sl) is the solve of the cropped image with the
    same contacts; contacts cut away draw nothing; only slices are taken."""
    img, labels = _two_blocks([(3, 3), (3, 4)])
    cc = ContactConductance(labels, np.array([[1, 2]]), np.array([0.2]), 1.0)
    sl = slice(2, 11)
    sub = tortuosity(img[sl], rtol=1e-12, contacts=cc.subvolume(sl))
    direct = tortuosity(img[sl], rtol=1e-12, contacts=ContactConductance(
        labels[sl].copy(), cc.pairs, cc.radius_um, cc.voxel_size_um))
    assert sub.contacts_weighted == 1 and sub.tau == pytest.approx(direct.tau, rel=1e-12)
    assert sub.tau > 1.5 * tortuosity(img[sl], rtol=1e-12).tau
    one_side = cc.subvolume((slice(0, 5), slice(None), slice(None)))
    assert one_side.labels.shape == (5, 8, 8)
    assert tortuosity(img[:5], contacts=one_side).contacts_weighted == 0
    for bad in (3, (slice(0, 2), 1), (), "0:5"):
        with pytest.raises(TypeError, match="index must be a slice"):
            cc.subvolume(bad)
    for bad in (slice(0, 10, 2), (slice(None), slice(None, None, -1))):
        with pytest.raises(ValueError, match="slices with step 1"):
            cc.subvolume(bad)


def test_contacts_of_another_image_are_refused():
    from solvers import transport_properties

    ph = np.ones((6, 3, 3), dtype=np.uint8)
    labels = np.ones((6, 3, 3), dtype=np.int32)
    labels[3:] = 2
    cc = ContactConductance(labels, np.array([[1, 2]]), np.array([0.05]), 0.25)
    with pytest.raises(ValueError, match="electronic_contacts.voxel_size_um is 0.25 µm but "
                                         "voxel_size_um is 0.5 µm"):
        transport_properties(ph, {1: 1.0}, voxel_size_um=0.5, electronic_contacts=cc)
    assert transport_properties(ph, {1: 1.0}, voxel_size_um=0.25,
                                electronic_contacts=cc).electronic.contacts_weighted == 1
    with pytest.raises(ValueError, match="labels must be >= 0"):
        ContactConductance(-labels, np.array([[1, 2]]), np.array([0.05]), 0.25)
    with pytest.raises(ValueError, match="pairs must hold particle labels >= 1"):
        ContactConductance(labels, np.array([[0, 2]]), np.array([0.05]), 0.25)


def test_repr_names_the_sizes_not_the_arrays():
    labels = np.ones((40, 30, 30), dtype=np.int32)
    cc = ContactConductance(labels, np.array([[1, 2], [2, 3]]), np.array([0.1, 0.2]), 0.25)
    assert repr(cc) == ("ContactConductance(labels shape (40, 30, 30), 2 contacts, "
                        "voxel_size_um=0.25)")
