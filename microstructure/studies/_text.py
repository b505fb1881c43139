"""Text at the edges of the application: one-line messages and JSON-ready values."""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["distinct_warnings", "jsonable", "one_line", "utc_now"]

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def utc_now() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def one_line(exc: BaseException | str) -> str:
    """``exc`` as one line of text (whitespace runs collapsed)."""
    return " ".join(str(exc).split())


def distinct_warnings(messages: Iterable[str]) -> list[str]:
    """``messages`` once each, in order, those that differ only in their numbers (one warning
    of several builds) as the first of them and how many more there were.

    >>> distinct_warnings(["radius 0.08 um", "x", "radius 0.07 um", "x", "radius 0.08 um"])
    ['radius 0.08 um (and 1 more like it, with other numbers)', 'x']
    """
    groups: dict[str, list[str]] = {}
    for m in messages:
        group = groups.setdefault(_NUMBER.sub("#", m), [])
        if m not in group:
            group.append(m)
    return [g[0] + (f" (and {len(g) - 1} more like it, with other numbers)" if len(g) > 1
                    else "") for g in groups.values()]


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
