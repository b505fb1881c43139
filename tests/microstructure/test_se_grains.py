"""The fine SE's resolved grains (microstructure._se_grains): seat, size, bridging, and links
that do not depend on the voxel."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from _graph_theta import theta_graph

import microstructure as ms
from microstructure._crevices import crevice_sites
from microstructure._se_grains import BRIDGE, GRAIN_VOXELS, place_grains
from solvers import cam_utilization

BOX = np.array([10.0, 10.0, 10.0])
PER = np.array([0, 1, 1])


def _pair(gap: float = -0.05):
    """Two 2 µm spheres whose surfaces lie ``gap`` apart (negative: overlapping)."""
    c = np.array([[5.0, 5.0, 3.5], [5.0, 5.0, 5.5 + gap]])
    return c, np.array([1.0, 1.0])


def _sites(c, r, contacts, gaps):
    return crevice_sites(c, r, np.asarray(contacts, int).reshape(-1, 2),
                         np.asarray(gaps, int).reshape(-1, 2), BOX, PER, 7)


def _free_fraction(x, rho, bodies_c, bodies_r, n=200_000, seed=0):
    """Monte Carlo: share of the ball (x, rho) outside every body and inside the box."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(n, 3))
    p *= (rho * rng.random(n) ** (1 / 3) / np.linalg.norm(p, axis=1))[:, None]
    p += x
    free = (p[:, 0] >= 0) & (p[:, 0] <= BOX[0])
    for c, r in zip(bodies_c, bodies_r, strict=True):
        free &= np.linalg.norm(p - c, axis=1) >= r
    return free.mean()


def test_contact_grains_bridge_their_crevice_and_hold_their_volume():
    c, r = _pair()
    d = 0.6
    gc, gr, held = place_grains(c, r, 0.5, BOX, PER, lambda k: np.full(k, d), d,
                                _sites(c, r, [[0, 1]], []), min_radius=0.1)
    assert len(gr) >= 3
    dist = np.linalg.norm(gc[:, None] - c[None], axis=2)
    # every grain touches both particles of its crevice, reaching BRIDGE beyond the farther
    assert np.all(dist < r + gr[:, None])
    assert np.all(gr >= BRIDGE * (dist - r).max(axis=1) - 1e-9)
    # each grain's ball holds (about) its own volume outside the particles and earlier grains
    vol = np.pi / 6 * d**3
    for k in range(len(gr)):
        bc = np.concatenate([c, gc[:k]])
        br = np.concatenate([r, gr[:k]])
        got = _free_fraction(gc[k], gr[k], bc, br) * 4 / 3 * np.pi * gr[k] ** 3
        assert got == pytest.approx(vol, rel=0.06) or gr[k] == pytest.approx(
            BRIDGE * (dist[k] - r).max())  # a ball widened to bridge holds more
    assert 0.5 <= held <= 0.5 + vol  # grains until the volume is held, the last one whole


def test_contact_grain_seat_is_where_the_crevice_is_as_wide_as_the_grain():
    c, r = _pair()
    d = 0.4
    gc, gr, _ = place_grains(c, r, 1e-3, BOX, PER, lambda k: np.full(k, d), d,
                             _sites(c, r, [[0, 1]], []), min_radius=0.05)
    assert len(gr) == 1
    s = np.linalg.norm(gc[0] - c, axis=1) - r
    assert s.sum() == pytest.approx(d, rel=1e-6)


def test_lone_grain_in_open_space_is_a_sphere_of_its_own_size():
    # a gap crevice far wider than the grain cannot be bridged: its crevice is full at once;
    # a narrow gap is bridged by a grain in its middle
    c, r = _pair(gap=0.3)
    gc, gr, held = place_grains(c, r, 1e-3, BOX, PER, lambda k: np.full(k, 0.5), 0.5,
                                _sites(c, r, [], [[0, 1]]), min_radius=0.05)
    assert len(gr) == 1
    np.testing.assert_allclose(gc[0], [5.0, 5.0, 4.65], atol=1e-9)  # the gap's middle
    assert gr[0] > 0.15  # reaches both surfaces
    c, r = _pair(gap=3.0)
    gc, gr, held = place_grains(c, r, 1e-3, BOX, PER, lambda k: np.full(k, 0.5), 0.5,
                                _sites(c, r, [], [[0, 1]]), min_radius=0.05)
    assert len(gr) == 0 and held == 0.0


def test_grains_stop_when_every_crevice_is_full():
    c, r = _pair()
    d = 0.6
    gc, gr, held = place_grains(c, r, 1e3, BOX, PER, lambda k: np.full(k, d), d,
                                _sites(c, r, [[0, 1]], []), min_radius=0.1)
    # a ring holds a few grains, not 1000 µm³
    assert 3 <= len(gr) < 100 and held < 50
    # grains never sit inside one another or a particle
    bc = np.concatenate([c, gc])
    br = np.concatenate([r, gr])
    for k in range(len(gr)):
        dist = np.linalg.norm(bc - gc[k], axis=1)
        dist[2 + k] = np.inf
        assert np.all(dist >= br - 1e-3)


def test_grains_are_deterministic():
    c, r = _pair()
    args = (c, r, 0.4, BOX, PER, lambda k: np.linspace(0.4, 0.6, k), 0.6,
            _sites(c, r, [[0, 1]], []))
    a = place_grains(*args, min_radius=0.1)
    b = place_grains(*args, min_radius=0.1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def _threshold_spec(h):
    # 80:15:5 w/w near the SE's percolation threshold; the SE under 1.25 um (its fine part)
    # is grains of 0.9-1.25 um: 3.6 voxels and more at 0.25 um, so particles at h and h/2
    box = (20, 16, 16)
    return ms.load_spec(ms.default_spec_path()).updated({
        "domain.shape": [round(b / h) for b in box], "domain.voxel_size_um": h,
        "composition.basis": "weight", "composition.porosity": 0.30,
        "phases.cam.fraction": 80, "phases.se.fraction": 15, "phases.carbon.fraction": 5,
        "phases.se.density_g_cm3": 1.9,
        "phases.cam.psd": {"kind": "lognormal", "d50_um": 5.0, "d90_um": 7.0},
        "phases.se.psd": {"kind": "lognormal", "d50_um": 3.0, "d90_um": 5.55},
        "phases.carbon.psd": {"kind": "lognormal", "d50_um": 2.0, "d90_um": 2.8}})


@functools.cache
def _build(h, seed=0):
    """One build per voxel for the module (the tests only read it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ms.generate(_threshold_spec(h), seed=seed)


def test_the_fine_se_links_the_same_pairs_at_h_and_h_over_2():
    coarse, fine = _build(0.25), _build(0.125)
    rows = []
    for m in (coarse, fine):
        topo = m.report.topology
        assert topo["se_grains"] > 20
        # every fine grain is resolved: the voxel fill only makes up what the voxels lost
        assert topo["se_grain_voxels"] > 5 * topo["se_fill_voxels"]
        for name, target in m.report.target.items():
            assert abs(m.report.achieved[name] - target) <= 0.005
        n = len(m.particles) - topo["se_fill_bodies"]
        ij = m.particles.contact_pairs()
        rows.append((m.particles.center_um[:n], ij[(ij < n).all(axis=1)]))
    # the same packing, the same grains, the same contact graph at both voxels
    np.testing.assert_array_equal(rows[0][0], rows[1][0])
    np.testing.assert_array_equal(rows[0][1], rows[1][1])
    th = [cam_utilization(m.phases, m.particle_ids, connectivity=6).static_utilization
          for m in (coarse, fine)]
    assert abs(th[0] - th[1]) <= 0.02
    for m, t in zip((coarse, fine), th, strict=True):
        assert abs(theta_graph(m) - t) <= 0.01
        assert abs(cam_utilization(m.phases, m.particle_ids,
                                   connectivity=26).static_utilization - t) <= 0.02


def test_grains_under_three_voxels_stay_with_the_voxel_fill():
    # at 0.5 um the same fine SE (under 1.25 um) is under GRAIN_VOXELS voxels: no grains
    assert GRAIN_VOXELS * 0.5 > 1.25
    m = _build(0.5)
    assert m.report.topology["se_grains"] == 0
    assert m.report.topology["se_fill_bodies"] > 0


def test_check_and_the_report_say_how_the_fine_se_is_drawn():
    from microstructure.studies._check import format_spec_summary, spec_summary

    # the example's fine SE (LPSCl under 0.71 um): a voxel fill at 0.25 um; at 0.125 um the
    # grains from 0.375 um are particles
    base = ms.load_spec(ms.default_spec_path())
    for h, grains in ((0.25, False), (0.125, True)):
        spec = base.updated({"domain.voxel_size_um": h, "domain.shape": [round(16 / h)] * 3})
        s = spec_summary(spec)
        se = s["phases"]["se"]
        assert 0 < se["voxel_fill_share"] <= se["fill_share"]
        assert (se["voxel_fill_share"] < se["fill_share"]) == grains
        text = format_spec_summary(s)
        assert "as grains of 3 voxels and more" in text and "as a voxel fill" in text
    m = _build(0.25)
    from microstructure.studies._format import _se_build

    b = _se_build(m.report, m.phases.size)
    assert b["grains"] == pytest.approx(m.report.topology["se_grain_voxels"] / m.phases.size)
    assert b["particles"] + b["coat"] + b["grains"] + b["fill"] == pytest.approx(
        m.report.achieved["se"])
