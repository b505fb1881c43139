"""The results row of a sweep: the one owner of its columns, their units and kinds.

One row per (point, seed).  Every module that writes, reads, tabulates or reports rows takes
the column names from here; :func:`flat_row` fills the measured columns from one analysis.
Numbers stay numbers everywhere (NaN where not computed, ``inf`` for a blocked network's τ);
JSON text only at the edges (``--json`` output, zarr attributes).

Columns, in table order (``param:<dotted.path>`` columns follow ``error``; a column not listed
here comes last, sorted):
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from microstructure._changes import set_dotted
from solvers.phases import PHASE_CODES, pair_key
from solvers.utilization import RULES

__all__ = [
    "BOOL_COLUMNS",
    "COLUMNS",
    "COLUMN_INFO",
    "COLUMN_KINDS",
    "INT_COLUMNS",
    "NUMERIC_COLUMNS",
    "RULE_COLUMNS",
    "STATUSES",
    "TEXT_COLUMNS",
    "Column",
    "blank_row",
    "flat_row",
    "param_columns",
    "row_name",
    "spec_columns",
]

Kind = Literal["text", "int", "float", "bool"]


@dataclass(frozen=True)
class Column:
    """One column of the results table."""

    name: str
    kind: Kind
    """``"float"`` (NaN where not computed), ``"bool"`` (None where not computed), ``"int"``
    or ``"text"`` ("" where empty)."""
    unit: str
    """Unit of the values ("" for dimensionless or text)."""
    doc: str


def _c(name: str, kind: Kind, unit: str, doc: str) -> Column:
    return Column(name, kind, unit, doc)


_PHASES = tuple(PHASE_CODES)
#: Pairs of phases whose contact-graph area is a column (those DOMAIN.md's users report, and
#: CAM|CAM, the electronic path).
GRAPH_CONTACT_PAIRS = (("cam", "cam"), ("cam", "se"), ("se", "se"), ("cam", "carbon"),
                       ("carbon", "carbon"))

COLUMN_INFO: tuple[Column, ...] = (
    _c("point_id", "text", "", "12 hex digits: content hash of the point's resolved spec"),
    _c("seed", "int", "", "seed of the realization"),
    _c("status", "text", "", '"ok" or "failed" (``STATUSES``)'),
    _c("error", "text", "", 'why the point failed ("" when ok)'),
    _c("spec_json", "text", "", "the point's full spec as JSON"),
    *(_c(f"target_{n}", "float", "box volume fraction", f"target {n} fraction")
      for n in _PHASES),
    *(_c(f"{n}_wt_frac", "float", "weight fraction of solids", f"{n} weight fraction (NaN "
         "without densities)") for n in ("cam", "se", "carbon")),
    _c("cam_d50_um", "float", "µm", "CAM d50 of the spec (volume-based)"),
    _c("se_d50_um", "float", "µm", "SE d50 of the spec (volume-based)"),
    _c("carbon_d50_um", "float", "µm", "carbon d50 of the spec (NaN without carbon)"),
    _c("porosity", "float", "box volume fraction", "target porosity"),
    _c("bulk_density_g_cm3", "float", "g/cm³", "geometric density of the composite at the "
       "target porosity (NaN without densities)"),
    _c("thickness_um", "float", "µm", "electrode thickness (axis 0)"),
    _c("voxel_size_um", "float", "µm", "voxel edge"),
    _c("areal_loading_mg_cm2", "float", "mg/cm²", "CAM areal loading (NaN without densities)"),
    *(_c(f"frac_{n}", "float", "box volume fraction", f"achieved {n} fraction")
      for n in _PHASES),
    _c("cam_overlap", "float", "fraction of CAM volume", "overlap of the hard CAM spheres"),
    _c("n_cam_particles", "float", "", "CAM particles in the structure"),
    _c("util_strict", "float", "fraction of CAM volume", "static utilization θ, strict rule"),
    _c("util_strict_by_count", "float", "fraction of CAM particles", "θ by count, strict"),
    _c("util_relay", "float", "fraction of CAM volume", "static utilization θ, CAM-relay rule"),
    _c("util_relay_by_count", "float", "fraction of CAM particles", "θ by count, CAM relay"),
    _c("electronically_isolated", "float", "fraction of CAM volume", "no electronic path"),
    _c("ionically_isolated_strict", "float", "fraction of CAM volume", "no own SE contact"),
    _c("ionically_isolated_relay", "float", "fraction of CAM volume", "no SE access via CAM"),
    _c("isolated_both_strict", "float", "fraction of CAM volume", "neither path (strict)"),
    _c("electronic_percolates", "bool", "", "electronic network joins the CC and separator "
       "faces (whole thickness, walls included)"),
    _c("ionic_percolates", "bool", "", "ionic network joins the separator and CC faces "
       "(whole thickness, walls included)"),
    _c("active_area_per_volume_per_um", "float", "µm⁻¹", "active CAM|SE area per box volume"),
    _c("transport_wall_margin_um", "float", "µm", "layer next to each wall (collector, "
       "separator) left out of the transport solves: σ_eff and τ are the bulk's"),
    _c("ionic_sigma_eff_S_cm", "float", "S/cm", "effective ionic conductivity (bulk)"),
    _c("ionic_tau", "float", "", "ionic tortuosity factor (σ_eff = σ ε / τ; inf if blocked)"),
    _c("ionic_converged", "bool", "", "ionic solve converged"),
    _c("electronic_sigma_eff_S_cm", "float", "S/cm", "effective electronic conductivity "
       "(bulk)"),
    _c("electronic_tau", "float", "", "electronic tortuosity factor (σ_eff = Σ εᵢσᵢ / τ "
       "over CAM and carbon; inf if blocked)"),
    _c("ionic_tau_in_plane", "float", "", "ionic τ along the electrode's plane, of the mean "
       "σ_eff of axes 1 and 2 (NaN unless asked for: in_plane)"),
    _c("electronic_tau_in_plane", "float", "", "electronic τ along the electrode's plane "
       "(NaN unless asked for)"),
    _c("electronic_converged", "bool", "", "electronic solve converged"),
    _c("ionic_percolating_fraction", "float", "fraction of SE volume", "SE in the network "
       "spanning the bulk"),
    _c("electronic_percolating_fraction", "float", "fraction of CAM+carbon volume",
       "CAM and carbon in the network spanning the bulk"),
    _c("ionic_resistance_ohm_cm2", "float", "Ω cm²", "ionic area-specific resistance "
       "(thickness / bulk σ_eff)"),
    _c("electronic_resistance_ohm_cm2", "float", "Ω cm²", "electronic area-specific "
       "resistance (thickness / bulk σ_eff)"),
    _c("ionic_iterations", "float", "", "CG iterations of the ionic solve"),
    _c("electronic_iterations", "float", "", "CG iterations of the electronic solve"),
    _c("electronic_contacts_weighted", "float", "", "CAM/carbon contacts given the conductance "
       "of their contact circle in the electronic solve (0: none, not pressed)"),
    _c("cam_se_area_per_volume_per_um", "float", "µm⁻¹", "CAM|SE contact area per box volume"),
    _c("cam_se_coverage", "float", "fraction of CAM surface", "CAM surface touching SE"),
    *(_c(f"contact_area_{a}_{b}_per_um", "float", "µm⁻¹",
         f"{a.upper() if a != 'carbon' else a}|{b.upper() if b != 'carbon' else b} contact "
         "area of the contact graph per box volume (pressed)")
      for a, b in GRAPH_CONTACT_PAIRS),
    _c("hard_contact_radius_um", "float", "µm", "median radius of the CAM/carbon contacts "
       "(pressed); the electronic solve gives each contact its circle's conductance"),
    _c("homogeneity_window_um", "float", "µm", "edge of the cubic windows in the bulk in "
       "which the homogeneity is sampled (3 CAM d50s)"),
    *(_c(f"homogeneity_rsd_{n}", "float", "", f"relative standard deviation of the {n} "
         "volume fraction over the windows (0: perfectly even)") for n in _PHASES),
    _c("cam_d50_um_measured", "float", "µm", "CAM d50 recovered from the structure"),
    _c("se_d50_um_measured", "float", "µm", "SE d50 recovered from the structure"),
    _c("t_generate_s", "float", "s", "time to generate"),
    _c("t_utilization_s", "float", "s", "time for utilization (both rules)"),
    _c("t_structure_s", "float", "s", "time for structure metrics"),
    _c("t_transport_s", "float", "s", "time for both transport solves"),
    _c("t_total_s", "float", "s", "time of the whole point"),
    _c("warnings", "text", "", "warnings raised while running the point, '; '-joined"),
    _c("structure", "text", "", "saved structure, relative to the results directory"),
    _c("package_version", "text", "", "version of assb-microstructure"),
    _c("device", "text", "", '"cpu" or "cuda"'),
    _c("worker", "text", "", "host:pid that ran the point"),
    _c("finished_at", "text", "", "ISO 8601 time, UTC"),
)

#: Column names in table order.
COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMN_INFO)
#: Column name -> kind (``Column.kind``).
COLUMN_KINDS: dict[str, Kind] = {c.name: c.kind for c in COLUMN_INFO}
#: Nullable booleans (None where not computed).
BOOL_COLUMNS = tuple(n for n, k in COLUMN_KINDS.items() if k == "bool")
#: Text columns ("" where empty).
TEXT_COLUMNS = tuple(n for n, k in COLUMN_KINDS.items() if k == "text")
#: Integer columns.
INT_COLUMNS = tuple(n for n, k in COLUMN_KINDS.items() if k == "int")
#: Float columns (NaN where not computed).
NUMERIC_COLUMNS = tuple(n for n, k in COLUMN_KINDS.items() if k == "float")
#: Values of ``status``.
STATUSES = ("ok", "failed")
#: Utilization rule (``solvers.utilization.RULES``) -> its θ column.
RULE_COLUMNS: dict[str, str] = dict(zip(RULES, ("util_strict", "util_relay"), strict=True))

__doc__ += "\n".join(f"* ``{c.name}`` ({c.unit or c.kind}) -- {c.doc}" for c in COLUMN_INFO)


def row_name(point_id: str, seed: int) -> str:
    """File stem of the row / structure of ``(point_id, seed)``."""
    return f"{point_id}__s{int(seed)}"


def _param_value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    import json

    return json.dumps(v, sort_keys=True)


def param_columns(params: dict[str, Any]) -> dict[str, Any]:
    """``param:PATH`` columns of a point's parameters (dotted path: value).  A table is given
    as the point resolves it: with the keys set inside it (``phases.se.psd.d50_um``) applied.

    Examples
    --------
    >>> param_columns({"phases.se.psd": {"kind": "lognormal", "d50_um": 1.5, "d90_um": 2.8},
    ...                "phases.se.psd.d50_um": 4.0})["param:phases.se.psd"]
    '{"d50_um": 4.0, "d90_um": 2.8, "kind": "lognormal"}'
    """
    out = {}
    for path, v in params.items():
        if isinstance(v, dict):
            v = copy.deepcopy(v)
            inner = {p[len(path) + 1:]: w for p, w in params.items() if p.startswith(path + ".")}
            for key in sorted(inner, key=lambda k: k.count(".")):   # as the spec applies them
                try:
                    set_dotted(v, key, copy.deepcopy(inner[key]))
                except KeyError:   # not a key of this table: the spec refused the point
                    pass
        out[f"param:{path}"] = _param_value(v)
    return out


def blank_row(point: dict[str, Any], seed: int) -> dict[str, Any]:
    """A failed row of ``point`` (a dict with ``point_id``, ``params``, ``spec_json``):
    identity and parameters filled, every measured column NaN / None / ""."""
    row: dict[str, Any] = {"point_id": point["point_id"], "seed": int(seed), "status": "failed",
                           "error": ""}
    row.update(param_columns(point["params"]))
    row["spec_json"] = point["spec_json"]
    for c in NUMERIC_COLUMNS:
        row.setdefault(c, math.nan)
    for c in BOOL_COLUMNS:
        row[c] = None
    row.update(warnings="", structure="")
    return row


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
    rho = spec.bulk_density_g_cm3()
    row["bulk_density_g_cm3"] = math.nan if rho is None else float(rho)
    return row


def _spec_d50(phase: Any) -> float:
    d50 = getattr(phase.psd, "d50_um", None)
    if d50 is not None:
        return float(d50)
    return phase.psd.sampler().volume_quantile(0.5)


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def flat_row(analysis: dict[str, Any], m: Any) -> dict[str, Any]:
    """The measured columns of one analysed structure (``analysis`` from
    :func:`microstructure.studies.analyze` of the :class:`~microstructure.Microstructure` ``m``).

    Inputs (targets, weight fractions, d50s, thickness, loading), achieved fractions and CAM
    overlap, utilization under both rules, transport (NaN / None when not solved) and a few
    structure metrics.  The sweep adds ``point_id``, ``seed``, ``status``, ``param:*``,
    timings and provenance.
    """
    row = spec_columns(m.spec)
    rep = m.report
    if rep is not None:
        achieved = rep.achieved
    else:
        counts = np.bincount(m.phases.reshape(-1), minlength=len(_PHASES))
        achieved = {n: float(counts[c]) / m.phases.size for n, c in PHASE_CODES.items()}
    for n in _PHASES:
        row[f"frac_{n}"] = float(achieved.get(n, 0.0))
    row["cam_overlap"] = math.nan if rep is None else float(rep.cam_overlap_fraction)
    row["n_cam_particles"] = int(m.particles.counts().get("cam", 0))

    u = analysis.get("utilization", {})
    strict, relay = u.get("strict", {}), u.get("cam_relay", {})
    for rule, col in RULE_COLUMNS.items():
        r = u.get(rule, {})
        row[col] = _num(r.get("static_utilization"))
        row[f"{col}_by_count"] = _num(r.get("static_utilization_by_count"))
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
    row["transport_wall_margin_um"] = _num(tr.get("wall_margin_um"))
    for net in ("ionic", "electronic"):
        t = tr.get(net) or {}
        row[f"{net}_sigma_eff_S_cm"] = _num(t.get("effective_conductivity_S_cm"))
        row[f"{net}_tau"] = _num(t.get("tau"))
        row[f"{net}_converged"] = t.get("converged")
        row[f"{net}_percolating_fraction"] = _num(t.get("percolating_fraction"))
        row[f"{net}_iterations"] = _num(t.get("iterations"))
        row[f"{net}_resistance_ohm_cm2"] = _num(t.get("resistance_ohm_cm2"))
        row[f"{net}_tau_in_plane"] = _num(((tr.get("in_plane") or {}).get(net) or {})
                                          .get("tau"))
    row["electronic_contacts_weighted"] = _num((tr.get("electronic") or {})
                                               .get("contacts_weighted"))

    st = analysis.get("structure") or {}
    row["cam_se_area_per_volume_per_um"] = _num(st.get("cam_se_contact_area_per_volume_per_um"))
    row["cam_se_coverage"] = _num(st.get("cam_se_coverage"))
    graph = st.get("contact_area_per_volume_per_um") or {}
    for a, b in GRAPH_CONTACT_PAIRS:
        row[f"contact_area_{a}_{b}_per_um"] = _num(graph.get(pair_key(a, b)))
    row["hard_contact_radius_um"] = _num(st.get("hard_contact_radius_um"))
    hom = st.get("homogeneity") or {}
    row["homogeneity_window_um"] = _num(hom.get("window_um"))
    for n in _PHASES:
        row[f"homogeneity_rsd_{n}"] = _num((hom.get("rsd") or {}).get(n))
    sizes = st.get("size_distributions") or {}
    for n in ("cam", "se"):
        row[f"{n}_d50_um_measured"] = _num((sizes.get(n) or {}).get("d50_um"))
    return row
