"""Sweeps: definition and validation, expansion and point ids, the row store, resume."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from _sweep_files import PLUMBING

import microstructure as ms
from microstructure import studies
from microstructure.studies._point import run_point
from microstructure.studies._store import ResultsStore
from microstructure.studies._sweep_spec import point_id
from microstructure.studies.report import write_report
from microstructure.studies.rows import COLUMNS

TINY = PLUMBING + """[axes]
"phases.cam.fraction" = [60, 75]
"phases.se.psd.d50_um" = [0.8, 3.0]     # 3.0 > d90 = 1.82: an invalid spec, recorded as failed
"""

#: Columns the report relies on (issue 5 results contract): never renamed.
CONTRACT = [
    "point_id", "seed", "status", "error", "spec_json", "target_pore", "target_cam",
    "target_se", "target_carbon", "cam_wt_frac", "se_wt_frac", "carbon_wt_frac", "cam_d50_um",
    "se_d50_um", "thickness_um", "voxel_size_um", "areal_loading_mg_cm2", "frac_pore",
    "frac_cam", "frac_se", "frac_carbon", "cam_overlap", "util_strict", "util_strict_by_count",
    "util_relay", "util_relay_by_count", "electronically_isolated", "ionically_isolated_strict",
    "ionically_isolated_relay", "isolated_both_strict", "electronic_percolates",
    "ionic_percolates", "active_area_per_volume_per_um", "ionic_sigma_eff_S_cm", "ionic_tau",
    "ionic_converged", "electronic_sigma_eff_S_cm", "electronic_tau", "electronic_converged",
    "t_generate_s", "t_utilization_s", "t_transport_s", "t_total_s", "package_version",
    "device", "worker", "finished_at",
]


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny sweep run once in this process: (sweep file, results dir, returned frame)."""
    tmp = tmp_path_factory.mktemp("sweep")
    path = write(tmp, TINY)
    out = tmp / "out"
    df = studies.run_sweep(path, out, workers=1, quiet=True)
    return path, out, df


# ---------------------------------------------------------------------------------------------
# definition


def test_grid_expansion_is_the_product_in_order(tmp_path):
    sw = studies.load_sweep(write(tmp_path, TINY))
    pts = sw.expand()
    assert len(pts) == 4 and sw.n_rows == 4
    assert [(p.params["phases.cam.fraction"], p.params["phases.se.psd.d50_um"]) for p in pts] \
        == [(60, 0.8), (60, 3.0), (75, 0.8), (75, 3.0)]
    for p in pts:  # overrides reach every point
        assert p.params["domain.shape"] == [32, 32, 32]
    assert sw.param_paths == ["domain.shape", "domain.voxel_size_um", "packing.mode",
                              "phases.cam.fraction", "phases.se.psd.d50_um"]
    good = pts[0].spec
    assert good.phases.cam.fraction == 60 and good.domain.shape == (32, 32, 32)
    assert good.phases.se.psd.d50_um == 0.8
    assert pts[1].spec is None and "d50_um=3.0" in pts[1].error


def test_points_mode(tmp_path):
    sw = studies.load_sweep(write(tmp_path, """
base = "default"
seeds = 2
mode = "points"
[overrides]
"domain.shape" = [32, 32, 32]
"domain.voxel_size_um" = 1.0
[[points]]
"phases.cam.fraction" = 60
[[points]]
"phases.cam.fraction" = 70
"composition.porosity" = 0.05
[[points]]
"phases.se.psd" = { kind = "lognormal", d50_um = 1.0, d90_um = 1.6 }
"""))
    pts = sw.expand()
    assert len(pts) == 3 and sw.n_rows == 6
    assert pts[1].spec.composition.porosity == 0.05 and pts[1].spec.phases.cam.fraction == 70
    assert pts[2].spec.phases.se.psd.d10_um is None  # a whole table replaces the psd
    assert set(sw.param_paths) == {"domain.shape", "domain.voxel_size_um",
                                   "phases.cam.fraction", "composition.porosity",
                                   "phases.se.psd"}


def test_a_table_column_shows_the_keys_a_point_sets_inside_it():
    """The demo sweep sets the SE psd table in its overrides and d50 / d90 in each point: the
    rows' ``param:phases.se.psd`` is the table each point builds, not the override's."""
    from microstructure.studies.rows import blank_row

    sw = studies.load_sweep(Path(__file__).parents[2] / "examples" / "demo_sweep.toml")
    for p in sw.expand():
        row = blank_row({"point_id": p.point_id, "params": p.params, "spec_json": ""}, 0)
        table = json.loads(row["param:phases.se.psd"])
        assert table["d50_um"] == row["param:phases.se.psd.d50_um"] == p.spec.phases.se.psd.d50_um
        assert table["d90_um"] == p.spec.phases.se.psd.d90_um


def test_a_new_voxel_for_a_base_box_in_voxels_is_a_note_of_the_point(tmp_path):
    """The default spec gives its box as a shape; a voxel axis changes the box in µm.  Loading
    the sweep does not warn (a Python warning would be an error here); the point keeps the
    note, and ``assb check`` and the rows' warnings show it with the point."""
    from microstructure.studies._check import sweep_check

    sw = studies.load_sweep(write(tmp_path, 'base = "default"\n[axes]\n'
                                            '"domain.voxel_size_um" = [0.25, 0.5]\n'))
    first, second = sw.expand()
    assert first.notes == ()
    assert len(second.notes) == 1 and "the box is now 100 x 64 x 64 um" in second.notes[0]
    rows = sweep_check(sw, label="s")["points"]
    assert second.notes[0] in rows[1]["warnings"]
    assert not any("the box is now" in w for w in rows[0]["warnings"])


def test_the_note_of_a_point_reaches_its_rows(tmp_path):
    base = ms.load_spec(ms.default_spec_path()).updated(
        {"domain.shape": [24, 24, 24], "domain.voxel_size_um": 1.0, "packing.mode": "sequential",
         "phases.carbon.fraction": 0})
    sw = studies.SweepSpec(base=base, seeds=1, transport=False,
                           axes={"domain.voxel_size_um": [1.0, 1.25]})
    df = studies.run_sweep(sw, tmp_path / "o", workers=1, quiet=True)
    by_voxel = dict(zip(df["voxel_size_um"], df["warnings"], strict=True))
    assert "the box is now 30 x 30 x 30 um, not 24 x 24 x 24 um" in by_voxel[1.25]
    assert "the box is now" not in by_voxel[1.0]


def test_point_ids_are_stable_short_hashes(tmp_path):
    a = studies.load_sweep(write(tmp_path, TINY, "a.toml")).expand()
    # same points written in another key order and with an extra axis value: same ids
    b = studies.load_sweep(write(tmp_path, TINY.replace(
        '"phases.cam.fraction" = [60, 75]', '"phases.cam.fraction" = [75, 60, 90]'),
        "b.toml")).expand()
    ids_a = {p.point_id for p in a}
    assert len(ids_a) == 4
    assert ids_a < {p.point_id for p in b}
    for p in a:
        assert len(p.point_id) == 12 and int(p.point_id, 16) >= 0
        resolved = (p.spec.model_dump(mode="json", exclude_none=True) if p.spec is not None
                    else p.spec_data)  # an invalid spec: the dict it would have been made of
        text = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=str)
        assert p.point_id == hashlib.sha1(text.encode()).hexdigest()[:12]
        if p.spec is not None:
            assert point_id(p.spec) == p.point_id


def test_sweep_in_python_and_relative_base(tmp_path):
    spec_file = tmp_path / "specs" / "mine.toml"
    spec_file.parent.mkdir()
    shutil.copy(ms.default_spec_path(), spec_file)
    sw = studies.load_sweep(write(tmp_path / "specs", TINY.replace('"default"', '"mine.toml"')))
    assert sw.base_spec == ms.load_spec(ms.default_spec_path())
    same = studies.SweepSpec(base=ms.load_spec(spec_file), seeds=1, transport=False,
                        overrides={"domain.shape": [32, 32, 32], "domain.voxel_size_um": 1.0,
                                   "packing.mode": "sequential"},
                        axes={"phases.cam.fraction": [60, 75],
                              "phases.se.psd.d50_um": [0.8, 3.0]})
    assert [p.point_id for p in same.expand()] == [p.point_id for p in sw.expand()]


# ---------------------------------------------------------------------------------------------
# validation: SweepError naming the field, before anything runs


@pytest.mark.parametrize(("edit", "words"), [
    (('"phases.cam.fraction" = [60, 75]', '"phases.cam.fractoin" = [60, 75]'),
     ["phases.cam.fractoin", "unknown dotted path", "fraction"]),
    (('"phases.cam.fraction" = [60, 75]', '"phases.cam.fraction" = []'),
     ["axes.\"phases.cam.fraction\"", "empty"]),
    (("seeds = 1", "seeds = 0"), ["seeds", "greater than or equal to 1"]),
    (("seeds = 1", "seed = 1"), ["seed", "unknown key"]),
    (('base = "default"', 'base = "default"\nmode = "product"'), ["mode", "grid", "points"]),
    (('"phases.cam.fraction" = [60, 75]', '"phases.cam.fraction" = [60, 60]'),
     ["phases.cam.fraction", "twice"]),
    (('"domain.voxel_size_um" = 1.0', '"domain.voxel_size_um" = 1.0\n"phases.cam.fraction" = 5'),
     ["phases.cam.fraction", "also set in [overrides]"]),
    (('"domain.voxel_size_um" = 1.0', 'domain.voxel_size_um = 1.0'),
     ["overrides.domain", "quoted keys"]),
    (('"phases.cam.fraction" = [60, 75]', '"phases.carbon.psd.d10_um" = [0.1]\n'
      '"phases.cam.fraction" = [60, 75]'), []),   # optional None field of the psd: allowed
    (('base = "default"', 'base = "nope.toml"'), ["base", "nope.toml", "not found"]),
    (('"phases.cam.fraction" = [60, 75]', '"phases.cam.fraction" = 60'),
     ["axes.\"phases.cam.fraction\"", "list"]),
    (('"domain.shape" = [32, 32, 32]', '"domain.shape.x" = 3'),
     ["domain.shape.x", "is a value, not a table"]),
])
def test_validation_names_the_field(tmp_path, edit, words):
    assert edit[0] in TINY
    path = write(tmp_path, TINY.replace(*edit))
    if not words:
        studies.load_sweep(path)
        return
    with pytest.raises(studies.SweepError) as info:
        studies.load_sweep(path)
    msg = str(info.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_no_axes_is_one_point_over_its_seeds(tmp_path):
    """How reproducible is one composition? A grid without axes is its one point (the base
    with the overrides), run over the seeds; the report draws it."""
    sw = studies.load_sweep(write(tmp_path, PLUMBING.replace("seeds = 1", "seeds = 3")))
    (pt,) = sw.expand()
    assert sw.n_rows == 3 and pt.spec is not None and pt.params == sw.overrides
    assert pt.spec.packing.mode == "sequential" and pt.spec.domain.shape == (32, 32, 32)
    df = studies.run_sweep(sw, tmp_path / "o", workers=1, quiet=True)
    assert sorted(df["seed"]) == [0, 1, 2] and (df["status"] == "ok").all()
    assert df["util_strict"].nunique() > 1                  # three realizations, not one
    page = write_report(tmp_path / "o").read_text(encoding="utf-8")
    assert "Heatmap skipped" in page


def test_empty_points(tmp_path):
    with pytest.raises(studies.SweepError, match="points: empty"):
        studies.load_sweep(write(tmp_path, 'base = "default"\nmode = "points"\n'))
    with pytest.raises(studies.SweepError, match=r"points\[1\]: same parameters as points\[0\]"):
        studies.load_sweep(write(tmp_path, 'mode = "points"\n[[points]]\n'
                                 '"composition.porosity" = 0.1\n[[points]]\n'
                                 '"composition.porosity" = 0.1\n'))


def test_points_written_differently_that_resolve_to_one_spec_are_refused(tmp_path):
    # each was counted as a point while one set of rows was written: the sweep never read
    # as complete ("8 rows of 10" on every rerun)
    with pytest.raises(studies.SweepError, match=r"points\[1\] \(phases.cam.fraction = 70.0\)"
                       r" is the same spec as points\[0\] \(phases.cam.fraction = 70\) once "
                       r"resolved \(point_id [0-9a-f]{12}\); keep one"):
        studies.load_sweep(write(tmp_path, 'mode = "points"\n[overrides]\n'
                                 '"composition.porosity" = 0.15\n[[points]]\n'
                                 '"phases.cam.fraction" = 70\n[[points]]\n'
                                 '"phases.cam.fraction" = 70.0\n'
                                 '"composition.porosity" = 0.15\n'))
    with pytest.raises(studies.SweepError, match=r"grid point\[1\] \(phases.cam.fraction = "
                                                 r"70.0\) is the same spec as grid point\[0\]"):
        studies.load_sweep(write(tmp_path, '[axes]\n"phases.cam.fraction" = [70, 70.0]\n'))


@pytest.mark.parametrize("line", ["seeds = true", 'seeds = "2"', 'transport = "yes"',
                                  "in_plane = 1"])
def test_sweep_settings_take_their_own_types(tmp_path, line):
    with pytest.raises(studies.SweepError, match=line.split()[0]):
        studies.load_sweep(write(tmp_path, f'{line}\n[axes]\n"phases.cam.fraction" = [60]\n'))


def test_paths_on_psd_kinds_and_optional_sections(tmp_path):
    base = tmp_path / "base.toml"
    text = ms.default_spec_path().read_text()
    start = text.index("[phases.carbon]")
    text = text[:start]  # no carbon
    text = text.replace('psd = { kind = "lognormal", d10_um = 0.44, d50_um = 0.79, d90_um = 1.82 }',
                        'psd = { kind = "table", diameters_um = [0.3, 0.8, 2.0], '
                        'cumulative = [0.0, 0.5, 1.0] }')
    base.write_text(text)
    with pytest.raises(studies.SweepError, match="'phases.se.psd' \\(a 'table' psd\\) has "
                                            "basis, cumulative, diameters_um, kind"):
        studies.load_sweep(write(tmp_path, 'base = "base.toml"\n[axes]\n'
                                      '"phases.se.psd.d50_um" = [0.5, 0.8]\n'))
    with pytest.raises(studies.SweepError, match="base spec has no 'phases.carbon'; set "
                                            "'phases.carbon' as a whole table"):
        studies.load_sweep(write(tmp_path, 'base = "base.toml"\n[axes]\n'
                                      '"phases.carbon.fraction" = [1, 2]\n'))
    # adding the optional section as a whole table is fine
    sw = studies.load_sweep(write(tmp_path, 'base = "base.toml"\n[axes]\n"phases.carbon" = [\n'
                             '  { density_g_cm3 = 1.96, fraction = 1, psd = { kind = "lognormal",'
                             ' d50_um = 0.5, d90_um = 0.8 } }]\n'))
    assert sw.expand()[0].spec.phases.carbon.fraction == 1


def test_bad_toml_and_types(tmp_path):
    with pytest.raises(studies.SweepError, match="invalid TOML"):
        studies.load_sweep(write(tmp_path, "[axes\n"))
    with pytest.raises(FileNotFoundError, match="sweep file not found"):
        studies.load_sweep(tmp_path / "missing.toml")
    with pytest.raises(TypeError, match="sweep must be"):
        studies.run_sweep(42, tmp_path / "o")


# ---------------------------------------------------------------------------------------------
# running, the store and the contract


def test_run_returns_every_point_with_the_contract(tiny_run):
    _, out, df = tiny_run
    assert len(df) == 4
    assert sorted(df["status"]) == ["failed", "failed", "ok", "ok"]
    for c in CONTRACT:
        assert c in df.columns, c
    for c in ("param:phases.cam.fraction", "param:phases.se.psd.d50_um",
              "param:domain.shape", "param:domain.voxel_size_um"):
        assert c in df.columns
    assert list(df.columns[:4]) == ["point_id", "seed", "status", "error"]
    ok = df[df.status == "ok"]
    assert (ok.error == "").all()
    assert set(ok["param:phases.cam.fraction"]) == {60.0, 75.0}
    assert (ok["param:domain.shape"] == "[32, 32, 32]").all()     # lists as JSON text
    for _, r in ok.iterrows():
        spec = ms.ElectrodeSpec.model_validate(json.loads(r.spec_json))
        assert spec.phases.cam.fraction == r["param:phases.cam.fraction"]
        assert r.target_cam == pytest.approx(spec.target_fractions()["cam"])
        assert abs(r.frac_cam - r.target_cam) <= 0.005
        assert 0 <= r.util_strict <= r.util_relay <= 1
        assert r.thickness_um == 32.0 and r.voxel_size_um == 1.0
        assert r.cam_wt_frac == pytest.approx(spec.solid_weight_fractions()["cam"])
        assert r.areal_loading_mg_cm2 == pytest.approx(spec.areal_loading_mg_cm2())
        assert r.se_d50_um == 0.8 and r.cam_d50_um == 3.3
        assert r.t_total_s >= r.t_generate_s > 0
        assert r.package_version == ms.__version__ and r.device == "cpu"
        assert ":" in r.worker and r.finished_at.endswith("+00:00")
        assert "phases.se: d10" in r.warnings                # resolution warning recorded
        # transport = false in the sweep: NaN / missing
        assert math.isnan(r.ionic_tau) and pd.isna(r.ionic_converged)
    assert df["electronic_percolates"].dtype == "boolean"
    bad = df[df.status == "failed"]
    assert (bad["param:phases.se.psd.d50_um"] == 3.0).all()
    assert bad.error.str.startswith("SpecError: phases.se.psd: psd quantiles must increase").all()
    assert bad.util_strict.isna().all()


def test_store_layout(tiny_run):
    path, out, df = tiny_run
    rows = sorted(p.name for p in (out / "rows").iterdir())
    assert rows == sorted(f"{pid}__s0.json" for pid in df.point_id)
    assert (out / "sweep.toml").read_text() == path.read_text()
    man = json.loads((out / "manifest.json").read_text())
    assert man["format"] == "assb-sweep-results/1" and man["seeds"] == 1
    assert set(man["current_points"]) == set(df.point_id)
    assert man["points"][df.point_id[0]]["params"]["domain.shape"] == [32, 32, 32]
    assert man["runs"][-1]["ok"] == 2 and man["runs"][-1]["failed"] == 2
    assert not ResultsStore(out).temporary_leftovers()


def test_csv_and_parquet_hold_the_same_rows(tiny_run):
    _, out, df = tiny_run
    pq = pd.read_parquet(out / "results.parquet")
    csv = pd.read_csv(out / "results.csv", keep_default_na=False, na_values=[""])
    assert list(pq.columns) == list(csv.columns) == list(df.columns)
    assert len(pq) == len(csv) == 4
    for c in pq.columns:
        a, b = pq[c], csv[c]
        if pd.api.types.is_float_dtype(a):
            pd.testing.assert_series_equal(a, b.astype("float64"), check_names=False,
                                           rtol=1e-12)
        else:
            sa = a.astype(object).where(a.notna(), "").astype(str)
            sb = b.astype(object).where(b.notna(), "").astype(str)
            assert list(sa) == list(sb), c
    pd.testing.assert_frame_equal(pq, studies.load_results(out))


def test_rerun_skips_finished_rows(tiny_run, tmp_path):
    path, out, _ = tiny_run
    out2 = tmp_path / "copy"
    shutil.copytree(out, out2)
    before = {p.name: p.read_bytes() for p in (out2 / "rows").iterdir()}
    seen = []
    df = studies.run_sweep(path, out2, workers=1, quiet=True, on_row=lambda r, p: seen.append(r))
    assert seen == [] and len(df) == 4
    assert df.attrs["sweep_run"]["rows_done_before"] == 4
    assert {p.name: p.read_bytes() for p in (out2 / "rows").iterdir()} == before
    # failed rows run again only when asked
    df = studies.run_sweep(path, out2, workers=1, quiet=True, retry_failed=True,
                      on_row=lambda r, p: seen.append(r))
    assert sorted(r["status"] for r in seen) == ["failed", "failed"]
    assert len(df) == 4 and len(list((out2 / "rows").iterdir())) == 4


def test_changed_sweep_adds_only_new_points(tiny_run, tmp_path):
    path, out, df0 = tiny_run
    out2 = tmp_path / "copy"
    shutil.copytree(out, out2)
    bigger = write(tmp_path, path.read_text().replace("[60, 75]", "[60, 75, 65]")
                   .replace("seeds = 1", "seeds = 2"))
    with pytest.raises(studies.SweepError, match=r"different sweep: axes.phases.cam.fraction: "
                       r"\[60, 75\] -> \[60, 65, 75\]; seeds: 1 -> 2"):
        studies.run_sweep(bigger, out2, workers=1, quiet=True)
    seen = []
    df = studies.run_sweep(bigger, out2, workers=1, quiet=True, force=True,
                      on_row=lambda r, p: seen.append((r["point_id"], r["seed"])))
    old = set(zip(df0.point_id, df0.seed, strict=True))
    assert not (set(seen) & old)
    # 2 new points x 2 seeds + 4 old points x the new seed 1
    assert len(seen) == 2 * 2 + 4 and len(df) == 6 * 2
    table = studies.load_results(out2)
    assert len(table) == 12 and not table.duplicated(["point_id", "seed"]).any()
    assert (out2 / "sweep.toml").read_text() == bigger.read_text()


def test_packing_error_is_a_failed_row_and_the_others_run(tmp_path, monkeypatch):
    real = ms.generate

    def generate(spec, *, seed=0, device="cpu", progress=False):
        if spec.phases.cam.fraction == 75:
            raise ms.PackingError("packing could not reach the target volume fractions "
                                         "(cam: target 0.5000, achieved 0.4500)")
        return real(spec, seed=seed, device=device, progress=progress)

    monkeypatch.setattr(ms, "generate", generate)
    df = studies.run_sweep(write(tmp_path, TINY.replace("[0.8, 3.0]", "[0.8]")), tmp_path / "o",
                      workers=1, quiet=True)
    by = df.set_index("param:phases.cam.fraction")
    assert by.loc[60.0, "status"] == "ok"
    assert by.loc[75.0, "status"] == "failed"
    assert by.loc[75.0, "error"].startswith("PackingError: packing could not reach")
    assert "achieved 0.4500" in by.loc[75.0, "error"]


def test_temporary_leftovers_are_ignored_and_cleaned(tiny_run, tmp_path):
    path, out, _ = tiny_run
    out2 = tmp_path / "copy"
    shutil.copytree(out, out2)
    (out2 / "rows" / ".abc__s0.json.x1.tmp").write_text('{"point_id": "abc", "se')  # torn
    (out2 / ".results.parquet.x2.tmp").write_bytes(b"PAR1")
    assert len(studies.load_results(out2)) == 4
    studies.run_sweep(path, out2, workers=1, quiet=True)
    assert not ResultsStore(out2).temporary_leftovers()


def test_refuses_a_foreign_directory_and_a_locked_one(tiny_run, tmp_path):
    path, out, _ = tiny_run
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.tex").write_text("keep")
    with pytest.raises(ValueError, match="not a sweep results directory"):
        studies.run_sweep(path, foreign, workers=1, quiet=True)
    assert sorted(p.name for p in foreign.iterdir()) == ["chapter1.tex"]
    with pytest.raises(FileNotFoundError, match="no results"):
        studies.load_results(foreign)
    out2 = tmp_path / "copy"
    shutil.copytree(out, out2)
    holder = ResultsStore(out2)
    holder.open_for_writing()
    try:
        with pytest.raises(studies.SweepError, match="another sweep is writing"):
            studies.run_sweep(path, out2, workers=1, quiet=True, retry_failed=True)
    finally:
        holder.close()


def test_save_structures(tmp_path):
    sw = studies.load_sweep(write(tmp_path, TINY.replace("[60, 75]", "[60]").replace("[0.8, 3.0]",
                                                                              "[0.8]")))
    df = studies.run_sweep(sw, tmp_path / "o", workers=1, quiet=True, save_structures=True)
    (r,) = df.itertuples()
    assert r.structure == f"structures/{r.point_id}__s0.zarr"
    m = ms.open(tmp_path / "o" / r.structure)
    assert m.seed == 0 and m.shape == (32, 32, 32)
    assert m.report.achieved["cam"] == r.frac_cam
    assert not list((tmp_path / "o" / "structures").glob(".*"))


def _run_one(p, *, transport):
    """The row of point ``p``, seed 0, run in this process (as a worker runs it)."""
    task = {"point_id": p.point_id, "params": p.params, "seed": 0, "device": "cpu",
            "transport": transport, "threads": None, "structure_path": None,
            "spec_json": json.dumps(p.spec.model_dump(mode="json", exclude_none=True))}
    row = run_point(task)
    assert row["status"] == "ok", row["error"]
    return row


def test_run_point_with_transport_fills_the_transport_columns(tmp_path):
    sw = studies.load_sweep(write(tmp_path, TINY.replace("transport = false", "transport = true")
                             .replace("[60, 75]", "[70]").replace("[0.8, 3.0]", "[0.8]")))
    (p,) = sw.expand()
    row = _run_one(p, transport=True)
    assert set(CONTRACT) <= set(row) and set(COLUMNS) <= set(row) | {"structure"}
    assert row["ionic_sigma_eff_S_cm"] > 0 and row["ionic_tau"] >= 1
    assert row["ionic_converged"] is True
    assert row["electronic_tau"] >= 1 and isinstance(row["electronic_converged"], bool)
    assert row["t_transport_s"] > 0
    # sequential: no contact graph, so its contact-area columns are not computed
    assert math.isnan(row["contact_area_cam_se_per_um"])


def test_pressed_point_fills_the_contact_graph_columns(tmp_path):
    sw = studies.load_sweep(write(tmp_path, TINY.replace('"sequential"', '"pressed"')
                                  .replace("[32, 32, 32]", "[48, 32, 32]")
                                  .replace('"domain.voxel_size_um" = 1.0',
                                           '"domain.voxel_size_um" = 0.5')
                                  .replace("[60, 75]", "[70]").replace("[0.8, 3.0]", "[0.8]")))
    (p,) = sw.expand()
    row = _run_one(p, transport=False)
    with pytest.warns(UserWarning) as caught:  # the SE's fines and the hard contacts
        sm = ms.structure_metrics(ms.generate(p.spec, seed=0))
    assert row["warnings"] == "; ".join(str(w.message) for w in caught)
    for a, b in studies.rows.GRAPH_CONTACT_PAIRS:
        assert row[f"contact_area_{a}_{b}_per_um"] == sm.contact_area_per_volume[f"{a}|{b}"]
    assert row["contact_area_cam_se_per_um"] > 0 and row["contact_area_cam_cam_per_um"] > 0
    # the median hard-contact radius (under the 0.5 um voxel here, hence the warning)
    assert row["hard_contact_radius_um"] == sm.hard_contact_radius_um < 0.5
    assert "contacts between hard particles" in row["warnings"]


def test_unreachable_scheduler_starts_nothing(tiny_run, tmp_path):
    import socket

    path, _, _ = tiny_run
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "never"
    with pytest.raises(ConnectionError, match=f"cannot reach the Dask scheduler at "
                                              f"tcp://127.0.0.1:{port}"):
        studies.run_sweep(path, out, scheduler=f"tcp://127.0.0.1:{port}", scheduler_timeout=2,
                     quiet=True)
    assert not out.exists()
    with pytest.raises(ValueError, match="scheduler must be 'local' or an address"):
        studies.run_sweep(path, out, scheduler="127.0.0.1:8786", quiet=True)
    assert not out.exists()


def test_analysis_options_of_a_sweep(tmp_path):
    """wall_margin_um, homogeneity_window_um and in_plane of a sweep file reach every point's
    analysis;
    bad values are refused when the file is read, naming the key; a directory written without
    them is resumed as the same sweep."""
    text = (TINY.replace("transport = false", "transport = true\nwall_margin_um = 2.0\n"
                         "homogeneity_window_um = 8.0\nin_plane = true")
            .replace("[60, 75]", "[70]").replace("[0.8, 3.0]", "[0.8]"))
    out = tmp_path / "o"
    df = studies.run_sweep(write(tmp_path, text), out, workers=1, quiet=True)
    (r,) = df.itertuples()
    assert r.status == "ok" and r.transport_wall_margin_um == 2.0
    assert r.homogeneity_window_um == 8.0 and 0 < r.homogeneity_rsd_cam < 1
    assert 1 <= r.ionic_tau_in_plane < math.inf                     # solved along the plane
    for bad, words in (("wall_margin_um = -1.0", "wall_margin_um"),
                       ("homogeneity_window_um = 0.5", r"at least one voxel \(1 µm\), got 0.5"),
                       ("homogeneity_window_um = nan", "homogeneity_window_um")):
        with pytest.raises(studies.SweepError, match=words):
            studies.load_sweep(write(tmp_path, text.replace("wall_margin_um = 2.0", bad)
                                     if bad.startswith("wall") else
                                     text.replace("homogeneity_window_um = 8.0", bad), "b.toml"))
    plain = studies.run_sweep(write(tmp_path, TINY, "p.toml"), tmp_path / "p", workers=1,
                              quiet=True)
    manifest = tmp_path / "p" / "manifest.json"
    man = json.loads(manifest.read_text())                 # as a version without the keys
    for key in ("wall_margin_um", "homogeneity_window_um", "in_plane"):
        del man["definition"][key]
    manifest.write_text(json.dumps(man))
    again = studies.run_sweep(write(tmp_path, TINY, "p.toml"), tmp_path / "p", workers=1,
                              quiet=True)
    assert again.attrs["sweep_run"]["rows_done_before"] == len(plain)
