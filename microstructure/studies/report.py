"""Sweep reports: derived capacities, figures and one self-contained HTML page.

``write_report(RESULTS_DIR)`` (``assb report RESULTS_DIR``) reads a sweep's results table
(one row per point and seed, see :mod:`microstructure.studies.rows`) and writes into
``RESULTS_DIR/report/``:

* ``utilization.png`` -- static utilization θ (strict and CAM-relay rules) vs CAM content
  (``target_cam``, the CAM volume fraction of the box, when the CAM fraction is swept; else the
  first swept axis), one line per value of the next swept axis: mean across seeds and a 95 %
  bootstrap interval of the mean from 4 seeds on, the seeds as points with 2-3;
* ``transport.png`` -- ionic and electronic σ_eff and τ against the same axis: geometric mean
  and a 95 % interval from the logarithms (positive by construction) from 4 seeds on, the seeds
  as points with 2-3 (see :mod:`microstructure.studies._plots`);
* ``percolation.png`` -- fraction of seeds whose ionic / electronic network percolates;
* ``heatmap.png`` -- θ and ionic τ over the first two swept axes (two or more swept);
* ``ternary.png`` -- θ over the CAM/SE/carbon solid composition (when all three vary);
* ``slices.png`` -- one point's structure by phase and by CAM particle state (active,
  electronically isolated, ionically isolated, both) under both rules;
* ``particles.png`` -- that structure's CAM particles, active and inactive (strict), by
  diameter and by depth from the current collector;
* a table of the points (θ, τ, σ_eff, capacities) and one of the structure's quality
  (porosity, isolated CAM, CAM|SE area and coverage, the RSD of each phase), mean ± sd;
* ``rows.csv`` (every row with the derived columns), ``summary.csv`` (per point),
  ``ranking.csv`` (the points against θ / ionic-τ targets, ranked by CAM content:
  :func:`~microstructure.studies.rank_compositions`) and ``report.html`` (PNG figures embedded
  as base64 data URIs; no external files).

Derived quantities (per row, for each rule ``r`` in ``strict``, ``relay``), with θ the static
utilization and ``C`` the active specific capacity (mAh/g, default 200 for Ni-rich NCM at
0.1 C):

* ``capacity_mAh_g_cam_r = θ C`` -- gross specific capacity per gram CAM;
* ``capacity_mAh_g_composite_r = θ C w_CAM`` -- per gram composite (CAM weight fraction);
* ``areal_capacity_mAh_cm2_r = θ C L / 1000`` -- L the CAM areal loading in mg/cm²;
* ``c_rate_factor_r = 1 / θ`` and ``effective_c_rate_r = c_rate / θ`` -- the C-rate the active
  particles see at a nominal ``c_rate`` (∞ when θ = 0).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _plots
from ._axes import swept_axes
from ._cam_table import cam_particles, state_voxels, table_states
from ._format import short_value
from ._planned import Planned, planned_rows, with_planned_seeds
from ._report_dir import check_report_dir, mark_report_dir
from ._report_html import QUALITY_COLUMNS, SUMMARY_COLUMNS, page
from ._select import rank_compositions
from ._store import load_results
from ._summary import hashable_params, point_summary
from .rows import RULE_COLUMNS

__all__ = ["add_derived", "independent_axes", "load_results", "particle_states",
           "point_summary", "rank_compositions", "swept_axes", "write_report"]

log = logging.getLogger(__name__)

#: Figure names (PNG files in the report directory).
FIGURES = ("utilization", "transport", "percolation", "heatmap", "ternary", "slices",
           "particles")
#: Added to the transport caption where carbon is in the electronic network.
ELECTRONIC_TAU_NOTE = (
    " The electronic τ is relative to Σ εᵢσᵢ of CAM and carbon (their volume-weighted "
    "conductivity): carbon far more conducting than CAM raises it even where σ_eff rises, so "
    "compare the electronic σ_eff across carbon contents.")


# ---------------------------------------------------------------------------------------------
# data


def add_derived(df: pd.DataFrame, *, specific_capacity_mAh_g: float = 200.0,
                c_rate: float = 1.0) -> pd.DataFrame:
    """A copy of ``df`` with the derived capacity and C-rate columns (see the module notes).

    Examples
    --------
    >>> import pandas as pd
    >>> from microstructure.studies.report import add_derived
    >>> d = add_derived(pd.DataFrame({"util_strict": [0.9], "util_relay": [1.0],
    ...                               "cam_wt_frac": [0.7], "areal_loading_mg_cm2": [10.0]}))
    >>> (round(float(d["capacity_mAh_g_cam_strict"][0]), 6),
    ...  round(float(d["areal_capacity_mAh_cm2_strict"][0]), 6))
    (180.0, 1.8)
    """
    for name, v in (("specific_capacity_mAh_g", specific_capacity_mAh_g), ("c_rate", c_rate)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v <= 0:
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    out = df.copy()
    nan = pd.Series(np.nan, index=out.index)
    w = _plots.as_float(out["cam_wt_frac"]) if "cam_wt_frac" in out else nan
    load = _plots.as_float(out["areal_loading_mg_cm2"]) if "areal_loading_mg_cm2" in out else nan
    for col in RULE_COLUMNS.values():
        rule = col.removeprefix("util_")  # column suffix: strict, relay
        theta = _plots.as_float(out[col]) if col in out else nan
        cap = theta * specific_capacity_mAh_g
        out[f"capacity_mAh_g_cam_{rule}"] = cap
        out[f"capacity_mAh_g_composite_{rule}"] = cap * w
        out[f"areal_capacity_mAh_cm2_{rule}"] = cap * load / 1000.0
        with np.errstate(divide="ignore"):
            factor = pd.Series(np.divide(1.0, theta.to_numpy()), index=out.index)
        out[f"c_rate_factor_{rule}"] = factor
        out[f"effective_c_rate_{rule}"] = c_rate * factor
    return out


# ---------------------------------------------------------------------------------------------
# one point's structure


def particle_states(m: Any, *, device: str = "cpu",
                    rules: Sequence[str] = tuple(RULE_COLUMNS)) -> dict[str, np.ndarray]:
    """Per-voxel CAM state under each of ``rules`` (default both): 0 not CAM, 1 active,
    2 electronically isolated, 3 ionically isolated, 4 isolated both ways (uint8; the names
    are :data:`~microstructure.studies._plots.STATE_NAMES`)."""
    import solvers

    out = {}
    periodic = bool(m.spec.domain.periodic_lateral)
    for rule in rules:
        u = solvers.cam_utilization(m.phases, m.particle_ids, voxel_size_um=m.voxel_size_um,
                                    rule=rule, periodic_lateral=periodic, device=device)
        p = u.particles
        out[rule] = state_voxels(m.particle_ids, p.id, p.active, p.electronic, p.ionic)
    return out


def _structure(results_dir: Path, row: pd.Series) -> tuple[Any, str]:
    """The stored structure of a row, or the same structure regenerated from spec and seed."""
    from microstructure import ElectrodeSpec, generate
    from microstructure import open as open_microstructure

    seed = int(row["seed"])
    path = results_dir / "structures" / f"{row['point_id']}__s{seed}.zarr"
    if path.exists():
        return open_microstructure(path), f"stored structure {path.name}"
    spec = ElectrodeSpec.from_dict(json.loads(row["spec_json"]), source="spec_json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resolution warnings were recorded by the sweep
        m = generate(spec, seed=seed)
    return m, "regenerated from spec_json and seed (no stored structure)"


# ---------------------------------------------------------------------------------------------
# the report


def write_report(results_dir: str | Path, *, out_dir: str | Path | None = None,
                 point: str | None = None, specific_capacity_mAh_g: float = 200.0,
                 c_rate: float = 1.0, min_utilization: float = 0.95, rule: str = "strict",
                 max_ionic_tau: float | None = None, objective: str = "target_cam",
                 minimize: bool = False) -> Path:
    """Write the figures, CSV tables and the self-contained HTML page of a sweep.

    Parameters
    ----------
    results_dir : str or Path
        A sweep's results directory (``results.parquet`` or ``results.csv``).
    out_dir : str or Path, optional
        Where to write (default ``results_dir / "report"``).
    point : str, optional
        ``point_id`` whose structure is shown as slices (default: the first ok point).
    specific_capacity_mAh_g : float
        Active specific capacity of the CAM, mAh/g.
    c_rate : float
        Nominal C-rate for the effective C-rate column.
    min_utilization, rule, max_ionic_tau, objective, minimize
        The targets and the objective of the ranking of the points
        (:func:`~microstructure.studies.rank_compositions`): which composition carries the most
        CAM (``target_cam``; lowest first with ``minimize``) with θ (``rule``) at least
        ``min_utilization`` and, when given, an ionic τ at most ``max_ionic_tau``; written to
        ``ranking.csv`` (the targets in its columns) and the page.

    Returns
    -------
    Path
        The HTML file.

    Raises
    ------
    FileNotFoundError
        No results table in ``results_dir``.
    NotADirectoryError
        ``out_dir`` is an existing file (checked before anything is read or written).
    FileExistsError
        ``out_dir`` is a non-empty directory that no report wrote: a report directory holds
        the marker file ``.assb-report``, which the report writes first (checked before
        anything is read or written).
    ValueError
        An empty table, an unknown ``point``, a bad capacity / C-rate or a bad target; a
        damaged ``manifest.json`` or row file (a ``DamagedFileError``, naming it).

    A sweep with rows still to run (interrupted, or rows deleted) is reported with what is
    there; the page says how many of the planned rows are present, and each point's seeds are
    counted against the seeds requested (``seeds_planned`` in ``summary.csv`` and
    ``ranking.csv``), and a warning is logged.
    """
    path, planned = report_and_plan(
        results_dir, out_dir=out_dir, point=point, specific_capacity_mAh_g=specific_capacity_mAh_g,
        c_rate=c_rate, min_utilization=min_utilization, rule=rule, max_ionic_tau=max_ionic_tau,
        objective=objective, minimize=minimize)
    if planned is not None and not planned.complete:
        log.warning("%s: %s", results_dir, planned.message())
    return path


def report_and_plan(results_dir: str | Path, *, out_dir: str | Path | None, point: str | None,
                    specific_capacity_mAh_g: float, c_rate: float, min_utilization: float,
                    rule: str, max_ionic_tau: float | None, objective: str,
                    minimize: bool) -> tuple[Path, Planned | None]:
    """:func:`write_report`'s work: the page's path and the rows the sweep planned (None
    without a manifest), which ``assb report`` prints from (the results read once)."""
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / "report"
    check_report_dir(out)
    df = load_results(results_dir)
    planned = planned_rows(results_dir, df)     # a damaged manifest: an error, as for a sweep
    if df.empty:
        raise ValueError(f"the results table in {results_dir} has no rows"
                         + (f" ({planned.message()})" if planned is not None else ""))
    df = add_derived(df, specific_capacity_mAh_g=specific_capacity_mAh_g, c_rate=c_rate)
    df = hashable_params(df)
    ranking = rank_compositions(df, min_utilization=min_utilization, rule=rule,
                                max_ionic_tau=max_ionic_tau, objective=objective,
                                minimize=minimize)
    ok = df[df["status"] == "ok"].copy()
    if point is not None and point not in set(df["point_id"]):
        raise ValueError(f"point {point!r} is not in {results_dir}; points: "
                         f"{', '.join(map(str, dict.fromkeys(df['point_id'])))}")
    out.mkdir(parents=True, exist_ok=True)
    mark_report_dir(out, results_dir)
    df.to_csv(out / "rows.csv", index=False)
    summary = with_planned_seeds(
        point_summary(df, [c for c, _, _ in SUMMARY_COLUMNS + QUALITY_COLUMNS]), planned)
    ranking = with_planned_seeds(ranking, planned)
    summary.to_csv(out / "summary.csv", index=False)
    ranking.to_csv(out / "ranking.csv", index=False)

    swept = swept_axes(ok) if not ok.empty else []
    figures: list[tuple[str, str, Any]] = []
    notes: list[str] = []
    if not ok.empty:
        figures += _sweep_figures(ok, swept, notes)
        figures += _slice_figure(results_dir, df, ok, point, notes)
    for stale in FIGURES:           # figures of an earlier report that this one does not have
        if stale not in {f[0] for f in figures}:
            (out / f"{stale}.png").unlink(missing_ok=True)
    images = []
    for name, caption, fig in figures:
        data = _plots.png_bytes(fig)
        (out / f"{name}.png").write_bytes(data)
        images.append((name, caption, base64.b64encode(data).decode("ascii")))
    html_page = page(results_dir, df, ok, swept, summary, ranking, objective, images, notes,
                     specific_capacity_mAh_g, c_rate, planned, minimize)
    path = out / "report.html"
    path.write_text(html_page, encoding="utf-8")
    log.info("report written to %s", path)
    return path, planned


def _numeric(df: pd.DataFrame, col: str) -> bool:
    return pd.to_numeric(df[col], errors="coerce").notna().all()


def _has_carbon(df: pd.DataFrame) -> bool:
    return bool((pd.to_numeric(df["target_carbon"], errors="coerce") > 0).any())


def _in_voxels(df: pd.DataFrame, column: str) -> pd.Series | None:
    """Length ``column`` (µm) of each row in voxels of that row, finite values only; None where
    the rows do not say."""
    if column not in df or "voxel_size_um" not in df:
        return None
    ratio = (pd.to_numeric(df[column], errors="coerce")
             / pd.to_numeric(df["voxel_size_um"], errors="coerce"))
    return ratio[np.isfinite(ratio)]


def contact_resolution_note(df: pd.DataFrame) -> str:
    """A caption sentence where the voxel is coarse for the hard (CAM, carbon) contacts the
    electronic current runs through: median contact radius under half a voxel (README
    "Voxel size"); "" where the rows do not say or the contacts are resolved."""
    ratio = _in_voxels(df, "hard_contact_radius_um")
    coarse = ratio[ratio < 0.5] if ratio is not None else None
    if coarse is None or coarse.empty:
        return ""
    how = ("off by an amount that depends on the seed below 0.3 voxel (0 to −15 % at 0.29 "
           "in the tests)" if coarse.min() < 0.3 else
           "within ~5 % in the tests (0 to −4 % at 0.35 voxel, varying with the seed)")
    return (f" In {len(coarse)} of {len(ratio)} rows the median CAM/carbon contact radius is "
            f"{coarse.min():.2f}–{coarse.max():.2f} voxel: the electronic σ_eff and τ, which run "
            f"through these contacts, are {how}; a voxel of at most twice the contact radius "
            "settles them (README, \"Voxel size\").")


#: Voxels per SE d50 under which the ionic τ reads high: 3–26 % at about 3 voxels in the tests,
#: 1–9 % from about 6 up (README "Voxel size", ``benchmarks/RESULTS.md`` session 26).
SE_D50_VOXELS = 5.0


def ionic_resolution_note(df: pd.DataFrame) -> str:
    """A caption sentence where the voxel is coarse for the SE: its d50 under
    :data:`SE_D50_VOXELS` voxels, where the skeleton the voxels draw is carved thinner than the
    SE is and the ionic τ reads high; "" where the rows do not say or the SE is resolved."""
    ratio = _in_voxels(df, "se_d50_um")
    coarse = ratio[ratio < SE_D50_VOXELS] if ratio is not None else None
    if coarse is None or coarse.empty:
        return ""
    lo, hi = f"{coarse.min():.1f}", f"{coarse.max():.1f}"
    return (f" In {len(coarse)} of {len(ratio)} rows the SE d50 is "
            f"{lo if lo == hi else f'{lo}–{hi}'} voxels: at about 3 voxels the ionic τ read "
            "3–26 % high in the tests (the voxels carve the SE skeleton to keep particles "
            "apart), from about 6 voxels 1–9 %; `assb resolution` measures it for a "
            "composition (README, \"Voxel size\").")


def independent_axes(df: pd.DataFrame, axes: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """``axes`` without those whose values go one to one with an earlier axis's (SE parts
    = 100 − CAM parts; an SE d90 set with each SE d50): they add no line or panel of their
    own.  Returns the kept axes and ``{dropped: the axis it goes with}``.

    Examples
    --------
    >>> import pandas as pd
    >>> from microstructure.studies.report import independent_axes
    >>> df = pd.DataFrame({"cam": [70, 70, 80, 80], "se": [30, 30, 20, 20],
    ...                    "d50": [1.5, 4.0, 1.5, 4.0]})
    >>> independent_axes(df, ["cam", "se", "d50"])
    (['cam', 'd50'], {'se': 'cam'})
    """
    kept: list[str] = []
    tied: dict[str, str] = {}
    for c in axes:
        for k in kept:
            n = len(df[[k, c]].drop_duplicates())
            if n == df[k].nunique(dropna=False) == df[c].nunique(dropna=False):
                tied[c] = k
                break
        else:
            kept.append(c)
    return kept, tied


def _sweep_figures(ok: pd.DataFrame, swept: list[str], notes: list[str]
                   ) -> list[tuple[str, str, Any]]:
    cam = "param:phases.cam.fraction"
    swept, tied = independent_axes(ok, swept)
    if tied:
        notes.append("Drawn through the axis each goes with: " + "; ".join(
            f"{_plots.label(c)} with {_plots.label(k)}" for c, k in tied.items()) + ".")
    numeric = [c for c in swept if _numeric(ok, c)]
    if cam in swept or not numeric:
        x, others = "target_cam", [c for c in swept if c != cam]
    else:
        x, others = numeric[0], [c for c in swept if c != numeric[0]]
    group = others[0] if others else None
    pooled = others[1:]
    how = (f"lines: {_plots.label(group)}" if group else "one line") + (
        f"; pooled over {', '.join(_plots.label(c) for c in pooled)}" if pooled else "")
    figs = [
        ("utilization", f"Static CAM utilization vs {_plots.label(x)} ({how}); "
         f"{_plots.SEED_NOTE['fraction']}.",
         _plots.utilization_figure(ok, x, group)),
        ("transport", "Through-plane ionic (SE) and electronic "
         f"({'CAM + carbon' if _has_carbon(ok) else 'CAM'}) effective "
         f"conductivity and tortuosity factor vs {_plots.label(x)} ({how}); "
         f"{_plots.SEED_NOTE['positive']}; non-finite values (not percolating, not solved) are "
         "left out." + (ELECTRONIC_TAU_NOTE if _has_carbon(ok) else "")
         + ionic_resolution_note(ok) + contact_resolution_note(ok),
         _plots.transport_figure(ok, x, group)),
        ("percolation", f"Percolation probability: fraction of seeds whose network joins "
         f"current collector and separator, vs {_plots.label(x)} ({how}).",
         _plots.percolation_figure(ok, x, group)),
    ]
    if len(swept) >= 2:
        a, b = (swept[0], swept[1]) if swept[0] == cam or cam not in swept[:2] \
            else (swept[1], swept[0])
        rest = [c for c in swept if c not in (a, b)]
        panels = [("util_strict", "θ strict"), ("util_relay", "θ CAM relay"),
                  ("ionic_tau", "ionic τ")]
        figs.append(("heatmap", f"{', '.join(t for _, t in panels[:-1])} and "
                     f"{panels[-1][1]} (of the bulk; – where not solved or not percolating), "
                     f"each the mean over seeds, on {_plots.label(a)} × {_plots.label(b)}"
                     + (f" (averaged over {', '.join(map(_plots.label, rest))})" if rest else "")
                     + ".", _plots.heatmap_figure(ok, a, b, panels)))
    else:
        notes.append("Heatmap skipped: fewer than two swept axes.")
    solids = ok[["target_cam", "target_se", "target_carbon"]].apply(_plots.as_float)
    total = solids.sum(axis=1)
    comp = solids.div(total, axis=0).round(9)
    comp.columns = ["cam", "se", "carbon"]
    comp["point_id"] = ok["point_id"].to_numpy()
    comp["util_strict"] = _plots.as_float(ok["util_strict"]).to_numpy()
    pts = comp.groupby("point_id", sort=False).mean()
    if _spans_plane(pts[["cam", "se", "carbon"]].to_numpy()):
        figs.append(("ternary", "Static utilization (strict, mean over seeds) over the solid "
                     "composition: CAM / SE / carbon volume fractions of the solids.",
                     _plots.ternary_figure(pts, "util_strict", "θ strict")))
    else:
        notes.append("Ternary map skipped: the CAM, SE and carbon fractions of the solids do not "
                     "vary independently (the points lie on one line or fewer).")
    return figs


def _spans_plane(comp: np.ndarray) -> bool:
    """Solid compositions (rows summing to 1) that all three vary: not on one line."""
    comp = comp[np.isfinite(comp).all(axis=1)]
    if len(comp) < 3:
        return False
    s = np.linalg.svd(comp - comp.mean(axis=0), compute_uv=False)
    return bool(s[1] > 1e-6 and s[1] > 1e-3 * s[0])


def _slice_figure(results_dir: Path, df: pd.DataFrame, ok: pd.DataFrame, point: str | None,
                  notes: list[str]) -> list[tuple[str, str, Any]]:
    pid = point if point is not None else str(ok["point_id"].iloc[0])
    rows = ok[ok["point_id"] == pid]
    if rows.empty:
        reasons = "; ".join(str(e) for e in df.loc[df["point_id"] == pid, "error"])
        notes.append(f"No slices: point {pid} has no successful seed ({reasons}).")
        return []
    row = rows.iloc[0]
    try:
        m, source = _structure(results_dir, row)
        table = cam_particles(m)                    # one utilization solve per rule for both
        states = table_states(table, m.particle_ids)
    except Exception as exc:  # noqa: BLE001 - a report is still useful without the slices
        notes.append(f"No slices for point {pid}: {type(exc).__name__}: {exc}")
        return []
    where = ", ".join(f"{c.removeprefix('param:')} = {short_value(row[c])}"
                      for c in swept_axes(df))
    title = f"point {pid}, seed {int(row['seed'])}" + (f"\n{where}" if where else "")
    which = f"Point {pid}{f' ({where})' if where else ''}, seed {int(row['seed'])} ({source})"
    return [("slices", f"{which}: phases and CAM particle state under both rules; "
             "through-plane slice at mid y (current collector at the top edge, z = 0) and "
             "in-plane slice at mid z.",
             _plots.slices_figure(m.phases, states, m.voxel_size_um, title,
                                  carbon=_has_carbon(ok))),
            ("particles", f"{which}: its CAM particles, active and inactive under the strict "
             "rule, by diameter (of their voxel volume) and by depth from the current "
             "collector; the table is `assb export STORE --array cam_particles -o cam.csv`.",
             _plots.lost_particles_figure(table, m.shape[0] * m.voxel_size_um, title))]
