"""Per-structure analysis: CAM utilization, structure metrics and effective transport.

:func:`analyze` is what ``assb analyze`` stores in a store's ``attrs["analysis"]`` and what
every sweep point runs; :func:`flat_row` turns one analysis into the flat row of a sweep's
results table (column names are a contract, see :mod:`microstructure.studies._sweep`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from microstructure import Microstructure
from solvers.phases import CAM, CARBON, SE

RULES = ("strict", "cam_relay")
_PHASES = ("pore", "cam", "se", "carbon")


def transport_function(*, fallback: bool = True) -> Callable[..., Any] | None:
    """``solvers.transport_properties``, or None where the transport solver is not installed.

    With ``fallback`` the private module ``solvers.transport._tortuosity`` is tried when the package
    does not (yet) export the function.
    """
    import solvers

    fn = getattr(solvers, "transport_properties", None)
    if fn is None and fallback:
        try:
            from solvers.transport._tortuosity import transport_properties as fn
        except ImportError:
            fn = None
    return fn


def analyze(m: Microstructure, *, device: str = "cpu",
            transport: bool | Callable[..., Any] = True,
            rules: Sequence[str] = RULES, structure: bool = True) -> dict[str, Any]:
    """Utilization under each rule, structure metrics and through-plane transport of ``m``.

    Parameters
    ----------
    m : Microstructure
        A generated or opened structure.
    device : {"cpu", "cuda"}
        Where the solvers run.
    transport : bool or callable
        Solve ionic (SE) and electronic (CAM + carbon) effective conductivity and τ.  True
        uses :func:`transport_function`; a callable with the signature of
        ``solvers.transport_properties`` is used as given; False skips it.  Without an
        installed solver the ``"transport"`` key is absent.
    rules : sequence of {"strict", "cam_relay"}
        Utilization rules, in order.
    structure : bool
        Include :func:`~microstructure.structure_metrics` (``"structure"`` key).

    Returns
    -------
    dict
        Plain JSON types (non-finite floats as the strings ``"NaN"``/``"Infinity"``):
        ``package_version``, ``device``, ``utilization`` {rule: {...}}, ``structure``,
        ``transport`` (``ionic``/``electronic`` with ``effective_conductivity_S_cm``, ``tau``,
        ...) and ``seconds`` per step.
    """
    import solvers
    from microstructure import __version__, structure_metrics

    rules = tuple(rules)
    bad = [r for r in rules if r not in RULES]
    if bad or not rules:
        raise ValueError(f"rules must be a non-empty subset of {RULES}, got {rules!r}")
    periodic = bool(m.spec.domain.periodic_lateral)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    util = {}
    for rule in rules:
        r = solvers.cam_utilization(m.phases, m.particle_ids, voxel_size_um=m.voxel_size_um,
                                    rule=rule, periodic_lateral=periodic, device=device)
        util[rule] = {
            "static_utilization": r.static_utilization,
            "static_utilization_by_count": r.static_utilization_by_count,
            "electronically_isolated": r.electronically_isolated,
            "ionically_isolated": r.ionically_isolated,
            "isolated_both": r.isolated_both,
            "electronic_percolates": r.electronic_percolates,
            "ionic_percolates": r.ionic_percolates,
            "active_interface_area_per_volume_per_um": r.active_interface_area_per_volume,
            "n_particles": r.n_particles,
            "n_active": r.n_active,
            "cam_volume_voxels": r.cam_volume_voxels,
            "reason": r.reason,
        }
    seconds["utilization"] = time.perf_counter() - t0
    analysis: dict[str, Any] = {
        "package_version": __version__,
        "device": device,
        "utilization": util,
    }
    if structure:
        t0 = time.perf_counter()
        analysis["structure"] = structure_metrics(m).to_dict()
        seconds["structure"] = time.perf_counter() - t0
    fn = transport_function() if transport is True else (transport or None)
    if fn is not None:
        t0 = time.perf_counter()
        analysis["transport"] = _transport(fn, m, device, periodic)
        seconds["transport"] = time.perf_counter() - t0
    analysis["seconds"] = seconds
    return jsonable(analysis)


def _transport(fn: Callable[..., Any], m: Microstructure, device: str,
               periodic: bool) -> dict[str, Any]:
    """Ionic (SE) and electronic (CAM + carbon) σ_eff and τ through-plane."""
    ionic = m.spec.conductivities("ionic")
    electronic = m.spec.conductivities("electronic")
    cond = {SE: ionic[SE], CAM: electronic[CAM]}
    e_phases: tuple[int, ...] = (CAM,)
    if CARBON in electronic:
        cond[CARBON] = electronic[CARBON]
        e_phases = (CAM, CARBON)
    tp = fn(m.phases, cond, axis=0, ionic_phases=(SE,), electronic_phases=e_phases,
            voxel_size_um=m.voxel_size_um, periodic_lateral=periodic, device=device)
    names = {CAM: "cam", SE: "se", CARBON: "carbon"}
    out: dict[str, Any] = {"axis": 0, "convention": tp.ionic.convention,
                           "thickness_um": tp.thickness_um}
    for net, res, codes in (("ionic", tp.ionic, (SE,)), ("electronic", tp.electronic, e_phases)):
        out[net] = {
            "bulk_conductivity_S_cm": {names[c]: cond[c] for c in codes},
            "effective_conductivity_S_cm": res.effective_conductivity,
            "tau": res.tau,
            "relative_conductivity": res.relative_conductivity,
            "volume_fraction": res.volume_fraction,
            "percolating_fraction": res.percolating_fraction,
            "converged": res.converged,
            "iterations": res.iterations,
            "seconds": res.seconds,
        }
        out[net]["resistance_ohm_cm2"] = getattr(tp, f"{net}_resistance_ohm_cm2", None)
    return out


# ---------------------------------------------------------------------------------------------
# the flat row of a sweep


def spec_columns(spec: Any) -> dict[str, Any]:
    """Input columns derived from an :class:`~microstructure.ElectrodeSpec`.

    Targets are box volume fractions; weight fractions are NaN without densities; d50 is the
    spec's written ``d50_um`` or, when the PSD gives none, the volume median of its sampler.
    """
    target = spec.target_fractions()
    row: dict[str, Any] = {f"target_{n}": float(target.get(n, 0.0)) for n in _PHASES}
    try:
        wt = spec.solid_weight_fractions()
    except ValueError:
        wt = {}
    for n in ("cam", "se", "carbon"):
        row[f"{n}_wt_frac"] = float(wt.get(n, 0.0)) if wt else math.nan
    row["cam_d50_um"] = _spec_d50(spec.phases.cam)
    row["se_d50_um"] = _spec_d50(spec.phases.se)
    row["carbon_d50_um"] = (_spec_d50(spec.phases.carbon) if spec.phases.carbon is not None
                            else math.nan)
    row["thickness_um"] = float(spec.box_um()[0])
    row["voxel_size_um"] = float(spec.domain.voxel_size_um)
    loading = spec.areal_loading_mg_cm2()
    row["areal_loading_mg_cm2"] = math.nan if loading is None else float(loading)
    row["porosity"] = float(spec.composition.porosity)
    return row


def _spec_d50(phase: Any) -> float:
    d50 = getattr(phase.psd, "d50_um", None)
    if d50 is not None:
        return float(d50)

    return phase.psd.sampler().volume_quantile(0.5)


def flat_row(analysis: dict[str, Any], m: Microstructure) -> dict[str, Any]:
    """The flat results-table columns of one analysed structure.

    Inputs (targets, weight fractions, d50s, thickness, loading), achieved fractions and CAM
    overlap, utilization under both rules, transport (NaN / None when not solved) and a few
    structure metrics.  Keys are the contract of a sweep's results table; the sweep adds
    ``point_id``, ``seed``, ``status``, ``param:*``, timings and provenance.
    """
    row = spec_columns(m.spec)
    rep = m.report
    if rep is not None:
        achieved = rep.achieved
    else:
        counts = np.bincount(m.phases.reshape(-1), minlength=4)
        achieved = {n: float(counts[i]) / m.phases.size for i, n in enumerate(_PHASES)}
    for n in _PHASES:
        row[f"frac_{n}"] = float(achieved.get(n, 0.0))
    row["cam_overlap"] = math.nan if rep is None else float(rep.cam_overlap_fraction)
    row["n_cam_particles"] = int(m.particles.counts().get("cam", 0))

    u = analysis.get("utilization", {})
    strict, relay = u.get("strict", {}), u.get("cam_relay", {})
    row["util_strict"] = _num(strict.get("static_utilization"))
    row["util_strict_by_count"] = _num(strict.get("static_utilization_by_count"))
    row["util_relay"] = _num(relay.get("static_utilization"))
    row["util_relay_by_count"] = _num(relay.get("static_utilization_by_count"))
    first = strict or relay
    row["electronically_isolated"] = _num(first.get("electronically_isolated"))
    row["ionically_isolated_strict"] = _num(strict.get("ionically_isolated"))
    row["ionically_isolated_relay"] = _num(relay.get("ionically_isolated"))
    row["isolated_both_strict"] = _num(strict.get("isolated_both"))
    row["electronic_percolates"] = first.get("electronic_percolates")
    row["ionic_percolates"] = first.get("ionic_percolates")
    row["active_area_per_volume_per_um"] = _num(
        first.get("active_interface_area_per_volume_per_um"))

    tr = analysis.get("transport") or {}
    for net in ("ionic", "electronic"):
        t = tr.get(net) or {}
        row[f"{net}_sigma_eff_S_cm"] = _num(t.get("effective_conductivity_S_cm"))
        row[f"{net}_tau"] = _num(t.get("tau"))
        row[f"{net}_converged"] = t.get("converged")
        row[f"{net}_percolating_fraction"] = _num(t.get("percolating_fraction"))
        row[f"{net}_iterations"] = _num(t.get("iterations"))
        row[f"{net}_resistance_ohm_cm2"] = _num(t.get("resistance_ohm_cm2"))

    st = analysis.get("structure") or {}
    row["cam_se_area_per_volume_per_um"] = _num(st.get("cam_se_contact_area_per_volume_per_um"))
    row["cam_se_coverage"] = _num(st.get("cam_se_coverage"))
    sizes = st.get("size_distributions") or {}
    for n in ("cam", "se"):
        row[f"{n}_d50_um_measured"] = _num((sizes.get(n) or {}).get("d50_um"))
    return row


def _num(v: Any) -> float:
    """A float from an analysis value ("NaN"/"Infinity" strings included); NaN for None."""
    if v is None:
        return math.nan
    if isinstance(v, str):
        return float(v.replace("Infinity", "inf"))
    return float(v)


def jsonable(obj: Any) -> Any:
    """Plain JSON types; non-finite floats as "NaN" / "Infinity" / "-Infinity"."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return x
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)
