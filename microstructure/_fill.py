"""Soft phases: SE and carbon particles filling the space the hard CAM spheres leave.

Pressed SE is soft, so SE particles may overlap each other freely; towards CAM they may reach in
by at most ``se_cam_overlap`` of their radius (measured with the exact distance of the particle
centre to the nearest CAM sphere surface).  Carbon is placed the same way, before SE, and so sits
in the SE/pore space next to the CAM.  Pores are what remains.

Particles are added in batches: centres at random pore voxels with room for at least the smallest
particle (jittered inside the voxel), diameters drawn by number from the phase's PSD; a particle
without room at its centre tries up to ``RETRIES`` other centres, and only then takes the largest
size that fits (pressed SE squeezes into the gaps between CAM with its smaller particles, so where
the pore space is very tight the placed SE particles are somewhat finer than the powder's PSD),
all of a batch stamped at once (order does not matter as only pore voxels
are filled).  The batch size follows the remaining deficit, so the phase's voxel
count converges on its target from below; it stops within ``tol_voxels``.  The random numbers
all come from the host generator, so CPU and GPU build the same structure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers.device import to_host

from ._psd import DiameterSampler
from ._voxelize import stamp_soft

log = logging.getLogger(__name__)

#: Upper bound on particles stamped in one batch (memory of the host-side arrays).
MAX_BATCH = 1_000_000
#: New centres tried for a particle that has no room where it was first put.
RETRIES = 32


@dataclass(frozen=True)
class FillResult:
    centers: np.ndarray
    """(n, 3) centres of the placed particles in µm."""
    radii: np.ndarray
    """(n,) radii in µm."""
    voxels: int
    """Voxels of the phase after filling."""
    batches: int


def fill_soft_phase(kern: Any, phases: Any, clearance_um: Any, sampler: DiameterSampler, *,
                    code: int, target_voxels: int, tol_voxels: int, max_overlap: float,
                    h: float, periodic: np.ndarray, rng: np.random.Generator,
                    progress: Any = None) -> FillResult:
    """Add particles of phase ``code`` into pore voxels until ``target_voxels`` is reached.

    Stops early (returning fewer voxels) when the pore space admits no more particles.
    """
    xp = kern.xp
    flat = phases.reshape(-1)
    cl = clearance_um.reshape(-1)
    shape = phases.shape
    count = int(xp.count_nonzero(flat == code))
    mean_vox = max(sampler.mean_volume() / h**3, 0.5)
    min_room = np.float32((1.0 - max_overlap) * sampler.d_min / 2 * 1.0001)
    yield_per_particle = mean_vox
    all_c, all_r = [], []
    batches = stalls = 0
    while target_voxels - count > tol_voxels:
        free = xp.flatnonzero((flat == 0) & (cl >= min_room))  # sync point
        nfree = int(free.shape[0])
        if nfree == 0:
            break
        deficit = target_voxels - count
        b = int(np.clip(0.6 * deficit / yield_per_particle, 1, MAX_BATCH))
        # draw sizes from the PSD, then look for a centre with room for each (a few tries);
        # what still finds no room takes the largest size that fits its last place
        d = sampler.sample(b, rng)
        idx = free[xp.asarray(rng.integers(0, nfree, b))]
        room = to_host(cl[idx]).astype(np.float64)
        limit = 2 * room / max(1.0 - max_overlap, 1e-9)
        for _ in range(RETRIES):
            bad = np.flatnonzero(d > limit)
            if bad.size == 0:
                break
            idx[xp.asarray(bad)] = free[xp.asarray(rng.integers(0, nfree, bad.size))]
            room[bad] = to_host(cl[idx[xp.asarray(bad)]])
            limit[bad] = 2 * room[bad] / max(1.0 - max_overlap, 1e-9)
        bad = np.flatnonzero(d > limit)
        d[bad] = sampler.sample_below(limit[bad], rng)
        ok = ~np.isnan(d)
        jitter = rng.random((b, 3)) - 0.5
        vox = np.stack(np.unravel_index(to_host(idx)[ok], shape), axis=1).astype(np.float64)
        c = (vox + 0.5 + jitter[ok]) * h
        rr = d[ok] / 2
        stamp_soft(kern, phases, xp.asarray(c), xp.asarray(rr), h, periodic, code)
        new = int(xp.count_nonzero(flat == code))
        gained = new - count
        batches += 1
        all_c.append(c)
        all_r.append(rr)
        if gained <= 0:
            stalls += 1
            if stalls >= 4:
                break
        else:
            stalls = 0
            yield_per_particle = max(gained / b, 1e-3)
        count = new
        if progress is not None:
            progress(count)
    log.debug("fill phase %d: %d batches, %d voxels (target %d)", code, batches, count,
              target_voxels)
    centers = np.concatenate(all_c) if all_c else np.zeros((0, 3))
    radii = np.concatenate(all_r) if all_r else np.zeros(0)
    return FillResult(centers, radii, count, batches)


