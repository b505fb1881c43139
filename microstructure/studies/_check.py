"""``assb check SPEC``: what a spec asks for, read back before anything is built.

An engineer's mixing sheet becomes a box of voxels through a chain of conversions (weight to
volume with the densities, porosity from a pellet, PSD quantiles to particle counts, the voxel
to memory).  This prints each link, with the warnings ``generate`` would give and the memory
it would need, in a second rather than after a long run.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

from ._format import short_value
from ._text import one_line

_PHASES = ("cam", "se", "carbon")


def spec_summary(spec: Any, *, spec_label: str = "", device: str = "cpu") -> dict[str, Any]:
    """JSON-ready account of ``spec`` (what ``assb check --json`` prints).

    Raises the generator's ``PressingError`` where the PSDs cannot be drawn at this voxel.
    """
    from microstructure._density import porosity_source
    from microstructure._generate import input_warnings
    from microstructure._generate_pressed import powder_plan, voxel_fill_share
    from microstructure._memory import estimate_generate, estimate_sweep_point
    from solvers.memory import available_memory

    present = spec.present_phases()
    vol = spec.solid_volume_fractions()
    try:
        wt = spec.solid_weight_fractions()
    except ValueError:                      # volume basis without densities
        wt = {}
    target = spec.target_fractions()
    box = spec.box_um()
    box_volume = math.prod(box)
    h = float(spec.domain.voxel_size_um)
    pressed = spec.packing.mode == "pressed"
    plan = powder_plan(spec) if pressed else {}
    phases: dict[str, Any] = {}
    for name in _PHASES:
        p = present.get(name)
        if p is None:
            continue
        s = p.psd.sampler()
        d10, d50, d90 = (s.volume_quantile(q) for q in (0.1, 0.5, 0.9))
        drawn, fill = s, 0.0
        if name in plan:
            drawn, _lumped, fill = plan[name]
        n = (0.0 if drawn is None
             else target[name] * (1.0 - fill) * box_volume / drawn.mean_volume())
        phases[name] = {
            "material": p.material, "density_g_cm3": p.density_g_cm3,
            "wt_frac_solids": wt.get(name), "vol_frac_solids": vol[name],
            "box_fraction": target[name],
            "d10_um": d10, "d50_um": d50, "d90_um": d90, "d10_voxels": d10 / h,
            "particles": n, "fill_share": fill,
        }
        if name == "se" and fill > 0:
            phases[name]["voxel_fill_share"] = voxel_fill_share(spec)
    eps = float(spec.composition.porosity)
    bulk = spec.bulk_density_g_cm3()
    gen = estimate_generate(spec, device=device)
    point = estimate_sweep_point(spec, device=device)
    limit = available_memory("cpu")              # the host's, on either device
    memory = {"generate_bytes": gen.host_bytes, "sweep_point_bytes": point.host_bytes,
              "available_bytes": limit.bytes, "available_source": limit.source,
              "device_bytes": gen.device_bytes}
    if device == "cuda":
        gpu = available_memory("cuda")
        memory.update(sweep_point_device_bytes=point.device_bytes,
                      device_available_bytes=gpu.bytes, device_available_source=gpu.source)
    return {
        "spec": spec_label,
        "shape": list(spec.domain.shape), "voxel_size_um": h, "box_um": list(box),
        "voxels": int(math.prod(spec.domain.shape)),
        "packing_mode": spec.packing.mode,
        "porosity": eps,
        "porosity_from": porosity_source(spec.composition),
        "pellet_thickness_um": (None if spec.composition.pellet is None
                                else float(spec.composition.pellet.thickness_um)),
        "solids_density_g_cm3": None if bulk is None else bulk / (1.0 - eps),
        "bulk_density_g_cm3": bulk,
        "areal_loading_mg_cm2": spec.areal_loading_mg_cm2(),
        "conductivities_S_cm": _conductivities(spec),
        "phases": phases,
        "memory": memory,
        "warnings": input_warnings(spec),
    }


def _conductivities(spec: Any) -> dict[str, dict[str, Any]]:
    """What the transport solves take, per phase: ``{name: {kind, S_cm, given}}``."""
    from microstructure import PHASE_CODES
    from microstructure._spec import USED_CONDUCTIVITIES

    cond = spec.transport_conductivities()
    out = {}
    for name, p in spec.present_phases().items():
        kind = USED_CONDUCTIVITIES[name]
        out[name] = {"kind": kind, "S_cm": cond[PHASE_CODES[name]],
                     "given": getattr(p, f"{kind}_conductivity_S_cm") is not None}
    return out


def format_spec_summary(s: dict[str, Any]) -> str:
    """The human-readable table of :func:`spec_summary`."""
    from microstructure._se_grains import GRAIN_VOXELS
    from solvers.memory import format_bytes

    from ._format import box_line

    lines = [
        f"spec    {s['spec']} (valid)",
        box_line(s, f"{s['voxels']:,} voxels, packing {s['packing_mode']}"),
        "",
        f"{'phase':<8}{'wt% solids':>11}{'vol% solids':>12}{'vol% box':>10}{'g/cm³':>7}"
        f"{'d10/d50/d90 um':>21}{'d10 vox':>8}{'particles':>15}",
    ]
    for name, p in s["phases"].items():
        wt = "-" if p["wt_frac_solids"] is None else f"{100 * p['wt_frac_solids']:.1f}"
        rho = "-" if p["density_g_cm3"] is None else f"{p['density_g_cm3']:.3g}"
        d = f"{p['d10_um']:.3g}/{p['d50_um']:.3g}/{p['d90_um']:.3g}"
        lines.append(f"{name:<8}{wt:>11}{100 * p['vol_frac_solids']:>12.1f}"
                     f"{100 * p['box_fraction']:>10.2f}{rho:>7}{d:>21}"
                     f"{p['d10_voxels']:>8.1f}{p['particles']:>15,.0f}")
    lines.append(f"{'pore':<8}{'':>11}{'':>12}{100 * s['porosity']:>10.2f}")
    lines.append("")
    src = {"pellet": "from the pellet's mass and size",
           "bulk_density_g_cm3": "from the bulk density"}.get(s["porosity_from"], "given")
    lines.append(f"{'porosity':<18}{s['porosity']:.4f} ({src})")
    t = s.get("pellet_thickness_um")
    if t is not None and abs(t - s["box_um"][0]) > s["voxel_size_um"]:
        lines.append(f"{'':<18}the pellet is {t:.4g} um thick, the box {s['box_um'][0]:.4g} um: "
                     "domain sets the electrode built (size_um = [thickness, y, x])")
    if s["bulk_density_g_cm3"] is not None:
        lines.append(f"{'bulk density':<18}{s['bulk_density_g_cm3']:.4g} g/cm³ (solids "
                     f"{s['solids_density_g_cm3']:.4g} g/cm³)")
    if s["areal_loading_mg_cm2"] is not None:
        lines.append(f"{'CAM loading':<18}{s['areal_loading_mg_cm2']:.3g} mg/cm²")
    cond = s.get("conductivities_S_cm", {})
    if cond:
        text = ", ".join(f"{'SE' if n == 'se' else n.replace('cam', 'CAM')} {c['kind']} "
                         f"{c['S_cm']:g}" + ("" if c["given"] else " (default)")
                         for n, c in cond.items())
        lines.append(f"{'conductivity':<18}{text} S/cm")
    fill = s["phases"].get("se", {}).get("fill_share", 0.0)
    if fill > 0:
        vox = s["phases"]["se"].get("voxel_fill_share", fill)
        lines.append(f"{'fine SE':<18}{100 * fill:.1f} % of the SE volume (its finest "
                     f"particles, pressed into the crevices after pressing: "
                     f"{100 * (fill - vox):.1f} % as grains of {GRAIN_VOXELS:g} voxels and "
                     f"more, {100 * vox:.1f} % as a voxel fill)")
    mem = s["memory"]
    avail = (f"{format_bytes(mem['available_bytes'])} available" if mem["available_bytes"] >= 0
             else "available memory unknown")
    lines.append(f"{'memory':<18}generate ~{format_bytes(mem['generate_bytes'])}, a sweep "
                 f"point ~{format_bytes(mem['sweep_point_bytes'])} ({avail})")
    if 0 <= mem["available_bytes"] < mem["generate_bytes"]:
        lines.append(f"{'':<18}more than available: generate would refuse this box; use a "
                     "smaller domain or a larger voxel")
    if "device_available_bytes" in mem:
        free = mem["device_available_bytes"]
        gpu = f"{format_bytes(free)} free" if free >= 0 else "free memory unknown"
        lines.append(f"{'GPU memory':<18}generate ~{format_bytes(mem['device_bytes'])}, a "
                     f"sweep point ~{format_bytes(mem['sweep_point_device_bytes'])} ({gpu})")
        if 0 <= free < mem["device_bytes"]:
            lines.append(f"{'':<18}more than free: generate --device cuda would refuse this "
                         "box; use a smaller domain, a larger voxel or --device cpu")
    how = ("pressed as particles" if s["packing_mode"] == "pressed"
           else "expected without overlap")
    lines.append(f"particles: {how} (the target volume over the PSD's mean particle volume); "
                 "d10/d50/d90: volume-based, of the PSD as drawn (a lognormal through three "
                 "given quantiles keeps d50, its width from d10 and d90)")
    return "\n".join(lines)


def is_sweep_file(path: Path) -> bool:
    """A TOML file with none of a spec's sections but a sweep's keys (anything unreadable is
    left to the spec reader, whose errors name the problem)."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return "phases" not in data and bool({"base", "axes", "points"} & set(data))


def sweep_check(sw: Any, *, label: str = "", device: str = "cpu") -> dict[str, Any]:
    """JSON-ready account of every point of sweep ``sw`` (``assb check SWEEP.toml --json``):
    the swept values, the porosity, the particles to press, the memory of one point, the
    warnings; a point whose spec is invalid or whose PSDs cannot be drawn carries its error."""
    from microstructure._pressing import PressingError

    points = sw.expand()
    swept = [p for p in sw.param_paths
             if len({repr(pt.params.get(p)) for pt in points}) > 1]
    rows = []
    for i, pt in enumerate(points, 1):
        row: dict[str, Any] = {"point": i, "point_id": pt.point_id,
                               "params": {p: pt.params.get(p) for p in swept}}
        if pt.spec is None:
            row["error"] = pt.error
        else:
            try:
                s = spec_summary(pt.spec, device=device)
            except PressingError as exc:          # PSDs that cannot be drawn at the voxel
                row["error"] = " ".join(str(exc).split())
            else:
                row.update(porosity=s["porosity"], bulk_density_g_cm3=s["bulk_density_g_cm3"],
                           particles=sum(p["particles"] for p in s["phases"].values()),
                           memory=s["memory"], warnings=[*pt.notes, *s["warnings"]])
        rows.append(row)
    return {"sweep": label, "points": rows, "seeds": sw.seeds, "transport": sw.transport,
            "swept": swept}


def _over_memory(mem: dict[str, Any]) -> bool:
    """Whether one sweep point's estimate exceeds the memory available (known) on the host
    or its GPU."""
    host = 0 <= mem["available_bytes"] < mem["sweep_point_bytes"]
    gpu = 0 <= mem.get("device_available_bytes", -1) < mem.get("sweep_point_device_bytes", 0)
    return host or gpu


def format_sweep_check(s: dict[str, Any]) -> str:
    """The human-readable table of :func:`sweep_check`."""
    from solvers.memory import format_bytes

    ok = [r for r in s["points"] if "error" not in r]
    big = [r for r in ok if _over_memory(r["memory"])]
    fits = (f"; {len(big)} of them need more memory than is available now (assb sweep "
            "refuses the sweep while they are in it)" if big else "")
    lines = [f"sweep   {s['sweep']} (valid): {len(s['points'])} points x {s['seeds']} seeds"
             f"{'' if s['transport'] else ' (no transport)'}; {len(ok)} can be built{fits}",
             ""]
    shown = [{p: short_value(r["params"][p]) for p in s["swept"]} for r in s["points"]]
    # a column per swept path, as wide as its widest value (a PSD table is long) plus a space
    width = {p: max(22, len(p.removeprefix("phases.")) + 2, *(len(v[p]) + 2 for v in shown))
             for p in s["swept"]}
    head = "".join(f"{p.removeprefix('phases.'):>{width[p]}}" for p in s["swept"])
    lines.append(f"{'point':<6}{head}{'porosity':>10}{'particles':>11}{'memory':>10}  notes")
    for r, v in zip(s["points"], shown, strict=True):
        vals = "".join(f"{v[p]:>{width[p]}}" for p in s["swept"])
        if "error" in r:
            lines.append(f"{r['point']:<6}{vals}{'':>35}  error: {r['error']}")
            continue
        notes = f"{len(r['warnings'])} warning(s)" if r["warnings"] else ""
        if _over_memory(r["memory"]):
            notes = ("over the memory available; " + notes).rstrip("; ")
        lines.append(f"{r['point']:<6}{vals}{r['porosity']:>10.4f}{r['particles']:>15,.0f}"
                     f"{format_bytes(r['memory']['sweep_point_bytes']):>10}  {notes}")
    if ok:
        big = max(ok, key=lambda r: r["memory"]["sweep_point_bytes"])
        mem = big["memory"]
        avail = (format_bytes(mem["available_bytes"]) if mem["available_bytes"] >= 0
                 else "unknown")
        lines += ["", f"memory: the largest point needs ~{format_bytes(mem['sweep_point_bytes'])}"
                  f" per worker ({avail} available now)"]
        if "device_available_bytes" in mem:
            free = mem["device_available_bytes"]
            lines.append(f"GPU memory: ~{format_bytes(mem['sweep_point_device_bytes'])} per "
                         f"worker ({format_bytes(free) if free >= 0 else 'unknown'} free now "
                         "on this GPU)")
        where: dict[str, list[str]] = {}          # each warning once, with its points
        for r in ok:
            for w in r["warnings"]:
                where.setdefault(w, []).append(str(r["point"]))
        for w, pts in where.items():
            at = ("every point" if len(pts) == len(s["points"])
                  else f"point{'s' if len(pts) > 1 else ''} {', '.join(pts)}")
            lines.append(f"warning ({at}): {w}")
    return "\n".join(lines)


def check_file(path: Path, *, device: str, json_out: bool, sets: list[str] | None) -> None:
    """``assb check PATH``: a sweep file one line per point, a spec (with ``--set``) its
    summary; as a table or one JSON object; errors exit 2 naming the problem."""
    import typer

    from microstructure._pressing import PressingError

    from ._cli_checks import echo_json, fail, read_spec, read_sweep, spec_label

    if path.is_dir():
        fail(f"{path} is a directory; expected a spec or sweep TOML file")
    if is_sweep_file(path):
        if sets:
            fail("--set changes a spec; a sweep file takes its changes in [overrides]")
        result = sweep_check(read_sweep(path), label=str(path), device=device)
        if json_out:
            echo_json(result)
        else:
            typer.echo(format_sweep_check(result))
        return
    spec = read_spec(path, sets)
    try:
        summary = spec_summary(spec, spec_label=spec_label(path, sets), device=device)
    except PressingError as exc:   # PSDs that cannot be drawn at this voxel
        fail(one_line(exc))
    if json_out:
        echo_json(summary)
        return
    for w in summary["warnings"]:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(format_spec_summary(summary))
