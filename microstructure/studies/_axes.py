"""Which ``param:`` columns of a results table are the axes the user swept.

A point that sets a key inside a table (``phases.se.psd.d50_um`` with an override
``phases.se.psd = {...}``) has two columns (:func:`~microstructure.studies.rows.param_columns`):
the key's own (``param:phases.se.psd.d50_um``) and the table as the point resolves it, JSON text
(``param:phases.se.psd``), which then varies with the key.  The table's column is no axis of its
own when only the keys swept in their own columns change it: :func:`swept_axes` leaves it out.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ._summary import hashable_params

__all__ = ["swept_axes"]


def swept_axes(df: pd.DataFrame) -> list[str]:
    """``param:`` columns with more than one distinct value, in table order, less a table's
    column that varies only by keys swept in their own ``param:TABLE.KEY`` columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from microstructure.studies.report import swept_axes
    >>> df = pd.DataFrame({
    ...     "param:phases.se.psd": ['{"d50_um": 1.5, "kind": "lognormal"}',
    ...                             '{"d50_um": 4.0, "kind": "lognormal"}'],
    ...     "param:phases.se.psd.d50_um": [1.5, 4.0], "param:seeds": [1, 1]})
    >>> swept_axes(df)
    ['param:phases.se.psd.d50_um']
    >>> df["param:phases.se.psd"] = ['{"d50_um": 1.5, "kind": "lognormal"}',
    ...                              '{"d50_um": 4.0, "kind": "table"}']   # the table swept too
    >>> swept_axes(df)
    ['param:phases.se.psd', 'param:phases.se.psd.d50_um']
    """
    df = hashable_params(df)
    varied = [c for c in df.columns
              if c.startswith("param:") and df[c].nunique(dropna=True) > 1]
    return [c for c in varied if not _follows_its_keys(df, c)]


def _follows_its_keys(df: pd.DataFrame, col: str) -> bool:
    """Whether the tables of ``col`` (JSON text) are all one once the keys that have their own
    ``col.KEY`` columns are taken out."""
    keys = [c.removeprefix(col + ".") for c in df.columns if c.startswith(col + ".")]
    if not keys:
        return False
    rest = set()
    for v in df[col].dropna().unique():
        try:
            table = json.loads(v) if isinstance(v, str) else v
        except ValueError:
            return False
        if not isinstance(table, dict):
            return False
        for key in keys:
            _drop(table, key.split("."))
        rest.add(json.dumps(table, sort_keys=True, default=str))
    return len(rest) <= 1


def _drop(table: dict[str, Any], path: list[str]) -> None:
    """Remove the dotted ``path`` from the nested ``table`` (where it is there)."""
    for key in path[:-1]:
        table = table.get(key)
        if not isinstance(table, dict):
            return
    table.pop(path[-1], None)
