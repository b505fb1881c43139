"""Which composition of a sweep carries the most CAM while meeting the engineer's targets.

The question users ask most of a sweep (DOMAIN.md): *which composition maximizes CAM loading
while keeping θ ≥ 95 % and the ionic τ low?*  :func:`rank_compositions` answers it from the
results table: per point, the mean over its ok seeds of θ (one rule) and of the ionic τ, a
verdict against the targets, and the points ranked by the objective (by default the CAM
volume fraction of the box, ``target_cam``: the CAM loading of an electrode of given
thickness), those meeting every target first.  Near a percolation threshold θ varies from seed
to seed; ``all_seeds=True`` asks every seed to meet the targets instead of their mean.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import _plots
from .rows import RULE_COLUMNS

__all__ = ["rank_compositions"]


def rank_compositions(df: pd.DataFrame, *, min_utilization: float = 0.95,
                      rule: str = "strict", max_ionic_tau: float | None = None,
                      objective: str = "target_cam", all_seeds: bool = False) -> pd.DataFrame:
    """The points of a sweep against θ and ionic-τ targets, ranked by ``objective``.

    Parameters
    ----------
    df : pandas.DataFrame
        A results table (:func:`~microstructure.studies.load_results`; with the derived
        columns of :func:`~microstructure.studies.report.add_derived` when the objective is
        one of them).
    min_utilization : float
        Lowest acceptable static utilization θ (fraction of CAM volume, 0..1).
    rule : {"strict", "cam_relay"}
        Which θ (``util_strict`` or ``util_relay``).
    max_ionic_tau : float, optional
        Highest acceptable ionic tortuosity factor (of the bulk); None: no limit.  A seed whose
        ionic network is blocked (τ = ∞) fails any limit.
    objective : str
        Numeric column to maximize, e.g. ``"target_cam"`` (CAM volume fraction of the box,
        default), ``"cam_wt_frac"``, ``"areal_loading_mg_cm2"`` or a derived capacity such as
        ``"areal_capacity_mAh_cm2_strict"``.
    all_seeds : bool
        Every ok seed must meet the targets (default: their mean must).

    Returns
    -------
    pandas.DataFrame
        One row per point: ``rank`` (1 = best among those meeting the targets, then the rest
        in the same order), ``point_id``, the ``param:`` columns, ``seeds_ok`` / ``seeds``,
        ``theta_mean``, ``theta_sd``, ``theta_min``, ``ionic_tau_mean`` (over the seeds with a
        finite τ), ``ionic_blocked`` (seeds with τ = ∞), ``objective`` (its mean), ``meets``
        (bool) and ``why_not`` (the targets missed, "" when met); ``attrs["targets"]`` says
        them in words.

    Raises
    ------
    ValueError
        A bad threshold, rule or objective (named), or a table without the needed columns.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"point_id": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
    ...                      "status": "ok", "target_cam": [0.50, 0.50, 0.60, 0.60],
    ...                      "util_strict": [0.99, 0.97, 0.93, 0.95],
    ...                      "ionic_tau": [3.0, 3.2, 4.0, 4.4]})
    >>> r = rank_compositions(rows, min_utilization=0.95)
    >>> list(r["point_id"]), list(r["meets"]), r["why_not"][1]
    (['a', 'b'], [True, False], 'theta (strict) 0.9400 < 0.95')
    >>> rank_compositions(rows, min_utilization=0.9)["point_id"].tolist()   # b: more CAM
    ['b', 'a']
    >>> rank_compositions(rows, min_utilization=0.9, max_ionic_tau=4.0)["why_not"].tolist()
    ['', 'ionic tau 4.2 > 4']
    """
    if rule not in RULE_COLUMNS:
        raise ValueError(f"rule must be one of {tuple(RULE_COLUMNS)}, got {rule!r}")
    _check_limit("min_utilization", min_utilization, upper=1.0)
    if max_ionic_tau is not None:
        _check_limit("max_ionic_tau", max_ionic_tau)
        if max_ionic_tau < 1.0:
            raise ValueError(f"max_ionic_tau must be >= 1 (τ of a straight channel), got "
                             f"{max_ionic_tau!r}")
    theta_col = RULE_COLUMNS[rule]
    need = ["point_id", "status", theta_col, objective]
    if max_ionic_tau is not None:
        need.append("ionic_tau")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"the results table has no column {', '.join(map(repr, missing))}; "
                         f"objective must be a numeric column of the table (got {objective!r})"
                         if objective in missing else
                         f"the results table has no column {', '.join(map(repr, missing))}")
    if not pd.api.types.is_numeric_dtype(df[objective]):
        raise ValueError(f"objective must be a numeric column, {objective!r} is not")

    params = [c for c in df.columns if c.startswith("param:")]
    order = list(dict.fromkeys(df["point_id"]))
    out = []
    for pid in order:
        rows = df[df["point_id"] == pid]
        ok = rows[rows["status"] == "ok"]
        theta = _plots.as_float(ok[theta_col]).to_numpy()
        tau = (_plots.as_float(ok["ionic_tau"]).to_numpy() if "ionic_tau" in ok
               else np.full(len(ok), np.nan))
        obj = _plots.as_float(ok[objective]).to_numpy()
        finite_tau = tau[np.isfinite(tau)]
        blocked = int(np.sum(np.isinf(tau)))
        rec = {"point_id": pid, **{p: rows[p].iloc[0] for p in params},
               "seeds_ok": len(ok), "seeds": len(rows),
               "theta_mean": _mean(theta), "theta_sd": _sd(theta),
               "theta_min": float(np.nanmin(theta)) if np.isfinite(theta).any() else math.nan,
               "ionic_tau_mean": _mean(finite_tau), "ionic_blocked": blocked,
               "objective": _mean(obj)}
        why = []
        if not len(ok):
            why.append("no ok seed")
        else:
            th = rec["theta_min"] if all_seeds else rec["theta_mean"]
            if not th >= min_utilization:
                what = "lowest seed" if all_seeds else "theta"
                why.append(f"{what} ({rule}) {th:.4f} < {min_utilization:g}")
            if max_ionic_tau is not None:
                t = (math.inf if blocked else float(np.max(finite_tau))) if all_seeds \
                    else (math.inf if blocked else rec["ionic_tau_mean"])
                if blocked:
                    why.append(f"ionic network blocked in {blocked} of {len(ok)} seeds")
                elif not finite_tau.size:
                    why.append("ionic tau not computed (a sweep without transport?)")
                elif not t <= max_ionic_tau:
                    what = "highest seed's ionic tau" if all_seeds else "ionic tau"
                    why.append(f"{what} {t:.3g} > {max_ionic_tau:g}")
            if not np.isfinite(rec["objective"]):
                why.append(f"{objective} not computed")
        rec["meets"] = not why
        rec["why_not"] = "; ".join(why)
        out.append(rec)
    res = pd.DataFrame(out)
    if not res.empty:
        res = res.sort_values(["meets", "objective", "theta_mean"],
                              ascending=[False, False, False], kind="stable",
                              na_position="last").reset_index(drop=True)
        res.insert(0, "rank", np.arange(1, len(res) + 1))
    res.attrs["targets"] = (
        f"theta ({rule}) >= {min_utilization:g}"
        + (f", ionic tau <= {max_ionic_tau:g}" if max_ionic_tau is not None else "")
        + (", every seed" if all_seeds else ", mean over seeds"))
    return res


def _check_limit(name: str, v: object, upper: float | None = None) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 \
            or (upper is not None and v > upper):
        allowed = f"in [0, {upper:g}]" if upper is not None else "a finite number >= 0"
        raise ValueError(f"{name} must be {allowed}, got {v!r}")


def _mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def _sd(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.std(ddof=1)) if x.size > 1 else math.nan
