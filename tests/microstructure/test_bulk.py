"""Transport on the bulk: Microstructure.bulk_slice and the analysis that solves on it."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest

import microstructure as ms
from microstructure.studies import analyze
from microstructure.studies.rows import flat_row
from solvers import tortuosity


def _generate(changes, seed):
    spec = ms.load_spec(ms.default_spec_path()).updated(changes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ms.generate(spec, seed=seed)


@pytest.fixture(scope="module")
def bare_separator():
    """The example at 0.25 um, 16 um thick, no carbon, 10 % pores, seed 5: no CAM particle
    touches the separator face (measured: CAM voxels in the last six layers 668 / 665 / 584 /
    451 / 265 / 0; seeds 0-4 and 6-10 of 0.17.0 have CAM there)."""
    return _generate({"domain.shape": [64, 48, 48], "composition.porosity": 0.1,
                      "phases.carbon.fraction": 0}, seed=5)


def test_default_margin_is_the_larger_d50(bare_separator):
    m = bare_separator
    d50 = max(p.psd.sampler().volume_quantile(0.5) for p in (m.spec.phases.cam, m.spec.phases.se))
    c = math.ceil(d50 / m.voxel_size_um)
    assert c == 14                                         # NCM82 d50 3.3 um at 0.25 um
    assert m.bulk_slice() == slice(c, 64 - c)
    assert m.bulk_slice(margin_um=0) == slice(0, 64)
    assert m.bulk_slice(margin_um=0.01) == slice(1, 63)     # a positive margin: a voxel at least
    with pytest.warns(UserWarning, match="margin_um = 100 µm is more than a quarter of the "
                                         "16 µm thickness; 4 µm is left out"):
        assert m.bulk_slice(margin_um=100.0) == slice(16, 48)   # a quarter on each side
    imported = replace(m, report=None)                     # a measured volume is a cut already
    assert imported.bulk_slice() == slice(0, 64)


@pytest.mark.parametrize("margin,err", [(-1.0, ValueError), (math.nan, ValueError),
                                        (math.inf, ValueError), ("1 um", TypeError),
                                        ("1", TypeError), (True, TypeError)])
def test_bad_margin_is_named(bare_separator, margin, err):
    with pytest.raises(err, match="margin_um"):
        bare_separator.bulk_slice(margin_um=margin)


def test_the_bulk_conducts_where_the_separator_face_has_no_cam(bare_separator):
    """Through the whole thickness the CAM network ends a layer short of the separator face
    (tau infinite, a property of where the wall cut it); the bulk's tau is finite and the
    analysis reports it, with the resistance of the whole thickness."""
    m = bare_separator
    assert not (m.phases[-1] == ms.CAM).any()
    cc = m.electronic_contacts()
    full = tortuosity(m.phases == ms.CAM, periodic_lateral=True, contacts=cc)
    assert math.isinf(full.tau)
    a = analyze(m, rules=("strict",), structure=False)
    t = a["transport"]
    assert t["wall_margin_um"] == 3.5 and t["bulk_thickness_um"] == 9.0
    assert t["thickness_um"] == 16.0
    el = t["electronic"]
    assert 1 < el["tau"] < 100 and el["contacts_weighted"] > 50     # measured 11.5, 92
    assert el["resistance_ohm_cm2"] == pytest.approx(16e-4 / el["effective_conductivity_S_cm"])
    b = m.bulk_slice()
    ion = tortuosity(m.phases[b] == ms.SE, periodic_lateral=True)
    assert t["ionic"]["tau"] == pytest.approx(ion.tau, rel=1e-3)
    row = flat_row(a, m)
    assert row["transport_wall_margin_um"] == 3.5
    assert row["electronic_tau"] == el["tau"]
    # utilization still sees the walls: the CAM network joins the collector only
    assert a["utilization"]["strict"]["electronic_percolates"] is False


def test_electronic_tau_of_the_bulk_does_not_depend_on_the_seed_being_lucky():
    """Four seeds of the 16 um box: through the whole thickness 19.8 / 30.3 / 37.7 / 59.0
    (0.16.0: two infinite, 16.0, 31.9), the bulk's 19.2 / 12.8 / 13.7 / 24.0 (margin 3.5 um,
    measured): finite, and half the spread of the whole thickness's."""
    taus, whole = [], []
    for seed in range(4):
        m = _generate({"domain.shape": [64, 48, 48], "composition.porosity": 0.1,
                       "phases.carbon.fraction": 0}, seed=seed)
        b = m.bulk_slice()
        taus.append(tortuosity(m.phases[b] == ms.CAM, periodic_lateral=True,
                               contacts=m.electronic_contacts(within=b)).tau)
        whole.append(tortuosity(m.phases == ms.CAM, periodic_lateral=True,
                                contacts=m.electronic_contacts()).tau)
    assert np.isfinite(taus).all()
    assert max(taus) / min(taus) < 2.0
    assert max(whole) / min(whole) > 1.5 * max(taus) / min(taus)


def test_wall_margin_option_of_analyze(bare_separator):
    """wall_margin_um=0 solves through the whole thickness (here: no CAM on the separator face,
    tau infinite); a bad margin is refused before any work, naming the option."""
    a = analyze(bare_separator, rules=("strict",), structure=False, wall_margin_um=0)
    t = a["transport"]
    assert t["wall_margin_um"] == 0 and t["bulk_thickness_um"] == t["thickness_um"] == 16.0
    assert math.isinf(t["electronic"]["tau"]) and t["electronic"]["resistance_ohm_cm2"] == math.inf
    for bad, err in ((-0.5, ValueError), ("thick", TypeError)):
        with pytest.raises(err, match="wall_margin_um"):
            analyze(bare_separator, wall_margin_um=bad)


def test_wall_margin_option_of_assb_analyze(bare_separator, tmp_path):
    from typer.testing import CliRunner

    from microstructure.studies.cli import app

    store = bare_separator.save(tmp_path / "m.zarr")
    run = CliRunner().invoke
    ok = run(app, ["analyze", str(store), "--json", "--wall-margin-um", "1"])
    assert ok.exit_code == 0, ok.output
    assert '"wall_margin_um": 1.0' in ok.stdout
    for bad in ("-1", "nan"):
        res = run(app, ["analyze", str(store), "--wall-margin-um", bad])
        assert res.exit_code == 2 and "--wall-margin-um" in res.output
        assert "Traceback" not in res.output


def test_in_plane_transport_of_lamellae():
    """SE and CAM lamellae standing in the plane of axes 0 and 1: both conduct straight
    along axes 0 and 1 (tau 1) and are blocked along axis 2, so the in-plane tau, of the mean
    sigma_eff of axes 1 and 2, is 2 / (1/1 + 0) = 2; through-plane stays 1."""
    from test_metrics import _hand_made

    phases = np.full((12, 12, 12), ms.CAM, dtype=np.uint8)
    phases[:, :, (np.arange(12) // 2) % 2 == 0] = ms.SE
    m = _hand_made(phases)
    a = analyze(m, rules=("strict",), structure=False, in_plane=True)
    tr = a["transport"]
    for net in ("ionic", "electronic"):
        assert math.isclose(tr[net]["tau"], 1.0, rel_tol=1e-4)
        ip = tr["in_plane"][net]
        assert math.isclose(ip["tau_axes"][0], 1.0, rel_tol=1e-4)
        assert math.isinf(ip["tau_axes"][1]) and ip["effective_conductivity_axes_S_cm"][1] == 0
        assert math.isclose(ip["tau"], 2.0, rel_tol=1e-4) and ip["converged"]
    row = flat_row(a, m)
    assert math.isclose(row["ionic_tau_in_plane"], 2.0, rel_tol=1e-4)
    plain = analyze(m, rules=("strict",), structure=False)
    assert "in_plane" not in plain["transport"]
    assert math.isnan(flat_row(plain, m)["electronic_tau_in_plane"])


def test_in_plane_option_of_assb_analyze(bare_separator, tmp_path):
    from typer.testing import CliRunner

    from microstructure._zarr_store import store_attrs
    from microstructure.studies.cli import app

    store = bare_separator.save(tmp_path / "m.zarr")
    ok = CliRunner().invoke(app, ["analyze", str(store), "--in-plane"])
    assert ok.exit_code == 0, ok.output
    line = next(x for x in ok.stdout.splitlines() if x.startswith("in-plane"))
    ip = store_attrs(store)["analysis"]["transport"]["in_plane"]
    assert f"in-plane    tau ionic {ip['ionic']['tau']:.4g} (axes 1 / 2: " in line


def test_in_plane_tau_is_the_harmonic_mean_of_the_axes():
    """tau of the mean sigma_eff at one volume fraction: 2 / (1/t1 + 1/t2); a blocked axis
    adds nothing, two blocked axes give inf, a network with no tau (NaN) stays NaN."""
    from types import SimpleNamespace

    from microstructure.studies._analysis import _in_plane

    def axis(tau, sigma):
        return SimpleNamespace(tau=tau, effective_conductivity=sigma, converged=True,
                               iterations=3)

    assert _in_plane([axis(2.0, 1.0), axis(4.0, 0.5)])["tau"] == pytest.approx(8 / 3)
    assert _in_plane([axis(2.0, 1.0), axis(math.inf, 0.0)])["tau"] == 4.0
    assert math.isinf(_in_plane([axis(math.inf, 0.0)] * 2)["tau"])
    assert math.isnan(_in_plane([axis(math.nan, 0.0), axis(2.0, 1.0)])["tau"])
    assert _in_plane([axis(2.0, 1.0), axis(4.0, 0.5)])["effective_conductivity_S_cm"] == 0.75


def test_analyze_names_bad_rules(bare_separator):
    with pytest.raises(TypeError, match=r"rules must be a sequence of rule names, e.g. "
                                        r"\('strict',\), got the string 'strict'"):
        analyze(bare_separator, rules="strict", structure=False, transport=False)
    with pytest.raises(ValueError, match="rules must be a non-empty subset"):
        analyze(bare_separator, rules=("strict", "loose"), structure=False, transport=False)
