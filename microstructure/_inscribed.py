"""Maximal inscribed spheres of a voxel phase: the size of a phase that cannot be split into
particles (an imported stack's SE and carbon), a local-thickness estimate."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["EDT_MAX_BIAS_VOXELS", "inscribed_spheres"]

#: ``D_max - R`` of the EDT of a voxelized ball of radius ``R`` voxels, centred anywhere in a
#: voxel: -0.40 +- 0.15 for R = 5-20 (30 random centres each; -0.24 to -0.37 at R = 2-3;
#: +0.06 at most, for a ball centred on a voxel).  The EDT's maximum sits on the voxel next to
#: the centre, up to half a voxel off it.
EDT_MAX_BIAS_VOXELS = -0.40


def inscribed_spheres(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (voxel index) and radii (voxels) of maximal inscribed spheres of ``mask``.

    Local maxima of the EDT ``D`` (3x3x3 neighbourhood); the peaks of one flat maximum
    (26-connected voxels of equal ``D``, e.g. a ball centred on a voxel corner) are one sphere,
    at their mean position.  Radius ``D - EDT_MAX_BIAS_VOXELS`` from ``D = 2`` up (a ball's EDT
    peaks 0.4 voxel inside its radius), 0.5 for a feature one voxel thick (``D = 1``), linear
    between.
    """
    from skimage.feature import peak_local_max

    dist = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(dist, min_distance=1, threshold_abs=0.5,
                           labels=mask.astype(np.uint8), exclude_border=False)
    if not len(peaks):
        return np.zeros((0, 3)), np.zeros(0)
    plateau = np.zeros(mask.shape, bool)
    plateau[tuple(peaks.T)] = True
    pid, n = ndi.label(plateau, structure=np.ones((3, 3, 3), bool))
    ids = pid[tuple(peaks.T)]
    count = np.bincount(ids, minlength=n + 1)[1:]
    centres = np.stack([np.bincount(ids, weights=peaks[:, a], minlength=n + 1)[1:]
                        for a in range(3)], axis=1) / count[:, None]
    d = np.zeros(n + 1)
    np.maximum.at(d, ids, dist[tuple(peaks.T)])
    d = d[1:]
    return centres, np.maximum(d + np.interp(d, [1.0, 2.0], [-0.5, -EDT_MAX_BIAS_VOXELS]), 0.5)
