"""``resolution_study`` / ``assb resolution``: one composition at its voxel and finer ones."""

from __future__ import annotations

import json
import math
import re
import warnings

import pytest
from typer.testing import CliRunner

import microstructure as ms
from microstructure.studies import ResolutionLevel, ResolutionStudy, analyze, resolution_study
from microstructure.studies import _resolution as R
from microstructure.studies.cli import app
from solvers import cam_utilization

SMALL = {"domain.size_um": [12, 12, 12], "domain.voxel_size_um": 0.5}


def _spec():
    return ms.load_spec(ms.default_spec_path()).updated(SMALL)


def _level(h, seed, tau, theta=0.9, lumped=None, margin=3.0, voxel_fill=0.0):
    n = round(12 / h)
    return ResolutionLevel(voxel_size_um=h, shape=(n, n, n), seed=seed, theta_strict=theta,
                           theta_relay=theta, ionic_tau=tau, electronic_tau=2 * tau,
                           seconds=1.0, lumped_fines=lumped or {}, wall_margin_um=margin,
                           voxel_fill_share=voxel_fill)


def test_each_level_is_the_spec_built_at_that_voxel_in_the_same_box():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        study = resolution_study(_spec(), transport=False, seeds=[3])
        assert study.voxel_sizes() == [0.5, 0.25]
        assert [lv.shape for lv in study.levels] == [(24, 24, 24), (48, 48, 48)]
        for lv in study.levels:   # the same numbers as building and counting by hand
            spec = _spec().updated({"domain.voxel_size_um": lv.voxel_size_um,
                                    "domain.size_um": [12, 12, 12]})
            m = ms.generate(spec, seed=3)
            assert lv.seed == 3
            assert lv.theta_strict == cam_utilization(
                m.phases, m.particle_ids).static_utilization
            assert math.isnan(lv.ionic_tau) and math.isnan(lv.electronic_tau)
            assert math.isnan(lv.wall_margin_um)                 # no slab without transport
            assert lv.lumped_fines == m.report.lumped_fines
            # the example's fine SE (grains under 0.71 um) is a voxel fill at both voxels
            assert lv.voxel_fill_share == pytest.approx(
                m.report.se_fill_fraction / m.report.target["se"], rel=1e-6)


def test_the_ionic_tau_limit_is_first_order_from_the_two_finest_voxels():
    # tau(h) = 2 + 0.4 h: the limit 2 from any two voxels, means over the seeds
    levels = [_level(h, s, 2 + 0.4 * h + d) for h in (1.0, 0.5, 0.25)
              for s, d in ((0, 0.1), (1, -0.1))]
    study = ResolutionStudy(tuple(levels))
    assert study.voxel_sizes() == [1.0, 0.5, 0.25]
    assert study.mean("ionic_tau", 0.5) == pytest.approx(2.2)
    assert study.extrapolated_ionic_tau() == pytest.approx(2.0)
    three = ResolutionStudy((_level(0.75, 0, 2.3), _level(0.25, 0, 2.1)))  # ratio 3
    assert three.extrapolated_ionic_tau() == pytest.approx((3 * 2.1 - 2.3) / 2)
    assert math.isnan(ResolutionStudy((_level(0.5, 0, 2.0),)).extrapolated_ionic_tau())


def test_the_table_gives_the_changes_the_limit_and_what_to_distrust():
    calm = ResolutionStudy((_level(0.5, 0, 2.2), _level(0.25, 0, 2.1, theta=0.91)))
    text = R.format_resolution(calm, label="x.toml")
    assert calm.summary("x.toml") == text
    assert "resolution of x.toml: seeds 0" in text
    assert "0.5 -> 0.25 um: theta strict +0.010, ionic tau -4.5 %, electronic tau -4.5 %" in text
    assert "ionic tau, first-order limit (voxel -> 0): 2" in text and "add a level" not in text
    assert "tau of the bulk: 3 um next to each wall left out at every voxel" in text
    steep = ResolutionStudy((_level(0.5, 0, 3.0, lumped={"se": 0.24}), _level(0.25, 0, 2.1)))
    text = R.format_resolution(steep)
    assert "the last change is 30 %: the coarser voxel is outside the first-order regime" in text
    assert "note: at 0.5 um the PSD under 2 voxels (24 % of the SE volume)" in text
    assert "each seed presses another powder there than at 0.25 um" in text
    assert "at 0.25 um the PSD" not in text
    # any share changes the draw, so even 0.1 % is named; equal shares are the same powder
    tiny = ResolutionStudy((_level(0.5, 0, 2.2, lumped={"cam": 0.001}), _level(0.25, 0, 2.1)))
    assert "(0.1 % of the CAM volume)" in R.format_resolution(tiny)
    same = ResolutionStudy((_level(0.5, 0, 2.2, lumped={"se": 0.1}),
                            _level(0.25, 0, 2.1, lumped={"se": 0.1})))
    assert "note:" not in R.format_resolution(same)
    # the fine SE under 3 voxels is a voxel fill at the coarse level only: named there
    fill = ResolutionStudy((_level(0.5, 0, 2.2, voxel_fill=0.3), _level(0.25, 0, 2.1)))
    text = R.format_resolution(fill)
    assert ("note: at 0.5 um 30 % of the SE (fine grains under 3 voxels) is a voxel fill of the "
            "crevices, whose links depend on the voxel (0 % at 0.25 um") in text


@pytest.mark.parametrize("kw, field", [({"levels": 1}, "levels"), ({"levels": 5}, "levels"),
                                       ({"levels": True}, "levels"), ({"seeds": []}, "seeds"),
                                       ({"seeds": [0, -1]}, "seeds"),
                                       ({"wall_margin_um": -1.0}, "wall_margin_um"),
                                       ({"wall_margin_um": math.inf}, "wall_margin_um")])
def test_bad_input_names_the_field_before_any_build(monkeypatch, kw, field):
    monkeypatch.setattr(R, "generate", lambda *a, **k: pytest.fail("built"))
    with pytest.raises(ValueError, match=f"^{field} must be"):
        resolution_study(_spec(), **kw)


def test_every_level_solves_the_same_slab_the_coarsest_voxels_cut():
    """1.1 um rounds up to 3 voxels of 0.5 um (1.5 um); rounded at 0.25 um on its own it would
    be 5 voxels (1.25 um), another slab.  Each level's tau is that of the 1.5 um slab."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        study = resolution_study(_spec(), seeds=[0], wall_margin_um=1.1)
        assert [lv.wall_margin_um for lv in study.levels] == [1.5, 1.5]
        fine = study.levels[-1]
        m = ms.generate(_spec().updated({"domain.voxel_size_um": 0.25,
                                         "domain.size_um": [12, 12, 12]}), seed=0)
    assert m.bulk_slice(margin_um=1.1) == slice(5, 43)          # what the level would cut alone
    t = analyze(m, rules=("strict",), structure=False, wall_margin_um=1.5)["transport"]
    assert t["wall_margin_um"] == 1.5 and t["bulk_thickness_um"] == 9.0
    assert fine.ionic_tau == t["ionic"]["tau"] and fine.electronic_tau == t["electronic"]["tau"]
    assert "tau of the bulk: 1.5 um next to each wall left out at every voxel" in study.summary()


def test_a_margin_over_a_quarter_of_the_thickness_is_reduced_with_a_warning(monkeypatch):
    class Built(Exception):
        pass

    def stop(*a, **k):
        raise Built

    monkeypatch.setattr(R, "generate", stop)
    with pytest.warns(UserWarning, match="wall_margin_um = 100 µm is more than a quarter of "
                                         "the 12 µm thickness; 3 µm is left out"):
        with pytest.raises(Built):
            resolution_study(_spec(), wall_margin_um=100.0)


def test_a_finest_level_over_the_memory_is_refused_before_any_build(monkeypatch):
    from solvers import memory
    from solvers.memory import InsufficientMemoryError, MemoryLimit

    monkeypatch.setattr(R, "generate", lambda *a, **k: pytest.fail("built"))
    monkeypatch.setattr(memory, "available_memory",
                        lambda device="cpu": MemoryLimit(10_000_000, "test"))
    with pytest.raises(InsufficientMemoryError, match=r"^levels = 3: the finest voxel, "
                       r"0.125 um, makes the box 96 x 96 x 96 voxels") as exc:
        resolution_study(_spec(), levels=3)
    assert exc.value.field == "levels"


def test_cli_resolution_json_and_table(tmp_path):
    spec = tmp_path / "s.toml"
    text = ms.default_spec_path().read_text()
    spec.write_text(text.replace("shape = [200, 128, 128]", "size_um = [12, 12, 12]")
                    .replace("voxel_size_um = 0.25", "voxel_size_um = 0.5"))
    runner = CliRunner()
    res = runner.invoke(app, ["resolution", str(spec), "--no-transport", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [lv["voxel_size_um"] for lv in out["levels"]] == [0.5, 0.25]
    assert out["extrapolated_ionic_tau"] == "NaN"          # no transport solved
    res = runner.invoke(app, ["resolution", str(spec), "--no-transport", "--seeds", "2"])
    assert res.exit_code == 0 and "0.5 -> 0.25 um: theta strict" in res.stdout
    assert "nan" not in res.stdout.split("\n\n")[-1]      # no tau change without transport
    # a warning of every build (the hard contacts' radius, which differs per build) once
    contact = [w for w in res.stderr.splitlines() if "median radius of the contacts" in w]
    assert len(contact) == 1 and re.search(r"\(and [1-3] more like it, with other numbers\)",
                                           contact[0])
    bad = runner.invoke(app, ["resolution", str(spec), "--levels", "5"])
    assert bad.exit_code == 2
    for margin in ("-1", "inf"):
        bad = runner.invoke(app, ["resolution", str(spec), "--wall-margin-um", margin])
        assert bad.exit_code == 2 and "--wall-margin-um" in bad.output


def test_ctrl_c_keeps_the_builds_that_finished(monkeypatch, tmp_path):
    real, calls = R.generate, []

    def third_interrupts(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(R, "generate", third_interrupts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(R.StudyInterrupted) as exc:
            resolution_study(_spec(), transport=False, seeds=[0, 1])
    done = exc.value.study
    assert [(lv.voxel_size_um, lv.seed) for lv in done.levels] == [(0.5, 0), (0.5, 1)]
    assert "0.5       24 x 24 x 24" in R.format_resolution(done)   # the table, no comparison
    spec = tmp_path / "s.toml"
    spec.write_text(ms.default_spec_path().read_text()
                    .replace("shape = [200, 128, 128]", "size_um = [12, 12, 12]")
                    .replace("voxel_size_um = 0.25", "voxel_size_um = 0.5"))
    calls.clear()
    res = CliRunner().invoke(app, ["resolution", str(spec), "--no-transport", "--seeds", "2"])
    assert res.exit_code == 130
    assert "24 x 24 x 24" in res.stdout and "interrupted after 2 build(s)" in res.stderr
    calls.clear()
    res = CliRunner().invoke(app, ["resolution", str(spec), "--no-transport", "--seeds", "2",
                                   "--json"])
    assert res.exit_code == 130 and len(json.loads(res.stdout)["levels"]) == 2  # still JSON


def test_a_fill_that_takes_all_the_fines_lumps_nothing():
    # SE-rich, 0.25 um: every SE share under the 2-voxel cut goes to the fill, and the
    # difference of the two shares read 5.6e-17 "lumped" (in the report, resolution --json)
    from microstructure._generate_pressed import powder_plan

    spec = ms.load_spec(ms.default_spec_path()).updated({
        "domain.size_um": [16, 12, 12], "domain.voxel_size_um": 0.25,
        "phases.carbon.fraction": 0, "phases.cam.fraction": 15, "phases.se.fraction": 85})
    _, lumped, fill = powder_plan(spec)["se"]
    assert fill > 0.2 and lumped == 0.0
