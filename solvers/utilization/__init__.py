"""Static CAM utilization: which active-material particles are electronically and ionically
connected (strict and CAM-relay rules), on voxels (:func:`cam_utilization`) or on the contact
graph of a pressed packing (:func:`cam_utilization_graph`).

``ParticleTable`` is a deprecated alias of :class:`ParticleUtilization` (the per-particle
results), renamed so that it no longer shares a name with ``microstructure.ParticleTable``
(the particle geometry).
"""

from __future__ import annotations

import warnings
from typing import Any

from ._graph import GraphUtilizationResult, cam_utilization_graph
from ._result import ParticleUtilization, UtilizationResult
from ._rules import RULES
from ._utilization import cam_utilization

__all__ = [
    "RULES",
    "GraphUtilizationResult",
    "ParticleUtilization",
    "UtilizationResult",
    "cam_utilization",
    "cam_utilization_graph",
]

_RENAMED = {"ParticleTable": "ParticleUtilization"}


def deprecated_alias(module: str, name: str) -> Any:
    """The object a renamed name stands for, with a ``DeprecationWarning`` for the caller."""
    new = _RENAMED[name]
    warnings.warn(
        f"{module}.{name} is deprecated, use {module}.{new} (the per-particle utilization "
        "results; microstructure.ParticleTable is the particle geometry)",
        DeprecationWarning,
        stacklevel=3,
    )
    return globals()[new]


def __getattr__(name: str) -> Any:
    if name in _RENAMED:
        return deprecated_alias(__name__, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
