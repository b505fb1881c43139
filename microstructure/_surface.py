"""Areas read off voxel faces.

A surface drawn on the voxel grid is a staircase: its faces over-count the area of an
isotropic surface by 3/2 on average (and a sphere's at any voxel size: 1.50x its area from 4 to
45 voxels of radius), so areas from face counts are scaled by
:data:`ISOTROPIC_SURFACE_FACTOR`.
"""

from __future__ import annotations

__all__ = ["ISOTROPIC_SURFACE_FACTOR"]

#: Correction of the voxel face count for isotropic surfaces (mean staircase over-count 3/2).
ISOTROPIC_SURFACE_FACTOR = 2.0 / 3.0
