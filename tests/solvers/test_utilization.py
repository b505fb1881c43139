"""Static CAM utilization: hand-built fixtures for each class, invariants, backends, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from solvers import UtilizationResult, cam_utilization
from solvers.utilization._particle_sums import particle_sums_cpu, particle_sums_xp

PORE, CAM, SE, C = 0, 1, 2, 3


def ball(shape, center, radius):
    z, y, x = np.indices(shape)
    cz, cy, cx = center
    return (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= radius**2


def ids_from(phases, *particles):
    ids = np.zeros(phases.shape, dtype=np.int32)
    for k, m in enumerate(particles, start=1):
        ids[m] = k
    return ids


def composite(n=24, seed=0, phi_cam=0.45, radius=3):
    """Random overlapping-free CAM spheres in a random SE / carbon / pore background."""
    rng = np.random.default_rng(seed)
    u = rng.random((n, n, n))
    phases = np.where(u < 0.7, SE, np.where(u < 0.76, C, PORE)).astype(np.uint8)
    ids = np.zeros((n, n, n), dtype=np.int32)
    k = 0
    while (ids > 0).mean() < phi_cam:
        k += 1
        m = ball((n, n, n), rng.integers(0, n, 3), radius) & (ids == 0)
        ids[m] = k
        phases[m] = CAM
    return phases, ids


def test_sphere_in_se_away_from_collector_is_electronically_isolated():
    shape = (16, 12, 12)
    phases = np.full(shape, SE, dtype=np.uint8)
    p = ball(shape, (9, 6, 6), 3)
    phases[p] = CAM
    r = cam_utilization(phases, ids_from(phases, p))
    assert r.reason == ""
    assert r.particles.electronic.tolist() == [False]
    assert r.particles.ionic.tolist() == [True]
    assert r.static_utilization == 0.0
    assert r.electronically_isolated == 1.0 and r.ionically_isolated == 0.0
    assert not r.electronic_percolates and r.ionic_percolates


def test_particle_in_pore_without_neighbours_is_isolated_both():
    shape = (16, 12, 12)
    phases = np.full(shape, SE, dtype=np.uint8)
    phases[ball(shape, (8, 6, 6), 4)] = PORE
    p = ball(shape, (8, 6, 6), 2)
    phases[p] = CAM
    r = cam_utilization(phases, ids_from(phases, p))
    assert r.particles.electronic.tolist() == [False]
    assert r.particles.ionic.tolist() == [False]
    assert r.isolated_both == 1.0
    assert r.particles.cam_se_contact_faces.tolist() == [0]


def test_chain_touching_collector_with_se_contact_is_active():
    shape = (16, 8, 8)
    phases = np.full(shape, SE, dtype=np.uint8)
    parts = []
    for k, zc in enumerate((1, 5, 9)):
        m = ball(shape, (zc, 4, 4), 2) & (phases == SE)
        if k == 0:
            m |= (np.indices(shape)[0] == 0) & ball(shape, (0, 4, 4), 1)
        phases[m] = CAM
        parts.append(m)
    r = cam_utilization(phases, ids_from(phases, *parts))
    assert r.particles.active.tolist() == [True, True, True]
    assert r.static_utilization == 1.0 and r.static_utilization_by_count == 1.0
    assert r.electronically_isolated == r.ionically_isolated == r.isolated_both == 0.0
    assert (r.particles.ionic_network_contact_faces > 0).all()


def test_cam_on_the_separator_face_touches_the_separator():
    # a CAM column from the collector to the separator in pore: no SE voxel anywhere, yet it
    # is pressed against the separator (a pure SE layer), so it is active
    shape = (8, 5, 5)
    phases = np.full(shape, PORE, dtype=np.uint8)
    col = np.zeros(shape, bool)
    col[:, 2, 2] = True
    short = np.zeros(shape, bool)
    short[:-1, 0, 0] = True  # stops one layer short of the separator
    phases[col | short] = CAM
    ids = ids_from(phases, col, short)
    r = cam_utilization(phases, ids)
    assert r.particles.active.tolist() == [True, False] and r.separator_contact
    assert r.particles.ionic_network_contact_faces.tolist() == [1, 0]
    assert r.particles.cam_se_contact_faces.tolist() == [1, 0]
    assert not r.ionic_percolates  # the composite itself has no SE
    off = cam_utilization(phases, ids, separator_contact=False)
    assert off.particles.active.tolist() == [False, False] and not off.separator_contact
    # the rule follows the through-plane axis
    t = cam_utilization(np.moveaxis(phases, 0, 2), np.moveaxis(ids, 0, 2), axis=2)
    assert t.particles.active.tolist() == [True, False]
    # and relays like any own contact: a CAM neighbour of the column, off the separator face
    side = np.zeros(shape, bool)
    side[3:5, 2, 3] = True
    phases[side] = CAM
    ids = ids_from(phases, col, short, side)
    assert cam_utilization(phases, ids, rule="cam_relay").particles.ionic.tolist() == [
        True, False, True]


def relay_fixture():
    """Particle 1 touches the collector and has no SE contact; particle 2 touches it and SE."""
    shape = (10, 6, 6)
    phases = np.full(shape, PORE, dtype=np.uint8)
    phases[6:, :, :] = SE  # separator-side electrolyte
    a = np.zeros(shape, bool)
    a[0:4, 2:4, 2:4] = True  # from the collector, surrounded by pore
    b = np.zeros(shape, bool)
    b[4:7, 2:4, 2:4] = True  # touches a below and the SE above
    phases[a | b] = CAM
    return phases, ids_from(phases, a, b)


def test_relay_particle_inactive_under_strict_active_under_cam_relay():
    phases, ids = relay_fixture()
    strict = cam_utilization(phases, ids, rule="strict")
    relay = cam_utilization(phases, ids, rule="cam_relay")
    assert strict.particles.electronic.tolist() == [True, True]
    assert strict.particles.ionic_contact.tolist() == [False, True]
    assert strict.particles.active.tolist() == [False, True]
    assert relay.particles.ionic_contact.tolist() == [False, True]
    assert relay.particles.active.tolist() == [True, True]
    assert strict.static_utilization == pytest.approx(12 / 28)
    assert relay.static_utilization == 1.0
    # relay does not add interface: particle 1 still has no face with the ionic network
    assert relay.active_interface_area_per_volume == strict.active_interface_area_per_volume


def test_relay_needs_touching_cam():
    phases, ids = relay_fixture()
    phases[4, 2:4, 2:4] = PORE  # cut the contact between the two particles
    ids[4] = 0
    r = cam_utilization(phases, ids, rule="cam_relay")
    assert r.particles.electronic.tolist() == [True, False]  # b had its electrons through a
    phases[0:6, 1, 2] = C  # a carbon wire from the collector to b (touching a, not CAM)
    r = cam_utilization(phases, ids, rule="cam_relay")
    assert r.particles.electronic.tolist() == [True, True]
    assert r.particles.active.tolist() == [False, True]


def test_lateral_wrap_joins_networks_but_never_through_plane():
    shape = (8, 6, 6)
    # carbon path from the collector that reaches the particle only through the x faces
    phases = np.full(shape, PORE, dtype=np.uint8)
    phases[0:4, 3, 0] = C
    p = np.zeros(shape, bool)
    p[3, 3, 4:6] = True  # x = 5 neighbours x = 0 across the periodic face
    phases[p] = CAM
    phases[4:, 3, 4:6] = SE  # SE column to the separator
    ids = ids_from(phases, p)
    assert cam_utilization(phases, ids, periodic_lateral=True).particles.electronic.tolist() == [
        True
    ]
    assert cam_utilization(phases, ids, periodic_lateral=False).particles.electronic.tolist() == [
        False
    ]
    # through-plane: a particle on the separator face must not reach the collector by wrap
    q = np.full(shape, PORE, dtype=np.uint8)
    q[-1, 2:4, 2:4] = CAM
    q[:-1, 2:4, 2:4] = PORE
    r = cam_utilization(q, ids_from(q, q == CAM), periodic_lateral=True)
    assert r.particles.electronic.tolist() == [False]
    # ionic contact through a lateral face: SE only across the y boundary
    s = np.full(shape, PORE, dtype=np.uint8)
    s[:, 0, :] = SE
    s[0:3, 5, 2] = CAM  # touches the collector; its y + 1 neighbour wraps to y = 0 (SE)
    ids_s = ids_from(s, s == CAM)
    on = cam_utilization(s, ids_s, periodic_lateral=True)
    off = cam_utilization(s, ids_s, periodic_lateral=False)
    assert on.particles.active.tolist() == [True]
    assert on.particles.cam_se_contact_faces.tolist() == [3]
    assert off.particles.active.tolist() == [False]


def test_cam_relay_across_a_periodic_face():
    shape = (8, 4, 6)
    phases = np.full(shape, PORE, dtype=np.uint8)
    phases[:, 1:3, 4] = SE  # electrolyte column from collector to separator
    a = np.zeros(shape, bool)
    a[0:4, 1:3, 0] = True  # no SE contact; touches b only through the x faces
    b = np.zeros(shape, bool)
    b[0:4, 1:3, 5] = True  # touches the SE column
    phases[a | b] = CAM
    ids = ids_from(phases, a, b)
    on = cam_utilization(phases, ids, rule="cam_relay", periodic_lateral=True)
    off = cam_utilization(phases, ids, rule="cam_relay", periodic_lateral=False)
    strict = cam_utilization(phases, ids, rule="strict", periodic_lateral=True)
    assert on.particles.ionic_contact.tolist() == [False, True]
    assert on.particles.active.tolist() == [True, True]
    assert off.particles.active.tolist() == [False, True]
    assert strict.particles.active.tolist() == [False, True]


def test_no_cam_gives_nan_with_reason():
    phases = np.full((6, 5, 5), SE, dtype=np.uint8)
    r = cam_utilization(phases, np.zeros(phases.shape, np.int32))
    assert math.isnan(r.static_utilization) and math.isnan(r.electronically_isolated)
    assert "no CAM" in r.reason
    assert r.n_particles == 0 and len(r.particles) == 0
    assert r.ionic_percolates and not r.electronic_percolates
    assert "reason" in repr(r)


@pytest.mark.parametrize("rule", ["strict", "cam_relay"])
@pytest.mark.parametrize("connectivity", [6, 26])
def test_invariants_on_random_composite(rule, connectivity):
    phases, ids = composite(seed=connectivity)
    r = cam_utilization(phases, ids, rule=rule, connectivity=connectivity, voxel_size_um=0.5)
    t = r.particles
    assert isinstance(r, UtilizationResult)
    assert r.cam_volume_voxels == int((phases == CAM).sum()) == int(t.volume_voxels.sum())
    np.testing.assert_array_equal(t.id, np.unique(ids[ids > 0]))
    np.testing.assert_array_equal(t.volume_voxels, np.bincount(ids.ravel())[t.id])
    np.testing.assert_array_equal(t.active, t.electronic & t.ionic)
    assert 1 - r.static_utilization == pytest.approx(
        r.electronically_isolated + r.ionically_isolated - r.isolated_both
    )
    assert r.static_utilization_by_count == pytest.approx(t.active.mean())
    assert r.n_active == int(t.active.sum())
    np.testing.assert_allclose(t.volume_um3, t.volume_voxels * 0.125)
    np.testing.assert_allclose(t.cam_se_contact_area_um2, t.cam_se_contact_faces * 0.25)
    assert (t.ionic_network_contact_faces <= t.cam_se_contact_faces).all()
    if rule == "strict":
        np.testing.assert_array_equal(t.ionic, t.ionic_contact)
    else:
        assert (t.ionic >= t.ionic_contact).all()
    # brute-force CAM|SE face count per particle (periodic lateral axes 1 and 2); beyond the
    # last layer lies the separator (SE), beyond the first the collector
    faces = np.zeros(ids.max() + 1, dtype=np.int64)
    cam = ids > 0
    for a in range(3):
        for step in (-1, 1):
            nb = np.roll(phases, -step, axis=a) == SE
            if a == 0:  # no wrap through-plane
                edge = [slice(None)] * 3
                edge[0] = -1 if step == 1 else 0
                nb[tuple(edge)] = step == 1
            np.add.at(faces, ids[cam & nb], 1)
    np.testing.assert_array_equal(t.cam_se_contact_faces, faces[t.id])


def test_units_of_interface_area():
    phases, ids = composite(seed=3)
    r1 = cam_utilization(phases, ids)
    r2 = cam_utilization(phases, ids, voxel_size_um=0.25)
    assert r1.active_interface_area_per_volume > 0
    assert r2.active_interface_area_per_volume == pytest.approx(
        r1.active_interface_area_per_volume / 0.25
    )
    expected = r1.particles.ionic_network_contact_faces[r1.particles.active].sum() / phases.size
    assert r1.active_interface_area_per_volume == pytest.approx(expected)
    assert r1.particles.volume_um3 is None and "volume_um3" not in r1.particles.as_dict()


def test_axis_argument_is_equivalent_to_transposing():
    phases, ids = composite(seed=4, n=20)
    ref = cam_utilization(phases, ids, rule="cam_relay")
    for axis, perm in ((1, (1, 0, 2)), (2, (1, 2, 0)), (-1, (1, 2, 0))):
        r = cam_utilization(
            np.ascontiguousarray(np.transpose(phases, perm)),
            np.ascontiguousarray(np.transpose(ids, perm)),
            axis=axis,
            rule="cam_relay",
        )
        assert r.static_utilization == ref.static_utilization
        np.testing.assert_array_equal(r.particles.active, ref.particles.active)
        np.testing.assert_array_equal(
            r.particles.cam_se_contact_faces, ref.particles.cam_se_contact_faces
        )


def test_electronic_and_ionic_phase_options():
    phases, ids = composite(seed=5)
    no_carbon = cam_utilization(phases, ids, electronic_phases=(1,))
    with_carbon = cam_utilization(phases, ids)
    assert (no_carbon.particles.electronic <= with_carbon.particles.electronic).all()
    nothing = cam_utilization(phases, ids, electronic_phases=(3,))
    assert not nothing.particles.electronic.any()  # CAM itself does not conduct here


def test_array_sums_equal_numba_sums():
    phases, ids = composite(seed=6, n=18)
    from solvers import label
    from solvers.labeling._percolation import face_hits

    elab, ne = label(np.isin(phases, (1, 3)), periodic=(False, True, True))
    ilab, ni = label(phases == SE, periodic=(False, True, True))
    ehit, ihit = face_hits(elab, ne, 0, 0), face_hits(ilab, ni, 0, -1)
    nid = int(ids.max()) + 1
    for wrap in (True, False):
        a = particle_sums_cpu(ids, elab, ehit, ilab, ihit, 0, wrap, nid)
        b = particle_sums_xp(ids, elab, ehit, ilab, ihit, 0, wrap, nid)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_repr_is_readable():
    phases, ids = relay_fixture()
    r = cam_utilization(phases, ids)
    text = repr(r)
    assert "static_utilization=0.4286" in text and "1/2 active" in text
    assert repr(r.particles).startswith("ParticleUtilization(2 particles, 1 active")


GOOD = np.full((4, 4, 4), SE, dtype=np.uint8)
GOOD[1, 1, 1] = CAM
GOOD_IDS = (GOOD == CAM).astype(np.int32)


@pytest.mark.parametrize(
    ("phases", "ids", "kwargs", "exc", "match"),
    [
        (GOOD[0], GOOD_IDS[0], {}, ValueError, "phases must be a 3-D integer array, got ndim=2"),
        (
            GOOD.astype(float),
            GOOD_IDS,
            {},
            TypeError,
            "phases must be a 3-D integer array, got dtype float64",
        ),
        (GOOD, GOOD_IDS.astype(bool), {}, TypeError, "particle_ids must be a 3-D integer array"),
        (GOOD, GOOD_IDS[:3], {}, ValueError, "same shape"),
        (GOOD[:0], GOOD_IDS[:0], {}, ValueError, "must not be empty"),
        (np.where(GOOD == SE, 5, GOOD), GOOD_IDS, {}, ValueError, r"unknown phase codes \[5\]"),
        (GOOD, np.ones_like(GOOD_IDS), {}, ValueError, "straddling several phases"),
        (GOOD, GOOD_IDS * 0, {}, ValueError, "0 on 1 CAM voxels"),
        (GOOD, GOOD_IDS * -1, {}, ValueError, "particle_ids must be >= 0"),
        (GOOD, GOOD_IDS, {"connectivity": 4}, ValueError, "6, 18 or 26, got 4"),
        (GOOD, GOOD_IDS, {"rule": "relay"}, ValueError, "rule must be one of"),
        (GOOD, GOOD_IDS, {"ionic_phases": (1, 2)}, ValueError, "must not contain the CAM code"),
        (GOOD, GOOD_IDS, {"electronic_phases": (7,)}, ValueError, "electronic_phases must be"),
        (GOOD, GOOD_IDS, {"electronic_phases": ()}, ValueError, "non-empty"),
        (GOOD, GOOD_IDS, {"voxel_size_um": -1.0}, ValueError, "voxel_size_um must be"),
        (GOOD, GOOD_IDS, {"axis": 3}, ValueError, "axis must be in"),
        (
            GOOD,
            GOOD_IDS,
            {"periodic_lateral": (True, True)},
            TypeError,
            "periodic_lateral must be a bool",
        ),
        (
            GOOD,
            GOOD_IDS,
            {"separator_contact": "yes"},
            TypeError,
            "separator_contact must be a bool",
        ),
        (GOOD, GOOD_IDS, {"device": "gpu"}, ValueError, "'cpu' or 'cuda'"),
    ],
)
def test_bad_input(phases, ids, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cam_utilization(phases, ids, **kwargs)


@pytest.mark.gpu
def test_gpu_matches_cpu_on_composite():
    import cupy

    phases, ids = composite(n=64, seed=9)
    for rule in ("strict", "cam_relay"):
        c = cam_utilization(phases, ids, rule=rule, voxel_size_um=0.3)
        g = cam_utilization(
            cupy.asarray(phases), cupy.asarray(ids), rule=rule, voxel_size_um=0.3, device="cuda"
        )
        assert repr(g) == repr(c)
        for k, v in c.particles.as_dict().items():
            np.testing.assert_array_equal(getattr(g.particles, k), v)


def test_results_holding_arrays_compare_by_identity_never_raise():
    # a dataclass's generated == compared the array fields and raised NumPy's "truth value of
    # an array is ambiguous"; like StructureMetrics and Microstructure they compare by identity
    from solvers import cam_utilization_graph

    ph = np.array([[[1, 2]]], dtype=np.uint8).repeat(3, axis=0)
    ids = (ph == 1).astype(np.int32)
    a, b = cam_utilization(ph, ids), cam_utilization(ph, ids)
    assert a == a and a != b and a.particles != b.particles
    g = [cam_utilization_graph(np.array([1, 2]), np.array([[0, 1]]),
                               touches_cc=np.array([True, False]),
                               touches_separator=np.array([False, True]), volume=np.ones(2))
         for _ in range(2)]
    assert g[0] != g[1] and g[0].static_utilization == g[1].static_utilization == 1.0


def test_the_frozen_result_arrays_are_read_only():
    """Editing ``particles.active`` used to change the 'frozen' result behind its
    static_utilization; the arrays are read-only now (the graph's ``active`` too)."""
    from solvers import cam_utilization_graph

    ph = np.zeros((4, 3, 6), np.uint8)
    ph[0:3, 1, 0] = 1
    ph[:, 1, 5] = 2
    ids = (ph == 1).astype(np.int32)
    r = cam_utilization(ph, ids)
    with pytest.raises(ValueError, match="read-only"):
        r.particles.active[0] = False
    g = cam_utilization_graph(np.array([1, 2]), np.array([[0, 1]]),
                              touches_cc=np.array([True, False]),
                              touches_separator=np.array([False, True]),
                              volume=np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="read-only"):
        g.active[0] = False


def test_sparse_particle_ids_are_numbered_densely_and_reported_as_given():
    """Labels of a crop of a segmented tomogram (10^9 and above) were refused ("at most the
    number of voxels: renumber"); the result is that of the ids 1..n, under the ids given."""
    from scipy import ndimage as ndi

    ph = np.random.default_rng(0).integers(0, 4, (12, 10, 10)).astype(np.uint8)
    lab, n = ndi.label(ph == CAM)
    small = cam_utilization(ph, lab)
    sparse = np.where(lab > 0, lab.astype(np.int64) * 10**9 + 7, 0)
    big = cam_utilization(ph, sparse)
    assert n > 50 and big.static_utilization == small.static_utilization
    np.testing.assert_array_equal(big.particles.id, small.particles.id * 10**9 + 7)
    np.testing.assert_array_equal(big.particles.active, small.particles.active)
    # every voxel a particle (no 0 in the array): 0 still means none
    full = np.ones((4, 3, 3), np.uint8)
    ids = np.full((4, 3, 3), 10**6)
    ids[2:] = 2 * 10**6
    assert cam_utilization(full, ids).particles.id.tolist() == [10**6, 2 * 10**6]

