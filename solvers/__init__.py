"""Numerics on plain voxel arrays: labeling, percolation, CAM utilization, transport.

``solvers`` knows arrays, not electrode specs.  Every compute entry point takes
``device="cpu" | "cuda"``.

Layout
------
* :mod:`solvers.labeling`    -- connected components, percolation (``label``, ``percolates``)
* :mod:`solvers.utilization` -- static CAM utilization (``cam_utilization``, on voxels;
  ``cam_utilization_graph``, on a contact graph)
* :mod:`solvers.transport`   -- CG, multigrid, stencils (``tortuosity``, ``transport_properties``)
* :mod:`solvers.device`      -- device selection helpers (``gpu_available``, ``get_xp``, ...)
* :mod:`solvers.phases`      -- the phase codes (0 pore, 1 CAM, 2 SE, 3 carbon)
"""

from typing import Any

from .device import gpu_available
from .labeling import connected_to_face, label, percolates
from .transport import (
    ContactConductance,
    TransportProperties,
    TransportResult,
    tortuosity,
    transport_properties,
)
from .utilization import (
    GraphUtilizationResult,
    ParticleUtilization,
    UtilizationResult,
    cam_utilization,
    cam_utilization_graph,
)

__all__ = [
    "ContactConductance",
    "GraphUtilizationResult",
    "ParticleUtilization",
    "TransportProperties",
    "TransportResult",
    "UtilizationResult",
    "cam_utilization",
    "cam_utilization_graph",
    "connected_to_face",
    "gpu_available",
    "label",
    "percolates",
    "tortuosity",
    "transport_properties",
]


def __getattr__(name: str) -> Any:
    # deprecated names (``ParticleTable`` -> ``ParticleUtilization``), with a DeprecationWarning
    from . import utilization

    if name in utilization._RENAMED:
        return utilization.deprecated_alias(__name__, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
