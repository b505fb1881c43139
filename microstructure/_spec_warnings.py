"""Warnings on a valid spec that a lab would not have written: a PSD the lognormal cannot
follow, a density or a conductivity far outside the materials' range (a typo, a unit), a
composition that mixes fractions and parts, a box not a whole number of voxels.

They warn rather than refuse: an unusual material may be meant.  :func:`spec_warnings` is
what ``generate`` warns and ``assb check`` prints, beside the resolution warnings.
"""

from __future__ import annotations

import math
from typing import Any

from ._psd_spec import QUANTILE_MISS_WARNING, LognormalPSD

#: g/cm³: cathode materials, electrolytes and carbons lie within (LPSCl 1.64, NCM 4.75,
#: LLZO 5.1, C65 1.96).
DENSITY_RANGE = (1.0, 8.0)
#: S/cm: an SE's ionic conductivity (Li3PS4 glass ~1e-4 .. LGPS ~1.2e-2).
SE_IONIC_RANGE = (1e-5, 5e-2)
#: Porosity above which a composite is hardly pressed (cold-pressed: ~0.05 .. 0.35).
HIGH_POROSITY = 0.4
#: CAM share of the solids by volume below which a composite cathode is unusual.
LOW_CAM_VOLUME = 0.2
#: µm: d50 above which a battery powder is unusual (a size in nm or mm?).
LARGE_D50_UM = 50.0


def spec_warnings(spec: Any) -> list[str]:
    """The messages for ``spec`` (an :class:`~microstructure.ElectrodeSpec`), field first.

    Examples
    --------
    >>> import microstructure as ms
    >>> spec = ms.load_spec(ms.default_spec_path())
    >>> spec_warnings(spec)
    []
    >>> spec_warnings(spec.updated({"phases.se.density_g_cm3": 9.2}))[0][:56]
    'phases.se.density_g_cm3 = 9.2 g/cm³ is outside 1-8 g/cm³'
    """
    out: list[str] = []
    for name, p in spec.present_phases().items():
        if isinstance(p.psd, LognormalPSD):
            out += _psd_fit(name, p.psd)
        d50 = p.psd.sampler().volume_quantile(0.5)
        if d50 > LARGE_D50_UM:
            out.append(f"phases.{name}.psd: d50 {d50:.3g} um is larger than battery powders "
                       f"are (0.1-{LARGE_D50_UM:g} um): are the sizes in um?")
        rho = p.density_g_cm3
        lo, hi = DENSITY_RANGE
        if rho is not None and not lo <= rho <= hi:
            out.append(f"phases.{name}.density_g_cm3 = {rho:g} g/cm³ is outside {lo:g}-{hi:g} "
                       "g/cm³, the range of cathode materials, electrolytes and carbons "
                       "(LPSCl 1.64, NCM 4.75, LLZO 5.1): a typo?")
    sigma = spec.phases.se.ionic_conductivity_S_cm
    lo, hi = SE_IONIC_RANGE
    if sigma is not None and not lo <= sigma <= hi:
        out.append(f"phases.se.ionic_conductivity_S_cm = {sigma:g} S/cm is outside "
                   f"{lo:g}-{hi:g} S/cm, the range of solid electrolytes (LPSCl ~3e-3): "
                   "is it in mS/cm?")
    eps = float(spec.composition.porosity)
    if eps > HIGH_POROSITY:
        out.append(f"composition.porosity = {eps:g}: cold-pressed composites have 0.05-0.35; "
                   f"above {HIGH_POROSITY:g} the powder is hardly pressed")
    cam = spec.solid_volume_fractions()["cam"]
    if cam < LOW_CAM_VOLUME:
        out.append(f"phases.cam: {100 * cam:.1f} vol% of the solids; composite cathodes carry "
                   "50-85 wt% CAM: are the fractions parts on one scale (70 and 30, not 0.7 "
                   "and 30)?")
    out += _box_rounding(spec.domain)
    return out


def _psd_fit(name: str, psd: LognormalPSD) -> list[str]:
    misses = psd.quantile_misses()
    if all(abs(b / w - 1) <= QUANTILE_MISS_WARNING for w, b in misses.values()):
        return []
    (w10, b10), (w90, b90) = misses["d10_um"], misses["d90_um"]
    return [f"phases.{name}.psd: a lognormal through d50_um = {psd.d50_um:g} with the width "
            f"of d10_um = {w10:g} and d90_um = {w90:g} has d10 {b10:.3g} um "
            f"({b10 / w10 - 1:+.0%}) and d90 {b90:.3g} um ({b90 / w90 - 1:+.0%}): the "
            "three are not on one lognormal -- give kind = \"table\" to keep each of them"]


def _box_rounding(domain: Any) -> list[str]:
    if domain.size_um is None:
        return []
    h = domain.voxel_size_um
    built = [n * h for n in domain.shape]
    off = [(i, s, b) for i, (s, b) in enumerate(zip(domain.size_um, built, strict=True))
           if not math.isclose(s, b, rel_tol=1e-6)]
    if not off:
        return []
    axes = ", ".join(f"{s:g} um -> {b:g} um" for _, s, b in off)
    return [f"domain.size_um {list(domain.size_um)} is not a whole number of "
            f"{h:g} um voxels: the box is built at {axes}"]
