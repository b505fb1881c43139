"""Text at the edges of the application: one-line messages and JSON-ready values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["jsonable", "one_line"]


def one_line(exc: BaseException | str) -> str:
    """``exc`` as one line of text (whitespace runs collapsed)."""
    return " ".join(str(exc).split())


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
