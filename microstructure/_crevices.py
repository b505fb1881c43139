"""Where the pressed skeleton's crevices are, for the fine-SE fill (:mod:`._se_fill`).

* :func:`crevice_width`: on the voxels, ``w = s_1 + s_2``, the sum of a pore point's distances
  to the two nearest particle surfaces -- the width of the gap through it (0 at a contact).
* :func:`crevice_sites`: in the continuum, the crevice of each contact (a ring just outside
  the contact circle) and of each narrow gap (its middle), in the order the fill visits them.

Both follow from the particles; the voxels only sample the first.
"""

from __future__ import annotations

import math

import numba
import numpy as np


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
                            # (ic < 0 never holds; the test lets numba drop its
                            # negative-index wraparound from the loop)
                            if ic < 0 or owner[a, ib, ic] != 0:
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
    out = np.empty(np.shape(i))
    _hash01_into(np.asarray(i, np.int64).reshape(-1), np.asarray(j, np.int64).reshape(-1),
                 np.uint64(salt), out.reshape(-1))
    return out


@numba.njit(parallel=True, cache=True)
def _hash01_into(i, j, salt, out):  # pragma: no cover - numba
    for k in numba.prange(i.shape[0]):
        x = (np.uint64(i[k]) * np.uint64(0x9E3779B97F4A7C15)
             ^ np.uint64(j[k]) * np.uint64(0xBF58476D1CE4E5B9) ^ salt)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
        out[k] = np.float64(x >> np.uint64(11)) / 9007199254740992.0  # 2**53


def crevice_sites(centers: np.ndarray, radii: np.ndarray, contacts: np.ndarray,
                  gaps: np.ndarray, box: np.ndarray, periodic: np.ndarray, salt: int,
                  max_gaps: int | None = None) -> tuple[np.ndarray, ...]:
    """The crevices the fill presses grains into, in the order it visits them, as
    ``(base, ring, u, v, phi, pairs)`` for ``_se_fill._place_at_sites`` and
    ``_se_grains.place_grains`` (µm, radians; ``pairs``: each crevice's two 0-based rows).

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
    contacts = np.asarray(contacts, dtype=np.int64).reshape(-1, 2)
    width = np.empty(gaps.shape[0])
    _site_gaps(c, rad, gaps, 0, bx, per, width)
    # the gaps by width, then key; only the max_gaps first are sorted (found by a partition)
    if max_gaps is not None and gaps.shape[0] > max_gaps:
        cut = np.partition(width, max_gaps - 1)[max_gaps - 1]
        pick = np.flatnonzero(width <= cut)
        gaps, width = gaps[pick], width[pick]
    gap_key = _hash01(gaps[:, 0], gaps[:, 1], salt)
    first = _lexsort2(width, gap_key)[:max_gaps]
    ij = np.concatenate([contacts, gaps[first]])
    n_contacts = contacts.shape[0]
    # contacts first (their gap is -inf), in key order; then the gaps as sorted above
    key = np.concatenate([_hash01(contacts[:, 0], contacts[:, 1], salt), gap_key[first]])
    order = np.concatenate([np.argsort(key[:n_contacts], kind="stable"),
                            np.arange(n_contacts, ij.shape[0])])
    m = ij.shape[0]
    f4 = np.float32
    base, u, v = np.empty((m, 3), f4), np.empty((m, 3), f4), np.empty((m, 3), f4)
    ring = np.empty(m, f4)
    _site_geometry(c, rad, ij, n_contacts, bx, per, order, base, ring, u, v)
    return base, ring, u, v, (2 * np.pi * key[order]).astype(np.float32), ij[order]


def _lexsort2(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """``np.lexsort((secondary, primary))``: an argsort of ``primary`` whose runs of equal
    values are then sorted by ``secondary``, then position (6x faster on 12 million gaps)."""
    order = np.argsort(primary)
    ranked = primary[order]
    if np.any(ranked[1:] == ranked[:-1]):
        _sort_ties(order, ranked, secondary)
    return order


@numba.njit(cache=True)
def _sort_ties(order, ranked, secondary):  # pragma: no cover - numba
    """Each run of ``order`` with equal ``ranked`` (the primary key in ``order``) sorted by
    ``secondary``, then position."""
    n = order.shape[0]
    i = 0
    while i < n:
        j = i + 1
        while j < n and ranked[j] == ranked[i]:
            j += 1
        if j - i > 1:
            run = np.sort(order[i:j])
            order[i:j] = run[np.argsort(secondary[run], kind="mergesort")]
        i = j


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
