"""Neighbourhoods of a voxel for 6-, 18- and 26-connectivity (shared by both labelers)."""

from __future__ import annotations

import numpy as np

__all__ = ["neighbor_offsets"]


def neighbor_offsets(connectivity: int, *, half: bool) -> np.ndarray:
    """Offsets ``(dz, dy, dx)`` of a voxel's neighbours, as an ``(k, 3)`` int64 array.

    ``half=True`` keeps the backward half (lexicographically negative offsets, visited before
    the voxel in C order): 3, 9 or 13 offsets for connectivity 6, 18, 26.  ``half=False``
    gives all 6, 18 or 26.
    """
    max_norm = {6: 1, 18: 2, 26: 3}[connectivity]
    out = []
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                norm = abs(dz) + abs(dy) + abs(dx)
                if norm == 0 or norm > max_norm:
                    continue
                if half and (dz, dy, dx) >= (0, 0, 0):
                    continue
                out.append((dz, dy, dx))
    return np.array(out, dtype=np.int64)
