"""What a sweep asked for against the rows its results directory holds: a report of an
interrupted (or partly deleted) sweep says so, and counts each point's seeds against the seeds
requested (:func:`planned_rows`, from ``manifest.json``: ``current_points`` x ``seeds``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ._store import ResultsStore, sweep_plan

__all__ = ["Planned", "planned_rows", "with_planned_seeds"]


@dataclass(frozen=True)
class Planned:
    """The rows the latest ``assb sweep`` of a results directory planned, and those present."""

    seeds: int
    """Seeds requested per point (seeds 0 .. seeds - 1)."""
    points: tuple[str, ...]
    """The point ids of the sweep (``manifest.json`` ``current_points``)."""
    rows_present: int
    """Rows of those points and seeds in the table."""
    points_without_rows: int
    """Points of the sweep without a single row."""

    @property
    def rows_planned(self) -> int:
        return len(self.points) * self.seeds

    @property
    def complete(self) -> bool:
        return self.rows_present == self.rows_planned

    def message(self) -> str:
        """``"3 of 12 rows: the sweep is incomplete; ..."``, "" when every row is there.

        Examples
        --------
        >>> from microstructure.studies._planned import Planned
        >>> Planned(seeds=3, points=("a", "b", "c", "d"), rows_present=3,
        ...         points_without_rows=2).message()     # doctest: +NORMALIZE_WHITESPACE
        '3 of 12 rows: the sweep is incomplete; run the same assb sweep again to finish it
        (2 of 4 points have no row yet)'
        """
        if self.complete:
            return ""
        return (f"{self.rows_present} of {self.rows_planned} rows: the sweep is incomplete; "
                "run the same assb sweep again to finish it"
                + (f" ({self.points_without_rows} of {len(self.points)} points have no row "
                   "yet)" if self.points_without_rows else ""))

    def seeds_of(self, point_id: str) -> int | None:
        """Seeds requested for ``point_id``; None for a point of an earlier sweep definition."""
        return self.seeds if point_id in self.points else None


def planned_rows(results_dir: str | Path, df: pd.DataFrame) -> Planned | None:
    """The rows the manifest of ``results_dir`` plans, against ``df`` (its results table);
    None where there is no manifest (a bare ``results.csv``).

    Raises
    ------
    DamagedFileError
        A manifest that is not a JSON object, or one without a whole ``seeds`` >= 1 or a
        ``current_points`` list of point ids (named, with what to do).
    """
    plan = sweep_plan(ResultsStore(results_dir))
    if plan is None:
        return None
    points, seeds = plan
    wanted = set(points)
    have = {(str(p), int(s)) for p, s in zip(df["point_id"], df["seed"], strict=True)
            if p in wanted and 0 <= int(s) < seeds}
    with_rows = {p for p, _ in have}
    return Planned(seeds=seeds, points=points, rows_present=len(have),
                   points_without_rows=len(wanted - with_rows))


def with_planned_seeds(points: pd.DataFrame, planned: Planned | None) -> pd.DataFrame:
    """``points`` (one row per ``point_id``, with a ``seed_rows`` or ``seeds`` column: the rows
    found) with ``seeds_planned`` after it: the seeds requested, empty where unknown (a bare
    table, or a point of an earlier sweep definition)."""
    values = pd.array([planned.seeds_of(p) if planned is not None else None
                       for p in points["point_id"]], dtype="Int64")
    out = points.copy()
    rows = "seed_rows" if "seed_rows" in out else "seeds"
    out.insert(out.columns.get_loc(rows) + 1, "seeds_planned", values)
    return out
