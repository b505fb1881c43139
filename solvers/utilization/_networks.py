"""Step 2 of :func:`cam_utilization`: the electronic / ionic / CAM masks from the phase codes.

The same pass checks the values of ``phases`` and ``particle_ids`` (phase codes known, ids > 0
exactly on CAM voxels), since it reads every voxel anyway: a numba loop on the CPU, array
operations on the GPU.  Arguments are those checked by :func:`check_utilization_args`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
import numpy as np

from .._validate import check_known_codes
from ..device import array_module, to_host
from ..phases import CAM, PHASE_CODES

__all__ = ["NetworkMasks", "network_masks", "network_masks_cpu", "network_masks_xp"]

_CODES = tuple(PHASE_CODES.values())


class NetworkMasks(NamedTuple):
    """Boolean masks of the conducting phases, and the largest particle id."""

    electronic: Any
    """Voxels of ``electronic_phases``."""
    ionic: Any
    """Voxels of ``ionic_phases``."""
    cam: Any
    """CAM voxels, or None when not asked for (only ``rule="cam_relay"`` needs them)."""
    max_id: int
    """Largest particle id (0 without particles)."""


def network_masks(
    phases: Any,
    particle_ids: Any,
    *,
    electronic_phases: tuple[int, ...],
    ionic_phases: tuple[int, ...],
    want_cam: bool,
    device: str,
) -> NetworkMasks:
    """Masks of ``electronic_phases``, ``ionic_phases`` and CAM; raise on bad codes or ids.

    Examples
    --------
    >>> import numpy as np
    >>> phases = np.array([0, 1, 2, 3], dtype=np.uint8).reshape(1, 1, 4)
    >>> ids = np.array([0, 2, 0, 0], dtype=np.int32).reshape(1, 1, 4)
    >>> m = network_masks(phases, ids, electronic_phases=(1, 3), ionic_phases=(2,),
    ...                   want_cam=True, device="cpu")
    >>> m.electronic.ravel().tolist(), m.ionic.ravel().tolist(), m.cam.ravel().tolist(), m.max_id
    ([False, True, False, True], [False, False, True, False], [False, True, False, False], 2)
    """
    fn = network_masks_cpu if device == "cpu" else network_masks_xp
    return fn(phases, particle_ids, electronic_phases, ionic_phases, want_cam)


def network_masks_cpu(
    phases: np.ndarray,
    particle_ids: np.ndarray,
    electronic_phases: tuple[int, ...],
    ionic_phases: tuple[int, ...],
    want_cam: bool,
) -> NetworkMasks:
    """CPU path of :func:`network_masks`: one numba pass for the checks and the masks."""
    shape = phases.shape
    if phases.size == 0:
        empty = np.zeros(shape, dtype=bool)
        return NetworkMasks(empty, empty, empty if want_cam else None, 0)
    ph = np.ascontiguousarray(phases).reshape(-1)
    ids = np.ascontiguousarray(particle_ids).reshape(-1)
    elut = np.zeros(len(_CODES), dtype=bool)
    elut[list(electronic_phases)] = True
    ilut = np.zeros(len(_CODES), dtype=bool)
    ilut[list(ionic_phases)] = True
    emask = np.empty(ph.size, dtype=bool)
    imask = np.empty(ph.size, dtype=bool)
    cmask = np.empty(ph.size if want_cam else 1, dtype=bool)
    stats = _masks_and_stats_cpu(ph, ids, elut, ilut, emask, imask, cmask, want_cam)
    max_id = _raise_on_bad_values(phases, particle_ids, stats)
    cam = cmask.reshape(shape) if want_cam else None
    return NetworkMasks(emask.reshape(shape), imask.reshape(shape), cam, max_id)


def network_masks_xp(
    phases: Any,
    particle_ids: Any,
    electronic_phases: tuple[int, ...],
    ionic_phases: tuple[int, ...],
    want_cam: bool,
) -> NetworkMasks:
    """GPU path of :func:`network_masks` (array operations; NumPy arrays work too)."""
    xp = array_module(phases)
    if phases.size == 0:
        empty = xp.zeros(phases.shape, dtype=bool)
        return NetworkMasks(empty, empty, empty if want_cam else None, 0)
    max_id = _raise_on_bad_values(phases, particle_ids, _stats_xp(phases, particle_ids))
    small = phases.astype(xp.uint8, copy=False)  # codes checked: 0..3

    def in_phases(codes):
        lut = xp.zeros(256, dtype=bool)
        lut[list(codes)] = True
        return lut[small]

    cam = (phases == CAM) if want_cam else None
    return NetworkMasks(in_phases(electronic_phases), in_phases(ionic_phases), cam, max_id)


@numba.njit(cache=True, nogil=True)
def _masks_and_stats_cpu(phases, pid, elut, ilut, emask, imask, cmask, want_cam):
    """One pass: code statistics for the checks, and the electronic / ionic / CAM masks.

    Returns ``[min phase, max phase, min id, max id, voxels with an id but not CAM,
    CAM voxels without an id]``.
    """
    pmin = np.int64(phases[0])
    pmax = pmin
    imin = np.int64(pid[0])
    imax = imin
    straddle = 0
    orphan = 0
    for i in range(phases.shape[0]):
        ph = np.int64(phases[i])
        p = np.int64(pid[i])
        pmin = min(pmin, ph)
        pmax = max(pmax, ph)
        imin = min(imin, p)
        imax = max(imax, p)
        ok = ph >= 0 and ph < elut.shape[0]
        emask[i] = elut[ph] if ok else False
        imask[i] = ilut[ph] if ok else False
        if ph == CAM:
            if p == 0:
                orphan += 1
            if want_cam:
                cmask[i] = True
        else:
            if p != 0:
                straddle += 1
            if want_cam:
                cmask[i] = False
    return np.array([pmin, pmax, imin, imax, straddle, orphan], dtype=np.int64)


def _stats_xp(phases: Any, particle_ids: Any) -> list[int]:
    """The statistics of ``_masks_and_stats_cpu`` with array operations."""
    is_cam = phases == CAM
    has_id = particle_ids != 0
    return [
        int(phases.min()),  # device sync points
        int(phases.max()),
        int(particle_ids.min()),
        int(particle_ids.max()),
        int((has_id & ~is_cam).sum()),
        int((is_cam & ~has_id).sum()),
    ]


def _raise_on_bad_values(phases: Any, particle_ids: Any, stats: Any) -> int:
    """Raise on bad phase codes or particle ids (details computed only then); return max id."""
    xp = array_module(phases)
    lo, hi, pmin, pmax, n_straddle, n_orphan = (int(v) for v in stats)
    if lo < 0 or hi > max(_CODES):
        check_known_codes(to_host(xp.unique(phases[(phases < 0) | (phases > max(_CODES))])))
    if pmin < 0:
        raise ValueError(f"particle_ids must be >= 0 (0 = no particle), got minimum {pmin}")
    if pmax > particle_ids.size:
        raise ValueError(
            f"particle_ids must be at most the number of voxels ({particle_ids.size}); got "
            f"maximum {pmax}. Renumber the particles 1..n"
        )
    if n_straddle:
        ids = to_host(xp.unique(particle_ids[(particle_ids > 0) & (phases != CAM)]))
        raise ValueError(
            f"particle_ids has particles straddling several phases: {n_straddle} voxels carry a "
            f"particle id but are not CAM (phase {CAM}), in particles {ids[:10].tolist()}"
            f"{' ...' if ids.size > 10 else ''}. Particle ids must be > 0 exactly on CAM voxels"
        )
    if n_orphan:
        raise ValueError(
            f"particle_ids is 0 on {n_orphan} CAM voxels; every CAM voxel (phase {CAM}) must "
            "carry the id (> 0) of its particle"
        )
    return pmax
