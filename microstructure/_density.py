"""Densities on a mixing sheet: weight to volume, the solids' density, porosity from a pellet.

A lab does not measure porosity; it weighs the pressed pellet and measures its thickness.  The
geometric (bulk) density ``rho_bulk = m / (pi (d/2)^2 t)`` of a pellet of mass ``m``, die
diameter ``d`` and thickness ``t``, against the density of the solids
``rho_mix = sum_i v_i rho_i`` (``v_i`` the volume fractions of the solids), gives the porosity
``1 - rho_bulk / rho_mix`` (DOMAIN.md, "Porosity from densities").  Here that happens on the
spec's raw data, before pydantic validates it, so that ``composition.porosity`` is derived
from ``composition.bulk_density_g_cm3`` or ``composition.pellet`` in one place, and a spec
changed later (:meth:`~microstructure.ElectrodeSpec.updated`, a sweep point) derives it again
from the measurement.  Malformed numbers are left to the fields' own checks, which name them.
"""

from __future__ import annotations

import math
from typing import Any

#: Keys of ``[composition]`` that give the porosity through a measured density.
DENSITY_SOURCES = ("bulk_density_g_cm3", "pellet")


def volume_fractions(fractions: dict[str, float], densities: dict[str, float | None],
                     basis: str) -> dict[str, float]:
    """Volume fraction of each solid among the solids, from relative parts by ``basis``
    (``"weight"``: ``v_i = (w_i / rho_i) / sum_j (w_j / rho_j)``; ``"volume"``: normalized)."""
    if basis == "weight":
        parts = {n: f / float(densities[n]) for n, f in fractions.items()}  # type: ignore[arg-type]
    else:
        parts = dict(fractions)
    total = sum(parts.values())
    return {n: v / total for n, v in parts.items()}


def solids_density(fractions: dict[str, float], densities: dict[str, float],
                   basis: str) -> float:
    """Density of the solids without pores, ``sum_i v_i rho_i``, g/cm³."""
    v = volume_fractions(fractions, densities, basis)  # type: ignore[arg-type]
    return sum(v[n] * densities[n] for n in v)


def pellet_density(mass_mg: float, diameter_mm: float, thickness_um: float) -> float:
    """Geometric density of a cylindrical pellet, g/cm³."""
    area_cm2 = math.pi * (0.05 * diameter_mm) ** 2
    return mass_mg * 1e-3 / (area_cm2 * thickness_um * 1e-4)


def _positive(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and v > 0)


def derive_porosity(data: Any) -> Any:
    """``data`` (a spec's raw dict) with ``composition.porosity`` derived from a measured
    density where one is given; unchanged where there is none or the numbers are malformed
    (the fields' validation reports those).  Raises ValueError naming the field when the
    measurement cannot be used."""
    comp = data.get("composition") if isinstance(data, dict) else None
    if not isinstance(comp, dict):
        return data
    given = [k for k in DENSITY_SOURCES if comp.get(k) is not None]
    if not given:
        return data
    if len(given) > 1:
        raise ValueError("composition: give one of porosity, bulk_density_g_cm3 and pellet, "
                         f"got {', '.join(given)}")
    src = given[0]
    if src == "pellet":
        p = comp["pellet"]
        keys = ("mass_mg", "diameter_mm", "thickness_um")
        if not (isinstance(p, dict) and all(_positive(p.get(k)) for k in keys)):
            return data
        rho_bulk = pellet_density(*(float(p[k]) for k in keys))
    else:
        if not _positive(comp[src]):
            return data
        rho_bulk = float(comp[src])
    phases = data.get("phases")
    if not isinstance(phases, dict):
        return data
    present = {n: p for n, p in phases.items() if isinstance(p, dict)}
    if not all(isinstance(p.get("fraction"), (int, float)) and p["fraction"] >= 0
               for p in present.values()) or sum(p["fraction"] for p in present.values()) <= 0:
        return data
    present = {n: p for n, p in present.items() if p["fraction"] > 0}
    missing = [f"phases.{n}.density_g_cm3" for n, p in present.items()
               if not _positive(p.get("density_g_cm3"))]
    if missing:
        raise ValueError(f"composition.{src} needs the density of every solid: "
                         f"{', '.join(missing)} missing or not > 0")
    dens = {n: float(p["density_g_cm3"]) for n, p in present.items()}
    rho_mix = solids_density({n: float(p["fraction"]) for n, p in present.items()}, dens,
                             comp.get("basis", "weight"))
    eps = 1.0 - rho_bulk / rho_mix
    what = (f"composition.{src}: a bulk density of {rho_bulk:.4g} g/cm³ against the solids' "
            f"{rho_mix:.4g} g/cm³")
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"{what} gives a porosity of {eps:.4f}, outside [0, 1): check the "
                         "measurement and the densities of the phases")
    old = comp.get("porosity")
    if old is not None and not (isinstance(old, (int, float)) and abs(old - eps) <= 1e-9):
        raise ValueError(f"composition.porosity = {old!r} and {what} (porosity {eps:.4f}) "
                         "disagree; give one of them")
    return {**data, "composition": {**comp, "porosity": eps}}


def porosity_source(comp: Any) -> str:
    """Where a validated ``composition``'s porosity comes from: ``"pellet"``,
    ``"bulk_density_g_cm3"`` or ``"porosity"`` (given)."""
    return next((k for k in DENSITY_SOURCES if getattr(comp, k) is not None), "porosity")


def keep_density_source(comp: Any, changes: dict[str, Any]) -> None:
    """After ``changes`` were applied to a spec's data: where the porosity comes from a
    measured density, a changed ``composition.porosity`` replaces the measurement, and
    otherwise the stored porosity is dropped so that it is derived again (the phases'
    fractions or densities may have changed)."""
    if not isinstance(comp, dict) or "composition" in changes:
        return
    changed = [k for k in DENSITY_SOURCES
               if any(c == f"composition.{k}" or c.startswith(f"composition.{k}.")
                      for c in changes)]
    for k in DENSITY_SOURCES:          # a new measurement replaces the other kind
        if changed and k not in changed:
            comp.pop(k, None)
    if not any(comp.get(k) is not None for k in DENSITY_SOURCES):
        return
    if "composition.porosity" in changes and not changed:
        for k in DENSITY_SOURCES:
            comp.pop(k, None)
    elif "composition.porosity" not in changes:
        comp.pop("porosity", None)
