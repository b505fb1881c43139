"""The human-readable tables of ``assb generate`` / ``assb analyze`` (and their JSON source)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from microstructure._density import porosity_source
from solvers.phases import PHASE_CODES

__all__ = ["format_analysis", "format_generation", "format_ranking", "format_sweep_summary",
           "generation_summary"]

_PHASES = tuple(PHASE_CODES)


def generation_summary(m: Any, *, store: Path | str | None = None, spec_label: str = "",
                       save_seconds: float | None = None) -> dict[str, Any]:
    """JSON-ready summary of a generated structure (what ``assb generate --json`` prints)."""
    rep = m.report
    seconds = dict(rep.seconds) if rep is not None else {}
    if save_seconds is not None:
        seconds["save"] = save_seconds
    nz, ny, nx = m.shape
    h = m.voxel_size_um
    return {
        "spec": spec_label,
        "store": None if store is None else str(store),
        "seed": int(m.seed),
        "device": rep.device if rep is not None else None,
        "shape": [nz, ny, nx],
        "voxel_size_um": h,
        "box_um": [nz * h, ny * h, nx * h],
        "target": dict(m.spec.target_fractions()),
        "bulk_density_g_cm3": m.spec.bulk_density_g_cm3(),
        "porosity_from": porosity_source(m.spec.composition),
        "achieved": dict(rep.achieved) if rep is not None else None,
        "particles": dict(m.particles.counts()),
        "cam_overlap_fraction": None if rep is None else rep.cam_overlap_fraction,
        "cam_max_relative_overlap": None if rep is None else rep.cam_max_relative_overlap,
        "relax_iterations": None if rep is None else rep.relax_iterations,
        "se_build": None if rep is None else _se_build(rep, nz * ny * nx),
        "seconds": seconds,
        "warnings": [] if rep is None else list(rep.warnings),
    }


def _se_build(rep: Any, nvox: int) -> dict[str, float] | None:
    """Box fractions of the SE drawn as pressed particles, as their coat, as the fine SE's
    grains and as the crevice fill, and the fine SE planned (pressed builds that count the
    fill's voxels)."""
    topo = rep.topology or {}
    if "se_fill_voxels" not in topo or "se" not in (rep.achieved or {}):
        return None
    coat = topo.get("se_coat_voxels", 0) / nvox
    fill = topo["se_fill_voxels"] / nvox
    grains = topo.get("se_grain_voxels", 0) / nvox
    return {"particles": rep.achieved["se"] - coat - fill - grains, "coat": coat,
            "grains": grains, "fill": fill, "fill_planned": rep.se_fill_fraction}


def box_line(s: dict[str, Any], note: str) -> str:
    """``box  nz x ny x nx voxels at h um = ... um (note)`` of a summary's shape and box."""
    box = " x ".join(f"{v:.4g}" for v in s["box_um"])
    return (f"box     {' x '.join(map(str, s['shape']))} voxels at {s['voxel_size_um']:g} um "
            f"= {box} um ({note})")


def format_generation(s: dict[str, Any]) -> str:
    """The human-readable summary table of :func:`generation_summary`."""
    lines = [
        f"spec    {s['spec']}",
        box_line(s, "axis 0 through-plane"),
        f"seed    {s['seed']}   device {s['device']}",
        "",
        f"{'phase':<8}{'target vol%':>13}{'achieved vol%':>15}{'particles':>11}",
    ]
    achieved = s["achieved"] or {}
    for n in _PHASES:
        if n not in s["target"]:
            continue
        a = achieved.get(n)
        parts = s["particles"].get(n)
        lines.append(f"{n:<8}{100 * s['target'][n]:>13.2f}"
                     f"{'-' if a is None else f'{100 * a:.2f}':>15}"
                     f"{'-' if parts is None else parts:>11}")
    lines.append("")
    if s.get("bulk_density_g_cm3") is not None:
        src = {"pellet": " (porosity from the pellet's mass and size)",
               "bulk_density_g_cm3": " (porosity from it)"}.get(s.get("porosity_from"), "")
        lines.append(f"{'bulk density':<18}{s['bulk_density_g_cm3']:.4g} g/cm³{src}")
    if s["cam_overlap_fraction"] is not None:
        lines.append(f"{'CAM overlap':<18}{s['cam_overlap_fraction']:.2e} of CAM volume "
                     f"(deepest {100 * s['cam_max_relative_overlap']:.1f} % of a radius)")
    if s["relax_iterations"] is not None:
        lines.append(f"{'relax iterations':<18}{s['relax_iterations']}")
    if s.get("se_build"):
        b = s["se_build"]
        lines.append(f"{'SE of the box':<18}pressed particles {100 * b['particles']:.2f} %, "
                     f"coat {100 * b['coat']:.2f} %, fine SE: grains "
                     f"{100 * b.get('grains', 0.0):.2f} % + crevice fill "
                     f"{100 * b['fill']:.2f} % (planned {100 * b['fill_planned']:.2f} %)")
    if s["seconds"]:
        t = ", ".join(f"{k} {v:.2f} s" for k, v in s["seconds"].items())
        lines.append(f"{'time':<18}{t}")
    if s["store"] is not None:
        lines.append(f"{'store':<18}{s['store']}")
    return "\n".join(lines)


def format_analysis(a: dict[str, Any], *, shown_warnings: Collection[str] = ()) -> str:
    """The human-readable tables of an analysis dict (see ``assb analyze``).

    The structure's warnings (poorly resolved phases, hard contacts finer than the voxel) are
    printed under its table, except those in ``shown_warnings`` (already printed by the
    generation that made the structure, as in ``assb demo``).
    """
    u = a["utilization"]
    rules = list(u)
    w = 34

    def row(label: str, key: str, fmt: str) -> str:
        cells = "".join(f"{_fmt(u[r][key], fmt):>12}" for r in rules)
        return f"{label:<{w}}{cells}"

    lines = [
        f"CAM utilization of {a['store']}",
        f"{'':<{w}}" + "".join(f"{r:>12}" for r in rules),
        row("static utilization (volume)", "static_utilization", ".4f"),
        row("static utilization (count)", "static_utilization_by_count", ".4f"),
        row("electronically isolated (vol)", "electronically_isolated", ".4f"),
        row("ionically isolated (vol)", "ionically_isolated", ".4f"),
        row("isolated both ways (vol)", "isolated_both", ".4f"),
        row("electronic percolates CC-separator", "electronic_percolates", "yes"),
        row("ionic percolates CC-separator", "ionic_percolates", "yes"),
        row("active CAM|SE faces / vol (1/um)", "active_interface_area_per_volume_per_um",
            ".4g"),
        f"{'active particles':<{w}}"
        + "".join(f"{u[r]['n_active']}/{u[r]['n_particles']}".rjust(12) for r in rules),
    ]
    for r in rules:
        if u[r]["reason"]:
            lines.append(f"  {r}: {u[r]['reason']}")

    st = a["structure"]
    lines += ["", "Structure (sizes volume-weighted; CAM from voxels, SE/carbon from the "
              "particle table)",
              f"{'phase':<8}{'vol%':>8}{'target%':>9}{'d10':>8}{'d50':>8}{'d90':>8}"
              f"{'ref d50':>9}{'d50 err':>9}  within"]
    for n in _PHASES:
        if n not in st["volume_fractions"] or (n != "pore" and n not in st["size_distributions"]
                                               and st["volume_fractions"][n] == 0):
            continue
        head = (f"{n:<8}{100 * st['volume_fractions'][n]:>8.2f}"
                f"{100 * st['target_fractions'].get(n, 0.0):>9.2f}")
        sd = st["size_distributions"].get(n)
        if sd is None:
            lines.append(head)
            continue
        lines.append(head + f"{_fmt(sd['d10_um'], '.3g'):>8}{_fmt(sd['d50_um'], '.3g'):>8}"
                     f"{_fmt(sd['d90_um'], '.3g'):>8}{_fmt(sd['reference_d50_um'], '.3g'):>9}"
                     f"{_fmt(sd['d50_relative_error'], '+.1%'):>9}  "
                     f"{'yes' if sd['d50_within_tolerance'] else 'no'}"
                     f"{'' if sd['resolved'] else ' (under 2 voxels)'}")
    lines.append(f"{'CAM|SE contact area / volume':<{w}}"
                 f"{_fmt(st['cam_se_contact_area_per_volume_per_um'], '.4g')} 1/um "
                 "(voxel faces x 2/3; the utilization row counts raw faces)")
    lines.append(f"{'CAM surface touching SE':<{w}}{_fmt(st['cam_se_coverage'], '.1%')}")
    graph = st.get("contact_area_per_volume_per_um") or {}
    if graph:  # pressed: the press's contact graph (the fill's bodies by their voxel faces)
        counts = st.get("contact_counts", {})
        lines.append(f"{'contacts (graph)':<{w}}{'area / volume':>14}{'contacts':>10}")
        lines += [f"{'  ' + k:<{w}}{_fmt(v, '.4g') + ' 1/um':>14}{counts.get(k, 0):>10}"
                  for k, v in graph.items()]
    rc = st.get("hard_contact_radius_um")
    if rc is not None:
        h = st["voxel_size_um"]
        lines.append(f"{'CAM/carbon contact radius':<{w}}{rc:.3g} um median, {rc / h:.2f} voxel")
    hom = st.get("homogeneity")
    if hom and hom["n_windows"] > 1:
        rsd = ", ".join(f"{k} {_fmt(v, '.3f')}" for k, v in hom["rsd"].items())
        lines.append(f"{'homogeneity (RSD)':<{w}}{rsd}  (windows of {hom['window_um']:.3g} "
                     f"um in the bulk, {hom['independent_windows']:.3g} independent)")
    elif hom:
        lo, hi = hom["bulk_um"]
        lines.append(f"{'homogeneity (RSD)':<{w}}- (a {hom['window_um']:.3g} um window fits "
                     f"the {hi - lo:.3g} um bulk {hom['n_windows']} time(s); "
                     "--homogeneity-window-um to choose)")
    if st["cam_overlap_fraction"] is not None:
        lines.append(f"{'CAM overlap':<{w}}{st['cam_overlap_fraction']:.2e} of CAM volume")
    shown = set(shown_warnings)
    lines += [f"warning: {m}" for m in st["warnings"] if m not in shown]

    tr = a.get("transport")
    if tr is not None:
        lines += ["", f"Transport through-plane ({tr['convention']}: sigma_eff = sigma_bulk "
                  "* eps / tau; over several phases sigma_bulk * eps = sum eps_i sigma_i)"]
        if tr.get("wall_margin_um"):
            lines.append(f"of the bulk: {tr['wall_margin_um']:.3g} um next to each wall left "
                         f"out; R for the whole {tr['thickness_um']:.3g} um")
        lines.append(f"{'network':<12}{'sigma_eff S/cm':>16}{'tau':>10}{'eps':>8}"
                     f"{'percolating':>13}{'R ohm cm2':>12}  converged")
        for net in ("ionic", "electronic"):
            t = tr[net]
            lines.append(f"{net:<12}{_fmt(t['effective_conductivity_S_cm'], '.4g'):>16}"
                         f"{_fmt(t['tau'], '.4g'):>10}{_fmt(t['volume_fraction'], '.3f'):>8}"
                         f"{_fmt(t['percolating_fraction'], '.3f'):>13}"
                         f"{_fmt(t['resistance_ohm_cm2'], '.4g'):>12}  "
                         f"{'yes' if t['converged'] else 'NO'}")
        ip = tr.get("in_plane")
        if ip:
            lines.append(f"{'in-plane':<12}tau " + ", ".join(
                f"{net} {_fmt(ip[net]['tau'], '.4g')} (axes 1 / 2: "
                f"{' / '.join(_fmt(t, '.4g') for t in ip[net]['tau_axes'])})"
                for net in ("ionic", "electronic")))
        n = tr["electronic"].get("contacts_weighted", 0)
        if tr.get("contact_conductance"):
            lines.append(f"{'contacts':<12}electronic: {n} CAM/carbon contacts at their circle's "
                         "conductance (sub-voxel)")
        else:
            lines.append(f"{'contacts':<12}electronic: faces conduct as drawn (no contact "
                         "graph or carbon labels)")
    t = ", ".join(f"{k} {v:.2f} s" for k, v in a["seconds"].items())
    lines += ["", f"{'time':<{w}}{t}", f"{'stored in':<{w}}{a['store']} (attrs['analysis'])"]
    return "\n".join(lines)


def format_sweep_summary(df: Any, n_rows: int, seconds: float, out: Path) -> str:
    """What ``assb sweep`` prints at the end: rows done, this run's share, the commonest
    failure reasons and where the results are."""
    ok = int((df["status"] == "ok").sum())
    failed = df[df["status"] != "ok"]
    run = df.attrs.get("sweep_run", {})
    lines = [f"{len(df)} rows of {n_rows}: {ok} ok, {len(failed)} failed; "
             f"this run {run.get('ok', 0)} ok + {run.get('failed', 0)} failed new, "
             f"{run.get('rows_done_before', 0)} done before ({seconds:.1f} s, "
             f"{run.get('executor', '?')})"]
    lines += [f"  failed x{n}: {reason}"
              for reason, n in failed["error"].value_counts().head(5).items()]
    from ._store import TABLE_FILES

    lines.append(f"results: {' and '.join(str(out / n) for n in TABLE_FILES)} "
                 f"(rows in {out / 'rows'})")
    if df.attrs.get("rows_of_earlier_sweeps"):
        lines.append(f"  {df.attrs['rows_of_earlier_sweeps']} rows of the sweep(s) run into "
                     f"{out} before this one (another definition, forced in) stay in "
                     f"{out / 'rows'}, not in the table")
    return "\n".join(lines)


def format_ranking(csv: Path | str, *, planned_points: int | None = None) -> str:
    """The best point of a report's ``ranking.csv`` (or that none meets the targets), one
    line ("" for an empty ranking); what ``assb report`` prints.  ``planned_points``: the
    points the sweep plans, where more than have rows (an incomplete sweep)."""
    import pandas as pd

    from ._axes import swept_axes

    r = pd.read_csv(csv, keep_default_na=False, na_values=["", "NaN", "nan"])
    if r.empty:
        return ""
    met = r[r["meets"].astype(str) == "True"]
    points = (f"{len(r)} points with rows, of {planned_points} planned"
              if planned_points is not None and planned_points > len(r) else f"{len(r)} points")
    if met.empty:
        c = r.loc[r["theta_mean"].astype(float).fillna(-1.0).idxmax()]
        return (f"none of the {points} meets the targets; highest theta: "
                f"{c['point_id']} ({c['why_not']})")
    b = met.iloc[0]
    goal = " (lowest first)" if b["objective_goal"] == "minimize" else ""
    params = swept_axes(r)
    where = ", ".join(f"{c.removeprefix('param:')}={b[c]}" for c in params)
    return (f"best within the targets ({len(met)} of {points} meet them): "
            f"{b['point_id']}" + (f" [{where}]" if where else "")
            + f", {b['objective_column']} {b['objective_mean']:.4g}{goal}, theta "
            f"({b['theta_rule']}) {b['theta_mean']:.3f}")


def short_value(v: Any) -> str:
    """A swept value as the tables and plot labels show it: floats to 4 significant digits,
    lists and tables item by item."""
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(short_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {short_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def _fmt(v: Any, fmt: str) -> str:
    if v is None:
        return "-"
    if fmt == "yes":
        return "yes" if v else "no"
    if isinstance(v, str):  # "NaN" / "Infinity" from jsonable
        return v.lower().replace("infinity", "inf")
    return format(v, fmt)
