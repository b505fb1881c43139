"""Numerics on plain voxel arrays: labeling, percolation, CAM utilization, transport.

``solvers`` knows arrays, not electrode specs.  Every compute entry point takes
``device="cpu" | "cuda"``.
"""

from ._backend import gpu_available

__all__ = ["gpu_available"]
