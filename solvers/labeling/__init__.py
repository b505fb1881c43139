"""Connected-component labeling and percolation of voxel masks (CPU and GPU).

CPU: union-find over the runs of bit-packed voxel rows (:mod:`._label_runs`); GPU: numba-cuda
union-find kernels (:mod:`._label_cuda`).  Both number components by their first voxel in C
order, so the labels are identical.
"""

from ._label import label
from ._percolation import connected_to_face, percolates

__all__ = ["connected_to_face", "label", "percolates"]
