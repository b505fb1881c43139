"""The fine SE fraction as a fill of the pressed skeleton's crevices (``packing.se_fill_ratio``).

Where the SE is far finer than the CAM (the reference composite: LPSCl d50 0.79 µm against NCM
3.3 µm, about a hundred SE particles per CAM particle), the finest SE is not pressed particle by
particle.  Fine powder pressed with a coarse one ends up in the narrowest gaps of the coarse
skeleton -- around its contacts and in its crevices.  Grains that span ``GRAIN_VOXELS`` voxels
are seated in the continuum before the voxelization and become particles
(:mod:`._se_grains`); the finer ones are pressed here into the crevices of the voxelized
skeleton (CAM, the coarser SE, carbon, those grains):

* **Crevice width** (:mod:`._crevices`, as the sites below).  For a pore point ``x`` let
  ``s_1 <= s_2`` be its distances to the surfaces of the two nearest particles (µm).
  ``w(x) = s_1 + s_2`` is the width of the gap through ``x`` between those two particles: 0 at a
  contact, small in a crevice, large in the middle of an open pore.  It is a property of the
  packing, not of the grid (voxels only sample it).  Grains start only on *crevice voxels*: pore
  voxels within ``reach`` of two surfaces.
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

from ._crevices import crevice_sites, crevice_width
from ._surface import ISOTROPIC_SURFACE_FACTOR

#: Gap widths beyond this many CAM radii are not looked at (they are never filled first).
REACH_CAM_RADII = 1.0

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


#: Codes of the placement's voxel state (one byte a voxel: the grains' search and growth read
#: this array alone, not the owners, the crevice mask and the grain ids -- 2-3x fewer cache
#: misses on a 512³ box).
SOLID, FREE, FREE_CREVICE, GROWING, FILLED, GIVEN_UP = 0, 1, 2, 3, 4, 5


@numba.njit(cache=True)
def _face_next_to_growing(state, a, b, c, periodic):  # pragma: no cover - numba
    """Whether a face neighbour of voxel ``(a, b, c)`` belongs to the growing grain."""
    for d in range(6):
        aa, bb, cc, inside = _face_step(a, b, c, d, state.shape, periodic)
        if inside and state[aa, bb, cc] == GROWING:
            return True
    return False


#: Angle between the sites of successive grains in one contact's crevice ring (golden angle).
GOLDEN = math.pi * (3.0 - math.sqrt(5.0))


@numba.njit(cache=True)
def _grow(a0, b0, c0, vox, reach2, state, offsets, dist2, periodic, room, held_at
          ):  # pragma: no cover - numba
    """A grain from voxel ``(a0, b0, c0)`` over the free pore voxels face-next to it, nearest
    first (``offsets`` sorted by ``dist2``), out to ``reach2`` squared voxels, until it holds
    ``vox`` voxels or ``room`` are placed; its voxels end ``FILLED``.  Returns the voxels it
    took."""
    state[a0, b0, c0] = GROWING
    held_at[0, 0], held_at[0, 1], held_at[0, 2] = a0, b0, c0
    held = 1
    for k in range(1, offsets.shape[0]):
        if held >= vox or held >= room or dist2[k] > reach2:
            break
        a, b, c, inside = _in_box(a0 + offsets[k, 0], b0 + offsets[k, 1],
                                  c0 + offsets[k, 2], state.shape, periodic)
        if not inside or (state[a, b, c] != FREE and state[a, b, c] != FREE_CREVICE):
            continue
        if _face_next_to_growing(state, a, b, c, periodic):
            state[a, b, c] = GROWING
            held_at[held, 0], held_at[held, 1], held_at[held, 2] = a, b, c
            held += 1
    for k in range(held):
        state[held_at[k, 0], held_at[k, 1], held_at[k, 2]] = FILLED
    return held


@numba.njit(cache=True)
def _grow_inside(j0, vox, reach2, flat, offsets, dist2, room, held_at, sy, sx
                 ):  # pragma: no cover - numba
    """:func:`_grow` for a grain that cannot reach a face of the box: flat indices into the
    raveled state, no wrapping or bounds tests (same voxels, same order)."""
    flat[j0] = GROWING
    held_at[0, 0] = j0
    held = 1
    for k in range(1, offsets.shape[0]):
        if held >= vox or held >= room or dist2[k] > reach2:
            break
        j = j0 + offsets[k]
        s = flat[j]
        if s != FREE and s != FREE_CREVICE:
            continue
        if (flat[j - sy] == GROWING or flat[j + sy] == GROWING or flat[j - sx] == GROWING
                or flat[j + sx] == GROWING or flat[j - 1] == GROWING or flat[j + 1] == GROWING):
            flat[j] = GROWING
            held_at[held, 0] = j
            held += 1
    for k in range(held):
        flat[held_at[k, 0]] = FILLED
    return held


@numba.njit(cache=True)
def _start_inside(flat, j0, steps, dist2, search2):  # pragma: no cover - numba
    """The ``FREE_CREVICE`` voxel nearest to flat voxel ``j0`` within ``search2`` squared
    voxels (flat index, -1: none), for a site whose search cannot leave the box."""
    for k in range(steps.shape[0]):
        if dist2[k] > search2:
            break
        if flat[j0 + steps[k]] == FREE_CREVICE:
            return j0 + steps[k]
    return -1


@numba.njit(cache=True)
def _start_wrapped(state, ia, ib, ic, offsets, dist2, search2, periodic
                   ):  # pragma: no cover - numba
    """:func:`_start_inside` for a site near a face: wrapped along the periodic axes."""
    for k in range(offsets.shape[0]):
        if dist2[k] > search2:
            break
        a, b, c, inside = _in_box(ia + offsets[k, 0], ib + offsets[k, 1], ic + offsets[k, 2],
                                  state.shape, periodic)
        if inside and state[a, b, c] == FREE_CREVICE:
            return (a * state.shape[1] + b) * state.shape[2] + c
    return -1


@numba.njit(cache=True)
def next_crevice(place, dead):  # pragma: no cover - numba
    """The next crevice that is not full (``dead``), one per crevice and round: ``place[0]`` is
    the round, ``place[1]`` the crevice to look at next (left just past the one returned).  At
    least one crevice must not be full."""
    while True:
        p = place[1]
        if p >= dead.shape[0]:
            place[0] += 1
            place[1] = 0
            continue
        place[1] += 1
        if not dead[p]:
            return p


@numba.njit(cache=True)
def _place_at_sites(base, ring, u, v, phi, place, dead, vox, reach2, state, offsets, dist2,
                    search2, periodic, need, h):  # pragma: no cover - numba
    """Grains ``place[2], place[2] + 1, ...`` (``vox[g]`` voxels each) pressed in at the
    crevice sites, one per crevice and round (``place[0]``: round, ``place[1]``: next
    crevice), until ``need`` voxels are placed or every crevice is full (``dead``).

    The site of crevice ``p`` in round ``k`` is ``base[p] + ring[p] (cos t u[p] + sin t v[p])``
    with ``t = phi[p] + k GOLDEN`` (µm); its grain starts on the ``FREE_CREVICE`` voxel of
    ``state`` nearest to it (within ``search2`` squared voxels; none: the crevice is full) and
    grows there (:func:`_grow`).  Returns the voxels placed."""
    n_sites = base.shape[0]
    placed = 0
    n_dead = np.count_nonzero(dead)
    held_at = np.empty((max(vox.max(), 1) if vox.shape[0] else 1, 3), dtype=np.int64)
    # sites at least `margin` voxels from every face take the flat path (most of them): the
    # search and the growth stay inside the box, and a face neighbour is a fixed stride away
    flat = state.reshape(-1)
    sy, sx = state.shape[1] * state.shape[2], state.shape[2]
    steps = offsets[:, 0] * sy + offsets[:, 1] * sx + offsets[:, 2]
    # (the start lies within the search of the site, the grain within the offsets of its
    # start, and its face neighbours one voxel further)
    margin = int(math.ceil(math.sqrt(search2))) + int(math.ceil(math.sqrt(dist2[-1]))) + 1
    while placed < need and place[2] < vox.shape[0] and n_dead < n_sites:
        p = next_crevice(place, dead)
        t = phi[p] + place[0] * GOLDEN
        ct, st = math.cos(t), math.sin(t)
        ia = int(math.floor((base[p, 0] + ring[p] * (ct * u[p, 0] + st * v[p, 0])) / h))
        ib = int(math.floor((base[p, 1] + ring[p] * (ct * u[p, 1] + st * v[p, 1])) / h))
        ic = int(math.floor((base[p, 2] + ring[p] * (ct * u[p, 2] + st * v[p, 2])) / h))
        # the nearest free crevice voxel (flat index; -1: none, the crevice is full)
        fast = (margin <= ia < state.shape[0] - margin and margin <= ib < state.shape[1] - margin
                and margin <= ic < state.shape[2] - margin)
        if fast:
            j = _start_inside(flat, (ia * state.shape[1] + ib) * sx + ic, steps, dist2, search2)
        else:
            j = _start_wrapped(state, ia, ib, ic, offsets, dist2, search2, periodic)
        if j < 0:
            dead[p] = True
            n_dead += 1
            continue
        g = place[2]
        if fast:
            placed += _grow_inside(j, vox[g], reach2[g], flat, steps, dist2, need - placed,
                                   held_at, sy, sx)
        else:
            placed += _grow(j // sy, (j // sx) % state.shape[1], j % sx, vox[g], reach2[g],
                            state, offsets, dist2, periodic, need - placed, held_at)
        place[2] += 1
    return placed


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
    base, ring, u, v, phi, _ = crevice_sites(np.asarray(centers, np.float64),
                                             np.asarray(radii, np.float64), contacts, gaps, box,
                                             periodic, salt,
                                             max_gaps=int(2 * n_fill / mean_vox) + 1024)
    state = np.where(owner == 0, np.uint8(FREE), np.uint8(SOLID))
    state[np.isfinite(crevice_width(centers, radii, owner, h, periodic, reach))] = FREE_CREVICE
    n_crevice = int(np.count_nonzero(state == FREE_CREVICE))
    dead = np.zeros(base.shape[0], dtype=np.bool_)
    place = np.zeros(3, dtype=np.int64)  # round, next crevice, next grain
    search = max(reach / h, 1.0)
    per = (False, bool(periodic[1]), bool(periodic[2]))
    perio = np.asarray(periodic, dtype=np.int64)
    near = _next_to_solid(owner > 0, per).reshape(-1)
    vox = reach2 = np.zeros(0, dtype=np.int64)
    offsets = dist2 = None
    placed = given_up = 0
    while True:
        while placed < n_fill:
            if place[2] >= vox.shape[0]:  # enough grains for what is left, and some more
                d = np.asarray(grains(int(1.2 * (n_fill - placed) / mean_vox) + 64), np.float64)
                rv = SPREAD_RADII * 0.5 * d / h
                more = np.maximum(np.rint(np.pi / 6 * d**3 / h**3), 1).astype(np.int64)
                vox = np.concatenate([vox, more])
                reach2 = np.concatenate([reach2, (rv * rv).astype(np.int64)])
                need_r = int(np.ceil(max(rv.max(), search)))
                if offsets is None or need_r > int(np.sqrt(dist2[-1])):
                    offsets, dist2 = _offsets(need_r)
            placed += _place_at_sites(base, ring, u, v, phi, place, dead, vox, reach2, state,
                                      offsets, dist2, int(search * search), perio,
                                      n_fill - placed, float(h))
            if placed < n_fill and dead.all():
                raise ValueError(
                    f"the fine SE ({n_fill} voxels) does not fit the crevices of the pressed "
                    f"skeleton (all {base.shape[0]} contacts and gaps are full: "
                    f"{n_crevice} pore voxels within {reach:.3g} um of two "
                    f"particles, {given_up} of them in grains cut off from every particle)")
        fill = state == FILLED
        lab, n = label(fill, connectivity=6, periodic=per)
        lab = np.asarray(lab, dtype=np.int32)
        idx = np.flatnonzero(fill)  # the fill's voxels only (a few % of the box)
        body = lab.reshape(-1)[idx]
        touching = np.zeros(n + 1, dtype=bool)
        touching[body[near[idx]]] = True
        floating = idx[~touching[body]]
        cut_off = int(floating.shape[0])
        if cut_off == 0:  # the labels are those of the final fill
            return lab, int(n)
        state.reshape(-1)[floating] = GIVEN_UP  # for good: these voxels are not filled again
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


@numba.njit(cache=True)
def _face_key_row(t, n_chunk, idx, body, own, shape, periodic, base, out, at
                  ):  # pragma: no cover - numba
    """Chunk ``t`` of the fill's voxels: the key ``body * base + particle`` of every face a
    fill voxel shares with a particle voxel, written from ``out[at]`` (``out`` None: counted
    only).  Returns the number of keys."""
    ny, nx = shape[1], shape[2]
    lo = t * idx.shape[0] // n_chunk
    hi = (t + 1) * idx.shape[0] // n_chunk
    k = 0
    for q in range(lo, hi):
        i = idx[q]
        a = i // (ny * nx)
        b = (i // nx) % ny
        c = i % nx
        for d in range(6):
            aa, bb, cc, inside = _face_step(a, b, c, d, shape, periodic)
            if not inside:  # no face beyond the collector / separator
                continue
            p = own[(aa * ny + bb) * nx + cc]
            if p > 0:
                if out is not None:
                    out[at + k] = body[q] * base + p
                k += 1
    return k


@numba.njit(parallel=True, cache=True)
def _face_keys(idx, body, own, shape, periodic, base):  # pragma: no cover - numba
    """Keys ``body * base + particle`` of all faces between fill voxels ``idx`` (flat, bodies
    ``body``) and particle voxels (flat ``own``), in chunks counted, then written, in
    parallel."""
    n_chunk = 64
    counts = np.zeros(n_chunk + 1, dtype=np.int64)
    for t in numba.prange(n_chunk):
        counts[t + 1] = _face_key_row(t, n_chunk, idx, body, own, shape, periodic, base,
                                      None, 0)
    start = np.cumsum(counts)
    out = np.empty(start[-1], dtype=np.int64)
    for t in numba.prange(n_chunk):
        _face_key_row(t, n_chunk, idx, body, own, shape, periodic, base, out, start[t])
    return out


def fill_bodies(lab: np.ndarray, n: int, owner: np.ndarray, h: float, periodic: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                           np.ndarray]:
    """Read off the contacts of the fill's bodies (``lab``, ``n``: as :func:`place_fill`
    returns them).

    Returns ``(pairs, area, touches_cc, touches_sep, centroid_um, volume_um3)``: ``pairs``
    (k, 2) of (body 1..n, particle id), ``area`` (k,) µm² (the shared voxel faces with the
    isotropic-surface correction, as ``structure_metrics``'s areas), per body ``touches_cc``,
    ``touches_sep`` (bool), ``centroid_um`` (n, 3) and ``volume_um3`` (n,).
    """
    flat = lab.reshape(-1)
    idx = np.flatnonzero(flat)  # the fill's voxels only (a few % of the box)
    body = flat[idx]
    base = int(owner.max()) + 1
    keys = _face_keys(idx, body.astype(np.int64), owner.reshape(-1),
                      np.asarray(lab.shape, dtype=np.int64), np.asarray(periodic, np.int64), base)
    uniq, faces = np.unique(keys, return_counts=True)
    pairs = np.stack([uniq // base, uniq % base], axis=1)
    area = faces * h * h * ISOTROPIC_SURFACE_FACTOR   # a staircase over-counts 3/2
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
