"""ElectrodeSpec: wt% -> vol%, PSDs (quantiles, fits, tables, volume vs number), bad input."""

from __future__ import annotations

import copy
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr, ndtri

import microstructure as ms
from microstructure._psd import lognormal_parameters, table_sampler, volume_quantile
from microstructure._psd_spec import LognormalPSD, TablePSD
from microstructure._spec import ElectrodeSpec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nmc_lpscl.toml"
Z90 = float(ndtri(0.9))


def _example() -> dict:
    with EXAMPLE.open("rb") as fh:
        return tomllib.load(fh)


def _spec(mod=None) -> dict:
    d = _example()
    if mod is not None:
        mod(d)
    return d


def _error(mod) -> str:
    with pytest.raises(ms.SpecError) as exc:
        ElectrodeSpec.from_dict(_spec(mod))
    return str(exc.value)


# ---------------------------------------------------------------------------------------------
# composition


def _ncm_lic_c65(basis="weight", parts=(80, 20, 3)):
    def mod(d):
        d["composition"]["basis"] = basis
        for name, rho, f in zip(("cam", "se", "carbon"), (4.75, 2.59, 1.96), parts, strict=True):
            d["phases"][name]["density_g_cm3"] = rho
            d["phases"][name]["fraction"] = f
    return ElectrodeSpec.from_dict(_spec(mod))


def test_weight_to_volume_ncm_lic_c65():
    # DOMAIN.md: NCM 4.75, LIC 2.59, C65 1.96 g/cm3 at 80:20:3 w/w -> 64.5 / 29.6 / 5.9 vol%
    v = _ncm_lic_c65().solid_volume_fractions()
    assert abs(100 * v["cam"] - 64.5) < 0.1
    assert abs(100 * v["se"] - 29.6) < 0.1
    assert abs(100 * v["carbon"] - 5.9) < 0.1
    assert math.isclose(sum(v.values()), 1.0)
    # exact formula v_i = (w_i / rho_i) / sum_j (w_j / rho_j)
    parts = np.array([80 / 4.75, 20 / 2.59, 3 / 1.96])
    np.testing.assert_allclose([v["cam"], v["se"], v["carbon"]], parts / parts.sum(), rtol=1e-12)


def test_weight_fractions_round_trip():
    spec = _ncm_lic_c65()
    w = spec.solid_weight_fractions()
    np.testing.assert_allclose([w["cam"], w["se"], w["carbon"]], np.array([80, 20, 3]) / 103)
    # the same mix written by volume gives the same weights back
    v = spec.solid_volume_fractions()
    spec_v = _ncm_lic_c65("volume", (v["cam"], v["se"], v["carbon"]))
    wv = spec_v.solid_weight_fractions()
    for n in w:
        assert math.isclose(wv[n], w[n], rel_tol=1e-12)


def test_target_fractions_of_the_box():
    spec = _ncm_lic_c65()
    t = spec.target_fractions()
    v = spec.solid_volume_fractions()
    eps = spec.composition.porosity
    assert t["pore"] == eps
    for n in ("cam", "se", "carbon"):
        assert math.isclose(t[n], v[n] * (1 - eps))
    assert math.isclose(sum(t.values()), 1.0)


def test_volume_basis_uses_fractions_directly_and_needs_no_density():
    def mod(d):
        d["composition"]["basis"] = "volume"
        for name, f in (("cam", 60), ("se", 30), ("carbon", 10)):
            d["phases"][name].pop("density_g_cm3")
            d["phases"][name]["fraction"] = f
    spec = ElectrodeSpec.from_dict(_spec(mod))
    v = spec.solid_volume_fractions()
    assert (round(v["cam"], 12), round(v["se"], 12), round(v["carbon"], 12)) == (0.6, 0.3, 0.1)
    assert spec.areal_loading_mg_cm2() is None
    with pytest.raises(ValueError, match="density_g_cm3"):
        spec.solid_weight_fractions()


def test_carbon_is_optional():
    spec = ElectrodeSpec.from_dict(_spec(lambda d: d["phases"].pop("carbon")))
    assert set(spec.present_phases()) == {"cam", "se"}
    assert spec.target_fractions()["carbon"] == 0.0
    v = spec.solid_volume_fractions()
    expected = (70 / 4.75) / (70 / 4.75 + 30 / 1.64)
    assert math.isclose(v["cam"], expected)
    assert set(spec.conductivities("electronic")) == {ms.CAM, ms.SE}


def test_conductivities_default_and_given():
    spec = ElectrodeSpec.from_dict(
        _spec(lambda d: d["phases"]["se"].update(ionic_conductivity_S_cm=1e-2)))
    assert spec.conductivities("ionic")[ms.SE] == 1e-2
    assert spec.conductivities("electronic")[ms.CARBON] > spec.conductivities("electronic")[ms.CAM]


def test_transport_conductivities_take_each_network_its_own_carrier():
    spec = ElectrodeSpec.from_dict(
        _spec(lambda d: d["phases"]["se"].update(ionic_conductivity_S_cm=1e-2)))
    ionic, electronic = spec.conductivities("ionic"), spec.conductivities("electronic")
    assert spec.transport_conductivities() == {ms.SE: 1e-2, ms.CAM: electronic[ms.CAM],
                                               ms.CARBON: electronic[ms.CARBON]}
    assert ionic[ms.SE] == 1e-2
    bare = ElectrodeSpec.from_dict(_spec(lambda d: d["phases"].pop("carbon")))
    assert set(bare.transport_conductivities()) == {ms.SE, ms.CAM}
    with pytest.raises(ValueError, match="kind must be 'ionic' or 'electronic', got 'x'"):
        spec.conductivities("x")


# ---------------------------------------------------------------------------------------------
# particle size distributions


@pytest.mark.parametrize("given", [("d10_um", "d50_um"), ("d50_um", "d90_um"),
                                   ("d10_um", "d90_um")])
def test_lognormal_from_any_two_quantiles(given):
    mu, sigma = math.log(3.3), 0.45
    q = {"d10_um": math.exp(mu - Z90 * sigma), "d50_um": math.exp(mu),
         "d90_um": math.exp(mu + Z90 * sigma)}
    psd = LognormalPSD(**{k: q[k] for k in given})
    m, s = lognormal_parameters(psd.d10_um, psd.d50_um, psd.d90_um)
    assert math.isclose(m, mu, rel_tol=1e-12) and math.isclose(s, sigma, rel_tol=1e-12)
    # the sampler's volume quantiles reproduce the given ones (truncation at 0.5/99.5 % only
    # nudges d10/d90; the median is exact)
    sampler = psd.sampler()
    assert math.isclose(sampler.volume_quantile(0.5), q["d50_um"], rel_tol=1e-3)
    for name, p in (("d10_um", 0.1), ("d90_um", 0.9)):
        assert math.isclose(sampler.volume_quantile(p), q[name], rel_tol=0.02)


def test_lognormal_from_three_quantiles_keeps_the_written_d50():
    """Given d10/d50/d90, the median is the written d50 (a sweep of d50 alone moves it fully)
    and the width the mean of the two half-widths; the misses of d10 / d90 are reported."""
    d = np.array([0.44, 0.79, 1.82])  # LPSCl, measured: skewed, not on one lognormal
    mu, sigma = lognormal_parameters(*d)
    assert math.isclose(math.exp(mu), 0.79, rel_tol=1e-12)
    assert math.isclose(sigma, math.log(1.82 / 0.44) / (2 * Z90), rel_tol=1e-12)
    psd = LognormalPSD(d10_um=0.44, d50_um=0.79, d90_um=1.82)
    assert math.isclose(psd.sampler().volume_quantile(0.5), 0.79, rel_tol=1e-3)
    miss = psd.quantile_misses()
    assert math.isclose(miss["d10_um"][1], 0.79 * math.exp(-sigma * Z90), rel_tol=1e-12)
    assert math.isclose(miss["d90_um"][1], 0.79 * math.exp(sigma * Z90), rel_tol=1e-12)
    # d50 alone changed (a sweep point): the built d50 is the new one, the width kept
    for d50 in (0.6, 1.5):
        moved = LognormalPSD(d10_um=0.44, d50_um=d50, d90_um=1.82).sampler()
        assert math.isclose(moved.volume_quantile(0.5), d50, rel_tol=1e-3)
        assert math.isclose(moved.volume_quantile(0.9) / moved.volume_quantile(0.1),
                            psd.sampler().volume_quantile(0.9) / psd.sampler().volume_quantile(0.1),
                            rel_tol=1e-6)
    assert LognormalPSD(d50_um=0.79, d90_um=1.82).quantile_misses() == {}


def test_table_psd_starting_above_zero_puts_that_share_at_its_first_diameter():
    # a d10/d50/d90 written as a table: the 10 % below 1.7 um lie at 1.7 um (not dropped)
    s = TablePSD(kind="table", diameters_um=[1.7, 3.3, 6.1, 12.0],
                 cumulative=[0.1, 0.5, 0.9, 1.0]).sampler()
    for q, d in ((0.1, 1.7), (0.5, 3.3), (0.9, 6.1)):
        assert math.isclose(s.volume_quantile(q), d, rel_tol=1e-5)
    assert math.isclose(s.d_min, 1.7, rel_tol=1e-5)
    d = s.sample(200_000, np.random.default_rng(0))
    assert d.min() >= 1.7 * (1 - 1e-6)
    assert abs(volume_quantile(d, 0.05) / 1.7 - 1) < 1e-5   # the step at the first diameter
    # a flat table (everything at the first diameter): one size, no IndexError
    one = TablePSD(kind="table", diameters_um=[1.0, 6.0], cumulative=[1.0, 1.0]).sampler()
    assert math.isclose(one.volume_quantile(0.5), 1.0, rel_tol=1e-5)
    assert np.allclose(one.sample(100, np.random.default_rng(1)), 1.0, rtol=1e-5)


def test_table_psd_quantiles_and_range():
    psd = TablePSD(kind="table", diameters_um=[1.0, 2.0, 4.0, 8.0],
                   cumulative=[0.0, 0.25, 0.75, 1.0])
    sampler = psd.sampler()
    assert math.isclose(sampler.d_min, 1.0) and math.isclose(sampler.d_max, 8.0)
    # linear in ln d between table points: d50 = sqrt(2 * 4)
    assert math.isclose(sampler.volume_quantile(0.5), math.sqrt(8.0), rel_tol=1e-9)
    assert math.isclose(sampler.volume_quantile(0.25), 2.0, rel_tol=1e-9)
    d = sampler.sample(100_000, np.random.default_rng(1))
    assert d.min() >= 1.0 and d.max() <= 8.0
    assert math.isclose(volume_quantile(d, 0.5), math.sqrt(8.0), rel_tol=0.02)


def test_table_psd_in_spec():
    table = {"kind": "table", "diameters_um": [1.0, 2.0, 4.0, 8.0],
             "cumulative": [0.0, 0.25, 0.75, 1.0]}
    spec = ElectrodeSpec.from_dict(_spec(lambda d: d["phases"]["cam"].update(psd=table)))
    assert isinstance(spec.phases.cam.psd, TablePSD)


@pytest.mark.parametrize("psd", [
    {"d10_um": 1.7, "d50_um": 3.3, "d90_um": 6.1},
    {"d50_um": 0.79, "d90_um": 1.82},
])
def test_number_sampling_recovers_volume_d50(psd):
    """Particles are drawn by number; their volume-weighted d50 is the PSD's (within 2 %)."""
    sampler = LognormalPSD(**psd).sampler()
    d = sampler.sample(400_000, np.random.default_rng(7))
    reference = sampler.volume_quantile(0.5)
    assert abs(volume_quantile(d, 0.5) / reference - 1) < 0.02
    # by number the log-mean is the Hatch-Choate one, mu - 3 sigma^2 (truncated to the PSD's
    # volume-quantile range), far below d50
    mu, sigma = lognormal_parameters(psd.get("d10_um"), psd.get("d50_um"), psd.get("d90_um"))
    expected = _truncated_median(mu - 3 * sigma**2, sigma, sampler.d_min, sampler.d_max)
    assert abs(np.median(d) / expected - 1) < 0.01
    assert np.median(d) < 0.8 * reference


def test_sample_volume_reaches_the_total():
    sampler = LognormalPSD(d10_um=1.7, d50_um=3.3, d90_um=6.1).sampler()
    d = sampler.sample_volume(5000.0, np.random.default_rng(0))
    vol = np.pi / 6 * d**3
    assert abs(vol.sum() - 5000.0) <= vol.max()
    assert np.all(np.diff(d) <= 0)  # large first


def _truncated_median(mu: float, sigma: float, lo: float, hi: float) -> float:
    """Median of a lognormal(mu, sigma) truncated to [lo, hi]."""
    a, b = ndtr((math.log(lo) - mu) / sigma), ndtr((math.log(hi) - mu) / sigma)
    return math.exp(mu + sigma * float(ndtri((a + b) / 2)))


def test_number_based_psd():
    psd = LognormalPSD(d50_um=1.0, d90_um=2.0, basis="number")
    sampler = psd.sampler()
    d = sampler.sample(400_000, np.random.default_rng(3))
    mu, sigma = lognormal_parameters(None, 1.0, 2.0)
    assert abs(np.median(d) / _truncated_median(mu, sigma, sampler.d_min, sampler.d_max) - 1) < 0.01
    # the equivalent volume-based median is exp(mu + 3 sigma^2) (Hatch-Choate)
    assert abs(sampler.volume_quantile(0.5) / math.exp(mu + 3 * sigma**2) - 1) < 1e-3
    table = table_sampler(np.array([1.0, 2.0, 4.0]), np.array([0.0, 0.5, 1.0]), "number")
    d = table.sample(200_000, np.random.default_rng(4))
    assert abs(np.median(d) / 2.0 - 1) < 0.02


# ---------------------------------------------------------------------------------------------
# files


def test_load_example_and_embedded_default():
    spec = ms.load_spec(EXAMPLE)
    assert spec.domain.shape == (200, 128, 128)
    assert spec.domain.voxel_size_um == 0.25
    assert spec.composition.basis == "weight"
    assert spec.phases.carbon is not None and spec.phases.carbon.material == "Super C65"
    assert spec == ms.load_spec(ms.default_spec_path())


def test_load_malformed_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[domain]\nshape = [200, 128\n")
    with pytest.raises(ms.SpecError, match="invalid TOML") as exc:
        ms.load_spec(p)
    assert str(p) in str(exc.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="spec file not found"):
        ms.load_spec(tmp_path / "nope.toml")


def test_load_names_the_bad_field(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(EXAMPLE.read_text().replace("porosity = 0.15", "porosity = 1.5"))
    with pytest.raises(ms.SpecError, match=r"composition\.porosity"):
        ms.load_spec(p)


def test_updated_by_dotted_path():
    spec = ms.load_spec(EXAMPLE)
    new = spec.updated({"phases.cam.fraction": 60, "domain.shape": [100, 64, 64]})
    assert new.phases.cam.fraction == 60 and new.domain.shape == (100, 64, 64)
    with pytest.raises(ms.SpecError, match="unknown field 'phases.binder'"):
        spec.updated({"phases.binder.fraction": 1})
    with pytest.raises(ms.SpecError, match=r"phases\.cam\.fraction"):
        spec.updated({"phases.cam.fraction": -1})


def test_updated_sets_a_table_before_the_keys_inside_it():
    """The more specific change wins whatever the order given (as in a sweep)."""
    spec = ms.load_spec(EXAMPLE)
    table = {"kind": "lognormal", "d10_um": 1.0, "d50_um": 2.0, "d90_um": 4.0}
    key_first = spec.updated({"phases.se.psd.d50_um": 1.5, "phases.se.psd": table})
    table_first = spec.updated({"phases.se.psd": table, "phases.se.psd.d50_um": 1.5})
    assert key_first == table_first
    assert key_first.phases.se.psd.d50_um == 1.5 and key_first.phases.se.psd.d90_um == 4.0
    assert table["d50_um"] == 2.0                                   # the caller's dict unchanged


def _box_in_um(size=(50, 32, 32)):
    def mod(d):
        del d["domain"]["shape"]
        d["domain"]["size_um"] = list(size)
    return mod


def test_box_in_um_gives_the_shape_and_survives_a_new_voxel():
    """``domain.size_um`` (the electrode thickness as a mixing sheet gives it) is the same box
    as the example's shape; it stays in µm when the voxel changes, and a shape replaces it."""
    spec = ElectrodeSpec.from_dict(_spec(_box_in_um()))
    assert spec.domain.shape == (200, 128, 128) and spec.box_um() == (50.0, 32.0, 32.0)
    assert ElectrodeSpec.from_dict(spec.model_dump(mode="json", exclude_none=True)) == spec
    coarse = spec.updated({"domain.voxel_size_um": 0.5})
    assert coarse.domain.shape == (100, 64, 64) and coarse.box_um() == (50.0, 32.0, 32.0)
    odd = spec.updated({"domain.size_um": [30.1, 32, 32]})       # rounded to whole voxels
    assert odd.domain.shape == (120, 128, 128) and odd.box_um()[0] == 30.0
    voxels = spec.updated({"domain.shape": [100, 64, 64]})        # the box in voxels now
    assert voxels.domain.size_um is None and voxels.box_um() == (25.0, 16.0, 16.0)
    plain = ms.load_spec(EXAMPLE).updated({"domain.size_um": [40, 32, 32]})
    assert plain.domain.shape == (160, 128, 128)
    both = spec.updated({"domain.size_um": [40, 32, 32], "domain.shape": [160, 128, 128]})
    assert both == plain                                           # both given and agreeing


def test_box_in_um_errors_name_the_field():
    assert "size_um must be three lengths > 0" in _error(_box_in_um((50, 0, 32)))
    assert "size_um must be three lengths > 0" in _error(_box_in_um((50, 32)))
    msg = _error(_box_in_um((1.5, 32, 32)))
    assert "domain: size_um [1.5, 32, 32] at voxel_size_um 0.25 is [6, 128, 128] voxels" in msg

    def both(d):
        d["domain"]["size_um"] = [40, 32, 32]
    msg = _error(both)                                             # shape 200 != 160
    assert "shape [200, 128, 128] and size_um [40, 32, 32] disagree" in msg
    assert "give shape (voxels) or size_um (um)" in _error(_pop("domain.shape"))
    # a box in um keeps its size at any voxel: only a larger size_um helps
    with pytest.raises(ms.SpecError, match=r"does not fit the box .*; enlarge domain.size_um$"):
        ms.load_spec(EXAMPLE).updated({"domain.size_um": [10, 10, 10]})


def test_a_sweep_over_the_thickness_in_um():
    from microstructure.studies import SweepSpec

    sw = SweepSpec(base="default", seeds=1, axes={"domain.size_um": [[30, 32, 32], [60, 32, 32]]},
                   overrides={"domain.voxel_size_um": 0.5})
    points = sw.expand()
    assert [p.spec.domain.shape for p in points] == [(60, 64, 64), (120, 64, 64)]
    assert [p.spec.box_um()[0] for p in points] == [30.0, 60.0]


def _measured(**comp):
    def mod(d):
        d["composition"].pop("porosity")
        d["composition"].update(comp)
    return mod


PELLET = {"mass_mg": 13.0, "diameter_mm": 10.0, "thickness_um": 60.0}


def test_porosity_from_a_weighed_pellet_and_from_a_bulk_density():
    """A pellet of 13 mg in a 10 mm die, 60 um thick: 13e-3 g / (pi 0.5² cm² x 60e-4 cm)
    = 2.7587 g/cm³; the 70:30:1 solids (4.75 / 1.64 / 1.96 g/cm³) are 101 g in 33.54 cm³ per
    101 parts: 3.0114 g/cm³; porosity 1 - 2.7587 / 3.0114 = 0.0839."""
    rho_bulk = 13e-3 / (math.pi * 0.25 * 60e-4)
    rho_mix = 101 / (70 / 4.75 + 30 / 1.64 + 1 / 1.96)
    spec = ElectrodeSpec.from_dict(_spec(_measured(pellet=PELLET)))
    assert math.isclose(spec.composition.porosity, 1 - rho_bulk / rho_mix, rel_tol=1e-12)
    assert round(spec.composition.porosity, 4) == 0.0839
    assert math.isclose(spec.bulk_density_g_cm3(), rho_bulk, rel_tol=1e-12)
    assert math.isclose(spec.target_fractions()["pore"], spec.composition.porosity)
    assert ElectrodeSpec.from_dict(spec.model_dump(mode="json", exclude_none=True)) == spec
    dense = ElectrodeSpec.from_dict(_spec(_measured(bulk_density_g_cm3=rho_bulk)))
    assert math.isclose(dense.composition.porosity, spec.composition.porosity, rel_tol=1e-12)
    plain = ms.load_spec(EXAMPLE)                                  # given porosity: the density
    assert math.isclose(plain.bulk_density_g_cm3(), 0.85 * rho_mix, rel_tol=1e-12)

    def no_carbon_density(d):
        _measured(bulk_density_g_cm3=rho_bulk)(d)
        d["composition"]["basis"] = "volume"
        d["phases"]["carbon"]["fraction"] = 0          # absent solids need no density
        d["phases"]["carbon"].pop("density_g_cm3")
    vol_only = ElectrodeSpec.from_dict(_spec(no_carbon_density))
    assert math.isclose(vol_only.bulk_density_g_cm3(), rho_bulk, rel_tol=1e-12)
    volume = ElectrodeSpec.from_dict(_spec(_set("composition.basis", "volume")))
    v = {"cam": 70 / 101, "se": 30 / 101, "carbon": 1 / 101}
    assert math.isclose(volume.bulk_density_g_cm3(),
                        0.85 * (v["cam"] * 4.75 + v["se"] * 1.64 + v["carbon"] * 1.96))


def test_a_measured_density_stays_the_source_when_the_spec_changes():
    """The measurement belongs to the pellet: a new CAM fraction (denser solids) at the same
    pellet gives more pores; a porosity set later replaces the measurement; a new measurement
    of the other kind replaces the first."""
    spec = ElectrodeSpec.from_dict(_spec(_measured(pellet=PELLET)))
    more_cam = spec.updated({"phases.cam.fraction": 80})
    rho_mix = 111 / (80 / 4.75 + 30 / 1.64 + 1 / 1.96)
    assert math.isclose(more_cam.composition.porosity, 1 - spec.bulk_density_g_cm3() / rho_mix)
    assert more_cam.composition.porosity > spec.composition.porosity
    heavier = spec.updated({"composition.pellet.mass_mg": 14.0})
    assert heavier.composition.porosity < spec.composition.porosity
    fixed = spec.updated({"composition.porosity": 0.2})
    assert fixed.composition.porosity == 0.2 and fixed.composition.pellet is None
    by_density = spec.updated({"composition.bulk_density_g_cm3": 2.9})
    assert by_density.composition.pellet is None
    assert math.isclose(by_density.bulk_density_g_cm3(), 2.9)
    from microstructure.studies import SweepSpec

    sw = SweepSpec(base="default", seeds=1,
                   axes={"composition.bulk_density_g_cm3": [2.4, 2.6, 2.8]})
    eps = [p.spec.composition.porosity for p in sw.expand()]
    assert eps[0] > eps[1] > eps[2] > 0


def test_measured_density_errors_name_the_field():
    assert ("composition.porosity missing: give it, or bulk_density_g_cm3 (g/cm³), or pellet"
            in _error(_pop("composition.porosity")))
    msg = _error(_measured(bulk_density_g_cm3=3.2))
    assert ("composition.bulk_density_g_cm3: a bulk density of 3.2 g/cm³ against the solids' "
            "3.011 g/cm³ gives a porosity of -0.0626, outside [0, 1)") in msg
    assert "give one of porosity, bulk_density_g_cm3 and pellet" in _error(
        _measured(bulk_density_g_cm3=2.5, pellet=PELLET))
    msg = _error(_set("composition.bulk_density_g_cm3", 2.5))      # and porosity 0.15
    assert "composition.porosity = 0.15 and composition.bulk_density_g_cm3" in msg
    assert "(porosity 0.1698) disagree; give one of them" in msg
    assert "composition.pellet.mass_mg" in _error(_measured(pellet={**PELLET, "mass_mg": 0}))
    assert "composition.pellet.thickness_um" in _error(
        _measured(pellet={"mass_mg": 13, "diameter_mm": 10}))
    assert "composition.bulk_density_g_cm3" in _error(_measured(bulk_density_g_cm3=math.nan))

    def no_se_density(d):
        _measured(bulk_density_g_cm3=2.8)(d)
        d["phases"]["se"].pop("density_g_cm3")
    assert ("composition.bulk_density_g_cm3 needs the density of every solid: "
            "phases.se.density_g_cm3 missing") in _error(no_se_density)

    def no_solids(d):
        _measured(pellet=PELLET)(d)
        for p in d["phases"].values():
            p["fraction"] = 0
    assert "all solid fractions are 0" in _error(no_solids)  # not "could not be derived"


# ---------------------------------------------------------------------------------------------
# bad input: every case names its field


def _set(path, value):
    def mod(d):
        node = d
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return mod


def _pop(path):
    def mod(d):
        node = d
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[k]
        node.pop(keys[-1])
    return mod


@pytest.mark.parametrize(("mod", "field"), [
    (_set("phases.se.fraction", -5), "phases.se.fraction"),
    (_set("phases.cam.fraction", -1), "phases.cam.fraction"),
    (_set("phases.carbon.fraction", -0.5), "phases.carbon.fraction"),
    (_set("phases.cam.fraction", 0), "phases.cam.fraction"),
    (_set("phases.se.fraction", 0), "phases.se.fraction"),
])
def test_bad_fractions(mod, field):
    assert field in _error(mod)


def test_fractions_leaving_no_room_name_cam_fraction():
    # 90 : 10 by volume at 5 % porosity asks for CAM = 0.855 of the box: not packable
    def mod(d):
        d["composition"].update(basis="volume", porosity=0.05)
        d["phases"]["cam"]["fraction"] = 90
        d["phases"]["se"]["fraction"] = 10
        d["phases"].pop("carbon")
    msg = _error(mod)
    assert "phases.cam.fraction" in msg and "porosity" in msg and "0.855" in msg


def test_rsa_mode_beyond_jamming_names_packing_mode():
    def mod(d):
        d["packing"] = {"mode": "rsa"}
        d["composition"]["porosity"] = 0.05    # CAM = 0.417 of the box > RSA jamming
    assert "packing.mode" in _error(mod)


@pytest.mark.parametrize("value", [1.0, 1.5, -0.1])
def test_porosity_outside_unit_interval(value):
    msg = _error(_set("composition.porosity", value))
    assert "composition.porosity" in msg and repr(value) in msg


@pytest.mark.parametrize(("key", "value", "names"), [
    ("d10_um", 4.0, ("d10_um", "d50_um")),   # d10 > d50
    ("d90_um", 3.0, ("d50_um", "d90_um")),   # d50 > d90
    ("d10_um", 7.0, ("d10_um", "d50_um")),   # d10 > d90 too
])
def test_quantile_order(key, value, names):
    msg = _error(_set(f"phases.cam.psd.{key}", value))
    assert "phases.cam.psd" in msg and "increase" in msg
    assert all(n in msg for n in names)


def test_lognormal_needs_two_quantiles():
    msg = _error(_set("phases.se.psd", {"kind": "lognormal", "d50_um": 1.0}))
    assert "phases.se.psd" in msg and "two of" in msg


@pytest.mark.parametrize(("psd", "words"), [
    ({"kind": "table", "diameters_um": [1, 2], "cumulative": [0, 0.9]}, "end at 1"),
    ({"kind": "table", "diameters_um": [2, 1], "cumulative": [0, 1]}, "increase"),
    ({"kind": "table", "diameters_um": [1, 2, 3], "cumulative": [0, 1]}, "equal length"),
    ({"kind": "gamma", "d50_um": 1}, "kind"),
    ({"kind": "lognormal", "d50_um": -1, "d90_um": 2}, "d50_um"),
])
def test_bad_psd(psd, words):
    msg = _error(_set("phases.cam.psd", psd))
    assert "phases.cam.psd" in msg and words in msg


def test_particle_larger_than_the_box():
    msg = _error(_set("domain.shape", [16, 16, 16]))
    assert "phases.cam.psd" in msg and "does not fit the box" in msg
    assert msg.rstrip().endswith("enlarge domain.shape or domain.voxel_size_um")


def test_too_much_cam_for_a_packing_says_raise_the_porosity():
    msg = _error(lambda d: (d["phases"]["cam"].update(fraction=95),
                            d["phases"]["se"].update(fraction=5),
                            d["composition"].update(porosity=0.05)))
    assert "cannot exceed 0.68: lower the CAM fraction or raise the porosity" in msg


@pytest.mark.parametrize("path", ["phases.cam.fraction", "phases.cam.psd.d90_um",
                                  "phases.cam.density_g_cm3",
                                  "phases.se.ionic_conductivity_S_cm", "composition.porosity"])
def test_infinite_numbers_are_refused_by_name(path):
    # inf passed validation and failed later (a traceback in check, a store without CAM, an
    # analysis that could not be written as JSON)
    msg = _error(_set(path, float("inf")))
    assert f"{path}: Input should be a finite number (got inf)" in msg


def test_a_bad_voxel_with_a_box_in_um_is_the_only_error():
    msg = _error(lambda d: d["domain"].update(size_um=[16, 12, 12], voxel_size_um=0,
                                               shape=None))
    assert "domain.voxel_size_um" in msg and "domain.shape" not in msg


def test_missing_density_with_weight_basis():
    msg = _error(_pop("phases.se.density_g_cm3"))
    assert "phases.se.density_g_cm3" in msg and "weight" in msg


@pytest.mark.parametrize("path", [
    "colour",                       # top level
    "domain.origin",
    "composition.binder",
    "phases.binder",                # unknown phase
    "phases.cam.size",
    "phases.se.psd.d95_um",
    "packing.speed",
])
def test_unknown_keys_at_every_level(path):
    msg = _error(_set(path, 1))
    assert f"{path}: unknown key" in msg


def test_unknown_key_in_table_psd():
    table = {"kind": "table", "diameters_um": [1, 2], "cumulative": [0, 1], "unit": "um"}
    assert "phases.cam.psd.unit: unknown key" in _error(_set("phases.cam.psd", table))


@pytest.mark.parametrize(("path", "value"), [
    ("composition.basis", "mass"),
    ("domain.shape", [4, 64, 64]),
    ("domain.voxel_size_um", 0),
    ("domain.shape", [64, 64]),
    ("packing.mode", "gravity"),
    ("phases.cam.density_g_cm3", -4.75),
])
def test_other_bad_values_name_their_field(path, value):
    assert path in _error(_set(path, value))


def test_missing_required_sections():
    assert "phases.se" in _error(_pop("phases.se"))
    assert "composition.porosity" in _error(_pop("composition.porosity"))


def test_several_errors_reported_together():
    def mod(d):
        d["composition"]["porosity"] = 2
        d["phases"]["cam"]["colour"] = "black"
    msg = _error(mod)
    assert "composition.porosity" in msg and "phases.cam.colour" in msg


@pytest.mark.parametrize("device", ["nvidia", "CPU", "", None])
def test_generate_rejects_unknown_device_before_work(device):
    spec = ms.load_spec(EXAMPLE)
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        ms.generate(spec, device=device)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_generate_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        ms.generate(ms.load_spec(EXAMPLE), seed=seed)


def test_generate_needs_a_spec():
    with pytest.raises(TypeError, match="ElectrodeSpec"):
        ms.generate(copy.deepcopy(_example()))


def test_a_binary_spec_file_is_a_spec_error(tmp_path):
    path = tmp_path / "garbage.toml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(ms.SpecError, match="not a TOML text file"):
        ms.load_spec(path)


@pytest.mark.parametrize("path", ["phases.cam.ionic_conductivity_S_cm",
                                  "phases.se.electronic_conductivity_S_cm",
                                  "phases.carbon.ionic_conductivity_S_cm"])
def test_a_conductivity_the_solves_do_not_use_is_refused(path):
    spec = ms.load_spec(EXAMPLE)
    with pytest.raises(ms.SpecError, match=re.escape(path) + " is not used"):
        spec.updated({path: 1.0})
    # the ones used are taken
    used = spec.updated({"phases.se.ionic_conductivity_S_cm": 1e-3,
                         "phases.cam.electronic_conductivity_S_cm": 0.05})
    assert used.transport_conductivities() == {ms.SE: 1e-3, ms.CAM: 0.05, ms.CARBON: 5.0}


def test_a_psd_without_kind_names_the_kinds():
    spec = ms.load_spec(EXAMPLE)
    with pytest.raises(ms.SpecError, match='phases.se.psd: needs kind = "lognormal"'):
        spec.updated({"phases.se.psd": {"d50_um": 1.0, "d90_um": 2.0}})


def test_a_cam_fraction_over_the_packing_limit_shows_the_volumes_and_densities():
    spec = ms.load_spec(EXAMPLE)
    with pytest.raises(ms.SpecError, match=r"se 0\.107 \(16\.4 g/cm³\).*check the densities"):
        spec.updated({"phases.se.density_g_cm3": 16.4})


@pytest.mark.parametrize("changes, field", [
    ({"phases.se.density_g_cm3": 8.5}, "phases.se.density_g_cm3 = 8.5 g/cm³ is outside"),
    ({"phases.se.ionic_conductivity_S_cm": 3.0}, "is it in mS/cm"),
    ({"composition.porosity": 0.5}, "composition.porosity = 0.5: cold-pressed"),
    ({"phases.cam.fraction": 0.7, "phases.carbon.fraction": 0}, "parts on one scale"),
    ({"phases.se.psd": {"kind": "lognormal", "d10_um": 1.0, "d50_um": 3.3, "d90_um": 4.0}},
     r"phases.se.psd: a lognormal through d50_um = 3.3 .* d10 1.65 um \(\+65%\)"),
])
def test_spec_warnings_name_the_field(changes, field):
    from microstructure._spec_warnings import spec_warnings

    spec = ms.load_spec(EXAMPLE)
    assert spec_warnings(spec) == []          # the shipped example is quiet
    msgs = spec_warnings(spec.updated(changes))
    assert len(msgs) == 1 and re.search(field, msgs[0]), msgs


def test_a_box_not_a_whole_number_of_voxels_warns():
    from microstructure._spec_warnings import spec_warnings

    spec = ms.load_spec(EXAMPLE).updated({"domain.size_um": [16.3, 16, 16],
                                          "domain.voxel_size_um": 0.5})
    assert spec.domain.shape == (33, 32, 32)
    assert spec_warnings(spec) == ["domain.size_um [16.3, 16.0, 16.0] is not a whole number of "
                                   "0.5 um voxels: the box is built at 16.3 um -> 16.5 um"]


def test_a_new_voxel_for_a_box_in_voxels_warns_with_the_new_size():
    spec = ms.load_spec(EXAMPLE)                 # shape = [200, 128, 128] at 0.25 um
    with pytest.warns(UserWarning, match=r"the box is now 100 x 64 x 64 um, not 50 x 32 x 32"):
        coarse = spec.updated({"domain.voxel_size_um": 0.5})
    assert coarse.domain.shape == (200, 128, 128)


@pytest.mark.parametrize("path, value", [
    ("phases.cam.fraction", True), ("phases.cam.fraction", "70"),
    ("composition.porosity", "0.1"), ("packing.compaction_steps", False),
    ("phases.se.psd.d50_um", "1"), ("composition.pellet.mass_mg", "13")])
def test_a_number_field_takes_numbers_only(path, value):
    """TOML ``true`` or ``"70"`` for a number was read as 1.0 / 70; now refused, naming it."""
    spec = ms.load_spec(EXAMPLE)
    if path.startswith("composition.pellet"):
        spec = spec.updated({"composition.pellet": {"mass_mg": 13, "diameter_mm": 10,
                                                    "thickness_um": 60}})
    parent, _, name = path.rpartition(".")
    with pytest.raises(ms.SpecError, match=rf"{re.escape(parent)}: {name} = "
                                           rf"{re.escape(repr(value))} must be a number"):
        spec.updated({path: value})
    # text and booleans where the field takes them are untouched
    assert spec.updated({"packing.mode": "sequential", "domain.periodic_lateral": False,
                         "phases.cam.material": "LFP"}).packing.mode == "sequential"
