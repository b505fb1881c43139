"""Sphere packing in continuous coordinates: force-biased relaxation (dense) and plain RSA.

Dense mode
    All CAM spheres (radii drawn from the PSD) start at random positions and are pushed apart by
    minimising the harmonic overlap energy ``sum_(i<j) (r_i + r_j - d_ij)^2 / 2`` plus the same
    penalty for reaching through the current-collector and separator walls.  The minimiser is
    FIRE (Bitzek et al., PRL 97, 170201, 2006) on Verlet neighbour lists built with a cell grid.
    Below the jamming density the energy goes to zero, i.e. the spheres become hard: the run
    stops once the summed pair-lens volume is under ``overlap_target`` of the CAM volume.
    Random close packing of equal spheres lies near 0.64 and broad lognormal PSDs pack denser,
    which is how real CAM contents (45-68 vol%) are reached.

RSA mode
    Random sequential addition of hard spheres on the voxel-centre lattice, largest first, each
    at a random still-free centre; it runs to saturation, so equal spheres jam near φ ≈ 0.38.
    It exists as a validation of the voxel-level machinery, not for real compositions.

The glue is written against an array namespace ``xp`` (NumPy or CuPy); the per-particle kernels
come from :mod:`._packing_kernels` (numba on CPU, numba-cuda on GPU).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numba
import numpy as np

from solvers.device import to_host

from . import _packing_kernels as K

log = logging.getLogger(__name__)

#: Verlet skin and the largest move of one relaxation step, in units of the median radius.
SKIN = 1.0
MAX_MOVE = 0.1
#: Relaxation gives up (the packing is jammed) when the overlap fell < 5 % over this many steps.
STALL_STEPS = 1000

_B = K.compile_for(numba.njit(cache=True))
_nb_neighbours, _nb_force, _nb_overlap = _B["neighbours"], _B["force"], _B["overlap"]
_nb_fire_power, _nb_fire_step = _B["fire_power"], _B["fire_step"]


@numba.njit(parallel=True, cache=True)
def _neighbours_cpu(pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic, skin,
                    padded, counts):
    for i in numba.prange(pos.shape[0]):
        _nb_neighbours(i, pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic,
                       skin, padded, counts)


@numba.njit(parallel=True, cache=True)
def _force_cpu(pos, rad, nbr_ptr, nbr_idx, box, periodic, force, energy):
    for i in numba.prange(pos.shape[0]):
        _nb_force(i, pos, rad, nbr_ptr, nbr_idx, box, periodic, force, energy)


@numba.njit(parallel=True, cache=True)
def _overlap_cpu(pos, rad, nbr_ptr, nbr_idx, box, periodic, lens, rel):
    for i in numba.prange(pos.shape[0]):
        _nb_overlap(i, pos, rad, nbr_ptr, nbr_idx, box, periodic, lens, rel)


@numba.njit(parallel=True, cache=True)
def _fire_power_cpu(vel, force, rad, use_mass, out):
    for i in numba.prange(vel.shape[0]):
        _nb_fire_power(i, vel, force, rad, use_mass, out)


@numba.njit(parallel=True, cache=True)
def _fire_step_cpu(pos, vel, force, rad, use_mass, cv, ca, dt, max_move, box, periodic, ref,
                   disp2):
    for i in numba.prange(pos.shape[0]):
        _nb_fire_step(i, pos, vel, force, rad, use_mass, cv, ca, dt, max_move, box, periodic,
                      ref, disp2)


class CpuKernels:
    """CPU backend: per-particle bodies launched with numba, NumPy arrays, the ``edt`` EDT."""

    xp = np
    name = "cpu"

    def neighbours(self, *args: Any) -> None:
        _neighbours_cpu(*args)

    def force(self, *args: Any) -> None:
        _force_cpu(*args)

    def overlap(self, *args: Any) -> None:
        _overlap_cpu(*args)

    def fire_power(self, *args: Any) -> None:
        _fire_power_cpu(*args)

    def fire_step(self, *args: Any) -> None:
        _fire_step_cpu(*args)

    def stamp_hard(self, *args: Any) -> None:
        from ._voxelize import _stamp_hard_cpu

        _stamp_hard_cpu(*args)

    def stamp_soft(self, *args: Any) -> None:
        from ._voxelize import _stamp_soft_cpu

        _stamp_soft_cpu(*args)

    def clearance(self, *args: Any) -> None:
        from ._voxelize import _clearance_cpu

        _clearance_cpu(*args)


@dataclass(frozen=True)
class PackingResult:
    """Sphere centres and radii after packing (continuous coordinates, µm)."""

    centers: np.ndarray
    """(n, 3) centres in µm, axis order (through-plane, lateral, lateral)."""
    radii: np.ndarray
    """(n,) radii in µm."""
    overlap_fraction: float
    """Summed pair-lens volume / summed sphere volume (dimensionless)."""
    max_relative_overlap: float
    """Largest (r_i + r_j - d) / min(r_i, r_j) over all pairs, or wall penetration / r."""
    iterations: int
    """Relaxation steps taken (0 for RSA)."""
    n_failed: int = 0
    """RSA only: particles that found no free place (the packing jammed)."""


def _cell_grid(box: np.ndarray, radii: np.ndarray, skin: float) -> np.ndarray:
    """Cells per axis minimising a cost model of the half-list search.

    A sphere of radius r visits (2k + 1)^3 cells, k = ceil((2 r + skin) / cell), and checks the
    particles in them; small cells favour the many small spheres, large cells the few big ones.
    """
    n = max(radii.shape[0], 1)
    best, best_cost = np.ones(3, dtype=np.int64), np.inf
    r_med = float(np.median(radii)) if radii.shape[0] else 1.0
    for f in (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0):
        size = f * (2 * r_med + skin)
        ncell = np.maximum((box // size).astype(np.int64), 1)
        cell = box / ncell
        k = np.ceil((2 * radii + skin)[:, None] / cell[None, :])
        visits = np.prod(np.minimum(2 * k + 1, ncell[None, :]), axis=1)
        cost = np.sum(visits) * (1.0 + 2.0 * n / np.prod(ncell))
        if cost < best_cost:
            best, best_cost = ncell, cost
    return best


def sorted_pairs(i: Any, j: Any, n: int, xp: ModuleType = np) -> np.ndarray:
    """(m, 2) int64 host array of the pairs ``(min(i, j), max(i, j))`` of ``n`` particles,
    sorted by first then second index (what ``np.lexsort`` gives, from one sort of the int64 key
    ``first * n + second``: ~8x faster on 30 million pairs; on the device where ``xp`` is
    CuPy)."""
    key = xp.minimum(i, j).astype(xp.int64) * int(n) + xp.maximum(i, j)
    key = to_host(xp.sort(key)).astype(np.int64, copy=False)
    out = np.empty((key.shape[0], 2), dtype=np.int64)
    np.floor_divide(key, n, out=out[:, 0])
    np.remainder(key, n, out=out[:, 1])
    return out


class Fire:
    """One FIRE integrator (Bitzek et al. 2006) with this project's parameters, shared by the
    CAM relaxation and the pressing: time step and mixing adapt to whether the power
    ``acc . vel`` is positive."""

    DT_MAX, N_MIN, F_INC, F_DEC, A0, F_A = 0.3, 5, 1.1, 0.5, 0.1, 0.99

    def __init__(self) -> None:
        self.dt = 0.05
        self.alpha = self.A0
        self.since_neg = 0

    def step(self, kern: Any, pos: Any, vel: Any, force: Any, rad: Any, use_mass: bool,
             nl: _NeighbourList, max_move: float, work: tuple[Any, Any]) -> float:
        """Advance ``pos`` and ``vel`` in place by one step under ``force`` (mass ``rad`` when
        ``use_mass``, else 1); return the largest squared distance (µm²) of a particle from
        where it was when ``nl`` was built.  ``work``: scratch arrays of shapes (3, n), (n,).

        Two kernels and two sync points: FIRE's three sums, then the move itself (its step
        capped at ``max_move`` µm: keeps the neighbour list valid for many steps; only the
        first, violent steps from a random start are capped)."""
        power, disp2 = work
        kern.fire_power(vel, force, rad, use_mass, power)
        p, vv, ff = (float(x) for x in to_host(power.sum(axis=1)))  # sync point
        if p > 0:
            cv = 1.0 - self.alpha
            ca = self.alpha * math.sqrt(vv) / max(math.sqrt(ff), 1e-300)
            self.since_neg += 1
            if self.since_neg > self.N_MIN:
                self.dt = min(self.dt * self.F_INC, self.DT_MAX)
                self.alpha *= self.F_A
        else:  # uphill: stop, and try again with a shorter step
            cv = ca = 0.0
            self.dt *= self.F_DEC
            self.alpha = self.A0
            self.since_neg = 0
        kern.fire_step(pos, vel, force, rad, use_mass, cv, ca, self.dt, max_move, nl.box,
                       nl.periodic, nl.ref, disp2)
        return float(disp2.max()) if disp2.shape[0] else 0.0  # sync point


class _NeighbourList:
    """Verlet neighbour list (CSR) with a skin, rebuilt when a particle moved > skin / 2."""

    def __init__(self, kern: Any, xp: ModuleType, box: np.ndarray, periodic: np.ndarray,
                 radii: Any, skin: float) -> None:
        self.kern, self.xp = kern, xp
        self.box_h = np.asarray(box, dtype=np.float64)
        self.box = xp.asarray(self.box_h)
        self.periodic_h = np.asarray(periodic, dtype=np.int8)
        self.periodic = xp.asarray(self.periodic_h)
        self.rad = radii
        self.skin = skin
        self.ncell_h = _cell_grid(self.box_h, to_host(radii), skin)
        self.ncell = xp.asarray(self.ncell_h)
        self.cell_size = xp.asarray(self.box_h / self.ncell_h)
        self.cap = 16
        self.ptr = None
        self.idx = None
        self.ref = None
        self.counts = None  # half-list row lengths of the last build (CPU)
        self.builds = 0

    def search_args(self, pos: Any) -> tuple:
        """The particles binned into the cell grid: the arguments of the neighbour search
        bodies (``pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic, skin``)."""
        xp = self.xp
        cs = self.box_h / self.ncell_h
        c = [xp.clip(xp.floor(pos[:, a] / cs[a]).astype(xp.int64), 0, int(self.ncell_h[a]) - 1)
             for a in range(3)]
        cid = (c[0] * int(self.ncell_h[1]) + c[1]) * int(self.ncell_h[2]) + c[2]
        order = xp.argsort(cid, kind="stable") if xp is np else xp.argsort(cid)
        ncells = int(np.prod(self.ncell_h))
        cell_start = xp.searchsorted(cid[order], xp.arange(ncells + 1)).astype(xp.int64)
        items = order.astype(xp.int64)
        return (pos, self.rad, cell_start, items, self.ncell, self.cell_size, self.box,
                self.periodic, self.skin)

    def build(self, pos: Any) -> None:
        xp = self.xp
        n = pos.shape[0]
        args = self.search_args(pos)
        if hasattr(self.kern, "neighbours_csr"):  # CSR sized from the last build (CPU)
            self.ptr, self.idx, self.counts = self.kern.neighbours_csr(*args, hint=self.counts)
            self.ref = pos.copy()
            self.builds += 1
            return
        counts = xp.zeros(n, dtype=xp.int64)
        while True:  # one pass into fixed-capacity rows; again with more room if one overflowed
            padded = xp.zeros((n, self.cap), dtype=xp.int64)
            self.kern.neighbours(*args, padded, counts)
            most = int(xp.max(counts)) if n else 0  # sync point
            if most <= self.cap:
                break
            self.cap = int(most * 1.25) + 1
        # symmetric (full) list in CSR form, sorted by (i, j): deterministic on both backends
        src, col = xp.nonzero(xp.arange(self.cap)[None, :] < counts[:, None])
        dst = padded[src, col]
        m = int(dst.shape[0])
        a = xp.concatenate([src, dst])
        b = xp.concatenate([dst, src])
        order = xp.argsort(a * n + b)
        self.idx = b[order] if m else xp.zeros(1, dtype=xp.int64)
        self.ptr = xp.zeros(n + 1, dtype=xp.int64)
        self.ptr[1:] = xp.cumsum(xp.bincount(a, minlength=n))
        self.ref = pos.copy()
        self.builds += 1

    def maybe_rebuild(self, pos: Any, moved2: float | None = None, ahead: float = 0.0) -> None:
        """Rebuild when a particle moved more than half the skin since the last build
        (``moved2``: the largest squared move, when the caller knows it), less ``ahead`` (µm):
        how far a particle may still move before the caller checks again."""
        if moved2 is None:
            xp = self.xp
            d = pos - self.ref
            for a in range(3):
                if int(self.periodic_h[a]):
                    d[:, a] -= self.box_h[a] * xp.floor(d[:, a] / self.box_h[a] + 0.5)
            moved2 = float(xp.max(xp.sum(d * d, axis=1)))  # sync point
        limit = 0.5 * self.skin - ahead
        if limit <= 0.0 or moved2 > limit * limit:
            self.build(pos)


def overlap_stats(kern: Any, xp: ModuleType, pos: Any, rad: Any, nl: _NeighbourList
                  ) -> tuple[float, float]:
    """``(lens volume / sphere volume, max relative overlap)`` for the current configuration."""
    n = pos.shape[0]
    lens = xp.zeros(n)
    rel = xp.zeros(n)
    kern.overlap(pos, rad, nl.ptr, nl.idx, nl.box, nl.periodic, lens, rel)
    vol = float(xp.sum(4.0 / 3.0 * math.pi * rad**3))
    return float(xp.sum(lens)) / max(vol, 1e-300), float(xp.max(rel)) if n else 0.0


def random_positions(radii: np.ndarray, box: np.ndarray, periodic: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Uniform random centres; on walled axes the sphere lies inside the box."""
    n = radii.shape[0]
    pos = np.empty((n, 3))
    for a in range(3):
        u = rng.random(n)
        if periodic[a]:
            pos[:, a] = u * box[a]
        else:
            lo = radii
            hi = np.maximum(box[a] - radii, radii)
            pos[:, a] = lo + u * (hi - lo)
    return pos


def relax(pos: Any, rad: Any, box: np.ndarray, periodic: np.ndarray, *, kern: Any,
          overlap_target: float, max_iter: int, max_relative: float = 0.2,
          progress: Any = None) -> tuple[Any, int, float, float]:
    """FIRE minimisation of the overlap energy until the lens volume is below ``overlap_target``
    and no overlap is deeper than ``max_relative`` of the smaller radius.

    Returns ``(positions, iterations, overlap_fraction, max_relative_overlap)``.
    """
    xp = kern.xp
    n = pos.shape[0]
    if n == 0:
        return pos, 0, 0.0, 0.0
    r_med = float(xp.median(rad))
    nl = _NeighbourList(kern, xp, box, periodic, rad, skin=SKIN * r_med)
    max_move = MAX_MOVE * r_med
    nl.build(pos)
    force = xp.zeros_like(pos)
    energy = xp.zeros(n)
    vel = xp.zeros_like(pos)
    fire = Fire()  # unit mass, unit stiffness
    work = (xp.zeros((3, n)), xp.zeros(n))
    check_every = 25
    ov, rel = math.inf, math.inf
    history: list[float] = []
    it = 0
    for it in range(1, max_iter + 1):
        kern.force(pos, rad, nl.ptr, nl.idx, nl.box, nl.periodic, force, energy)
        nl.maybe_rebuild(pos, fire.step(kern, pos, vel, force, rad, False, nl, max_move, work))
        if it % check_every == 0:
            ov, rel = overlap_stats(kern, xp, pos, rad, nl)
            if progress is not None:
                progress(it, ov)
            if ov <= overlap_target and rel < max_relative:
                break
            # jammed: the overlap stopped falling (less than 5 % in the last STALL_STEPS steps)
            history.append(ov)
            back = STALL_STEPS // check_every
            if len(history) > back and ov > 0.95 * history[-1 - back]:
                log.debug("relax: stalled at overlap %.3e after %d steps", ov, it)
                break
    else:
        ov, rel = overlap_stats(kern, xp, pos, rad, nl)
    log.debug("relax: %d steps, %d neighbour builds, overlap %.2e", it, nl.builds, ov)
    return pos, it, ov, rel


def pack_dense(radii: np.ndarray, box: np.ndarray, periodic: np.ndarray, *,
               rng: np.random.Generator, overlap_target: float, max_iter: int,
               kern: Any = None, progress: Any = None) -> PackingResult:
    """Random start + FIRE relaxation (see module docstring)."""
    kern = kern or CpuKernels()
    xp = kern.xp
    pos_h = random_positions(radii, box, periodic, rng)
    pos = xp.asarray(pos_h)
    rad = xp.asarray(radii, dtype=xp.float64)
    pos, it, ov, rel = relax(pos, rad, box, periodic, kern=kern, overlap_target=overlap_target,
                             max_iter=max_iter, progress=progress)
    return PackingResult(to_host(pos), np.asarray(radii, dtype=np.float64), ov, rel, it)


@numba.njit(cache=True)
def _rsa_points(radii, shape, h, periodic, order, jitter, clear):  # pragma: no cover - numba
    """Serial RSA over candidate centres (one per voxel, jittered inside it).

    ``clear[v]`` is the free distance at candidate ``v``: to the nearest placed surface or wall.
    A sphere of radius r may go to a candidate with ``clear >= r``.  Candidates too tight for
    the smallest radius are dropped for good, and a radius that found no place is not retried,
    so every candidate is visited a bounded number of times.
    """
    n = radii.shape[0]
    centers = np.zeros((n, 3))
    placed = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return centers, placed
    rmax = radii.max()
    rmin = radii.min()
    nz, ny, nx = shape[0], shape[1], shape[2]
    m = order.shape[0]
    p = 0
    r_fail = np.inf
    for k in range(n):
        r = radii[k]
        if r >= r_fail:
            continue
        found = -1
        scanned = 0
        while scanned < m and m > 0:
            if p >= m:
                p = 0
            q = order[p]
            c = clear[q]
            if c < rmin:  # too tight for every remaining sphere: drop it
                m -= 1
                order[p] = order[m]
                continue
            if c >= r:
                found = q
                p += 1
                break
            p += 1
            scanned += 1
        if found < 0:
            r_fail = r
            continue
        iz = found // (ny * nx)
        iy = (found // nx) % ny
        ix = found % nx
        cz = (iz + 0.5 + jitter[found, 0]) * h
        cy = (iy + 0.5 + jitter[found, 1]) * h
        cx = (ix + 0.5 + jitter[found, 2]) * h
        centers[k, 0], centers[k, 1], centers[k, 2] = cz, cy, cx
        placed[k] = True
        kk = int(math.ceil((r + rmax) / h)) + 1
        for dz in range(-kk, kk + 1):
            jz = iz + dz
            if periodic[0] != 0:
                jz %= nz
            elif jz < 0 or jz >= nz:
                continue
            for dy in range(-kk, kk + 1):
                jy = iy + dy
                if periodic[1] != 0:
                    jy %= ny
                elif jy < 0 or jy >= ny:
                    continue
                for dx in range(-kk, kk + 1):
                    jx = ix + dx
                    if periodic[2] != 0:
                        jx %= nx
                    elif jx < 0 or jx >= nx:
                        continue
                    v = (jz * ny + jy) * nx + jx
                    ez = (dz + jitter[v, 0] - jitter[found, 0]) * h
                    ey = (dy + jitter[v, 1] - jitter[found, 1]) * h
                    ex = (dx + jitter[v, 2] - jitter[found, 2]) * h
                    d = math.sqrt(ez * ez + ey * ey + ex * ex) - r
                    if d < clear[v]:
                        clear[v] = d
    return centers, placed


def pack_rsa(radii: np.ndarray, shape: tuple[int, int, int], voxel_size_um: float,
             periodic: np.ndarray, *, rng: np.random.Generator) -> PackingResult:
    """Random sequential addition of hard spheres, largest first, until none fits.

    Candidate centres: one per voxel, at a random point inside it, visited in random order.
    """
    shape = tuple(int(s) for s in shape)
    h = float(voxel_size_um)
    nvox = int(np.prod(shape))
    order = rng.permutation(nvox).astype(np.int64)
    jitter = rng.random((nvox, 3)).astype(np.float64) - 0.5
    # free distance starts as the distance to the walls of non-periodic axes
    idx = np.indices(shape, dtype=np.float64).reshape(3, -1).T
    pos = (idx + 0.5 + jitter) * h
    clear = np.full(nvox, np.inf)
    for a in range(3):
        if not periodic[a]:
            clear = np.minimum(clear, np.minimum(pos[:, a], shape[a] * h - pos[:, a]))
    del idx, pos
    r = np.sort(np.asarray(radii, dtype=np.float64))[::-1].copy()
    centers, placed = _rsa_points(r, np.asarray(shape, dtype=np.int64), h,
                                  np.asarray(periodic, dtype=np.int8), order, jitter, clear)
    return PackingResult(centers[placed], r[placed], 0.0, 0.0, 0, int((~placed).sum()))
