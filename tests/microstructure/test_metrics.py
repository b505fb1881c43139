"""structure_metrics: fractions, profiles, recovered PSDs and CAM|SE contact area."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest

import microstructure as ms
from microstructure._generate import contact_warnings, resolution_warnings
from microstructure._spec import ElectrodeSpec


def _spec(shape, h, *, cam=None, se=None, carbon=None, periodic=True, porosity=0.15):
    phases = {
        "cam": {"density_g_cm3": 4.75, "fraction": 70,
                "psd": {"kind": "lognormal", **(cam or {"d50_um": 0.5, "d90_um": 0.8})}},
        "se": {"density_g_cm3": 1.64, "fraction": 30,
               "psd": {"kind": "lognormal", **(se or {"d50_um": 0.3, "d90_um": 0.5})}},
    }
    if carbon is not None:
        phases["carbon"] = {"density_g_cm3": 1.96, "fraction": 1,
                            "psd": {"kind": "lognormal", **carbon}}
    return ElectrodeSpec.from_dict({
        "domain": {"shape": list(shape), "voxel_size_um": h, "periodic_lateral": periodic},
        "composition": {"basis": "weight", "porosity": porosity},
        "phases": phases,
        # metrics tests: the fast sequential model at coarse voxels; the pressed default is
        # tested in test_pressing.py
        "packing": {"mode": "sequential"},
    })


def _hand_made(phases, ids=None, *, h=0.1, periodic=True):
    """A Microstructure around hand-built arrays (no particle table for soft phases)."""
    phases = np.asarray(phases, dtype=np.uint8)
    if ids is None:
        ids = (phases == ms.CAM).astype(np.int32)
    n = int(ids.max())
    box = min(phases.shape) * h
    cam = {"d50_um": 0.1 * box, "d90_um": 0.15 * box}
    se = {"d50_um": 0.05 * box, "d90_um": 0.08 * box}
    table = ms.ParticleTable(np.arange(1, n + 1, dtype=np.int32),
                             np.full(n, ms.CAM, dtype=np.uint8),
                             np.zeros((n, 3), dtype=np.float32), np.ones(n, dtype=np.float32))
    return ms.Microstructure(phases=phases, particle_ids=ids.astype(np.int32), particles=table,
                             voxel_size_um=h,
                             spec=_spec(phases.shape, h, cam=cam, se=se, periodic=periodic),
                             seed=0)


def test_a_phase_of_fraction_zero_is_not_warned_about():
    spec = _spec((80, 80, 80), 0.4, cam={"d10_um": 1.7, "d50_um": 3.3, "d90_um": 6.1},
                 se={"d50_um": 1.6, "d90_um": 2.4}, carbon={"d50_um": 0.5, "d90_um": 0.8})
    assert [w.split(":")[0] for w in resolution_warnings(spec)] == ["phases.carbon"]
    assert resolution_warnings(spec.updated({"phases.carbon.fraction": 0})) == []


@pytest.fixture(scope="module")
def resolved():
    """NCM82 CAM (d10 1.7 um) at 0.4 um voxels (d10 > 4 voxels), SE and carbon resolved."""
    spec = _spec((80, 80, 80), 0.4, cam={"d10_um": 1.7, "d50_um": 3.3, "d90_um": 6.1},
                 se={"d50_um": 1.6, "d90_um": 2.4}, carbon={"d50_um": 1.1, "d90_um": 1.4})
    assert resolution_warnings(spec) == []
    return ms.generate(spec, seed=0)


# ---------------------------------------------------------------------------------------------
# on a generated structure


def test_fractions_equal_bincount(resolved):
    sm = ms.structure_metrics(resolved)
    counts = np.bincount(resolved.phases.ravel(), minlength=4)
    for name, code in ms.PHASE_CODES.items():
        assert sm.volume_fractions[name] == counts[code] / resolved.phases.size
    assert sm.volume_fractions == resolved.report.achieved
    assert sm.target_fractions == resolved.spec.target_fractions()
    assert sm.cam_overlap_fraction == resolved.report.cam_overlap_fraction


def test_profile_rows_sum_to_one_and_average_to_fractions(resolved):
    sm = ms.structure_metrics(resolved)
    assert sm.profile.shape == (resolved.shape[0], 4)
    np.testing.assert_allclose(sm.profile.sum(axis=1), 1.0, rtol=1e-12)
    mean = sm.profile.mean(axis=0)
    for name, code in ms.PHASE_CODES.items():
        assert math.isclose(mean[code], sm.volume_fractions[name], rel_tol=1e-12)
    slice0 = resolved.phases[0]
    np.testing.assert_allclose(sm.profile[0], np.bincount(slice0.ravel(), minlength=4)
                               / slice0.size)


def test_cam_d50_recovered_within_5_percent(resolved):
    sm = ms.structure_metrics(resolved)
    cam = sm.size_distributions["cam"]
    assert cam.source == "voxels" and cam.resolved
    assert cam.n_particles == len(np.unique(resolved.particle_ids)) - 1
    # reference = the median of the lognormal drawn from: the written d50
    assert math.isclose(cam.reference_d50_um, 3.3, rel_tol=1e-3)
    assert cam.spec_d50_um == 3.3
    assert abs(cam.d50_relative_error) <= 0.05 and cam.d50_within_tolerance
    assert cam.d10_um < cam.d50_um < cam.d90_um
    assert sm.warnings == ()


def test_soft_phase_sizes_come_from_the_particle_table(resolved):
    sm = ms.structure_metrics(resolved)
    for name in ("se", "carbon"):
        sd = sm.size_distributions[name]
        assert sd.source == "particle table"
        assert sd.n_particles == resolved.report.n_particles[name]
        r = resolved.particles.radius_um[resolved.particles.phase == ms.PHASE_CODES[name]]
        d = 2.0 * r.astype(np.float64)
        assert math.isclose(sd.d50_um, ms._psd.volume_quantile(d, 0.5), rel_tol=1e-9)


def test_tolerance_flag_follows_d50_tolerance(resolved):
    tight = ms.structure_metrics(resolved, d50_tolerance=1e-9)
    assert not tight.size_distributions["cam"].d50_within_tolerance
    assert tight.d50_tolerance == 1e-9


def test_contact_area_is_positive_and_bounded(resolved):
    sm = ms.structure_metrics(resolved)
    assert 0 < sm.cam_se_contact_area_per_volume < sm.cam_surface_area_per_volume
    assert 0 < sm.cam_se_coverage < 1
    assert math.isclose(sm.cam_se_coverage * sm.cam_surface_area_per_volume,
                        sm.cam_se_contact_area_per_volume, rel_tol=1e-12)


def test_repr_and_to_dict(resolved):
    sm = ms.structure_metrics(resolved)
    text = repr(sm)
    assert text.startswith("StructureMetrics(") and "cam: d10/d50/d90" in text
    assert "1/um" in text and "profile: 80 slices x 4 phases" in text
    # the closing parenthesis on a line of its own, not glued to a warning's own ")"
    warned = repr(dataclasses.replace(sm, warnings=("run through these contacts (not θ)",)))
    assert warned.endswith("  warning: run through these contacts (not θ)\n)")
    d = json.loads(json.dumps(sm.to_dict()))
    assert d["size_distributions"]["cam"]["source"] == "voxels"
    # sequential: no contact graph, so no contact areas by pair
    assert sm.contact_area_per_volume == {} and d["contact_counts"] == {}
    assert len(d["profile"]) == 80


@pytest.mark.parametrize(("mode", "warned"), [
    # sequential: d10 under 2 voxels (SE and carbon)
    ("sequential", {"phases.se", "phases.carbon"}),
    # pressed (the default): volume share in particles under 2 voxels; the fine SE goes to the
    # crevice fill (packing.se_fill_ratio), so only carbon is warned about
    ("pressed", {"phases.carbon"}),
])
def test_resolution_warnings_listed_not_raised(mode, warned):
    spec = ms.load_spec(ms.default_spec_path()).updated({"domain.shape": [64, 64, 64],
                                                          "packing.mode": mode})
    with pytest.warns(UserWarning) as caught:
        m = ms.generate(spec, seed=0)
    sm = ms.structure_metrics(m)   # no warning here: pytest turns warnings into errors
    late = contact_warnings(m.particles.hard_contact_radius_um(), m.voxel_size_um)
    assert sm.warnings == tuple(resolution_warnings(spec) + late) == m.report.warnings
    assert [str(w.message) for w in caught] == list(sm.warnings)
    assert {w.split(":")[0] for w in sm.warnings if "under 2 voxels" in w} == warned
    # pressed: the hard contacts (median radius ~0.075 um) are finer than the 0.25 um voxel
    assert len(late) == (mode == "pressed")
    # "resolved" follows the warnings: a warned phase has particles under 2 voxels
    for name in ("se", "carbon"):
        assert sm.size_distributions[name].resolved == (f"phases.{name}" not in warned)
    assert sm.size_distributions["cam"].resolved


# ---------------------------------------------------------------------------------------------
# analytic cases


def test_slab_contact_area_is_the_plane_area():
    h = 0.1
    phases = np.full((20, 16, 16), ms.SE, dtype=np.uint8)
    phases[:10] = ms.CAM
    sm = ms.structure_metrics(_hand_made(phases, h=h))
    assert sm.cam_se_contact_faces == 16 * 16          # one grid-aligned plane, counted exactly
    box = 20 * 16 * 16 * h**3
    assert math.isclose(sm.cam_se_contact_area_per_volume, (2 / 3) * 16 * 16 * h**2 / box)
    assert sm.cam_se_coverage == 1.0
    np.testing.assert_array_equal(sm.profile[:10], [[0, 1, 0, 0]] * 10)
    np.testing.assert_array_equal(sm.profile[10:], [[0, 0, 1, 0]] * 10)


def test_cam_faces_to_pore_and_carbon_are_not_se_contact():
    phases = np.zeros((12, 12, 12), dtype=np.uint8)
    phases[4:8, 4:8, 4:8] = ms.CAM
    phases[8, 4:8, 4:8] = ms.SE          # one face of the cube touches SE
    phases[3, 4:8, 4:8] = ms.CARBON      # the opposite one carbon, the rest pore
    sm = ms.structure_metrics(_hand_made(phases))
    assert sm.cam_se_contact_faces == 16
    assert math.isclose(sm.cam_se_coverage, 16 / (6 * 16))


@pytest.mark.parametrize("periodic", [True, False])
def test_cube_across_the_lateral_boundary(periodic):
    phases = np.full((16, 16, 16), ms.SE, dtype=np.uint8)
    phases[6:10, 6:10, 6:10] = ms.CAM
    inner = ms.structure_metrics(_hand_made(phases, periodic=periodic))
    assert inner.cam_se_contact_faces == 6 * 4 * 4
    wrapped = np.roll(phases, (8, 8), axis=(1, 2))   # the cube now straddles both lateral edges
    sm = ms.structure_metrics(_hand_made(wrapped, periodic=periodic))
    assert sm.cam_se_contact_faces == 6 * 4 * 4      # faces across the edges are CAM|CAM


@pytest.mark.parametrize("axis", [1, 2])
@pytest.mark.parametrize("periodic", [True, False])
def test_faces_across_the_lateral_boundary_count_only_when_periodic(periodic, axis):
    phases = np.zeros((8, 16, 16), dtype=np.uint8)
    first = [slice(None)] * 3
    last = [slice(None)] * 3
    first[axis], last[axis] = 0, -1
    phases[tuple(first)] = ms.CAM        # CAM on one lateral edge, SE on the opposite edge
    phases[tuple(last)] = ms.SE
    sm = ms.structure_metrics(_hand_made(phases, periodic=periodic))
    assert sm.cam_se_contact_faces == (8 * 16 if periodic else 0)


def test_no_wrap_through_plane():
    phases = np.full((16, 8, 8), ms.SE, dtype=np.uint8)
    phases[0] = ms.CAM                    # CAM on the current collector, SE at the separator
    sm = ms.structure_metrics(_hand_made(phases))
    assert sm.cam_se_contact_faces == 8 * 8   # only the face towards slice 1


def test_sphere_area_with_isotropic_correction():
    """Voxel faces over-count a sphere by 3/2; the corrected area is 4 pi R^2 within 3 %."""
    n, radius, h = 48, 15.0, 0.2
    z, y, x = np.indices((n, n, n)) + 0.5 - n / 2
    cam = x**2 + y**2 + z**2 <= radius**2
    phases = np.where(cam, ms.CAM, ms.SE).astype(np.uint8)
    sm = ms.structure_metrics(_hand_made(phases, h=h))
    box = (n * h) ** 3
    area = sm.cam_se_contact_area_per_volume * box
    exact = 4 * math.pi * (radius * h) ** 2
    assert abs(area / exact - 1) < 0.03
    # equivalent-sphere diameter of the voxelized particle
    cam_sd = sm.size_distributions["cam"]
    assert cam_sd.n_particles == 1
    assert abs(cam_sd.d50_um / (2 * radius * h) - 1) < 0.01


def test_equal_spheres_of_known_size():
    """Two particles of 8 and 10 voxel radius: volume-weighted quantiles between them."""
    n, h = 64, 0.25
    z, y, x = np.indices((n, n, n)) + 0.5
    ids = np.zeros((n, n, n), dtype=np.int32)
    ids[(z - 16) ** 2 + (y - 16) ** 2 + (x - 16) ** 2 <= 8**2] = 1
    ids[(z - 44) ** 2 + (y - 44) ** 2 + (x - 44) ** 2 <= 10**2] = 2
    phases = np.where(ids > 0, ms.CAM, ms.SE).astype(np.uint8)
    sd = ms.structure_metrics(_hand_made(phases, ids, h=h)).size_distributions["cam"]
    assert sd.n_particles == 2
    assert 2 * 8 * h * 0.99 < sd.d10_um <= sd.d50_um <= sd.d90_um < 2 * 10 * h * 1.01


def test_argument_checks(resolved):
    with pytest.raises(TypeError, match="Microstructure"):
        ms.structure_metrics(resolved.phases)
    for bad in (0, 1, -0.1, "5%"):
        with pytest.raises(ValueError, match="d50_tolerance"):
            ms.structure_metrics(resolved, d50_tolerance=bad)


# ---------------------------------------------------------------------------------------------
# homogeneity


def test_window_counts_equal_a_brute_force_count():
    from microstructure._homogeneity import window_counts

    rng = np.random.default_rng(3)
    phases = rng.integers(0, 4, size=(13, 11, 12)).astype(np.uint8)
    block, steps = 2, 3
    got = window_counts(phases, block, steps)
    # the cubes: 6 x 5 x 6 of 2 voxels, the leftover voxel split (crop starts at 0, 0, 0)
    want = [np.bincount(phases[i:i + 6, j:j + 6, k:k + 6].ravel(), minlength=4)
            for i in range(0, 12 - 6 + 1, 2) for j in range(0, 10 - 6 + 1, 2)
            for k in range(0, 12 - 6 + 1, 2)]
    np.testing.assert_array_equal(got, want)
    assert window_counts(phases, 4, 3).shape == (0, 4)          # 3 cubes of 4 do not fit in 11


def test_segregated_halves_have_the_analytic_spread():
    """CAM in one lateral half, SE in the other; 8-voxel windows at steps of 2 voxels see a
    CAM fraction of 1, 3/4, 1/2, 1/4, 0: mean 1/2, standard deviation sqrt(1/8)."""
    phases = np.full((16, 16, 16), ms.SE, dtype=np.uint8)
    phases[:, :8] = ms.CAM
    hom = ms.structure_metrics(_hand_made(phases, h=0.1), homogeneity_window_um=0.8).homogeneity
    assert math.isclose(hom.window_um, 0.8)
    assert hom.n_windows == 5**3
    assert math.isclose(hom.independent_windows, 8.0)
    assert hom.bulk_um == (0.0, 1.6)                              # no report: no wall margin
    assert set(hom.rsd) == {"cam", "se"}                          # the phases present
    for name in ("cam", "se"):
        assert math.isclose(hom.mean_fraction[name], 0.5)
        assert math.isclose(hom.std_fraction[name], math.sqrt(1 / 8))
        assert math.isclose(hom.rsd[name], math.sqrt(1 / 2))


def test_a_fine_layered_mix_is_perfectly_even():
    phases = np.full((12, 12, 12), ms.SE, dtype=np.uint8)
    phases[:, :, ::2] = ms.CAM                                    # one-voxel layers
    hom = ms.structure_metrics(_hand_made(phases), homogeneity_window_um=0.6).homogeneity
    assert hom.n_windows > 1
    assert hom.rsd == {"cam": 0.0, "se": 0.0}


def test_a_window_larger_than_the_bulk_gives_nan():
    phases = np.full((12, 12, 12), ms.SE, dtype=np.uint8)
    phases[:6] = ms.CAM
    hom = ms.structure_metrics(_hand_made(phases), homogeneity_window_um=1.5).homogeneity
    assert hom.n_windows == 0 and hom.independent_windows == 0.0
    assert all(math.isnan(v) for v in hom.rsd.values())
    one = ms.structure_metrics(_hand_made(phases), homogeneity_window_um=1.2).homogeneity
    assert one.n_windows == 1                                     # fits once: no spread
    assert all(math.isnan(v) for v in one.rsd.values())
    assert math.isclose(one.mean_fraction["cam"], 0.5)
    assert "window fits the 1.2 um bulk 1 time(s): no spread" in repr(one)
    json.dumps(hom.to_dict())                                     # NaN is valid JSON for Python


def test_homogeneity_window_checks(resolved):
    for bad in (0, -1.0, 0.1, math.nan, math.inf, "10", True):
        with pytest.raises(ValueError, match="homogeneity_window_um"):
            ms.structure_metrics(resolved, homogeneity_window_um=bad)


def test_homogeneity_of_a_generated_structure(resolved):
    sm = ms.structure_metrics(resolved)
    hom = sm.homogeneity
    d50 = resolved.spec.phases.cam.psd.sampler().volume_quantile(0.5)
    assert abs(hom.window_um - 3 * d50) <= 0.4                    # 3 CAM d50s, whole voxels
    bulk = resolved.bulk_slice()
    assert hom.bulk_um == (bulk.start * 0.4, bulk.stop * 0.4)
    assert set(hom.rsd) == {"pore", "cam", "se", "carbon"}
    for name, f in hom.mean_fraction.items():                     # windows in the bulk
        assert abs(f - sm.volume_fractions[name]) < 0.05
        assert 0 < hom.rsd[name] < 1
    coarse = ms.structure_metrics(resolved, homogeneity_window_um=2 * hom.window_um).homogeneity
    for name in hom.rsd:                                          # larger samples, evener mix
        assert coarse.rsd[name] < hom.rsd[name]
    assert "homogeneity" in repr(sm).lower()
    assert sm.to_dict()["homogeneity"]["rsd"] == hom.rsd


def test_wall_margin_sets_the_homogeneity_bulk_as_it_does_the_transport_bulk(resolved):
    """One margin for both: ``analyze(wall_margin_um=...)`` measures the homogeneity and the
    transport on the same bulk; a bad margin names the option before any work."""
    from microstructure.studies import analyze

    h = float(resolved.voxel_size_um)
    hom = ms.structure_metrics(resolved, wall_margin_um=0).homogeneity
    assert hom.bulk_um == (0.0, resolved.shape[0] * h)
    a = analyze(resolved, rules=("strict",), transport=True, wall_margin_um=2.0)
    b = resolved.bulk_slice(margin_um=2.0)
    assert a["structure"]["homogeneity"]["bulk_um"] == [b.start * h, b.stop * h]
    assert a["transport"]["wall_margin_um"] == b.start * h
    for bad, err in ((-1.0, ValueError), (math.nan, ValueError), ("thick", TypeError)):
        with pytest.raises(err, match="wall_margin_um"):
            ms.structure_metrics(resolved, wall_margin_um=bad)


def test_homogeneity_in_the_analysis_rows_and_cli(resolved, tmp_path):
    """``analyze`` and ``assb analyze`` pass the window on; the row carries the RSDs; a bad
    window is refused before any work, naming the option."""
    from typer.testing import CliRunner

    from microstructure.studies import analyze
    from microstructure.studies.cli import app
    from microstructure.studies.rows import COLUMNS, flat_row

    a = analyze(resolved, rules=("strict",), transport=False, homogeneity_window_um=8.0)
    hom = a["structure"]["homogeneity"]
    assert hom["window_um"] == 8.0
    want = ms.structure_metrics(resolved, homogeneity_window_um=8.0).homogeneity
    assert hom["rsd"] == want.rsd
    row = flat_row(a, resolved)
    assert row["homogeneity_window_um"] == 8.0
    for n in ("pore", "cam", "se", "carbon"):
        assert f"homogeneity_rsd_{n}" in COLUMNS and row[f"homogeneity_rsd_{n}"] == want.rsd[n]
    with pytest.raises(ValueError, match="homogeneity_window_um"):
        analyze(resolved, homogeneity_window_um=-3.0)

    store = resolved.save(tmp_path / "m.zarr")
    run = CliRunner().invoke
    ok = run(app, ["analyze", str(store), "--no-transport", "--homogeneity-window-um", "8"])
    assert ok.exit_code == 0, ok.output
    line = next(x for x in ok.stdout.splitlines() if x.startswith("homogeneity"))
    assert f"cam {want.rsd['cam']:.3f}" in line and "windows of 8 um" in line
    for bad in ("0.1", "nan"):
        res = run(app, ["analyze", str(store), "--homogeneity-window-um", bad])
        assert res.exit_code == 2 and "--homogeneity-window-um" in res.output
        assert "Traceback" not in res.output


def test_independent_voxels_have_the_binomial_spread():
    """Voxels drawn independently, CAM with p = 0.3: the CAM fraction of an n³ window has the
    binomial RSD sqrt((1 - p) / (p n³)) (0.0591 for n = 8; 512 independent windows)."""
    rng = np.random.default_rng(11)
    phases = np.where(rng.random((64, 64, 64)) < 0.3, ms.CAM, ms.SE).astype(np.uint8)
    hom = ms.structure_metrics(_hand_made(phases, h=0.1), homogeneity_window_um=0.8).homogeneity
    assert hom.independent_windows == 512
    assert hom.rsd["cam"] == pytest.approx(math.sqrt(0.7 / (0.3 * 512)), rel=0.08)
    assert hom.std_fraction["se"] == pytest.approx(hom.std_fraction["cam"])


def test_the_graph_never_counts_more_cam_se_contact_than_the_whole_interface():
    """80:20 w/w, 4 µm CAM, 0.8 µm SE at 0.25 µm: the crevice fill's bodies hold most of the
    graph's CAM|SE area.  Their shared voxel faces over-count a staircase by 3/2 as every face
    count does; counted raw, the graph's CAM|SE contact (0.515 / µm) exceeded the whole
    2/3-corrected CAM|SE interface of the voxels (0.470 / µm)."""
    spec = ms.load_spec(ms.default_spec_path()).updated({
        "domain.shape": [80, 64, 64], "domain.voxel_size_um": 0.25,
        "phases.cam.fraction": 80, "phases.se.fraction": 20, "phases.carbon.fraction": 0,
        "phases.cam.psd": {"kind": "lognormal", "d50_um": 4.0, "d90_um": 6.0},
        "phases.se.psd": {"kind": "lognormal", "d50_um": 0.8, "d90_um": 1.2}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)     # SE fines under 2 voxels
        m = ms.generate(spec, seed=1)
        sm = ms.structure_metrics(m)
    assert m.report.topology["se_fill_bodies"] > 0
    assert 0 < sm.contact_area_per_volume["cam|se"] < sm.cam_se_contact_area_per_volume
    t = m.particles
    fill = np.arange(len(t)) >= len(t) - m.report.topology["se_fill_bodies"]
    body = fill[t.contact_pairs()].any(axis=1)
    faces = np.asarray(t.contact_area_um2, np.float64)[body] / (m.voxel_size_um ** 2 * 2 / 3)
    np.testing.assert_allclose(faces, np.round(faces), atol=1e-4)   # whole faces, times 2/3
