"""Argument checks shared by the solvers.

Errors name the argument, what is allowed and the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .phases import PHASE_CODES

__all__ = [
    "check_axis",
    "check_bool",
    "check_host_array",
    "check_known_codes",
    "check_phase_codes",
    "check_choice",
    "check_conductivity",
    "check_connectivity",
    "check_mask",
    "check_max_iter",
    "check_optional_positive",
    "check_periodic",
    "check_positive",
    "check_same_shape",
    "check_side",
    "check_volume",
]


def check_volume(a: Any, name: str = "image", *, integer: bool = False) -> None:
    """Require a 3-D array; with ``integer=True`` a 3-D integer array (bool is refused)."""
    what = "3-D integer array" if integer else "3-D array"
    ndim = getattr(a, "ndim", None)
    if ndim is None:
        raise TypeError(f"{name} must be a {what}, got {type(a).__name__}")
    if ndim != 3:
        raise ValueError(f"{name} must be a {what}, got ndim={ndim} (shape {tuple(a.shape)})")
    if integer:
        dtype = np.dtype(a.dtype)
        if dtype == np.bool_ or not np.issubdtype(dtype, np.integer):
            raise TypeError(f"{name} must be a {what}, got dtype {dtype}")


def check_axis(axis: Any, ndim: int = 3) -> int:
    """Require an integer axis in [-ndim, ndim); return it as a non-negative int."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis must be in [-{ndim}, {ndim - 1}], got {axis}")
    return int(axis) % ndim


def check_connectivity(connectivity: Any) -> int:
    """Require 6, 18 or 26."""
    if connectivity not in (6, 18, 26) or isinstance(connectivity, bool):
        raise ValueError(f"connectivity must be 6, 18 or 26, got {connectivity!r}")
    return int(connectivity)


def check_same_shape(a: Any, b: Any, name_a: str, name_b: str) -> None:
    """Require two arrays of one shape."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )


def check_positive(value: Any, name: str) -> float:
    """Require a finite number > 0."""
    try:
        v = _number(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_periodic(periodic: Any) -> tuple[bool, bool, bool]:
    """Normalize ``periodic`` (one bool or three) to a 3-tuple of bools."""
    if isinstance(periodic, (bool, np.bool_)):
        return (bool(periodic),) * 3
    try:
        items = tuple(periodic)
    except TypeError:
        items = ()
    if len(items) != 3 or not all(isinstance(p, (bool, np.bool_)) for p in items):
        raise TypeError(
            f"periodic must be a bool or a tuple of 3 bools (one per axis), got {periodic!r}"
        )
    return tuple(bool(p) for p in items)  # type: ignore[return-value]


def check_mask(mask: Any, name: str = "mask") -> None:
    """Require a 3-D boolean or integer array (integers: nonzero is foreground)."""
    check_volume(mask, name)
    dtype = np.dtype(mask.dtype)
    if dtype != np.bool_ and not np.issubdtype(dtype, np.integer):
        raise TypeError(f"{name} must be a boolean or integer array, got dtype {dtype}")
    if mask.size > 2**31 - 1:  # labels are int32
        raise ValueError(f"{name} has {mask.size} voxels; at most 2**31 - 1 are supported")


def check_side(side: Any) -> int:
    """Require 0 (first index along the axis) or -1 (last index)."""
    if isinstance(side, bool) or side not in (0, -1):
        raise ValueError(f"side must be 0 (first face) or -1 (last face), got {side!r}")
    return int(side)


def check_bool(value: Any, name: str) -> bool:
    """Require a bool (NumPy bools too); return it as a Python bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True or False), got {value!r}")
    return bool(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Require one of ``choices``; return it as a str."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


def check_host_array(a: Any, name: str) -> None:
    """Require a NumPy array (the ``device="cpu"`` paths never copy from a GPU silently)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{name} must be a NumPy array for device='cpu', got "
            f"{type(a).__module__}.{type(a).__name__}; use device='cuda' for GPU arrays"
        )


def check_phase_codes(value: Any, name: str) -> tuple[int, ...]:
    """Require a non-empty sequence of phase codes (:mod:`solvers.phases`); return a tuple."""
    allowed = tuple(PHASE_CODES.values())
    try:
        codes = tuple(value)
    except TypeError:
        codes = None
    if (
        not codes
        or any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) for c in codes)
        or any(c not in allowed for c in codes)
    ):
        raise ValueError(
            f"{name} must be a non-empty tuple of phase codes from {allowed} "
            f"(0 pore, 1 CAM, 2 SE, 3 carbon), got {value!r}"
        )
    return tuple(int(c) for c in codes)


def check_known_codes(codes: Any, name: str = "phases") -> None:
    """Raise naming ``name`` when ``codes`` (the codes an array holds) has one that is not a
    phase code of :mod:`solvers.phases`."""
    allowed = tuple(PHASE_CODES.values())
    bad = sorted(int(c) for c in codes if int(c) not in allowed)
    if bad:
        raise ValueError(f"{name} holds unknown phase codes {bad[:10]}; allowed are {allowed} "
                         "(0 pore, 1 CAM, 2 SE, 3 carbon)")


def _number(value: Any) -> float:
    """``float(value)``; TypeError or ValueError for text, bools and what is not a number."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def check_conductivity(conductivity: Any, name: str = "conductivity") -> dict[int, float]:
    """Require a mapping ``{integer phase code: finite conductivity >= 0}``; return a plain dict."""
    if not isinstance(conductivity, Mapping):
        raise TypeError(
            f"{name} must be a mapping {{phase_code: S/cm}}, got {type(conductivity).__name__}"
        )
    out = {}
    for code, value in conductivity.items():
        if isinstance(code, (bool, np.bool_)):
            code = int(code)
        if not isinstance(code, (int, np.integer)):
            raise TypeError(f"{name} keys must be integer phase codes, got {code!r}")
        try:
            v = _number(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name}[{code}] must be a number in S/cm, got {value!r}") from None
        if not math.isfinite(v) or v < 0:
            raise ValueError(
                f"{name}[{code}] must be a finite conductivity >= 0 S/cm, got {value!r}"
            )
        out[int(code)] = v
    return out


def check_max_iter(max_iter: Any) -> int | None:
    """Require a positive integer or None."""
    if max_iter is None:
        return None
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer or None, got {max_iter!r}")
    return int(max_iter)


def check_optional_positive(value: Any, name: str) -> float | None:
    """Require None or a finite number > 0."""
    return None if value is None else check_positive(value, name)
