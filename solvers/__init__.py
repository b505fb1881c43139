"""Numerics on plain voxel arrays: labeling, percolation, CAM utilization, transport.

``solvers`` knows arrays, not electrode specs.  Every compute entry point takes
``device="cpu" | "cuda"``.
"""

from ._backend import gpu_available
from ._label import label
from ._percolation import connected_to_face, percolates
from ._transport import TransportProperties, TransportResult, tortuosity, transport_properties
from ._utilization import ParticleTable, UtilizationResult, cam_utilization

__all__ = [
    "gpu_available",
    "label",
    "connected_to_face",
    "percolates",
    "cam_utilization",
    "UtilizationResult",
    "ParticleTable",
    "tortuosity",
    "transport_properties",
    "TransportResult",
    "TransportProperties",
]
