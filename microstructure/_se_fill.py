"""The fine SE fraction as a fill of the pressed skeleton's crevices (``packing.se_fill_ratio``).

Where the SE is far finer than the CAM (the reference composite: LPSCl d50 0.79 µm against NCM
3.3 µm, about a hundred SE particles per CAM particle), the finest SE is not pressed particle by
particle.  Fine powder pressed with a coarse one ends up in the narrowest gaps of the coarse
skeleton -- around its contacts and in its crevices -- so after the skeleton (CAM, the coarser
SE, carbon) is pressed and voxelized, the fine SE is pressed into its crevices:

* **Crevice width.** For a pore point ``x`` let ``s_1 <= s_2`` be its distances to the surfaces
  of the two nearest particles (µm).  ``w(x) = s_1 + s_2`` is the width of the gap through
  ``x`` between those two particles: 0 at a contact, small in a crevice, large in the middle of
  an open pore.  It is a property of the packing, not of the grid (voxels only sample it).
  Grains start only on *crevice voxels*: pore voxels within ``reach`` of two surfaces.
* **Grains.** The fine SE is drawn by number from its PSD (below the cut) and pressed in grain
  by grain, one grain per crevice and round: the crevices are the skeleton's contacts (a ring
  just outside each contact circle, where ``w`` is 0; in an order set by the seed) and then its
  gaps narrower than the largest grain (in the middle of the gap, narrowest first).  A grain's
  site is a point of the continuum -- on the contact circle at an angle set by the seed and
  turned by the golden angle each round, or the middle of the gap -- so *which* crevices get
  grains, and where, does not depend on the grid.  The grain starts on the free crevice voxel
  nearest its site and spreads over the free pore voxels next to it, nearest first, until it
  holds its own volume: a ductile grain squeezed into the crevice, bridging the surfaces there.
  So the fill bridges about as many crevices as the fine SE has grains, at any voxel size.
  (Two earlier rules were grid-bound: a fill of single voxels, narrowest first, bridged one
  crevice per voxel -- 18 000 bodies at 0.25 µm and 86 000 at 0.125 µm from the same 0.6 % of
  the box at 80:20:5 w/w with 3 µm SE and 30 % pores; grains started on the voxel of smallest
  sampled ``w`` went to contact rings picked by the sampling, and near the SE's percolation
  threshold one seed gave θ 0.31 at 0.25 µm and 0.82 at 0.125 µm.)
* **Graph.** Each face-connected body of fill voxels (periodic laterally) is an SE node of the
  contact graph: it touches the particles whose voxels share a face with it (contact area =
  shared faces × h²) and the collector / separator when it reaches the first / last layer.  The
  voxel image and the graph therefore have the same topology by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np

from solvers import label

#: Gap widths beyond this many CAM radii are not looked at (they are never filled first).
REACH_CAM_RADII = 1.0


@numba.njit(parallel=True, cache=True)
def _crevice_width(c, r, owner, h, shape, periodic, reach, s1, s2):  # pragma: no cover
    """Two smallest surface distances (``s1 <= s2``, µm) of each pore voxel, within ``reach``.

    Parallel over slabs of through-plane layers, each scanning every particle that reaches it:
    the two smallest of a voxel's distances do not depend on the order they come in, so the
    result is the same for any number of threads."""
    nz, ny, nx = shape[0], shape[1], shape[2]
    n_slab = min(nz, 64)
    for t in numba.prange(n_slab):
        z0 = t * nz // n_slab
        z1 = (t + 1) * nz // n_slab
        for k in range(c.shape[0]):
            rr = r[k]
            big = rr + reach
            lo0 = max(int(math.floor((c[k, 0] - big) / h - 0.5)), z0)
            hi0 = min(int(math.ceil((c[k, 0] + big) / h - 0.5)), z1 - 1)
            if lo0 > hi0:
                continue
            for a in range(lo0, hi0 + 1):
                dz = (a + 0.5) * h - c[k, 0]
                # only the rows and runs that cut the sphere of radius r + reach (a voxel
                # wider on each side than the chord: the distance test below decides)
                w1 = big * big - dz * dz
                if w1 < 0.0:
                    continue
                w1 = math.sqrt(w1)
                lo1 = int(math.floor((c[k, 1] - w1) / h - 0.5)) - 1
                hi1 = int(math.ceil((c[k, 1] + w1) / h - 0.5)) + 1
                for b in range(lo1, hi1 + 1):
                    ib = b % ny if periodic[1] != 0 else b
                    if ib < 0 or ib >= ny:
                        continue
                    dy = (b + 0.5) * h - c[k, 1]
                    w2 = big * big - dz * dz - dy * dy
                    if w2 < 0.0:
                        continue
                    w2 = math.sqrt(w2)
                    lo2 = int(math.floor((c[k, 2] - w2) / h - 0.5)) - 1
                    hi2 = int(math.ceil((c[k, 2] + w2) / h - 0.5)) + 1
                    # the run in pieces that each lie in one image of the box (no wrap per
                    # voxel: a modulo in this loop doubled its time)
                    seg = lo2
                    while seg <= hi2:
                        if periodic[2] != 0:
                            off = -(seg // nx) * nx
                            top = min(hi2, nx - 1 - off)
                        else:
                            off = 0
                            seg = max(seg, 0)
                            top = min(hi2, nx - 1)
                        for cc in range(seg, top + 1):
                            ic = cc + off
                            if ic < 0 or owner[a, ib, ic] != 0:  # (ic >= 0: no wraparound)
                                continue
                            dx = (cc + 0.5) * h - c[k, 2]
                            s = math.sqrt(dz * dz + dy * dy + dx * dx) - rr
                            if s < 0.0:
                                s = 0.0
                            if s >= reach:
                                continue
                            if s < s1[a, ib, ic]:
                                s2[a, ib, ic] = s1[a, ib, ic]
                                s1[a, ib, ic] = s
                            elif s < s2[a, ib, ic]:
                                s2[a, ib, ic] = s
                        seg = top + 1 if periodic[2] != 0 else hi2 + 1


def crevice_width(centers: np.ndarray, radii: np.ndarray, owner: np.ndarray, h: float,
                  periodic: np.ndarray, reach: float) -> np.ndarray:
    """``w = s_1 + s_2`` (µm, float32) on pore voxels (``owner == 0``); ``inf`` on solid voxels
    and where fewer than two particle surfaces lie within ``reach`` (µm).  ``periodic`` applies
    to the lateral axes 1 and 2 (axis 0 ends at the collector and the separator)."""
    shape = np.asarray(owner.shape, dtype=np.int64)
    s1 = np.full(owner.shape, np.inf, dtype=np.float32)
    s2 = np.full(owner.shape, np.inf, dtype=np.float32)
    _crevice_width(np.ascontiguousarray(centers, np.float64),
                   np.ascontiguousarray(radii, np.float64), owner, float(h), shape,
                   np.asarray(periodic, np.int64), float(reach), s1, s2)
    s1 += s2
    return s1


#: A grain spreads over free pore voxels at most this many of its radii from its crevice.
SPREAD_RADII = 3.0


@numba.njit(cache=True)
def _in_box(a, b, c, shape, periodic):  # pragma: no cover - numba
    """Voxel ``(a, b, c)`` wrapped along the periodic axes, and whether it lies in the box."""
    if a < 0 or a >= shape[0]:
        if periodic[0] == 0:
            return a, b, c, False
        a %= shape[0]
    if b < 0 or b >= shape[1]:
        if periodic[1] == 0:
            return a, b, c, False
        b %= shape[1]
    if c < 0 or c >= shape[2]:
        if periodic[2] == 0:
            return a, b, c, False
        c %= shape[2]
    return a, b, c, True


@numba.njit(cache=True)
def _face_step(a, b, c, d, shape, periodic):  # pragma: no cover - numba
    """The face neighbour ``d`` (0-5: -/+ along axes 0, 1, 2) of voxel ``(a, b, c)``, as
    :func:`_in_box` gives it."""
    step = 1 if d % 2 else -1
    if d < 2:
        a += step
    elif d < 4:
        b += step
    else:
        c += step
    return _in_box(a, b, c, shape, periodic)


@numba.njit(cache=True)
def _face_next_to(gid, a, b, c, want, periodic):  # pragma: no cover - numba
    """Whether a face neighbour of voxel ``(a, b, c)`` belongs to grain ``want``."""
    for d in range(6):
        aa, bb, cc, inside = _face_step(a, b, c, d, gid.shape, periodic)
        if inside and gid[aa, bb, cc] == want:
            return True
    return False


#: Angle between the sites of successive grains in one contact's crevice ring (golden angle).
GOLDEN = math.pi * (3.0 - math.sqrt(5.0))


@numba.njit(cache=True)
def _grow(a0, b0, c0, me, vox, reach2, owner, gid, offsets, dist2, periodic, room
          ):  # pragma: no cover - numba
    """Grain ``me`` from voxel ``(a0, b0, c0)`` over the free pore voxels face-next to it,
    nearest first (``offsets`` sorted by ``dist2``), out to ``reach2`` squared voxels, until
    it holds ``vox`` voxels or ``room`` are placed.  Returns the voxels it took."""
    gid[a0, b0, c0] = me
    held = 1
    for k in range(1, offsets.shape[0]):
        if held >= vox or held >= room or dist2[k] > reach2:
            break
        a, b, c, inside = _in_box(a0 + offsets[k, 0], b0 + offsets[k, 1],
                                  c0 + offsets[k, 2], owner.shape, periodic)
        if not inside or owner[a, b, c] != 0 or gid[a, b, c] != 0:
            continue
        if _face_next_to(gid, a, b, c, me, periodic):
            gid[a, b, c] = me
            held += 1
    return held


@numba.njit(cache=True)
def _place_at_sites(base, ring, u, v, phi, state, dead, vox, reach2, owner, gid, crevice,
                    offsets, dist2, search2, periodic, need, h):  # pragma: no cover - numba
    """Grains ``state[2], state[2] + 1, ...`` (``vox[g]`` voxels each) pressed in at the
    crevice sites, one per crevice and round (``state[0]``: round, ``state[1]``: next crevice),
    until ``need`` voxels are placed or every crevice is full (``dead``).

    The site of crevice ``p`` in round ``k`` is ``base[p] + ring[p] (cos t u[p] + sin t v[p])``
    with ``t = phi[p] + k GOLDEN`` (µm); its grain starts on the free crevice voxel nearest to
    it (within ``search2`` squared voxels; none: the crevice is full) and grows there
    (:func:`_grow`).  ``gid`` gets grain ``g``'s id ``g + 1``.  Returns the voxels placed."""
    n_sites = base.shape[0]
    placed = 0
    n_dead = 0
    for p in range(n_sites):
        if dead[p]:
            n_dead += 1
    while placed < need and state[2] < vox.shape[0] and n_dead < n_sites:
        p = state[1]
        if p >= n_sites:
            state[0] += 1
            state[1] = 0
            continue
        state[1] += 1
        if dead[p]:
            continue
        t = phi[p] + state[0] * GOLDEN
        ct, st = math.cos(t), math.sin(t)
        ia = int(math.floor((base[p, 0] + ring[p] * (ct * u[p, 0] + st * v[p, 0])) / h))
        ib = int(math.floor((base[p, 1] + ring[p] * (ct * u[p, 1] + st * v[p, 1])) / h))
        ic = int(math.floor((base[p, 2] + ring[p] * (ct * u[p, 2] + st * v[p, 2])) / h))
        found = False
        a = b = c = 0
        for k in range(offsets.shape[0]):
            if dist2[k] > search2:
                break
            a, b, c, inside = _in_box(ia + offsets[k, 0], ib + offsets[k, 1],
                                      ic + offsets[k, 2], owner.shape, periodic)
            if inside and crevice[a, b, c] and gid[a, b, c] == 0:
                found = True
                break
        if not found:
            dead[p] = True
            n_dead += 1
            continue
        g = state[2]
        placed += _grow(a, b, c, g + 1, vox[g], reach2[g], owner, gid, offsets, dist2,
                        periodic, need - placed)
        state[2] += 1
    return placed


def _displacement(centers: np.ndarray, ij: np.ndarray, box: np.ndarray, periodic: np.ndarray
                  ) -> np.ndarray:
    """``centers[j] - centers[i]`` per pair, the nearest image along the periodic axes."""
    d = centers[ij[:, 1]] - centers[ij[:, 0]]
    for a in range(3):
        if periodic[a]:
            d[:, a] -= box[a] * np.round(d[:, a] / box[a])
    return d


def _distance(centers: np.ndarray, ij: np.ndarray, box: np.ndarray, periodic: np.ndarray
              ) -> np.ndarray:
    """Centre distance per pair (µm), the nearest image along the periodic axes."""
    d = _displacement(centers, ij, box, periodic)
    return np.sqrt((d * d).sum(axis=1))


def _hash01(i: np.ndarray, j: np.ndarray, salt: int) -> np.ndarray:
    """A number in [0, 1) per pair ``(i, j)``, fixed by ``salt`` (splitmix64)."""
    with np.errstate(over="ignore"):
        x = (i.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
             ^ j.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9) ^ np.uint64(salt))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def crevice_sites(centers: np.ndarray, radii: np.ndarray, contacts: np.ndarray,
                  gaps: np.ndarray, box: np.ndarray, periodic: np.ndarray, salt: int,
                  max_gaps: int | None = None) -> tuple[np.ndarray, ...]:
    """The crevices the fill presses grains into, in the order it visits them, as
    ``(base, ring, u, v, phi)`` for :func:`_place_at_sites` (µm, radians).

    A contact ``(i, j)`` (0-based rows of ``contacts``) has a crevice ring just outside its
    contact circle (``base``: the circle's centre, ``ring``: its radius, ``u``, ``v``: the
    circle's plane); a gap ``(i, j)`` between non-touching particles (rows of ``gaps``) has its
    crevice on the centre line, in the middle of the gap (``ring`` 0).  Contacts come first, in
    an order fixed by ``salt`` (every contact's crevice is as narrow as a crevice gets), then
    the gaps, narrowest first.  All of it follows from the particles alone, not from the grid.
    Only the ``max_gaps`` narrowest gaps are kept (all when None); sites are float32.
    """
    gaps = np.ascontiguousarray(gaps, dtype=np.int64).reshape(-1, 2)
    c = np.ascontiguousarray(centers, dtype=np.float64)
    rad = np.ascontiguousarray(radii, dtype=np.float64)
    bx = np.asarray(box, dtype=np.float64)
    per = np.asarray(periodic, dtype=np.int64)
    if max_gaps is not None and gaps.shape[0] > max_gaps:
        width = np.empty(gaps.shape[0])
        _site_gaps(c, rad, gaps, 0, bx, per, width)
        gaps = gaps[np.lexsort((_hash01(gaps[:, 0], gaps[:, 1], salt), width))[:max_gaps]]
    ij = np.concatenate([np.asarray(contacts, dtype=np.int64).reshape(-1, 2), gaps])
    m = ij.shape[0]
    n_contacts = len(contacts)
    gap = np.empty(m)
    _site_gaps(c, rad, ij, n_contacts, bx, per, gap)
    key = _hash01(ij[:, 0], ij[:, 1], salt)
    order = np.lexsort((key, gap))
    f4 = np.float32
    base, u, v = np.empty((m, 3), f4), np.empty((m, 3), f4), np.empty((m, 3), f4)
    ring = np.empty(m, f4)
    _site_geometry(c, rad, ij, n_contacts, bx, per, order, base, ring, u, v)
    return base, ring, u, v, (2 * np.pi * key[order]).astype(np.float32)


@numba.njit(cache=True)
def _pair_axis(c, ij, p, box, periodic):  # pragma: no cover - numba
    """Centre line of pair ``p``: unit vector from ``i`` to ``j`` (nearest image) and the
    distance (at least 1e-12 µm)."""
    i, j = ij[p, 0], ij[p, 1]
    d0 = c[j, 0] - c[i, 0]
    d1 = c[j, 1] - c[i, 1]
    d2 = c[j, 2] - c[i, 2]
    if periodic[0] != 0:
        d0 -= box[0] * np.round(d0 / box[0])
    if periodic[1] != 0:
        d1 -= box[1] * np.round(d1 / box[1])
    if periodic[2] != 0:
        d2 -= box[2] * np.round(d2 / box[2])
    dist = max(math.sqrt(d0 * d0 + d1 * d1 + d2 * d2), 1e-12)
    return d0 / dist, d1 / dist, d2 / dist, dist


@numba.njit(parallel=True, cache=True)
def _site_gaps(c, rad, ij, n_contacts, box, periodic, gap):  # pragma: no cover - numba
    """``gap[p]``: the surface gap of pair ``p`` (µm), ``-inf`` for a contact (``p <
    n_contacts``): the order in which :func:`crevice_sites` visits the crevices."""
    for p in numba.prange(ij.shape[0]):
        if p < n_contacts:
            gap[p] = -np.inf
        else:
            dist = _pair_axis(c, ij, p, box, periodic)[3]
            gap[p] = dist - rad[ij[p, 0]] - rad[ij[p, 1]]


@numba.njit(parallel=True, cache=True)
def _site_geometry(c, rad, ij, n_contacts, box, periodic, order, base, ring, u, v
                   ):  # pragma: no cover - numba
    """Row ``k`` of :func:`crevice_sites`' output for pair ``order[k]``: the contact circle
    (centre, radius, plane) of a contact, the middle of the gap (radius 0) of a gap."""
    for k in numba.prange(order.shape[0]):
        p = order[k]
        i, j = ij[p, 0], ij[p, 1]
        n0, n1, n2, dist = _pair_axis(c, ij, p, box, periodic)
        ri, rj = rad[i], rad[j]
        if p < n_contacts:  # the contact circle's centre lies x from c_i
            x = min(max((dist * dist + ri * ri - rj * rj) / (2 * dist), -ri), ri)
            ring[k] = math.sqrt(max(ri * ri - x * x, 0.0))
            along = x
        else:
            ring[k] = 0.0
            along = ri + 0.5 * (dist - ri - rj)
        b0 = c[i, 0] + along * n0
        b1 = c[i, 1] + along * n1
        b2 = c[i, 2] + along * n2
        # the circle's plane: n x e, e the axis least along n, and n x (n x e)
        a0, a1, a2 = abs(n0), abs(n1), abs(n2)
        e0 = e1 = e2 = 0.0
        if a0 <= a1 and a0 <= a2:
            e0 = 1.0
        elif a1 <= a2:
            e1 = 1.0
        else:
            e2 = 1.0
        u0 = n1 * e2 - n2 * e1
        u1 = n2 * e0 - n0 * e2
        u2 = n0 * e1 - n1 * e0
        nu = math.sqrt(u0 * u0 + u1 * u1 + u2 * u2)
        u0 /= nu
        u1 /= nu
        u2 /= nu
        u[k, 0], u[k, 1], u[k, 2] = u0, u1, u2
        v[k, 0] = n1 * u2 - n2 * u1
        v[k, 1] = n2 * u0 - n0 * u2
        v[k, 2] = n0 * u1 - n1 * u0
        base[k, 0], base[k, 1], base[k, 2] = b0, b1, b2
        for a in range(3):  # wrapped into the box on the periodic axes (from float32, as stored)
            if periodic[a] != 0:
                base[k, a] = np.float64(base[k, a]) % box[a]


def _offsets(reach: int) -> tuple[np.ndarray, np.ndarray]:
    """Voxel offsets within ``reach`` voxels, nearest first, and their squared lengths."""
    r = np.arange(-reach, reach + 1)
    o = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    d2 = (o * o).sum(axis=1)
    keep = d2 <= reach * reach
    order = np.argsort(d2[keep], kind="stable")
    return np.ascontiguousarray(o[keep][order]), d2[keep][order]


def place_fill(owner: np.ndarray, centers: np.ndarray, radii: np.ndarray, n_fill: int,
               h: float, periodic: np.ndarray, reach: float,
               grains: Callable[[int], np.ndarray], *, contacts: np.ndarray,
               gaps: np.ndarray, salt: int) -> tuple[np.ndarray, int]:
    """``n_fill`` pore voxels of fine SE grains pressed into the crevices of the skeleton, as
    the labels of their face-connected bodies (int32, 0 off the fill; periodic laterally) and
    the number of bodies.

    ``grains(k)`` draws ``k`` grain diameters (µm) by number.  The crevices are those of the
    skeleton's ``contacts`` and of its ``gaps`` (pairs of 0-based rows of ``centers``), visited
    as :func:`crevice_sites` orders them, one grain per crevice and round.  A grain starts on
    the free crevice voxel (a pore voxel within ``reach`` µm of two particle surfaces) nearest
    to its site and spreads over the free pore voxels next to it, nearest first, until it holds
    its own volume (a ductile grain squeezed into the crevice; at most ``SPREAD_RADII`` of its
    radii out), the last one only as many voxels as are still needed.  A body of the fill that
    shares no face with a particle (a grain in the gap carved between two close, non-touching
    particles) is not in a crevice of the skeleton: it is given up, its voxels are not filled
    again, and further grains take the next crevices.  ``salt`` fixes the order of the contacts.
    Raises ``ValueError`` when every crevice is full before ``n_fill`` voxels are placed.
    """
    if n_fill <= 0:
        return np.zeros(owner.shape, dtype=np.int32), 0
    box = np.asarray(owner.shape, dtype=np.float64) * h
    mean_vox = max(float(np.mean(np.pi / 6 * grains(256) ** 3)) / h**3, 1.0)
    # one round over the contacts and twice the grains expected in gaps: never run through
    base, ring, u, v, phi = crevice_sites(np.asarray(centers, np.float64),
                                          np.asarray(radii, np.float64), contacts, gaps, box,
                                          periodic, salt, max_gaps=int(2 * n_fill / mean_vox)
                                          + 1024)
    crevice = np.isfinite(crevice_width(centers, radii, owner, h, periodic, reach))
    dead = np.zeros(base.shape[0], dtype=np.bool_)
    state = np.zeros(3, dtype=np.int64)  # round, next crevice, next grain
    search = max(reach / h, 1.0)
    per = (False, bool(periodic[1]), bool(periodic[2]))
    perio = np.asarray(periodic, dtype=np.int64)
    near = _next_to_solid(owner > 0, per)
    gid = np.zeros(owner.shape, dtype=np.int32)
    vox = reach2 = np.zeros(0, dtype=np.int64)
    offsets = dist2 = None
    placed = given_up = 0
    while True:
        while placed < n_fill:
            if state[2] >= vox.shape[0]:  # enough grains for what is left, and some more
                d = np.asarray(grains(int(1.2 * (n_fill - placed) / mean_vox) + 64), np.float64)
                rv = SPREAD_RADII * 0.5 * d / h
                more = np.maximum(np.rint(np.pi / 6 * d**3 / h**3), 1).astype(np.int64)
                vox = np.concatenate([vox, more])
                reach2 = np.concatenate([reach2, (rv * rv).astype(np.int64)])
                need_r = int(np.ceil(max(rv.max(), search)))
                if offsets is None or need_r > int(np.sqrt(dist2[-1])):
                    offsets, dist2 = _offsets(need_r)
            placed += _place_at_sites(base, ring, u, v, phi, state, dead, vox, reach2, owner,
                                      gid, crevice, offsets, dist2, int(search * search), perio,
                                      n_fill - placed, float(h))
            if placed < n_fill and dead.all():
                raise ValueError(
                    f"the fine SE ({n_fill} voxels) does not fit the crevices of the pressed "
                    f"skeleton (all {base.shape[0]} contacts and gaps are full: "
                    f"{int(np.count_nonzero(crevice))} pore voxels within {reach:.3g} um of two "
                    f"particles, {given_up} of them in grains cut off from every particle)")
        fill = gid > 0
        lab, n = label(fill, connectivity=6, periodic=per)
        lab = np.asarray(lab, dtype=np.int32)
        touching = np.zeros(n + 1, dtype=bool)
        touching[np.unique(lab[fill & near])] = True
        touching[0] = True
        floating = fill & ~touching[lab]
        cut_off = int(np.count_nonzero(floating))
        if cut_off == 0:  # the labels are those of the final fill
            return lab, int(n)
        gid[floating] = -1  # given up for good: these voxels are not filled again
        placed -= cut_off
        given_up += cut_off


def _next_to_solid(solid: np.ndarray, per: tuple[bool, bool, bool]) -> np.ndarray:
    """Voxels that share a face with a ``solid`` voxel (periodic along the ``per`` axes)."""
    near = np.zeros_like(solid)
    for a in range(3):
        for s in (1, -1):
            shifted = np.roll(solid, s, axis=a)
            if not per[a]:  # no wrap through the collector / separator
                edge = [slice(None)] * 3
                edge[a] = 0 if s == 1 else -1
                shifted[tuple(edge)] = False
            near |= shifted
    return near


def _face_pairs(lab: np.ndarray, owner: np.ndarray, periodic: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fill's voxels (flat indices) and, for every face a fill voxel shares with a particle
    voxel, its (body label, particle id) -- visiting only the fill's voxels (a few % of the
    box), not the whole array."""
    flat = lab.reshape(-1)
    idx = np.flatnonzero(flat)
    body = flat[idx]
    own = owner.reshape(-1)
    bodies, parts = [], []
    stride = 1
    for axis in (2, 1, 0):
        n_ax = lab.shape[axis]
        x = (idx // stride) % n_ax
        for step in (-1, 1):
            nb = idx + step * stride
            out = (x == 0) if step < 0 else (x == n_ax - 1)
            if periodic[axis]:  # wrap around the box
                nb[out] -= step * n_ax * stride
            else:  # no face beyond the collector / separator: the fill voxel itself (pore)
                nb[out] = idx[out]
            keep = own[nb] > 0
            bodies.append(body[keep])
            parts.append(own[nb[keep]])
        stride *= n_ax
    return idx, np.concatenate(bodies), np.concatenate(parts)


def fill_bodies(lab: np.ndarray, n: int, owner: np.ndarray, h: float, periodic: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                           np.ndarray]:
    """Read off the contacts of the fill's bodies (``lab``, ``n``: as :func:`place_fill`
    returns them).

    Returns ``(pairs, area, touches_cc, touches_sep, centroid_um, volume_um3)``: ``pairs``
    (k, 2) of (body 1..n, particle id), ``area`` (k,) µm², per body ``touches_cc``,
    ``touches_sep`` (bool), ``centroid_um`` (n, 3) and ``volume_um3`` (n,).
    """
    idx, bb, pp = _face_pairs(lab, owner, periodic)
    base = int(owner.max()) + 1
    uniq, faces = np.unique(bb.astype(np.int64) * base + pp, return_counts=True)
    pairs = np.stack([uniq // base, uniq % base], axis=1)
    area = faces * h * h
    body = lab.reshape(-1)[idx]
    cnt = np.bincount(body, minlength=n + 1)[1:]
    vol = cnt * h**3
    touches_cc = np.zeros(n + 1, dtype=bool)
    touches_cc[np.unique(lab[0])] = True
    touches_sep = np.zeros(n + 1, dtype=bool)
    touches_sep[np.unique(lab[-1])] = True
    centroid = np.zeros((n, 3))
    for a, co in enumerate(np.unravel_index(idx, lab.shape)):
        centroid[:, a] = (np.bincount(body, weights=co.astype(np.float64), minlength=n + 1)[1:]
                          / np.maximum(cnt, 1) + 0.5) * h
    return pairs, area, touches_cc[1:], touches_sep[1:], centroid, vol
