"""The contact graph of a pressed packing, and a voxelization that keeps its topology.

Contact graph
    Two particles are in contact when their spheres overlap (a pressed contact always does;
    ``_pressing.CONTACT_GAP`` absorbs round-off) and the contact spot -- the centre of the lens
    circle, on the centre line -- is not buried inside a third, hard particle (CAM or carbon):
    an SE–SE contact swallowed by a CAM particle is not a path for ions.  The contact area is the
    lens circle ``pi a^2``.  A particle touches the current collector (separator) when it reaches
    the wall at ``x_0 = 0`` (``x_0 = L``).

Voxelization (topology-preserving)
    1. A voxel belongs to the sphere containing its centre; hard spheres (CAM, carbon) beat SE;
       among one kind the smallest ``|x - c|^2 / r^2`` wins (ties: lowest id).  Where two spheres
       overlap the border passes through their contact circle.
    2. **Necks.** For every contact, the voxels met by the centre line (a face-connected walk,
       Amanatides & Woo) from the contact spot towards each centre go to that particle until
       the walk meets the particle's own voxels, so every contact is a face-connected path at
       least one voxel wide whatever the voxel size; the same for a particle touching a wall
       (a straight walk from the wall).  A neck never takes a
       hard voxel for SE.  Neck voxels are protected.
    3. **Gaps.** Two particles that are not in contact must not look connected: where voxels of
       two such particles are face-, edge- or corner-adjacent in the same conducting network
       (CAM/carbon for electrons, SE for ions), or face-adjacent CAM and SE (an ionic contact),
       the voxel nearer its own sphere's surface becomes pore -- of a CAM and an SE voxel, the
       SE one: the ductile SE gives way to the hard CAM, as in step 1, so an SE grown to keep
       its volume never eats into a CAM particle it does not touch.  Likewise an electronically
       conducting voxel in the first layer of a particle that does not touch the current
       collector, and an SE or CAM voxel in the last layer of one that does not touch the
       separator (CAM on the separator face counts as touching the separator's SE).

The result therefore has the graph's topology for 6-, 18- and 26-connectivity alike, up to the
counts reported in :class:`VoxelTopology` (necks that would have crossed hard voxels, gaps
between two protected voxels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from solvers.phases import CAM, CARBON, SE

_NO_KEY = np.int64(2**63 - 1)
_ID_MASK = np.int64(2**31 - 1)


@dataclass(frozen=True)
class ContactGraph:
    """Which particles touch, and how much (ids as in the particle table, 1-based)."""

    i: np.ndarray
    """(m,) int32 id of the first particle of each contact (i < j)."""
    j: np.ndarray
    """(m,) int32 id of the second particle."""
    area_um2: np.ndarray
    """(m,) float32 contact area (lens circle) in µm²."""
    touches_cc: np.ndarray
    """(n,) bool: the particle touches the current-collector face (x_0 = 0)."""
    touches_separator: np.ndarray
    """(n,) bool: the particle touches the separator face (x_0 = L)."""

    def __len__(self) -> int:
        return int(self.i.shape[0])


@dataclass(frozen=True)
class VoxelTopology:
    """What the topology-preserving voxelization had to do (voxel counts)."""

    neck_voxels: int
    """Voxels re-assigned to draw contact and wall necks."""
    carved_voxels: int
    """Voxels turned to pore to keep non-touching particles apart."""
    blocked_neck_voxels: int
    """Neck voxels refused because a hard particle holds them (should be 0 or near)."""
    unresolved_gaps: int
    """Adjacent voxels of non-touching particles that were both protected (should be 0)."""


def contact_graph(centers: np.ndarray, radii: np.ndarray, phase: np.ndarray,
                  pairs: np.ndarray, box: np.ndarray, periodic: np.ndarray) -> ContactGraph:
    """The contact graph from candidate ``pairs`` (0-based, i < j, gap below the tolerance)."""
    c = np.ascontiguousarray(centers, dtype=np.float64)
    r = np.ascontiguousarray(radii, dtype=np.float64)
    ph = np.ascontiguousarray(phase, dtype=np.int64)
    pairs = np.ascontiguousarray(pairs, dtype=np.int64).reshape(-1, 2)
    ptr, nbr = _csr(pairs, c.shape[0])
    keep, area = _contact_spots(c, r, ph, pairs, ptr, nbr, np.asarray(box, np.float64),
                                np.asarray(periodic, np.int64))
    tol = 1e-4
    touches_cc = c[:, 0] - r <= tol
    touches_sep = c[:, 0] + r >= float(box[0]) - tol
    return ContactGraph((pairs[keep, 0] + 1).astype(np.int32),
                        (pairs[keep, 1] + 1).astype(np.int32), area[keep].astype(np.float32),
                        touches_cc, touches_sep)


def _csr(pairs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.concatenate([pairs[:, 0], pairs[:, 1]])
    b = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((b, a))
    ptr = np.zeros(n + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(a, minlength=n))
    return ptr, b[order].astype(np.int64)


@numba.njit(cache=True)
def _delta(c, p, q, box, periodic):
    d = np.empty(3)
    for a in range(3):
        x = c[q, a] - c[p, a]
        if periodic[a] != 0:
            x -= box[a] * math.floor(x / box[a] + 0.5)
        d[a] = x
    return d


@numba.njit(cache=True)
def _contact_spots(c, r, ph, pairs, ptr, nbr, box, periodic):  # pragma: no cover - numba
    m = pairs.shape[0]
    keep = np.zeros(m, dtype=np.bool_)
    area = np.zeros(m)
    for k in range(m):
        p = pairs[k, 0]
        q = pairs[k, 1]
        d = _delta(c, p, q, box, periodic)
        dist = math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
        if dist < 1e-12:
            continue
        xp = (dist * dist + r[p] * r[p] - r[q] * r[q]) / (2 * dist)
        xp = min(max(xp, 0.0), dist)
        a2 = r[p] * r[p] - xp * xp
        area[k] = math.pi * max(a2, 0.0)
        spot = np.empty(3)
        for a in range(3):
            spot[a] = c[p, a] + d[a] * xp / dist
        buried = False
        for t in range(ptr[p], ptr[p + 1]):
            s = nbr[t]
            if s == q or ph[s] == SE:
                continue
            e2 = 0.0
            for a in range(3):
                x = spot[a] - c[s, a]
                if periodic[a] != 0:
                    x -= box[a] * math.floor(x / box[a] + 0.5)
                e2 += x * x
            if e2 < r[s] * r[s]:
                buried = True
                break
        keep[k] = not buried
    return keep, area


def voxelize_topological(centers: np.ndarray, radii: np.ndarray, phase: np.ndarray,
                         graph: ContactGraph, shape: tuple[int, int, int], h: float,
                         periodic: np.ndarray) -> tuple[np.ndarray, VoxelTopology]:
    """Owner id per voxel (int32, 0 = pore, else 1-based particle id) with the graph's topology."""
    c = np.ascontiguousarray(centers, dtype=np.float64)
    r = np.ascontiguousarray(radii, dtype=np.float64)
    ph = np.ascontiguousarray(phase, dtype=np.int64)
    n = c.shape[0]
    sh = np.asarray(shape, dtype=np.int64)
    per = np.asarray(periodic, dtype=np.int64)
    keys = np.full(tuple(int(s) for s in shape), _NO_KEY, dtype=np.int64)
    _stamp_classes(c, r, ph, float(h), sh, per, keys)
    owner = np.where(keys == _NO_KEY, 0, keys & _ID_MASK).astype(np.int32)
    del keys
    pairs = np.stack([graph.i.astype(np.int64) - 1, graph.j.astype(np.int64) - 1], axis=1)
    ptr, nbr = _csr(pairs, n)
    protected = np.zeros(owner.shape, dtype=np.bool_)
    stats = np.zeros(4, dtype=np.int64)
    _necks(c, r, ph, pairs, graph.touches_cc, graph.touches_separator, float(h), sh, per, owner,
           protected, stats)
    _carve(c, r, ph, ptr, nbr, graph.touches_cc, graph.touches_separator, float(h), sh, per,
           owner, protected, stats)
    return owner, VoxelTopology(int(stats[0]), int(stats[1]), int(stats[2]), int(stats[3]))


@numba.njit(cache=True)
def _stamp_classes(c, r, ph, h, shape, periodic, keys):  # pragma: no cover - numba
    nz, ny, nx = shape[0], shape[1], shape[2]
    for k in range(c.shape[0]):
        cls = np.int64(0) if ph[k] != SE else np.int64(1)
        rr = r[k]
        r2 = rr * rr
        lo0 = int(math.ceil((c[k, 0] - rr) / h - 0.5))
        hi0 = int(math.floor((c[k, 0] + rr) / h - 0.5))
        lo0 = max(lo0, 0)
        hi0 = min(hi0, nz - 1)
        lo1 = int(math.ceil((c[k, 1] - rr) / h - 0.5))
        hi1 = int(math.floor((c[k, 1] + rr) / h - 0.5))
        lo2 = int(math.ceil((c[k, 2] - rr) / h - 0.5))
        hi2 = int(math.floor((c[k, 2] + rr) / h - 0.5))
        for a in range(lo0, hi0 + 1):
            dz = (a + 0.5) * h - c[k, 0]
            for b in range(lo1, hi1 + 1):
                dy = (b + 0.5) * h - c[k, 1]
                rem = r2 - dz * dz - dy * dy
                if rem < 0:
                    continue
                ib = b % ny if periodic[1] != 0 else b
                if ib < 0 or ib >= ny:
                    continue
                for cc in range(lo2, hi2 + 1):
                    dx = (cc + 0.5) * h - c[k, 2]
                    if dx * dx <= rem:
                        ic = cc % nx if periodic[2] != 0 else cc
                        if ic < 0 or ic >= nx:
                            continue
                        q = np.int64((dz * dz + dy * dy + dx * dx) / r2 * 1073741823.0)
                        key = (cls << 61) | (q << 31) | np.int64(k + 1)
                        if key < keys[a, ib, ic]:
                            keys[a, ib, ic] = key


@numba.njit(cache=True)
def _wrap(i, n, periodic):
    if periodic != 0:
        return i % n
    return i


@numba.njit(cache=True)
def _claim(owner, protected, ph, a, b, cc, want, stats):
    cur = owner[a, b, cc]
    if cur == want + 1:
        protected[a, b, cc] = True
        return
    if cur > 0 and ph[want] == SE and ph[cur - 1] != SE:
        stats[2] += 1
        return
    owner[a, b, cc] = want + 1
    protected[a, b, cc] = True
    stats[0] += 1


@numba.njit(cache=True)
def _walk(x0, d, want, skip_first, ph, h, shape, periodic, owner, protected, stats):
    """Face-connected walk (Amanatides & Woo) from the point ``x0`` along ``d`` (µm): each voxel
    met (but the first if ``skip_first``) goes to particle ``want``, up to and including the
    first that already was its own."""
    x = np.empty(3)
    cell = np.empty(3, dtype=np.int64)
    step = np.empty(3, dtype=np.int64)
    tmax = np.empty(3)
    tdelta = np.empty(3)
    for a in range(3):
        x[a] = x0[a] / h
        cell[a] = int(math.floor(x[a]))
        if d[a] > 0:
            step[a] = 1
            tmax[a] = (cell[a] + 1 - x[a]) * h / d[a]
            tdelta[a] = h / d[a]
        elif d[a] < 0:
            step[a] = -1
            tmax[a] = (x[a] - cell[a]) * h / -d[a]
            tdelta[a] = h / -d[a]
        else:
            step[a] = 0
            tmax[a] = np.inf
            tdelta[a] = np.inf
    first = skip_first
    while True:
        ia = cell[0]
        if first:
            first = False
        elif 0 <= ia < shape[0]:
            ib = _wrap(cell[1], shape[1], periodic[1])
            ic = _wrap(cell[2], shape[2], periodic[2])
            if 0 <= ib < shape[1] and 0 <= ic < shape[2]:
                was_own = owner[ia, ib, ic] == want + 1
                _claim(owner, protected, ph, ia, ib, ic, want, stats)
                if was_own:
                    return
        a = 0
        if tmax[1] < tmax[a]:
            a = 1
        if tmax[2] < tmax[a]:
            a = 2
        if tmax[a] > 1.0:
            return
        cell[a] += step[a]
        tmax[a] += tdelta[a]


@numba.njit(cache=True)
def _necks(c, r, ph, pairs, tcc, tsep, h, shape, periodic, owner, protected, stats
           ):  # pragma: no cover - numba
    """Necks grow from the contact spot towards each centre until they meet the particle's own
    voxels: the voxel of the spot goes to the first particle, the walk towards the second
    starts there too, so the two parts share a face."""
    box = np.empty(3)
    for a in range(3):
        box[a] = shape[a] * h
    spot = np.empty(3)
    back = np.empty(3)
    for k in range(pairs.shape[0]):
        p = pairs[k, 0]
        q = pairs[k, 1]
        d = _delta(c, p, q, box, periodic)
        dist = math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
        if dist < 1e-12:
            continue
        xp = (dist * dist + r[p] * r[p] - r[q] * r[q]) / (2 * dist)
        f = min(max(xp / dist, 0.0), 1.0)
        for a in range(3):
            spot[a] = c[p, a] + f * d[a]
            back[a] = -f * d[a]
            d[a] = (1.0 - f) * d[a]
        _walk(spot, back, p, False, ph, h, shape, periodic, owner, protected, stats)
        _walk(spot, d, q, True, ph, h, shape, periodic, owner, protected, stats)
    # walls: from the wall straight towards the centre
    n = c.shape[0]
    for p in range(n):
        for side in range(2):
            if (side == 0 and not tcc[p]) or (side == 1 and not tsep[p]):
                continue
            spot[0] = 0.5 * h if side == 0 else box[0] - 0.5 * h
            spot[1] = c[p, 1]
            spot[2] = c[p, 2]
            back[0] = c[p, 0] - spot[0]
            back[1] = 0.0
            back[2] = 0.0
            _walk(spot, back, p, False, ph, h, shape, periodic, owner, protected, stats)


@numba.njit(cache=True)
def _touching(ptr, nbr, p, q):
    lo = ptr[p]
    hi = ptr[p + 1]
    while lo < hi:  # binary search in p's sorted partner list
        mid = (lo + hi) // 2
        if nbr[mid] < q:
            lo = mid + 1
        else:
            hi = mid
    return lo < ptr[p + 1] and nbr[lo] == q


@numba.njit(cache=True)
def _depth(c, r, p, a, b, cc, h, box, periodic):
    """|x - c_p|^2 / r_p^2 at the centre of voxel (a, b, cc)."""
    s = 0.0
    idx = (a, b, cc)
    for ax in range(3):
        x = (idx[ax] + 0.5) * h - c[p, ax]
        if periodic[ax] != 0:
            x -= box[ax] * math.floor(x / box[ax] + 0.5)
        s += x * x
    return s / (r[p] * r[p])


@numba.njit(cache=True)
def _carve(c, r, ph, ptr, nbr, tcc, tsep, h, shape, periodic, owner, protected, stats
           ):  # pragma: no cover - numba
    nz, ny, nx = shape[0], shape[1], shape[2]
    box = np.empty(3)
    for a in range(3):
        box[a] = shape[a] * h
    # walls first
    for b in range(ny):
        for cc in range(nx):
            o = owner[0, b, cc]
            if o > 0 and ph[o - 1] != SE and not tcc[o - 1]:
                if protected[0, b, cc]:
                    stats[3] += 1
                else:
                    owner[0, b, cc] = 0
                    stats[1] += 1
            o = owner[nz - 1, b, cc]
            if o > 0 and ph[o - 1] != CARBON and not tsep[o - 1]:
                if protected[nz - 1, b, cc]:
                    stats[3] += 1
                else:
                    owner[nz - 1, b, cc] = 0
                    stats[1] += 1
    for a in range(nz):
        for b in range(ny):
            for cc in range(nx):
                o = owner[a, b, cc]
                if o == 0:
                    continue
                for da in range(0, 2):
                    for db in range(-1, 2):
                        for dc in range(-1, 2):
                            if da == 0 and (db < 0 or (db == 0 and dc <= 0)):
                                continue  # half of the 26-neighbourhood
                            o = owner[a, b, cc]
                            if o == 0:
                                break
                            a2 = a + da
                            if a2 >= nz:
                                continue
                            b2 = _wrap(b + db, ny, periodic[1])
                            c2 = _wrap(cc + dc, nx, periodic[2])
                            if b2 < 0 or b2 >= ny or c2 < 0 or c2 >= nx:
                                continue
                            o2 = owner[a2, b2, c2]
                            if o2 == 0 or o2 == o:
                                continue
                            p1 = ph[o - 1]
                            p2 = ph[o2 - 1]
                            face = abs(da) + abs(db) + abs(dc) == 1
                            same = (p1 == SE) == (p2 == SE)
                            ionic = face and ((p1 == CAM and p2 == SE) or (p1 == SE and p2 == CAM))
                            if not (same or ionic):
                                continue
                            if _touching(ptr, nbr, o - 1, o2 - 1):
                                continue
                            pr1 = protected[a, b, cc]
                            pr2 = protected[a2, b2, c2]
                            if pr1 and pr2:
                                stats[3] += 1
                                continue
                            if ionic and not (pr1 or pr2):
                                first = p1 == SE  # the ductile SE gives way, not the CAM
                            else:
                                first = pr2 or (not pr1 and _depth(c, r, o - 1, a, b, cc, h,
                                                                   box, periodic)
                                                >= _depth(c, r, o2 - 1, a2, b2, c2, h, box,
                                                          periodic))
                            if first:
                                owner[a, b, cc] = 0
                            else:
                                owner[a2, b2, c2] = 0
                            stats[1] += 1
