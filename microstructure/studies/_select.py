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
from ._summary import point_summary
from .rows import RULE_COLUMNS

__all__ = ["rank_compositions"]


def rank_compositions(df: pd.DataFrame, *, min_utilization: float = 0.95,
                      rule: str = "strict", max_ionic_tau: float | None = None,
                      objective: str = "target_cam", minimize: bool = False,
                      all_seeds: bool = False) -> pd.DataFrame:
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
        Numeric column to rank by, highest mean first, e.g. ``"target_cam"`` (CAM volume
        fraction of the box, default), ``"cam_wt_frac"``, ``"areal_loading_mg_cm2"`` or a
        derived capacity such as ``"areal_capacity_mAh_cm2_strict"``.
    minimize : bool
        Rank by the objective lowest first instead (e.g. ``objective="ionic_tau"``).
    all_seeds : bool
        Every ok seed must meet the targets (default: their mean must).

    Returns
    -------
    pandas.DataFrame
        One row per point: ``rank`` (1 = best among those meeting the targets, then the rest
        in the same order), ``point_id``, the ``param:`` columns, ``seeds_ok`` (seeds with an
        ok row), ``seed_rows`` (seeds with a row, ok or failed), ``theta_rule`` (``rule``: which
        θ), ``theta_mean``, ``theta_sd``, ``theta_min`` (θ over the ok seeds: mean, sd, lowest
        seed; fraction of CAM volume), ``ionic_tau_mean`` (over the seeds with a finite τ),
        ``ionic_blocked_seeds`` (seeds with τ = ∞), ``objective_column`` (``objective``: the
        column ranked by), ``objective_goal`` ("maximize" or "minimize"), ``objective_mean``
        (its mean over the ok seeds), ``meets`` (bool), ``why_not`` (the targets missed, ""
        when met) and the targets, the same in every row: ``min_utilization``,
        ``max_ionic_tau`` (NaN: no limit) and ``targets_on`` ("mean over seeds" or "every
        seed"); ``attrs["targets"]`` says them in words.

    Raises
    ------
    ValueError
        A bad threshold, rule or objective (named), or a table without the needed columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from microstructure.studies import rank_compositions
    >>> rows = pd.DataFrame({"point_id": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
    ...                      "status": "ok", "target_cam": [0.50, 0.50, 0.60, 0.60],
    ...                      "util_strict": [0.99, 0.97, 0.93, 0.95],
    ...                      "ionic_tau": [3.0, 3.2, 4.0, 4.4]})
    >>> r = rank_compositions(rows, min_utilization=0.95)
    >>> list(r["point_id"]), list(r["meets"]), r["why_not"][1]
    (['a', 'b'], [True, False], 'theta (strict) 0.9400 < 0.95')
    >>> r.loc[0, ["objective_column", "objective_goal", "theta_rule", "targets_on"]].tolist()
    ['target_cam', 'maximize', 'strict', 'mean over seeds']
    >>> rank_compositions(rows, min_utilization=0.9)["point_id"].tolist()   # b: more CAM
    ['b', 'a']
    >>> rank_compositions(rows, min_utilization=0.9, max_ionic_tau=4.0)["why_not"].tolist()
    ['', 'ionic tau 4.2 > 4']
    """
    if rule not in RULE_COLUMNS:
        raise ValueError(f"rule must be one of {tuple(RULE_COLUMNS)}, got {rule!r}")
    _check_limit("min_utilization", min_utilization, lower=0.0, upper=1.0)
    if max_ionic_tau is not None:   # 1: the τ of a straight channel
        _check_limit("max_ionic_tau", max_ionic_tau, lower=1.0)
    for name, flag in (("minimize", minimize), ("all_seeds", all_seeds)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool (True or False), got {flag!r}")
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

    has_tau = "ionic_tau" in df.columns
    s = point_summary(df, list(dict.fromkeys([theta_col, objective]
                                             + (["ionic_tau"] if has_tau else []))))
    ok = df[df["status"] == "ok"]
    theta = _plots.as_float(ok[theta_col])
    tau = _plots.as_float(ok["ionic_tau"]) if has_tau else pd.Series(np.nan, index=ok.index)
    by, order = ok["point_id"], s["point_id"]
    theta_min = theta.where(np.isfinite(theta)).groupby(by).min().reindex(order).to_numpy()
    tau_max = tau.where(np.isfinite(tau)).groupby(by).max().reindex(order).to_numpy()
    blocked = np.isinf(tau).groupby(by).sum().reindex(order).fillna(0).astype(int).to_numpy()
    nan = np.full(len(s), np.nan)
    params = [c for c in s.columns if c.startswith("param:")]
    res = s[["point_id", *params, "seeds_ok"]].assign(
        seed_rows=s["seeds"], theta_rule=rule, theta_mean=s[f"{theta_col}_mean"],
        theta_sd=s[f"{theta_col}_sd"], theta_min=theta_min,
        ionic_tau_mean=s["ionic_tau_mean"] if has_tau else nan, ionic_blocked_seeds=blocked,
        objective_column=objective, objective_goal="minimize" if minimize else "maximize",
        objective_mean=s[f"{objective}_mean"])
    errors = (df[df["status"] != "ok"].groupby("point_id")["error"].first()
              if "error" in df.columns else pd.Series(dtype=object))
    why_not = []
    for r, t_max, n_tau in zip(res.itertuples(index=False), tau_max,
                               s["ionic_tau_n"] if has_tau else np.zeros(len(s)), strict=True):
        why = []
        if not r.seeds_ok:
            err = errors.get(r.point_id, "")
            why.append(f"no ok seed ({err})" if isinstance(err, str) and err else "no ok seed")
        else:
            th = r.theta_min if all_seeds else r.theta_mean
            if not th >= min_utilization:
                what = "lowest seed" if all_seeds else "theta"
                why.append(f"{what} ({rule}) {th:.4f} < {min_utilization:g}")
            if max_ionic_tau is not None:
                t = t_max if all_seeds else r.ionic_tau_mean
                if r.ionic_blocked_seeds:
                    why.append(f"ionic network blocked in {r.ionic_blocked_seeds} of "
                               f"{r.seeds_ok} seeds")
                elif not n_tau:
                    why.append("ionic tau not computed (a sweep without transport?)")
                elif not t <= max_ionic_tau:
                    what = "highest seed's ionic tau" if all_seeds else "ionic tau"
                    why.append(f"{what} {t:.3g} > {max_ionic_tau:g}")
            if not np.isfinite(r.objective_mean):
                why.append(f"{objective} not computed")
        why_not.append("; ".join(why))
    res = res.assign(meets=[not w for w in why_not], why_not=why_not,
                     min_utilization=float(min_utilization),
                     max_ionic_tau=math.nan if max_ionic_tau is None else float(max_ionic_tau),
                     targets_on="every seed" if all_seeds else "mean over seeds")
    if not res.empty:
        res = res.sort_values(["meets", "objective_mean", "theta_mean"],
                              ascending=[False, bool(minimize), False], kind="stable",
                              na_position="last").reset_index(drop=True)
        res.insert(0, "rank", np.arange(1, len(res) + 1))
    res.attrs["targets"] = (
        f"theta ({rule}) >= {min_utilization:g}"
        + (f", ionic tau <= {max_ionic_tau:g}" if max_ionic_tau is not None else "")
        + (", every seed" if all_seeds else ", mean over seeds"))
    return res


def _check_limit(name: str, v: object, *, lower: float, upper: float | None = None) -> None:
    allowed = (f"a number in [{lower:g}, {upper:g}]" if upper is not None
               else f"a finite number >= {lower:g}")
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be {allowed}, got {v!r} ({type(v).__name__})")
    if not math.isfinite(v) or v < lower or (upper is not None and v > upper):
        raise ValueError(f"{name} must be {allowed}, got {v!r}")

