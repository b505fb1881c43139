"""The self-contained HTML page of a sweep report (:func:`~microstructure.studies.report.
write_report`): the points' tables, the ranking, the failed rows and the embedded figures."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import _plots
from ._format import short_value

if TYPE_CHECKING:
    from ._planned import Planned

__all__ = ["QUALITY_COLUMNS", "SUMMARY_COLUMNS", "page"]

#: Columns summarised per point (mean ± sd across seeds) in the HTML table.
SUMMARY_COLUMNS = (
    ("util_strict", "θ strict", ".3f"),
    ("util_relay", "θ relay", ".3f"),
    ("ionic_tau", "ionic τ", ".3g"),
    ("ionic_tau_in_plane", "ionic τ in-plane", ".3g"),
    ("ionic_sigma_eff_S_cm", "ionic σ_eff S/cm", ".3g"),
    ("electronic_sigma_eff_S_cm", "electronic σ_eff S/cm", ".3g"),
    ("capacity_mAh_g_cam_strict", "mAh/g CAM (strict)", ".1f"),
    ("capacity_mAh_g_composite_strict", "mAh/g composite (strict)", ".1f"),
    ("areal_capacity_mAh_cm2_strict", "mAh/cm² (strict)", ".3g"),
    ("effective_c_rate_strict", "effective C-rate (strict)", ".3g"),
)
#: Columns computed only when asked for (``in_plane``): shown only where some point has them.
OPT_IN = frozenset({"ionic_tau_in_plane"})
#: The structure's quality criteria labs report (DOMAIN.md), per point: porosity, isolated CAM,
#: contact areas and how evenly each phase is spread.
QUALITY_COLUMNS = (
    ("frac_pore", "porosity", ".3f"),
    ("electronically_isolated", "CAM electronically isolated", ".3f"),
    ("ionically_isolated_strict", "CAM ionically isolated (strict)", ".3f"),
    ("cam_se_area_per_volume_per_um", "CAM|SE area / volume µm⁻¹", ".3g"),
    ("cam_se_coverage", "CAM surface touching SE", ".3f"),
    ("homogeneity_rsd_cam", "RSD CAM", ".3f"),
    ("homogeneity_rsd_se", "RSD SE", ".3f"),
    ("homogeneity_rsd_carbon", "RSD carbon", ".3f"),
    ("homogeneity_rsd_pore", "RSD pore", ".3f"),
)


_CSS = """body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:0.85em;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f0f0f0}
td.l{text-align:left}img{max-width:100%}figure{margin:1.5em 0}
figcaption{font-size:0.9em;color:#444}.note{color:#555;font-size:0.9em}
.warn{color:#a00000;border:2px solid #a00000;padding:0.5em}"""


def seeds_cell(r: pd.Series) -> str:
    """``ok/requested`` seeds of a point (``ok/rows`` where the request is unknown), and how
    many requested seeds have no row yet."""
    rows = int(r["seed_rows"] if "seed_rows" in r else r["seeds"])
    planned = r.get("seeds_planned")
    if planned is None or pd.isna(planned):
        return f"{int(r['seeds_ok'])}/{rows}"
    missing = int(planned) - rows
    return f"{int(r['seeds_ok'])}/{int(planned)}" + (f" ({missing} not run)" if missing > 0
                                                       else "")


def _cell(mean: float, sd: float, fmt: str) -> str:
    if not np.isfinite(mean):
        return "–"
    s = format(mean, fmt)
    return s if not np.isfinite(sd) else f"{s} ± {format(sd, fmt)}"


def _points_table(title: str, summary: pd.DataFrame, shown: list[str],
                  columns: tuple[tuple[str, str, str], ...]) -> list[str]:
    """One table of the points: the shown parameters, the seeds, then ``columns`` (mean ± sd);
    nothing when the summary has none of the columns."""
    e = html.escape
    cols = [(c, t, f) for c, t, f in columns if f"{c}_mean" in summary
            and (c not in OPT_IN or summary[f"{c}_n"].gt(0).any())]
    if not cols:
        return []
    parts = [f"<h2>{e(title)}</h2><table><tr><th>point</th>",
             *(f"<th>{e(_plots.label(c))}</th>" for c in shown), "<th>seeds ok</th>",
             *(f"<th>{e(t)}</th>" for _, t, _ in cols), "</tr>"]
    for _, r in summary.iterrows():
        cells = [f"<td class='l'>{e(str(r['point_id']))}</td>"]
        cells += [f"<td>{e(short_value(r[c]))}</td>" for c in shown]
        cells.append(f"<td>{e(seeds_cell(r))}</td>")
        cells += [f"<td>{_cell(r[f'{c}_mean'], r[f'{c}_sd'], f)}</td>" for c, _, f in cols]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    return parts


def _ranking_html(ranking: pd.DataFrame, swept: list[str], objective: str,
                  minimize: bool, planned: Planned | None) -> list[str]:
    """The ranking's section of the page: the targets, then the points in rank order."""
    e = html.escape
    if ranking.empty:
        return []
    t = ranking.attrs.get("targets", "")
    met = int(ranking["meets"].sum())
    rule = str(ranking["theta_rule"].iloc[0])
    title = ("Which composition carries the most CAM within the targets"
             if objective == "target_cam" and not minimize else
             f"The points within the targets, by {_plots.label(objective)}")
    head = (f"<h2>{e(title)}</h2>"
            f"<p>Targets: {e(t)}; ranked by {e(_plots.label(objective))} (mean over seeds, "
            f"{'lowest' if minimize else 'highest'} first). "
            f"{met} of {len(ranking)} points meet them"
            + (f" (of {len(planned.points)} planned: the sweep is incomplete)"
               if planned is not None and not planned.complete else "")
            + (f"; the best is <b>{e(str(ranking['point_id'].iloc[0]))}</b>." if met else ".")
            + "</p><table><tr><th>rank</th><th>point</th>")
    cols = [c for c in swept if c in ranking]
    parts = [head, *(f"<th>{e(_plots.label(c))}</th>" for c in cols),
             f"<th>{e(_plots.label(objective))} (mean)</th>",
             f"<th>θ {e(rule)} mean ± sd</th><th>θ {e(rule)} lowest seed</th>"
             "<th>ionic τ</th><th>seeds ok</th><th>meets</th><th>missed</th></tr>"]
    for _, r in ranking.iterrows():
        cells = [f"<td>{int(r['rank'])}</td>", f"<td class='l'>{e(str(r['point_id']))}</td>"]
        cells += [f"<td>{e(short_value(r[c]))}</td>" for c in cols]
        cells += [f"<td>{_cell(r['objective_mean'], math.nan, '.4g')}</td>",
                  f"<td>{_cell(r['theta_mean'], r['theta_sd'], '.3f')}</td>",
                  f"<td>{_cell(r['theta_min'], math.nan, '.3f')}</td>",
                  f"<td>{_cell(r['ionic_tau_mean'], math.nan, '.3g')}"
                  + (f" ({int(r['ionic_blocked_seeds'])} blocked)"
                     if r["ionic_blocked_seeds"] else "")
                  + "</td>",
                  f"<td>{e(seeds_cell(r))}</td>",
                  f"<td>{'yes' if r['meets'] else 'no'}</td>",
                  f"<td class='l'>{e(r['why_not'])}</td>"]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    return parts


def wall_margin_text(ok: pd.DataFrame) -> str:
    """Where the transport was solved, from the rows' ``transport_wall_margin_um`` (µm).

    >>> import pandas as pd
    >>> from microstructure.studies._report_html import wall_margin_text
    >>> wall_margin_text(pd.DataFrame({"transport_wall_margin_um": [3.3, 3.3]}))
    'of the bulk (3.3 µm next to each wall left out)'
    >>> wall_margin_text(pd.DataFrame({"transport_wall_margin_um": [3.0, 4.5, None]}))
    'of the bulk (3–4.5 µm next to each wall left out, by point)'
    """
    col = ok["transport_wall_margin_um"] if "transport_wall_margin_um" in ok else []
    v = pd.to_numeric(pd.Series(col, dtype=object), errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "of the bulk (no transport solved in these rows)"
    lo, hi = float(v.min()), float(v.max())
    if hi == 0:
        return "through the whole thickness (no wall layer left out)"
    if lo == hi:
        return f"of the bulk ({lo:.3g} µm next to each wall left out)"
    return f"of the bulk ({lo:.3g}–{hi:.3g} µm next to each wall left out, by point)"


def page(results_dir: Path, df: pd.DataFrame, ok: pd.DataFrame, swept: list[str],
         summary: pd.DataFrame, ranking: pd.DataFrame, objective: str,
         images: list[tuple[str, str, str]], notes: list[str], capacity: float,
         c_rate: float, planned: Planned | None = None, minimize: bool = False) -> str:
    """The report page; ``summary`` from ``point_summary`` over the summary and quality
    columns, ``ranking`` from ``rank_compositions``, ``images`` (name, caption, base64 PNG),
    ``planned`` the rows the sweep planned (None: not known)."""
    e = html.escape
    failed = df[df["status"] != "ok"]
    params = [c for c in summary.columns if c.startswith("param:")]
    shown = swept or params
    versions = ", ".join(sorted(map(str, df.get("package_version",
                                                pd.Series(dtype=object)).dropna().unique())))
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>assb sweep report: {e(results_dir.name)}</title><style>{_CSS}</style></head>",
        f"<body><h1>Sweep report: {e(str(results_dir))}</h1>",
        *([f"<p class='warn' id='incomplete'><b>Incomplete sweep: {e(planned.message())}."
           "</b> The tables and figures show the rows there are; seeds are counted against "
           f"the {planned.seeds} requested per point.</p>"]
          if planned is not None and not planned.complete else []),
        f"<p>{len(df)} rows ({len(ok)} ok, {len(failed)} failed) over "
        f"{df['point_id'].nunique()} points; swept axes: "
        f"{e(', '.join(_plots.label(c) for c in swept) or 'none')}. "
        f"Package version {e(versions or 'unknown')}.</p>",
        f"<p class='note'>Derived: gross specific capacity = θ × {capacity:g} mAh/g (active "
        "specific capacity), per gram composite × CAM weight fraction; areal capacity from the "
        f"CAM areal loading; effective C-rate = {c_rate:g} C / θ. τ is the tortuosity factor in "
        f"σ_eff = σ_bulk ε / τ, through-plane, {e(wall_margin_text(ok))}.</p>",
        *_points_table("Points (mean ± sd over ok seeds)", summary, shown, SUMMARY_COLUMNS),
        *_points_table("Structure quality (mean ± sd over ok seeds)", summary, shown,
                       QUALITY_COLUMNS),
        "<p class='note'>RSD: relative standard deviation of each phase's volume fraction in "
        "windows of three CAM d50s inside the bulk (<code>homogeneity_window_um</code>; 0 is "
        "perfectly even; – where the phase is absent or the window does not fit the box); "
        "isolated CAM as fractions "
        "of the CAM volume.</p>",
    ]
    parts += _ranking_html(ranking, swept, objective, minimize, planned)
    if not failed.empty:
        parts.append(f"<h2>Failed rows ({len(failed)})</h2><table><tr><th>point</th>"
                     "<th>seed</th><th>reason</th></tr>")
        for _, r in failed.iterrows():
            parts.append(f"<tr><td class='l'>{e(str(r['point_id']))}</td>"
                         f"<td>{e(str(r['seed']))}</td>"
                         f"<td class='l'>{e(str(r.get('error', '')))}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Figures</h2>")
    for name, caption, b64 in images:
        parts.append(f"<figure id='{e(name)}'><img alt='{e(name)}' "
                     f"src='data:image/png;base64,{b64}'><figcaption>{e(caption)}"
                     "</figcaption></figure>")
    for n in notes:
        parts.append(f"<p class='note'>{e(n)}</p>")
    parts.append("<p class='note'>Tables: rows.csv (every row with derived columns), "
                 "summary.csv (per point), ranking.csv (against the targets), next to this "
                 "page.</p></body></html>")
    return "\n".join(parts)
