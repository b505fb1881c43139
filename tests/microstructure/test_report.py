"""Sweep reports: derived quantities, figures, self-contained HTML, CLI.

The results come from real (tiny) sweeps run with ``run_sweep`` in this process.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

import microstructure as ms
import solvers
from microstructure import studies
from microstructure.studies import SweepSpec, _plots
from microstructure.studies.cli import app
from microstructure.studies.report import (
    add_derived,
    load_results,
    particle_states,
    point_summary,
    swept_axes,
    write_report,
)

CAM_AXIS = "param:phases.cam.fraction"
SE_AXIS = "param:phases.se.psd.d50_um"


def _base() -> ms.ElectrodeSpec:
    # plumbing test: the fast sequential model at coarse voxels; the pressed default is tested
    # in test_pressing.py
    return ms.load_spec(ms.default_spec_path()).updated({
        "packing.mode": "sequential",
        "domain.shape": [32, 32, 32], "domain.voxel_size_um": 0.4,
        "phases.cam.psd": {"kind": "lognormal", "d50_um": 3.0, "d90_um": 4.0},
        "phases.se.psd": {"kind": "lognormal", "d50_um": 1.2, "d90_um": 1.8},
        "phases.carbon.psd": {"kind": "lognormal", "d50_um": 1.0, "d90_um": 1.4}})


@pytest.fixture(scope="module")
def two_axes(tmp_path_factory):
    """CAM fraction x SE d50, two seeds, with transport; CAM = 1000 parts is invalid."""
    out = tmp_path_factory.mktemp("sweep2")
    sw = SweepSpec(base=_base(), seeds=2, axes={"phases.cam.fraction": [55, 75, 1000],
                                                "phases.se.psd.d50_um": [0.9, 1.2]})
    studies.run_sweep(sw, out, workers=1, quiet=True)
    return out


@pytest.fixture(scope="module")
def two_axes_report(two_axes):
    return write_report(two_axes)


@pytest.fixture(scope="module")
def three_axes(tmp_path_factory):
    """CAM x SE x carbon fractions (a ternary), one seed, no transport, stored structures."""
    out = tmp_path_factory.mktemp("sweep3")
    sw = SweepSpec(base=_base(), seeds=1, transport=False,
                   axes={"phases.cam.fraction": [60, 75], "phases.se.fraction": [25, 40],
                         "phases.carbon.fraction": [1, 4]})
    studies.run_sweep(sw, out, workers=1, quiet=True, save_structures=True)
    return out


def _png_ok(path) -> None:
    with Image.open(path) as im:
        im.verify()
        assert im.format == "PNG"


def test_figures_and_tables_written(two_axes, two_axes_report):
    out = two_axes / "report"
    assert two_axes_report == out / "report.html"
    for name in ("utilization", "transport", "percolation", "heatmap", "slices", "particles"):
        _png_ok(out / f"{name}.png")
    assert not (out / "ternary.png").exists()   # CAM/SE/carbon on one line: no ternary
    rows = pd.read_csv(out / "rows.csv")
    assert len(rows) == 12
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 6
    assert set(summary["seeds_ok"]) == {0, 2}


def test_html_is_self_contained(two_axes, two_axes_report):
    page = two_axes_report.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    srcs = re.findall(r"src='([^']*)'", page) + re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<link" not in page and "<script" not in page
    # the embedded images are the PNG files
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in srcs}
    files = {p.read_bytes() for p in (two_axes / "report").glob("*.png")}
    assert embedded == files


def test_failed_points_listed_with_reason(two_axes_report):
    page = two_axes_report.read_text(encoding="utf-8")
    assert "Failed rows (4)" in page
    assert "random packing of spheres cannot exceed 0.68" in page


def test_summary_means_match_groupby(two_axes):
    df = load_results(two_axes)
    ok = df[df.status == "ok"]
    s = point_summary(add_derived(df)).set_index("point_id")
    expect = ok.groupby("point_id")["util_strict"].agg(["mean", "std"])
    np.testing.assert_allclose(s.loc[expect.index, "util_strict_mean"], expect["mean"])
    np.testing.assert_allclose(s.loc[expect.index, "util_strict_sd"], expect["std"])
    assert swept_axes(df) == [CAM_AXIS, SE_AXIS]


def test_derived_columns_of_real_rows(two_axes, two_axes_report):
    rows = pd.read_csv(two_axes / "report" / "rows.csv")
    ok = rows[rows.status == "ok"]
    np.testing.assert_allclose(ok["capacity_mAh_g_cam_strict"], 200 * ok["util_strict"])
    np.testing.assert_allclose(ok["capacity_mAh_g_composite_relay"],
                               200 * ok["util_relay"] * ok["cam_wt_frac"])
    np.testing.assert_allclose(ok["areal_capacity_mAh_cm2_strict"],
                               0.2 * ok["util_strict"] * ok["areal_loading_mg_cm2"])
    assert rows.loc[rows.status != "ok", "capacity_mAh_g_cam_strict"].isna().all()


def test_derived_quantities_by_hand():
    df = pd.DataFrame({"util_strict": [0.9, 0.0, np.nan], "util_relay": [1.0, 0.5, 0.8],
                       "cam_wt_frac": [0.7, 0.8, 0.7],
                       "areal_loading_mg_cm2": [10.0, 20.0, 10.0]})
    d = add_derived(df, c_rate=0.5)
    assert d.loc[0, "capacity_mAh_g_cam_strict"] == pytest.approx(180.0)
    assert d.loc[0, "capacity_mAh_g_composite_strict"] == pytest.approx(126.0)
    assert d.loc[0, "areal_capacity_mAh_cm2_strict"] == pytest.approx(1.8)
    assert d.loc[0, "c_rate_factor_strict"] == pytest.approx(1 / 0.9)
    assert d.loc[0, "effective_c_rate_strict"] == pytest.approx(0.5 / 0.9)
    assert d.loc[1, "c_rate_factor_strict"] == np.inf           # nothing active
    assert np.isnan(d.loc[2, "capacity_mAh_g_cam_strict"])
    assert d.loc[1, "areal_capacity_mAh_cm2_relay"] == pytest.approx(0.5 * 200 * 20 / 1000)
    d = add_derived(df, specific_capacity_mAh_g=150.0)
    assert d.loc[0, "capacity_mAh_g_cam_strict"] == pytest.approx(135.0)
    assert "util_strict" in df and "capacity_mAh_g_cam_strict" not in df   # input untouched
    with pytest.raises(ValueError, match="specific_capacity_mAh_g must be a positive number"):
        add_derived(df, specific_capacity_mAh_g=0)


def _plotted_y(fig) -> np.ndarray:
    """Every y value drawn: line data, band vertices, scattered points."""
    from matplotlib.collections import PathCollection, PolyCollection

    ys = []
    for ax in fig.axes:
        for line in ax.lines:
            ys.append(np.asarray(line.get_ydata(), dtype=float))
        for c in ax.collections:
            if isinstance(c, PolyCollection):
                ys += [p.vertices[:, 1] for p in c.get_paths()]
            elif isinstance(c, PathCollection):
                ys.append(np.asarray(c.get_offsets(), dtype=float)[:, 1])
    return np.concatenate(ys) if ys else np.array([])


def _bands(ax) -> int:
    from matplotlib.collections import PolyCollection

    return sum(isinstance(c, PolyCollection) for c in ax.collections)


def _demo_like_rows(seeds: int) -> pd.DataFrame:
    """Transport rows as in the demo report: a skewed electronic τ, σ_eff near zero."""
    rng = np.random.default_rng(1)
    rows = []
    for x in (0.45, 0.55, 0.65):
        for s in range(seeds):
            tau = float(np.exp(rng.normal(np.log(40), 1.5)))
            rows.append({"target_cam": x, "seed": s, "electronic_tau": tau,
                         "electronic_sigma_eff_S_cm": 0.05 * 0.4 / tau,
                         "ionic_tau": float(np.exp(rng.normal(1.0, 0.3))),
                         "ionic_sigma_eff_S_cm": float(np.exp(rng.normal(-8, 0.8))),
                         "util_strict": float(np.clip(rng.normal(0.8, 0.2), 0, 1)),
                         "util_relay": float(np.clip(rng.normal(0.9, 0.15), 0, 1))})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seeds", [2, 3, 6])
def test_transport_figure_draws_no_impossible_values(seeds):
    """Issue 12, case 10: with 2 seeds the t-band (t = 12.7) of τ reached -2000 and the
    σ_eff bands spanned zero.  Every drawn value of a positive quantity is now > 0."""
    fig = _plots.transport_figure(_demo_like_rows(seeds), "target_cam", None)
    y = _plotted_y(fig)
    assert y.size and (y[np.isfinite(y)] > 0).all()
    n_bands = sum(_bands(ax) for ax in fig.axes)
    assert n_bands == (4 if seeds >= _plots.MIN_BAND_SEEDS else 0)


@pytest.mark.parametrize("seeds", [2, 6])
def test_utilization_figure_stays_in_0_1(seeds):
    fig = _plots.utilization_figure(_demo_like_rows(seeds), "target_cam", None)
    y = _plotted_y(fig)
    assert ((y >= 0) & (y <= 1)).all()


@pytest.mark.parametrize("figure", ["utilization_figure", "percolation_figure"])
def test_series_that_coincide_stay_visible(figure):
    """Two SE sizes with the same values (θ 1, every network percolating): the first series is
    drawn wider, with larger markers of another shape, under the second."""
    rows = [{"target_cam": x, "seed": s, "se": d, "util_strict": 1.0, "util_relay": 1.0,
             "ionic_percolates": True, "electronic_percolates": True}
            for x in (0.4, 0.5) for s in range(2) for d in (1.5, 4.0)]
    fig = getattr(_plots, figure)(pd.DataFrame(rows), "target_cam", "se")
    for ax in fig.axes:
        first, second = ax.get_lines()
        np.testing.assert_array_equal(first.get_ydata(), second.get_ydata())
        assert first.get_linewidth() > second.get_linewidth()
        assert first.get_markersize() > second.get_markersize()
        assert first.get_marker() != second.get_marker()


def test_contact_resolution_note():
    from microstructure.studies.report import contact_resolution_note

    def rows(radii, voxel=0.5):
        return pd.DataFrame({"hard_contact_radius_um": radii, "voxel_size_um": voxel})

    note = contact_resolution_note(rows([0.12, 0.2, 0.3, np.nan]))   # 0.24, 0.4, 0.6 voxel
    assert "In 2 of 3 rows" in note and "0.24–0.40 voxel" in note and "below 0.3 voxel" in note
    assert "within ~5 %" in contact_resolution_note(rows([0.16, 0.2]))
    assert contact_resolution_note(rows([0.25, 0.4])) == ""          # resolved
    assert contact_resolution_note(pd.DataFrame({"x": [1]})) == ""   # the rows do not say


def test_ionic_resolution_note():
    from microstructure.studies.report import ionic_resolution_note

    def rows(d50, voxel=0.5):
        return pd.DataFrame({"se_d50_um": d50, "voxel_size_um": voxel})

    note = ionic_resolution_note(rows([1.5, 2.0, 4.0, np.nan]))   # 3, 4 and 8 voxels
    assert "In 2 of 3 rows the SE d50 is 3.0–4.0 voxels" in note
    assert "3–26 % high" in note and "assb resolution" in note
    assert "the SE d50 is 3.0 voxels:" in ionic_resolution_note(rows([1.5, 1.5]))
    assert ionic_resolution_note(rows([2.5, 4.0])) == ""             # 5 voxels and more
    assert ionic_resolution_note(pd.DataFrame({"x": [1]})) == ""     # the rows do not say


def test_two_or_three_seeds_are_drawn_as_points():
    df = _demo_like_rows(2)
    fig = _plots.transport_figure(df, "target_cam", None)
    ax = fig.axes[3]                                    # electronic τ
    from matplotlib.collections import PathCollection

    (pts,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    drawn = np.sort(np.asarray(pts.get_offsets())[:, 1])
    np.testing.assert_allclose(drawn, np.sort(df["electronic_tau"]))
    assert _bands(ax) == 0


def test_seed_stats_positive_is_log_t():
    vals = [2.0, 2.5, 3.0, 8.0]
    df = pd.DataFrame({"x": [1, 1, 2, 2, 2, 2], "y": [50.0, 2500.0, *vals]})
    s = _plots.seed_stats(df, ["x"], "y", kind="positive").set_index("x")
    assert s.loc[1, "method"] == "seeds" and np.isnan(s.loc[1, "lo"]) and s.loc[1, "n"] == 2
    logs = np.log(vals)
    half = 3.182446305 * logs.std(ddof=1) / 2               # t(0.975, 3), sqrt(4)
    assert s.loc[2, "center"] == pytest.approx(np.exp(logs.mean()))
    assert s.loc[2, "lo"] == pytest.approx(np.exp(logs.mean() - half))
    assert s.loc[2, "hi"] == pytest.approx(np.exp(logs.mean() + half))
    assert s.loc[2, "lo"] > 0 and s.loc[2, "method"] == "log-t"


def test_seed_stats_fraction_and_zeros_use_bootstrap_within_the_data():
    df = pd.DataFrame({"x": [1] * 5 + [2], "y": [0.0, 0.1, 0.9, 1.0, 1.0, 0.5]})
    s = _plots.seed_stats(df, ["x"], "y").set_index("x")
    assert s.loc[1, "method"] == "bootstrap"
    assert 0.0 <= s.loc[1, "lo"] < s.loc[1, "center"] < s.loc[1, "hi"] <= 1.0
    assert s.loc[1, "center"] == pytest.approx(0.6)
    assert s.loc[2, "method"] == "one seed" and s.loc[2, "center"] == 0.5
    again = _plots.seed_stats(df, ["x"], "y").set_index("x")
    assert again.loc[1, "lo"] == s.loc[1, "lo"]                # fixed bootstrap seed
    z = _plots.seed_stats(pd.DataFrame({"x": [1] * 4, "y": [0.0, 1e-6, 2e-6, 3e-6]}), ["x"],
                          "y", kind="positive")
    assert z.loc[0, "method"] == "bootstrap" and z.loc[0, "lo"] >= 0   # σ_eff = 0: no log
    with pytest.raises(ValueError, match="kind must be one of"):
        _plots.seed_stats(df, ["x"], "y", kind="student")


def test_report_captions_describe_the_intervals(two_axes_report):
    page = two_axes_report.read_text(encoding="utf-8")
    assert "t-interval" not in page
    assert "the seeds as × with 2-3" in page and "geometric mean" in page


def test_one_axis_from_a_bare_table(two_axes, tmp_path):
    df = load_results(two_axes)
    one = df[df[SE_AXIS] == 0.9].drop(columns=[SE_AXIS])
    one.to_parquet(tmp_path / "results.parquet")
    html = write_report(tmp_path, specific_capacity_mAh_g=180.0, c_rate=2.0)
    out = tmp_path / "report"
    for name in ("utilization", "transport", "percolation", "slices"):
        _png_ok(out / f"{name}.png")
    assert not (out / "heatmap.png").exists()
    page = html.read_text(encoding="utf-8")
    assert "Heatmap skipped" in page and "θ × 180 mAh/g" in page


def test_electronic_tau_convention_is_stated_where_carbon_conducts(two_axes, two_axes_report,
                                                                    tmp_path):
    # τ of CAM + carbon is relative to Σ εᵢσᵢ: more carbon can raise it while σ_eff rises
    note = "relative to Σ εᵢσᵢ of CAM and carbon"
    assert note in two_axes_report.read_text(encoding="utf-8")
    df = load_results(two_axes)
    assert (df.loc[df.status == "ok", "target_carbon"] > 0).all()
    df["target_carbon"] = 0.0                    # the same table, read as carbon-free
    df.to_parquet(tmp_path / "results.parquet")
    assert note not in write_report(tmp_path).read_text(encoding="utf-8")


def test_three_axes_ternary_and_missing_transport(three_axes):
    html = write_report(three_axes, out_dir=three_axes / "rep")
    out = three_axes / "rep"
    for name in ("utilization", "transport", "percolation", "heatmap", "ternary", "slices"):
        _png_ok(out / f"{name}.png")
    page = html.read_text(encoding="utf-8")
    assert "stored structure" in page            # slices from the saved zarr
    first = load_results(three_axes).query("status == 'ok'").iloc[0]   # the point shown
    where = ", ".join(f"{k} = {first[f'param:{k}']:g}" for k in
                      ("phases.cam.fraction", "phases.carbon.fraction", "phases.se.fraction"))
    assert f"Point {first['point_id']} ({where}), seed 0" in page     # its composition named
    assert "averaged over" in page              # heatmap over two of three axes
    rows = pd.read_csv(out / "rows.csv")
    assert rows["ionic_tau"].isna().all()       # no transport: NaN columns handled


def test_chosen_point_and_states(two_axes):
    df = load_results(two_axes)
    ok = df[df.status == "ok"]
    row = ok.iloc[-1]
    html = write_report(two_axes, out_dir=two_axes / "chosen", point=row["point_id"])
    page = html.read_text(encoding="utf-8")
    assert re.search(rf"Point {row['point_id']} \([^)]+\), seed 0 \(regenerated", page)
    # the state image agrees with the utilization in the table
    spec = ms.ElectrodeSpec.from_dict(json.loads(row["spec_json"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # coarse voxels at this tiny size
        m = ms.generate(spec, seed=int(row["seed"]))
    st = particle_states(m)
    cam = m.phases == ms.CAM
    assert np.count_nonzero(st["strict"] == 1) / cam.sum() == pytest.approx(row["util_strict"])
    assert np.count_nonzero(st["cam_relay"] == 1) / cam.sum() == pytest.approx(row["util_relay"])
    assert ((st["strict"] > 0) == cam).all()
    u = solvers.cam_utilization(m.phases, m.particle_ids, voxel_size_um=m.voxel_size_um)
    e_iso = np.isin(st["strict"], (2, 4)).sum() / cam.sum()
    assert e_iso == pytest.approx(u.electronically_isolated)
    # the particles figure: every CAM particle counted once in each panel, by its state
    from microstructure.studies import cam_particles

    table = cam_particles(m)
    fig = _plots.lost_particles_figure(table, m.shape[0] * m.voxel_size_um, "t")
    n_act = int(table.active_strict.sum())
    assert n_act == u.n_active
    for ax in fig.axes:
        active, inactive = (sum(p.get_height() for p in c) for c in ax.containers)
        assert (active, inactive) == (n_act, len(table) - n_act)
    assert "its CAM particles, active and inactive" in html.read_text(encoding="utf-8")


def test_failed_point_and_unknown_point(two_axes):
    df = load_results(two_axes)
    bad = df.loc[df.status == "failed", "point_id"].iloc[0]
    page = write_report(two_axes, out_dir=two_axes / "bad", point=bad).read_text("utf-8")
    assert f"No slices: point {bad} has no successful seed" in page
    assert not (two_axes / "bad" / "slices.png").exists()
    assert not (two_axes / "bad" / "particles.png").exists()
    with pytest.raises(ValueError, match="point 'nope' is not in"):
        write_report(two_axes, point="nope")


def test_cli_report(two_axes, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(two_axes), "--out", str(tmp_path / "r"),
                              "--capacity-mah-g", "190"])
    assert res.exit_code == 0, res.output
    assert str(tmp_path / "r" / "report.html") in res.output
    assert "θ × 190 mAh/g" in (tmp_path / "r" / "report.html").read_text("utf-8")
    res = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "no results" in res.output
    res = runner.invoke(app, ["report", str(two_axes), "--out", str(tmp_path / "r2"),
                              "--point", "nope"])
    assert res.exit_code == 2 and "point 'nope'" in res.output
    shutil.rmtree(tmp_path / "r")


def test_only_failed_rows(two_axes, tmp_path):
    df = load_results(two_axes)
    df[df.status == "failed"].to_parquet(tmp_path / "results.parquet")
    page = write_report(tmp_path).read_text("utf-8")
    assert "Failed rows (4)" in page and "0 ok" in page
    assert not list((tmp_path / "report").glob("*.png"))


def test_ranking_in_the_report_and_the_cli(two_axes, two_axes_report, tmp_path):
    """ranking.csv is rank_compositions of the derived table; the page shows it; assb report
    prints the best point (or that none meets), and refuses a bad target before any figure."""
    from microstructure.studies import rank_compositions

    got = pd.read_csv(two_axes / "report" / "ranking.csv", keep_default_na=False,
                      na_values=["", "NaN", "nan"])
    want = rank_compositions(add_derived(load_results(two_axes)))
    assert got["point_id"].tolist() == want["point_id"].tolist()
    np.testing.assert_allclose(got["theta_mean"], want["theta_mean"])
    assert got["meets"].tolist() == want["meets"].tolist()
    page = two_axes_report.read_text("utf-8")
    assert "Which composition carries the most CAM within the targets" in page
    assert f"{int(want['meets'].sum())} of {len(want)} points meet them" in page

    runner = CliRunner()
    res = runner.invoke(app, ["report", str(two_axes), "--out", str(tmp_path / "r"),
                              "--min-utilization", "0.0"])
    assert res.exit_code == 0, res.output
    best = want[want["seeds_ok"] > 0].sort_values("objective_mean", ascending=False,
                                                  kind="stable").iloc[0]
    assert f"best within the targets (4 of 6 points meet them): {best['point_id']}" in res.output
    res = runner.invoke(app, ["report", str(two_axes), "--out", str(tmp_path / "r"),
                              "--min-utilization", "1", "--max-ionic-tau", "1"])
    assert res.exit_code == 0 and "none of the 6 points meets the targets" in res.output
    for bad in (["--min-utilization", "2"], ["--rule", "loose"], ["--objective", "nope"],
                ["--max-ionic-tau", "0.2"]):
        out = tmp_path / f"bad{bad[0]}"
        res = runner.invoke(app, ["report", str(two_axes), "--out", str(out), *bad])
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
        assert f"{bad[0]} must be" in res.output             # the option, not the argument
        assert not out.exists()                              # refused before anything written


def test_structure_quality_table(two_axes, two_axes_report):
    """The quality criteria per point (mean ± sd): summary.csv holds them, the page shows
    them; the RSD is '–' where the window (3 CAM d50s, 9 um) does not fit these 12.8 um boxes."""
    summary = pd.read_csv(two_axes / "report" / "summary.csv").set_index("point_id")
    ok = load_results(two_axes).query("status == 'ok'")
    expect = ok.groupby("point_id")["frac_pore"].mean()
    np.testing.assert_allclose(summary.loc[expect.index, "frac_pore_mean"], expect)
    assert summary["homogeneity_rsd_cam_n"].eq(0).all()
    page = two_axes_report.read_text("utf-8")
    table = page.split("Structure quality (mean ± sd over ok seeds)")[1].split("</table>")[0]
    assert "RSD SE" in table and "CAM surface touching SE" in table
    first = ok[ok.point_id == expect.index[0]]["frac_pore"]
    assert f"{first.mean():.3f} ± {first.std():.3f}" in table


def test_axes_that_go_together_are_drawn_through_one():
    """Points that set SE parts = 100 - CAM parts and an SE d90 with each d50 (the demo sweep)
    have two independent axes; the figures draw lines by the SE d50, not by the SE parts."""
    from microstructure.studies.report import independent_axes

    df = pd.DataFrame({"cam": [70, 70, 80, 80] * 2, "se": [30, 30, 20, 20] * 2,
                       "d50": [1.5, 4.0] * 4, "d90": [2.8, 7.4] * 4,
                       "other": [1, 1, 1, 2] * 2})
    assert independent_axes(df, ["cam", "se", "d50", "d90", "other"]) == (
        ["cam", "d50", "other"], {"se": "cam", "d90": "d50"})
    assert independent_axes(df, ["d90", "d50"]) == (["d90"], {"d50": "d90"})
    with_nan = df.assign(se=[30.0, 30.0, np.nan, np.nan] * 2)
    assert independent_axes(with_nan, ["cam", "se"]) == (["cam"], {"se": "cam"})


def test_in_plane_tau_is_shown_only_where_it_was_computed(two_axes, two_axes_report):
    """The in-plane tau is opt-in (``in_plane``): no column for a sweep without it, its mean
    ± sd where the rows have it."""
    from microstructure.studies._report_html import SUMMARY_COLUMNS, _points_table

    assert "ionic τ in-plane" not in two_axes_report.read_text("utf-8")
    df = load_results(two_axes)
    df["ionic_tau_in_plane"] = 2.5
    summary = point_summary(df, ["ionic_tau", "ionic_tau_in_plane"])
    table = "".join(_points_table("t", summary, [], SUMMARY_COLUMNS))
    assert "<th>ionic τ in-plane</th>" in table and "2.5 ± 0" in table


def test_report_refuses_a_directory_it_did_not_write(tmp_path, monkeypatch):
    """A non-empty directory without the report's marker (.assb-report) is refused before
    anything is read or written; an empty one, or one a report wrote (marker, or the page of
    a report written before the marker), is written (again)."""
    from microstructure.studies import _executors
    from microstructure.studies._point import failed_row
    from microstructure.studies._report_dir import MARKER

    monkeypatch.setattr(_executors, "run_point", lambda task: failed_row(
        task, task["seed"], "PackingError: no room", "cpu"))
    res = tmp_path / "res"
    sw = SweepSpec(base=_base(), seeds=1, axes={"phases.cam.fraction": [60]})
    studies.run_sweep(sw, res, workers=1, quiet=True)             # one failed row, no work
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.csv").write_text("my own table")
    runner = CliRunner()
    r = runner.invoke(app, ["report", str(res), "--out", str(mine)])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"error: --out {mine} is a non-empty directory that no report "
                               f"wrote (it has no {MARKER} file)")
    assert "compiling" not in r.stderr and r.stderr.count("\n") == 1
    assert (mine / "summary.csv").read_text() == "my own table"
    assert sorted(p.name for p in mine.iterdir()) == ["summary.csv"]
    with pytest.raises(FileExistsError, match="out_dir .* no report wrote"):
        write_report(res, out_dir=mine)
    (res / "report").mkdir()
    (res / "report" / "notes.txt").write_text("keep")
    r = runner.invoke(app, ["report", str(res)])                 # the default RESULTS/report
    assert r.exit_code == 2 and "no report wrote" in r.stderr, r.output
    shutil.rmtree(res / "report")
    empty = tmp_path / "empty"
    empty.mkdir()
    for _ in range(2):                                           # an empty one, then again
        r = runner.invoke(app, ["report", str(res), "--out", str(empty)])
        assert r.exit_code == 0, r.output
        assert json.loads((empty / MARKER).read_text())["results_dir"] == str(res.resolve())
    (empty / MARKER).unlink()                                    # a report from before the marker
    assert runner.invoke(app, ["report", str(res), "--out", str(empty)]).exit_code == 0
    assert (empty / MARKER).is_file()


def test_page_gives_the_wall_margin_and_what_the_heatmap_shows(two_axes, two_axes_report):
    page = two_axes_report.read_text(encoding="utf-8")
    rows = pd.read_csv(two_axes / "report" / "rows.csv")
    margins = rows["transport_wall_margin_um"].dropna().unique()
    assert len(margins) == 1                     # one box: one margin, printed as its value
    assert f"through-plane, of the bulk ({margins[0]:.3g} µm next to each wall left out)" in page
    assert "<code>transport_wall_margin_um</code>" not in page
    assert "θ strict, θ CAM relay and ionic τ (of the bulk;" in page   # the heatmap's panels
    assert "electronic (CAM + carbon) effective" in page    # the base has carbon


def test_phase_legend_lists_carbon_only_where_there_is_carbon():
    phases = np.zeros((6, 6, 6), np.uint8)
    phases[:3] = ms.CAM
    phases[3:] = ms.SE
    states = {"strict": np.where(phases == ms.CAM, 1, 0).astype(np.uint8)}

    def legend(fig):
        return [t.get_text() for t in fig.axes[1].get_legend().get_texts()]

    assert legend(_plots.slices_figure(phases, states, 0.5, "t", carbon=False)) == [
        "pore", "CAM", "SE"]
    assert "carbon" in legend(_plots.slices_figure(phases, states, 0.5, "t"))
    phases[0, 0, 0] = ms.CARBON                  # carbon drawn: listed whatever the rows say
    assert "carbon" in legend(_plots.slices_figure(phases, states, 0.5, "t", carbon=False))


def test_a_table_set_by_its_own_keys_is_no_axis(tmp_path):
    """The demo sweep's shape: an [overrides] PSD table and points that set its d50 / d90.
    The table's column (the point's resolved table, JSON) varies with the d50 but is no axis of
    its own: the page, the heatmap and the printed best point name the d50, never the JSON."""
    psd = {"kind": "lognormal", "d50_um": 1.2, "d90_um": 1.8}
    sw = SweepSpec(base=_base(), seeds=1, transport=False,
                   overrides={"phases.se.psd": psd},
                   axes={"phases.cam.fraction": [55, 75], "phases.se.psd.d50_um": [0.9, 1.2]})
    studies.run_sweep(sw, tmp_path / "res", workers=1, quiet=True)
    df = load_results(tmp_path / "res")
    assert df["param:phases.se.psd"].nunique() == 2          # the rows hold the resolved table
    assert swept_axes(df) == [CAM_AXIS, SE_AXIS]
    res = CliRunner().invoke(app, ["report", str(tmp_path / "res"), "--min-utilization", "0"])
    assert res.exit_code == 0, res.output
    assert "phases.se.psd=" not in res.output and "phases.se.psd.d50_um=" in res.output
    page = (tmp_path / "res" / "report" / "report.html").read_text("utf-8")
    assert ("swept axes: CAM fraction (parts of solids), SE d50 (µm). " in page)
    assert "on CAM fraction (parts of solids) × SE d50 (µm)." in page   # the heatmap
    assert "d50_um&quot;" not in page and '"d50_um"' not in page          # no JSON anywhere


@pytest.fixture(scope="module")
def two_points(tmp_path_factory):
    """Two points x two seeds, no transport: the rows of a whole sweep."""
    out = tmp_path_factory.mktemp("sweep_two_points")
    sw = SweepSpec(base=_base(), seeds=2, transport=False,
                   axes={"phases.cam.fraction": [55, 75]})
    studies.run_sweep(sw, out, workers=1, quiet=True)
    return out


def test_an_incomplete_sweep_is_reported_as_incomplete(two_points, tmp_path):
    """Rows missing (an interrupted sweep, a deleted row file): the report is written from the
    rows there are, and the page, the printed lines, summary.csv and ranking.csv say how many
    of the planned rows are there and count each point's seeds against the seeds requested."""
    res = tmp_path / "res"
    shutil.copytree(two_points, res)
    rows = sorted((res / "rows").glob("*.json"))
    first = json.loads(rows[0].read_text())["point_id"]
    for p in rows:                    # the other point entirely, and seed 1 of the first
        if not p.name.startswith(first) or p.name.endswith("__s1.json"):
            p.unlink()
    r = CliRunner().invoke(app, ["report", str(res), "--min-utilization", "0"])
    assert r.exit_code == 0, r.output
    msg = ("1 of 4 rows: the sweep is incomplete; run the same assb sweep again to finish it "
           "(1 of 2 points have no row yet)")
    assert r.stdout.splitlines()[0] == f"incomplete sweep: {msg}"
    assert msg not in r.stderr                                 # said once
    assert "best within the targets (1 of 1 points with rows, of 2 planned meet them)" \
        in r.stdout
    page = (res / "report" / "report.html").read_text("utf-8")
    assert f"Incomplete sweep: {msg}.</b>" in page
    assert "<td>1/2 (1 not run)</td>" in page                  # seeds ok / requested
    assert "1 of 1 points meet them (of 2 planned: the sweep is incomplete)" in page
    for name, rows in (("summary.csv", "seeds"), ("ranking.csv", "seed_rows")):
        t = pd.read_csv(res / "report" / name)
        assert t[["point_id", rows, "seeds_planned"]].values.tolist() == [[first, 1, 2]]

    whole = write_report(two_points, out_dir=tmp_path / "whole").read_text("utf-8")
    assert "Incomplete sweep" not in whole and "<td>2/2</td>" in whole
    r = CliRunner().invoke(app, ["report", str(two_points), "--out", str(tmp_path / "w2")])
    assert r.exit_code == 0 and "incomplete sweep" not in r.stdout, r.output
    assert "best within the targets (1 of 2 points meet them)" in r.stdout


def test_report_refuses_a_damaged_manifest(two_points, tmp_path):
    """As assb sweep does (ResultsStore.read_manifest): exit 2, the same one-line message, no
    report written; a manifest without the seeds it planned is damaged too."""
    from microstructure.studies._store import DamagedFileError, ResultsStore

    res = tmp_path / "res"
    shutil.copytree(two_points, res)
    man = json.loads((res / "manifest.json").read_text())
    (res / "manifest.json").write_text('{"seeds": 2, ')
    with pytest.raises(DamagedFileError) as want:
        ResultsStore(res).read_manifest()
    r = CliRunner().invoke(app, ["report", str(res)])
    assert r.exit_code == 2, r.output
    assert r.stderr == f"error: {want.value}\n"
    assert not (res / "report").exists()
    del man["seeds"]
    (res / "manifest.json").write_text(json.dumps(man))
    r = CliRunner().invoke(app, ["report", str(res)])
    assert r.exit_code == 2 and not (res / "report").exists(), r.output
    assert r.stderr.startswith(f"error: damaged manifest {res / 'manifest.json'} ('seeds' "
                               "must be a whole number >= 1, got None)")
    with pytest.raises(DamagedFileError, match="'seeds' must be a whole number"):
        write_report(res)


def test_results_dir_that_is_a_file_or_holds_no_results(tmp_path):
    """A sweep file (or any file) given as RESULTS_DIR is named as such, not as a --out that
    was never given; so is a directory without results; nothing is created."""
    sweep = tmp_path / "small.toml"
    sweep.write_text('base = "default"\n')
    runner = CliRunner()
    r = runner.invoke(app, ["report", str(sweep)])
    assert r.exit_code == 2, r.output
    assert r.stderr == (f"error: no results in {sweep}: it is a file; RESULTS_DIR must be a "
                        "sweep results directory (what assb sweep -o wrote); a sweep file "
                        f"runs with assb sweep {sweep} -o RESULTS_DIR\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(app, ["report", str(empty)])
    assert r.exit_code == 2 and "--out" not in r.stderr and "compiling" not in r.stderr
    assert r.stderr.startswith(f"error: no results in {empty}: RESULTS_DIR must be a sweep "
                               "results directory")
    assert list(empty.iterdir()) == []


def test_report_ranks_lowest_first_with_minimize_and_says_the_targets(two_points, tmp_path):
    """--minimize ranks by --objective lowest first; ranking.csv says which θ, which column,
    which way and the targets in its columns; --max-ionic-tau's help gives its range."""
    runner = CliRunner()
    r = runner.invoke(app, ["report", str(two_points), "--out", str(tmp_path / "r"),
                            "--min-utilization", "0", "--minimize", "--rule", "cam_relay"])
    assert r.exit_code == 0, r.output
    rank = pd.read_csv(tmp_path / "r" / "ranking.csv")
    assert rank["param:phases.cam.fraction"].tolist() == [55, 75]     # the least CAM first
    assert rank[["theta_rule", "objective_column", "objective_goal", "min_utilization",
                 "targets_on"]].drop_duplicates().values.tolist() == [
        ["cam_relay", "target_cam", "minimize", 0.0, "mean over seeds"]]
    assert rank["max_ionic_tau"].isna().all()
    best = rank.iloc[0]
    assert (f"{best['point_id']} [phases.cam.fraction=55.0], target_cam "
            f"{best['objective_mean']:.4g} (lowest first), theta (cam_relay)") in r.stdout
    page = (tmp_path / "r" / "report.html").read_text("utf-8")
    assert "The points within the targets, by CAM volume fraction of the box" in page
    assert "(mean over seeds, lowest first)" in page and "θ cam_relay mean ± sd" in page
    import typer

    helps = {p.name: p.help for p in typer.main.get_command(app).commands["report"].params}
    assert "highest acceptable ionic τ, a number >= 1" in helps["max_ionic_tau"]
    assert "highest mean first" in helps["objective"] and "lowest first" in helps["minimize"]
