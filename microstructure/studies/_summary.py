"""Per-point summaries of a results table: the mean and sd of columns over each point's ok
seeds (:func:`point_summary`), shared by the report's tables and the ranking."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import _plots
from ._report_html import SUMMARY_COLUMNS

__all__ = ["hashable_params", "point_summary"]


def hashable_params(df: pd.DataFrame) -> pd.DataFrame:
    """Param columns with list values (e.g. a swept ``domain.shape``) as strings."""
    out = df.copy()
    for c in out.columns:
        if c.startswith("param:") and out[c].dtype == object:
            out[c] = out[c].map(lambda v: json.dumps(v.tolist() if isinstance(v, np.ndarray)
                                                     else v) if isinstance(
                                                         v, (list, tuple, np.ndarray)) else v)
    return out


def point_summary(df: pd.DataFrame,
                  columns: Sequence[str] = tuple(c for c, _, _ in SUMMARY_COLUMNS)
                  ) -> pd.DataFrame:
    """Per point: the param values, seeds (ok / all) and mean, sd of ``columns`` over ok seeds.

    Non-finite values (τ = ∞, NaN) are left out of the mean; ``<col>_n`` counts what was used.
    """
    df = hashable_params(df)
    params = [c for c in df.columns if c.startswith("param:")]
    ok = df[df["status"] == "ok"]
    order = list(dict.fromkeys(df["point_id"]))
    first = df.groupby("point_id", sort=False)[params].first() if params else \
        pd.DataFrame(index=pd.Index(order, name="point_id"))
    out = first.reindex(order)
    out["seeds_ok"] = ok.groupby("point_id").size().reindex(order).fillna(0).astype(int)
    out["seeds"] = df.groupby("point_id").size().reindex(order).astype(int)
    for c in columns:
        if c not in ok:
            continue
        v = _plots.as_float(ok[c])
        g = v.where(np.isfinite(v)).groupby(ok["point_id"])
        out[f"{c}_mean"] = g.mean().reindex(order)
        out[f"{c}_sd"] = g.std().reindex(order)
        out[f"{c}_n"] = g.count().reindex(order).fillna(0).astype(int)
    return out.reset_index()
