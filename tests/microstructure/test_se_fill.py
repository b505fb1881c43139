"""The fine-SE crevice fill of the pressed generator (``packing.se_fill_ratio``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _graph_theta import theta_graph

import microstructure as ms
from microstructure import _se_fill as SF
from microstructure._crevices import _hash01, _lexsort2, crevice_sites, crevice_width
from microstructure._se_fill import fill_bodies, place_fill
from solvers import cam_utilization, label

NOPER = np.array([0, 0, 0], dtype=np.int8)
NONE = np.zeros((0, 2), dtype=np.int64)
GAP = np.array([[0, 1]])


def _two_spheres(gap_um, h=0.1, n=(40, 30, 30), r=1.0):
    """Two spheres on the x_0 axis with a surface gap ``gap_um``; voxels of the spheres owned."""
    c = np.array([[2.0 - gap_um / 2 - r, 1.5, 1.5], [2.0 + gap_um / 2 + r, 1.5, 1.5]])
    owner = np.zeros(n, dtype=np.int32)
    z, y, x = np.meshgrid(*[(np.arange(k) + 0.5) * h for k in n], indexing="ij")
    for k in range(2):
        inside = (z - c[k, 0]) ** 2 + (y - c[k, 1]) ** 2 + (x - c[k, 2]) ** 2 <= r * r
        owner[inside] = k + 1
    return c, np.array([r, r]), owner, h


def test_crevice_width_is_the_gap_between_two_surfaces():
    c, r, owner, h = _two_spheres(0.4)
    w = crevice_width(c, r, owner, h, NOPER, reach=2.0)
    # the voxel centre nearest the midpoint between the spheres (2.0, 1.5, 1.5) -> (19, 14, 14)
    # lies 0.05 um off the axis laterally: w is the gap to within that offset
    assert w[19, 14, 14] == pytest.approx(0.4, abs=0.01)
    assert np.all(np.isinf(w[owner > 0]))                       # solid voxels are never filled
    assert np.all(w[owner == 0] >= 0.4 - 0.01)                  # no pore point is narrower


def _random_box(seed, n=(14, 16, 16), h=0.5):
    """Random spheres (some across the lateral faces) voxelized into owners, and random labels
    on pore voxels."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 1, (12, 3)) * np.array(n) * h
    r = rng.uniform(0.4, 1.6, 12)
    owner = np.zeros(n, dtype=np.int32)
    z, y, x = np.meshgrid(*[(np.arange(k) + 0.5) * h for k in n], indexing="ij")
    for k in range(12):
        owner[(z - c[k, 0]) ** 2 + (y - c[k, 1]) ** 2 + (x - c[k, 2]) ** 2 <= r[k] ** 2] = k + 1
    lab = np.where((owner == 0) & (rng.random(n) < 0.3), rng.integers(1, 6, n), 0)
    return c, r, owner, h, lab.astype(np.int32)


@pytest.mark.parametrize("per", [(0, 0, 0), (0, 1, 1), (0, 0, 1)])
def test_crevice_width_equals_brute_force_across_periodic_faces(per):
    c, r, owner, h, _ = _random_box(3)
    per = np.array(per, dtype=np.int8)
    w = crevice_width(c, r, owner, h, per, reach=1.2)
    n = np.array(owner.shape)
    box = n * h
    ref = np.full(owner.shape, np.inf)
    for v in np.argwhere(owner == 0):
        d = (v + 0.5) * h - c
        d -= per * box * np.round(d / box)  # nearest image: the box is wider than 2 (r + reach)
        s = np.sort(np.maximum(np.sqrt((d * d).sum(axis=1)) - r, 0.0))
        if s[1] < 1.2:
            ref[tuple(v)] = s[0] + s[1]
    assert np.isfinite(ref).sum() > 50
    np.testing.assert_allclose(w, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("per", [(0, 0, 0), (0, 1, 1), (1, 1, 1)])
def test_fill_bodies_equal_a_voxel_by_voxel_count(per):
    _, _, owner, h, lab = _random_box(4)
    per = np.array(per, dtype=np.int8)
    pairs, area, cc, sep, cen, vol = fill_bodies(lab, 5, owner, h, per)
    faces = {}
    for v in np.argwhere(lab > 0):
        for a in range(3):
            for s in (-1, 1):
                u = v.copy()
                u[a] += s
                if not 0 <= u[a] < owner.shape[a]:
                    if not per[a]:
                        continue
                    u[a] %= owner.shape[a]
                p = owner[tuple(u)]
                if p:
                    key = (lab[tuple(v)], p)
                    faces[key] = faces.get(key, 0) + 1
    assert sorted(faces) == [tuple(x) for x in pairs]
    # shared faces x h², with the staircase correction every area from voxel faces carries
    np.testing.assert_allclose(area, [faces[tuple(x)] * h * h * 2 / 3 for x in pairs])
    assert np.array_equal(vol, np.bincount(lab.ravel(), minlength=6)[1:] * h**3)
    assert np.array_equal(cc, np.isin(np.arange(1, 6), lab[0]))
    assert np.array_equal(sep, np.isin(np.arange(1, 6), lab[-1]))


def _grains(d_um):
    return lambda k: np.full(k, d_um)


def test_place_fill_starts_a_grain_in_the_middle_of_the_gap():
    c, r, owner, h = _two_spheres(0.4)
    flab, nb = place_fill(owner, c, r, 50, h, NOPER, reach=2.0, grains=_grains(0.5),
                          contacts=NONE, gaps=GAP, salt=0)
    fill = flab > 0
    assert fill.sum() == 50 and not np.any(fill & (owner > 0))
    assert fill[20, 15, 15]                # the voxel holding the gap's midpoint (2, 1.5, 1.5)
    pairs, area, tcc, tsep, cen, vol = fill_bodies(flab, nb, owner, h, NOPER)
    assert nb == 1                                         # one grain bridging the two spheres
    assert sorted(pairs[:, 1].tolist()) == [1, 2] and np.all(area > 0)
    assert vol.sum() == pytest.approx(50 * h**3)
    assert cen[0] == pytest.approx([2.0, 1.5, 1.5], abs=h)


def test_crevice_sites_lie_on_the_contact_circle_and_in_the_middle_of_gaps():
    # spheres of radius 1 at x_0 = 0 and 1.6 (touching: contact circle of radius 0.6 at x_0 =
    # 0.8) and one at x_0 = 4.0 (gap 0.4 to the second: site at x_0 = 2.8)
    c = np.array([[0.0, 5.0, 5.0], [1.6, 5.0, 5.0], [4.0, 5.0, 5.0]])
    r = np.ones(3)
    box = np.array([10.0, 10.0, 10.0])
    base, ring, u, v, phi, pairs = crevice_sites(c, r, np.array([[0, 1]]), np.array([[1, 2]]),
                                                 box, NOPER, salt=7)
    assert pairs.tolist() == [[0, 1], [1, 2]]  # each crevice's two particles
    assert base[0] == pytest.approx([0.8, 5.0, 5.0]) and ring[0] == pytest.approx(0.6)
    assert base[1] == pytest.approx([2.8, 5.0, 5.0]) and ring[1] == 0.0  # contacts come first
    assert np.abs(u[0] @ [1.0, 0.0, 0.0]) < 1e-12 and np.abs(v[0] @ [1.0, 0.0, 0.0]) < 1e-12
    # the order of the contacts is set by the salt, not by the grid or the input order
    many = np.array([[0, 1], [1, 2], [0, 2]])
    c3 = np.array([[0.0, 5.0, 5.0], [1.6, 5.0, 5.0], [0.8, 6.2, 5.0]])
    a = crevice_sites(c3, r, many, NONE, box, NOPER, salt=1)[0]
    b = crevice_sites(c3, r, many[::-1], NONE, box, NOPER, salt=1)[0]
    assert np.array_equal(a, b)


def test_crevice_sites_across_a_periodic_face():
    # the same touching pair and gap, moved so that both straddle the lateral face x_1 = 0:
    # the circle's centre and the gap's middle come back inside the box, and (u, v, n) stay
    # an orthonormal frame
    c = np.array([[5.0, 9.6, 5.0], [5.0, 1.2, 5.0], [5.0, 3.6, 5.0], [5.0, 1.0, 1.0]])
    r = np.ones(4)
    box = np.array([10.0, 10.0, 10.0])
    per = np.array([0, 1, 1], dtype=np.int8)
    base, ring, u, v, _, _ = crevice_sites(c, r, np.array([[0, 1]]),
                                           np.array([[1, 2], [0, 3]]), box, per, salt=3)
    assert base[0] == pytest.approx([5.0, 0.4, 5.0], abs=1e-6) and ring[0] == pytest.approx(0.6)
    assert base[1] == pytest.approx([5.0, 2.4, 5.0], abs=1e-6) and ring[1] == 0.0
    n = np.array([0.0, 1.0, 0.0])
    for k in range(2):
        assert abs(u[k] @ n) < 1e-6 and abs(v[k] @ n) < 1e-6 and abs(u[k] @ v[k]) < 1e-6
        assert np.linalg.norm(u[k]) == pytest.approx(1.0)
        assert np.linalg.norm(v[k]) == pytest.approx(1.0)
    assert np.all((base >= 0) & (base < box))


def test_lexsort2_equals_lexsort_with_ties():
    rng = np.random.default_rng(4)
    for _ in range(5):
        p, q = rng.integers(0, 6, 400).astype(float), rng.integers(0, 3, 400).astype(float)
        assert np.array_equal(_lexsort2(p, q), np.lexsort((q, p)))


def test_crevice_sites_keep_the_narrowest_gaps_narrowest_first():
    # a row of equal spheres with exactly repeated gap widths (ties broken by the salted key):
    # max_gaps keeps the first of the gaps ordered by (width, key)
    gaps_um = np.array([0.5, 0.125, 0.25, 0.125, 0.5, 0.25, 0.125, 0.75, 0.25, 0.5])  # exact
    x = np.concatenate([[1.0], 1.0 + np.cumsum(2.0 + gaps_um)])
    c = np.stack([x, np.full_like(x, 5.0), np.full_like(x, 5.0)], axis=1)
    r = np.ones(len(x))
    gaps = np.stack([np.arange(10), np.arange(1, 11)], axis=1)
    box = np.array([40.0, 10.0, 10.0])
    want = np.lexsort((_hash01(gaps[:, 0], gaps[:, 1], 9), gaps_um))
    for keep in (3, 4, 7, 10, 20):
        base = crevice_sites(c, r, NONE, gaps, box, NOPER, salt=9, max_gaps=keep)[0]
        mid = 0.5 * (x[gaps[want[:keep], 0]] + x[gaps[want[:keep], 1]])
        assert np.allclose(base[:, 0], mid, atol=1e-5)


def _four_crevices(h):
    """Four pairs of 1 um spheres with surface gaps 0.10, 0.12, 0.14, 0.16 um, far apart."""
    box = np.array([4.0, 12.0, 3.0])
    n = tuple(int(round(b / h)) for b in box)
    c, ids = [], np.zeros(n, dtype=np.int32)
    z, y, x = np.meshgrid(*[(np.arange(k) + 0.5) * h for k in n], indexing="ij")
    for k, gap in enumerate((0.10, 0.12, 0.14, 0.16)):
        for side in (-1, 1):
            c.append([2.0 + side * (gap / 2 + 1.0), 1.5 + 3.0 * k, 1.5])
            ids[(z - c[-1][0]) ** 2 + (y - c[-1][1]) ** 2 + (x - c[-1][2]) ** 2 <= 1.0] = len(c)
    return np.array(c), np.ones(len(c)), ids


@pytest.mark.parametrize("h", [0.1, 0.05])
def test_fill_bridges_as_many_crevices_as_it_has_grains_at_every_voxel_size(h):
    # two grains' volume: the two narrowest crevices get a grain each, the other two none;
    # a fill of single voxels would ring all four gaps, more of them the finer the grid
    c, r, owner = _four_crevices(h)
    d = 0.6
    n_fill = int(round(2 * np.pi / 6 * d**3 / h**3))
    gaps = np.array([[6, 7], [2, 3], [4, 5], [0, 1]])  # the fill takes the narrowest first
    flab, nb = place_fill(owner, c, r, n_fill, h, NOPER, reach=2.0, grains=_grains(d),
                          contacts=NONE, gaps=gaps, salt=0)
    assert (flab > 0).sum() == n_fill
    pairs, *_ = fill_bodies(flab, nb, owner, h, NOPER)
    bridged = {tuple(sorted(pairs[pairs[:, 0] == b, 1].tolist())) for b in range(1, nb + 1)}
    assert bridged == {(1, 2), (3, 4)}, (h, bridged)


def _four_contacts(h):
    """Four pairs of 1 um spheres pressed 0.1 um into each other, far apart."""
    box = np.array([4.0, 12.0, 3.0])
    n = tuple(int(round(b / h)) for b in box)
    c, ids = [], np.zeros(n, dtype=np.int32)
    z, y, x = np.meshgrid(*[(np.arange(k) + 0.5) * h for k in n], indexing="ij")
    for k in range(4):
        for side in (-1, 1):
            c.append([2.0 + side * 0.95, 1.5 + 3.0 * k, 1.5])
            ids[(z - c[-1][0]) ** 2 + (y - c[-1][1]) ** 2 + (x - c[-1][2]) ** 2 <= 1.0] = len(c)
    return np.array(c), np.ones(len(c)), ids


@pytest.mark.parametrize("salt", [0, 1, 2, 3])
def test_the_contacts_that_get_grains_do_not_depend_on_the_voxel_size(salt):
    # two grains for four equal contacts: which two get one is set by the seed (salt), and
    # each grain sits at the same place at both voxel sizes
    contacts = np.array([[0, 1], [2, 3], [4, 5], [6, 7]])
    got = []
    for h in (0.1, 0.05):
        c, r, owner = _four_contacts(h)
        n_fill = int(round(2 * np.pi / 6 * 0.4**3 / h**3))
        flab, nb = place_fill(owner, c, r, n_fill, h, NOPER, reach=2.0, grains=_grains(0.4),
                              contacts=contacts, gaps=NONE, salt=salt)
        pairs, _, _, _, cen, _ = fill_bodies(flab, nb, owner, h, NOPER)
        ringed = sorted(tuple(sorted(pairs[pairs[:, 0] == b, 1].tolist()))
                        for b in range(1, nb + 1))
        got.append((ringed, cen[np.argsort(cen[:, 1])]))
    assert got[0][0] == got[1][0] and len(got[0][0]) == 2
    assert np.allclose(got[0][1], got[1][1], atol=0.15)


def _place_reference(base, ring, u, v, phi, vox, reach2, state, offsets, dist2, search2, per,
                     need, h):
    """The placement's rules, voxel by voxel in Python, on a copy of ``state``."""
    state, shape = state.copy(), np.array(state.shape)
    n, dead, placed, g, rnd, p = len(base), np.zeros(len(base), bool), 0, 0, 0, 0

    def at(x):  # wrapped along the periodic axes; None outside the box
        x = np.where(per > 0, x % shape, x)
        return tuple(x) if np.all((x >= 0) & (x < shape)) else None

    while placed < need and g < len(vox) and not dead.all():
        if p >= n:
            rnd, p = rnd + 1, 0
            continue
        q, p = p, p + 1
        if dead[q]:
            continue
        t = float(phi[q]) + rnd * SF.GOLDEN
        site = [float(base[q, a]) + float(ring[q]) * (np.cos(t) * float(u[q, a])
                                                      + np.sin(t) * float(v[q, a]))
                for a in range(3)]
        site = np.floor(np.array(site) / h).astype(int)
        starts = [at(site + o) for o, d2 in zip(offsets, dist2, strict=True) if d2 <= search2]
        start = next((x for x in starts if x is not None and state[x] == SF.FREE_CREVICE), None)
        if start is None:
            dead[q] = True
            continue
        cells, state[start] = [start], SF.GROWING
        for o, d2 in zip(offsets[1:], dist2[1:], strict=True):
            if len(cells) >= vox[g] or len(cells) >= need - placed or d2 > reach2[g]:
                break
            x = at(np.array(start) + o)
            if x is None or state[x] not in (SF.FREE, SF.FREE_CREVICE):
                continue
            faces = [at(np.array(x) + e) for e in np.vstack([np.eye(3, dtype=int),
                                                             -np.eye(3, dtype=int)])]
            if any(f is not None and state[f] == SF.GROWING for f in faces):
                cells.append(x)
                state[x] = SF.GROWING
        for x in cells:
            state[x] = SF.FILLED
        placed, g = placed + len(cells), g + 1
    return state, placed


@pytest.mark.parametrize("per", [(0, 0, 0), (0, 1, 1)])
def test_grain_placement_follows_its_rules_inside_and_at_the_faces(per):
    # random free / crevice / solid voxels and crevice sites all over a small box: sites deep
    # inside take the flat path, those near a face the wrapped one; both against Python
    rng = np.random.default_rng(3)
    h, shape, per = 0.5, (30, 28, 26), np.array(per, dtype=np.int64)
    state = rng.choice(np.array([SF.SOLID, SF.FREE, SF.FREE_CREVICE], dtype=np.uint8),
                       size=shape, p=[0.3, 0.3, 0.4])
    m = 60
    base = (rng.uniform(0, 1, (m, 3)) * np.array(shape) * h).astype(np.float32)
    ring = rng.uniform(0, 1.5, m).astype(np.float32)
    u = np.tile(np.float32([0, 1, 0]), (m, 1))
    v = np.tile(np.float32([0, 0, 1]), (m, 1))
    phi = rng.uniform(0, 6, m).astype(np.float32)
    vox = rng.integers(1, 12, 400).astype(np.int64)
    reach2 = np.full(400, 9, dtype=np.int64)
    offsets, dist2 = SF._offsets(3)
    need = 900
    want, want_placed = _place_reference(base, ring, u, v, phi, vox, reach2, state, offsets,
                                         dist2, 4, per, need, h)
    got = state.copy()
    placed = SF._place_at_sites(base, ring, u, v, phi, np.zeros(3, dtype=np.int64),
                                np.zeros(m, dtype=np.bool_), vox, reach2, got, offsets, dist2,
                                4, per, need, h)
    assert placed == want_placed and placed > 300
    assert np.array_equal(got, want)


def test_place_fill_gives_up_bodies_cut_off_from_every_particle():
    # a pore block carved around the gap (as the topological voxelization carves between close,
    # non-touching particles): its narrowest voxels share no face with a sphere, so a fill body
    # there would touch nothing; the fill takes the narrowest voxels that do touch
    c, r, owner, h = _two_spheres(0.1)
    owner[16:23, 11:18, 11:18] = 0
    w = crevice_width(c, r, owner, h, NOPER, reach=2.0)
    for n_fill in (1, 5):
        flab, nb = place_fill(owner, c, r, n_fill, h, NOPER, reach=2.0, grains=_grains(h),
                              contacts=NONE, gaps=GAP, salt=0)
        fill = flab > 0
        assert fill.sum() == n_fill
        # the labels are those of the final fill: one per face-connected body
        ref, nref = label(fill, connectivity=6, periodic=(False, False, False))
        assert nb == nref and np.array_equal(np.asarray(ref), flab)
        pairs, *_ = fill_bodies(flab, nb, owner, h, NOPER)
        assert nb >= 1 and set(pairs[:, 0].tolist()) == set(range(1, nb + 1))  # each body touches
        assert w[fill].min() > w[(owner == 0)].min()      # the narrowest voxel was given up


def test_place_fill_refuses_what_does_not_fit():
    c, r, owner, h = _two_spheres(0.4)
    with pytest.raises(ValueError, match="does not fit the crevices"):
        place_fill(owner, c, r, int((owner == 0).sum()) + 1, h, NOPER, reach=0.3,
                   grains=_grains(0.3), contacts=NONE, gaps=GAP, salt=0)


def _example(shape, h, seed=0):
    spec = ms.load_spec(ms.default_spec_path()).updated({
        "domain.shape": shape, "domain.voxel_size_um": h, "packing.mode": "pressed",
        # carbon as 1 um spheres: resolved at both voxel sizes, so the material is the same
        "phases.carbon.psd": {"kind": "lognormal", "d50_um": 1.0, "d90_um": 1.4}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ms.generate(spec, seed=seed)


@pytest.fixture(scope="module")
def pair():
    """The example composition (fine LPSCl: the fill holds about a fifth of the box) at h and
    h/2 on a 14 x 12 x 12 um box."""
    return _example([56, 48, 48], 0.25), _example([112, 96, 96], 0.125)


def test_example_composition_builds_with_the_fill(pair):
    m, _ = pair
    r = m.report
    assert r.se_fill_fraction > 0.15                       # the fine SE is a fill
    for name, target in r.target.items():
        assert abs(r.achieved[name] - target) <= m.spec.packing.fraction_tolerance
    n_fill = r.topology["se_fill_bodies"]
    assert n_fill > 0
    table = m.particles
    assert np.all(table.phase[-n_fill:] == 2)
    assert r.n_particles["se"] == int(np.count_nonzero(table.phase[:-n_fill] == 2))
    # every fill body touches something (it lies in a crevice between particles)
    fill_ids = set(range(len(table) - n_fill + 1, len(table) + 1))
    touched = set(table.contact_j.tolist()) | set(table.contact_i.tolist())
    assert fill_ids <= touched
    # the fill's voxels, counted by the build, are its bodies' volumes (table: equal-volume
    # spheres); at least the fine SE planned for it
    h = m.voxel_size_um
    body_vox = (4 / 3 * np.pi * table.radius_um[-n_fill:].astype(np.float64) ** 3).sum() / h**3
    assert r.topology["se_fill_voxels"] == pytest.approx(body_vox, rel=1e-4)
    nvox = m.phases.size
    assert r.topology["se_fill_voxels"] / nvox >= r.se_fill_fraction - 0.25 * 0.005
    from microstructure.studies._format import format_generation, generation_summary
    summary = generation_summary(m)
    se = summary["se_build"]                    # what `assb generate` prints of it
    assert se["fill"] == r.topology["se_fill_voxels"] / nvox and se["particles"] > 0
    assert se["particles"] + se["coat"] + se["fill"] == pytest.approx(r.achieved["se"])
    assert f"crevice fill {100 * se['fill']:.2f} % (planned" in format_generation(summary)


def test_fill_keeps_theta_independent_of_grid_and_connectivity(pair):
    coarse, fine = pair
    th = [cam_utilization(coarse.phases, coarse.particle_ids, connectivity=c).static_utilization
          for c in (6, 18, 26)]
    th_fine = cam_utilization(fine.phases, fine.particle_ids).static_utilization
    assert max(th) - min(th) <= 0.02
    assert abs(th[0] - th_fine) <= 0.02
    assert abs(theta_graph(coarse) - th[0]) <= 0.01
    assert abs(theta_graph(fine) - th_fine) <= 0.01


def test_fill_ratio_zero_presses_every_se_particle():
    spec = ms.load_spec(ms.default_spec_path()).updated({
        "domain.shape": [40, 40, 40], "domain.voxel_size_um": 0.5, "packing.mode": "pressed",
        "packing.se_fill_ratio": 0.0, "phases.carbon.fraction": 0,
        "phases.cam.psd": {"kind": "lognormal", "d50_um": 5.0, "d90_um": 7.0},
        "phases.se.psd": {"kind": "lognormal", "d50_um": 3.0, "d90_um": 4.2}})
    m = ms.generate(spec, seed=0)     # CAM contacts of ~0.3 um: over half the voxel, no warning
    assert not m.report.warnings
    assert m.report.se_fill_fraction == 0.0
    assert m.report.topology["se_fill_bodies"] == 0


def test_a_large_fill_ratio_cannot_loosen_the_skeleton_below_a_contact_network():
    """70:30 NCM 5 um : LPSCl 1.5 um without carbon, se_fill_ratio 0.5: the fill would take
    almost all the SE; it is capped at the volume beyond a skeleton of SKELETON_MIN solids
    (with a cap of 0.62 this powder kept theta at 0.01-0.02: its CAM hardly touched)."""
    from microstructure._generate_pressed import SKELETON_MIN

    spec = ms.load_spec(ms.default_spec_path()).updated({
        "domain.shape": [120, 96, 96], "domain.voxel_size_um": 0.25, "packing.mode": "pressed",
        "packing.se_fill_ratio": 0.5, "phases.carbon.fraction": 0,
        "phases.cam.fraction": 70, "phases.se.fraction": 30,
        "phases.cam.psd": {"kind": "lognormal", "d50_um": 5.0, "d90_um": 9.25},
        "phases.se.psd": {"kind": "lognormal", "d50_um": 1.5, "d90_um": 2.775}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m = ms.generate(spec, seed=0)
    porosity = spec.composition.porosity
    assert m.report.se_fill_fraction <= 1 - porosity - SKELETON_MIN + 1e-9
    assert cam_utilization(m.phases, m.particle_ids).static_utilization > 0.5
