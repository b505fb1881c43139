"""Per-structure analysis: CAM utilization, structure metrics and effective transport.

:func:`analyze` is what ``assb analyze`` stores in a store's ``attrs["analysis"]`` and what
every sweep point runs; :func:`microstructure.studies.rows.flat_row` turns one analysis into
the flat row of a sweep's results table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from microstructure import Microstructure
from solvers.phases import CAM, CARBON, SE
from solvers.utilization import RULES


def analyze(m: Microstructure, *, device: str = "cpu",
            transport: bool | Callable[..., Any] = True,
            rules: Sequence[str] = RULES, structure: bool = True,
            wall_margin_um: float | None = None,
            homogeneity_window_um: float | None = None,
            in_plane: bool = False) -> dict[str, Any]:
    """Utilization under each rule, structure metrics and through-plane transport of ``m``.

    Parameters
    ----------
    m : Microstructure
        A generated or opened structure.
    device : {"cpu", "cuda"}
        Where the solvers run.
    transport : bool or callable
        Solve ionic (SE) and electronic (CAM + carbon) effective conductivity and τ of the
        bulk, :meth:`~microstructure.Microstructure.bulk_slice` (the layers next to the
        collector and separator walls left out); the area-specific resistances are those of
        the whole thickness at the bulk's conductivity.  True uses
        ``solvers.transport_properties``; a callable with its signature is used as given;
        False skips it (no ``"transport"`` key).
    rules : sequence of {"strict", "cam_relay"}
        Utilization rules, in order.
    structure : bool
        Include :func:`~microstructure.structure_metrics` (``"structure"`` key).
    wall_margin_um : float, optional
        Thickness left out next to each wall, µm, of the transport solves and of the
        homogeneity's windows (``margin_um`` of
        :meth:`~microstructure.Microstructure.bulk_slice`; default one particle diameter, 0
        takes the whole thickness).
    homogeneity_window_um : float, optional
        Edge of the windows of the structure metrics' homogeneity, µm (default three CAM
        d50s; see :func:`~microstructure.structure_metrics`).
    in_plane : bool
        Also solve both networks along the two in-plane axes of the same bulk (two more
        solves each; ``transport["in_plane"]``).  A uniaxially pressed electrode need not be
        isotropic: its in-plane τ may differ from the through-plane one.  The in-plane solves
        take no-flux faces on the other two axes (the bulk is a slab cut out of the
        electrode, so axis 0 cannot wrap).

    Returns
    -------
    dict
        Plain Python numbers, strings and lists (NaN where not computed, ``inf`` for the τ
        of a blocked network; :func:`~microstructure.studies._text.jsonable` makes JSON of it):
        ``package_version``, ``device``, ``utilization`` {rule: {...}}, ``structure``,
        ``transport`` (``thickness_um``, ``wall_margin_um``, ``bulk_thickness_um``,
        ``ionic``/``electronic`` with ``effective_conductivity_S_cm``, ``tau``, ...) and
        ``seconds`` per step.
    """
    import solvers
    from microstructure import __version__, structure_metrics
    from microstructure._homogeneity import check_window
    from microstructure._microstructure import wall_bulk_slice

    if isinstance(rules, str):
        raise TypeError(f"rules must be a sequence of rule names, e.g. ({rules!r},), got the "
                        f"string {rules!r}")
    rules = tuple(rules)
    bad = [r for r in rules if r not in RULES]
    if bad or not rules:
        raise ValueError(f"rules must be a non-empty subset of {RULES}, got {rules!r}")
    bulk = wall_bulk_slice(m, wall_margin_um)  # a bad margin fails before any work
    check_window(homogeneity_window_um, float(m.voxel_size_um))
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
        analysis["structure"] = structure_metrics(
            m, homogeneity_window_um=homogeneity_window_um,
            wall_margin_um=wall_margin_um).to_dict()
        seconds["structure"] = time.perf_counter() - t0
    fn = solvers.transport_properties if transport is True else (transport or None)
    if fn is not None:
        t0 = time.perf_counter()
        analysis["transport"] = _transport(fn, m, device, periodic, bulk, in_plane)
        seconds["transport"] = time.perf_counter() - t0
    analysis["seconds"] = seconds
    return analysis


def _transport(fn: Callable[..., Any], m: Microstructure, device: str,
               periodic: bool, bulk: slice, in_plane: bool = False) -> dict[str, Any]:
    """Ionic (SE) and electronic (CAM + carbon) σ_eff and τ through-plane, on ``bulk``
    (and along axes 1 and 2 with ``in_plane``)."""
    cond = m.spec.transport_conductivities()
    e_phases = (CAM, CARBON) if CARBON in cond else (CAM,)
    contacts = m.electronic_contacts(within=bulk)
    part = m.phases[bulk]

    def solve(axis: int, periodic_lateral: bool) -> Any:
        return fn(part, cond, axis=axis, ionic_phases=(SE,), electronic_phases=e_phases,
                  voxel_size_um=m.voxel_size_um, periodic_lateral=periodic_lateral,
                  device=device, electronic_contacts=contacts)

    tp = solve(0, periodic)
    names = {CAM: "cam", SE: "se", CARBON: "carbon"}
    h = float(m.voxel_size_um)
    thickness = h * m.shape[0]
    out: dict[str, Any] = {"axis": 0, "convention": tp.ionic.convention,
                           "thickness_um": thickness,
                           "wall_margin_um": h * bulk.start,
                           "bulk_thickness_um": h * (bulk.stop - bulk.start),
                           "contact_conductance": contacts is not None}
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
        if net == "electronic":
            out[net]["contacts_weighted"] = int(getattr(res, "contacts_weighted", 0))
        # the electrode's area-specific resistance: its whole thickness at the bulk's sigma_eff
        sigma = res.effective_conductivity
        out[net]["resistance_ohm_cm2"] = thickness * 1e-4 / sigma if sigma > 0 else math.inf
    if in_plane:
        along = [solve(a, False) for a in (1, 2)]
        out["in_plane"] = {net: _in_plane([getattr(tp_a, net) for tp_a in along])
                           for net in ("ionic", "electronic")}
    return out


def _in_plane(res: list[Any]) -> dict[str, Any]:
    """Axes 1 and 2 of one network: their mean σ_eff, and τ of that mean (the harmonic mean
    of the two τ, since σ_eff ∝ 1 / τ at one volume fraction; ``inf`` only if both block)."""
    sigma = [r.effective_conductivity for r in res]
    taus = [float(r.tau) for r in res]
    inv = sum(1.0 / t for t in taus)                      # a blocked axis (inf) adds 0
    tau = (math.nan if any(math.isnan(t) for t in taus)   # nothing to conduct: no tau
           else len(taus) / inv if inv > 0 else math.inf)
    return {"effective_conductivity_S_cm": sum(sigma) / len(sigma),
            "tau": tau,
            "tau_axes": taus,
            "effective_conductivity_axes_S_cm": sigma,
            "converged": all(bool(r.converged) for r in res),
            "iterations": [r.iterations for r in res]}
