"""Numerics on plain voxel arrays: labeling, percolation, CAM utilization, transport.

``solvers`` knows arrays, not electrode specs.  Every compute entry point takes
``device="cpu" | "cuda"``.

Layout
------
* :mod:`solvers.labeling`    -- connected components, percolation (``label``, ``percolates``)
* :mod:`solvers.utilization` -- static CAM utilization (``cam_utilization``)
* :mod:`solvers.transport`   -- CG, multigrid, stencils (``tortuosity``, ``transport_properties``)
* :mod:`solvers.device`      -- device selection helpers (``gpu_available``, ``get_xp``, ...)
* :mod:`solvers.phases`      -- the phase codes (0 pore, 1 CAM, 2 SE, 3 carbon)
"""

from .device import gpu_available
from .labeling import connected_to_face, label, percolates
from .transport import TransportProperties, TransportResult, tortuosity, transport_properties
from .utilization import ParticleTable, UtilizationResult, cam_utilization

__all__ = [
    "ParticleTable",
    "TransportProperties",
    "TransportResult",
    "UtilizationResult",
    "cam_utilization",
    "connected_to_face",
    "gpu_available",
    "label",
    "percolates",
    "tortuosity",
    "transport_properties",
]
