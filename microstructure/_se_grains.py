"""The fine SE's resolved grains: pressed into the skeleton's crevices as particles.

The fine SE (``packing.se_fill_ratio``) is pressed into the crevices of the pressed skeleton
grain by grain.  A grain of at least ``GRAIN_VOXELS`` voxels across is placed here, in the
continuum, before the voxelization, and joins the packing as an SE particle; finer grains stay
with the voxel fill of :mod:`._se_fill`.

* **Crevices.** The same as the voxel fill's (:func:`._crevices.crevice_sites`): the contacts'
  rings, then the gaps narrower than the largest grain, one grain per crevice and round.
* **Seat.** A contact's grain sits on the radius of its contact circle (at an angle set by the
  seed, turned by the golden angle each round), out where the crevice is as wide as the grain:
  the sum of its distances to the two surfaces equals its diameter.  A gap's grain sits in the
  middle of the gap.  A crevice whose seat lies inside a particle or an earlier grain is full.
* **Size.** The grain is the ball around its seat that holds the grain's own volume in the free
  space: outside the particles and the grains placed before it, inside the box (measured along
  ``len(DIRS)`` rays: each ray's free stretches, the ball's volume the mean of ``4 pi t^3 / 3``
  over them).  A ductile grain pressed into its crevice bridges it, so the ball reaches 5 %
  beyond the farther of the crevice's two surfaces; it reaches at most ``SPREAD_RADII`` of the
  grain's radii (a crevice it cannot bridge within that is full).

The contact graph then says which particles each grain touches, and the topological
voxelization draws exactly that at any voxel size that resolves the grains: which pairs the
fill links is a property of the packing.  (The voxel fill links what its voxels happen to
touch: at 80:15:5 w/w near the SE's percolation threshold, 54 % of its links were the same at
0.25 and 0.125 µm, and one seed gave θ 0.22 and 0.77.)  The placement is serial, on the host,
like the voxel fill's: each grain sees the ones before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np

from ._packing_kernels import min_image
from ._se_fill import GOLDEN, SPREAD_RADII, next_crevice

#: A fill grain at least this many voxels across is a particle of the continuum (its contacts
#: drawn by the topological voxelization); finer grains go to the voxel fill.  With 2 voxels
#: the example composition at 0.125 µm left 12 948 voxel pairs of non-touching particles
#: unresolved (3 062 with 3, 29 with the voxel fill alone); θ with 6- and 26-connectivity
#: differed by 0.0008 at most with 3.
GRAIN_VOXELS = 3.0
#: How far (relative) a grain's ball reaches beyond the farther surface of its crevice.
BRIDGE = 1.05


def _fibonacci(n: int) -> np.ndarray:
    """``n`` unit vectors spread evenly over the sphere (a Fibonacci lattice)."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (3.0 - np.sqrt(5.0)) * k
    s = np.sqrt(1.0 - z * z)
    return np.ascontiguousarray(np.stack([z, s * np.cos(phi), s * np.sin(phi)], axis=1))


#: The rays along which a grain's ball is measured.
DIRS = _fibonacci(64)
_min_image = numba.njit(cache=True)(min_image)
#: Hash cells a grain's ball is listed in at most (a ball no wider than a cell: 3 a side).
_CELLS_PER_GRAIN = 27


@numba.njit(cache=True)
def _delta(x, c, box, periodic):  # pragma: no cover - numba
    """Distance (µm) from point ``x`` to point ``c``, the nearest image laterally."""
    d0 = c[0] - x[0]
    d1 = _min_image(c[1] - x[1], box[1], periodic[1])
    d2 = _min_image(c[2] - x[2], box[2], periodic[2])
    return math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)


@numba.njit(cache=True)
def _cells_of(x, rad, cs, dims, periodic, out):  # pragma: no cover - numba
    """Flat indices (in ``out``) of the hash cells (``dims`` a side, of edges ``cs``: whole
    cells across the box) that the bounding box of the ball ``(x, rad)`` overlaps, each once;
    returns how many there are (may exceed ``len(out)``)."""
    lo = np.empty(3, np.int64)
    hi = np.empty(3, np.int64)
    for a in range(3):
        lo[a] = int(math.floor((x[a] - rad) / cs[a]))
        hi[a] = int(math.floor((x[a] + rad) / cs[a]))
        if periodic[a] != 0 and hi[a] - lo[a] + 1 >= dims[a]:
            lo[a], hi[a] = 0, dims[a] - 1
        elif periodic[a] == 0:
            lo[a] = max(lo[a], 0)
            hi[a] = min(hi[a], dims[a] - 1)
    k = 0
    for i in range(lo[0], hi[0] + 1):
        for j in range(lo[1], hi[1] + 1):
            jj = j % dims[1]
            for m in range(lo[2], hi[2] + 1):
                if k < out.shape[0]:
                    out[k] = (i * dims[1] + jj) * dims[2] + m % dims[2]
                k += 1
    return k


@numba.njit(cache=True)
def _insert(item, x, rad, cs, dims, periodic, head, nxt, what, n_used, cells
            ):  # pragma: no cover - numba
    """List body ``item`` (ball ``x``, ``rad``) in the hash; returns the entries used (-1: the
    entry arrays are full)."""
    k = _cells_of(x, rad, cs, dims, periodic, cells)
    if k > cells.shape[0] or n_used + k > what.shape[0]:
        return -1
    for q in range(k):
        what[n_used] = item
        nxt[n_used] = head[cells[q]]
        head[cells[q]] = n_used
        n_used += 1
    return n_used


@numba.njit(cache=True)
def _list_bodies(n, cen, rad, cs, dims, periodic, head, nxt, what):  # pragma: no cover
    """Bodies ``0..n-1`` listed in an empty hash; returns the entries used (-1: full)."""
    cells = np.empty(max(1, dims[0] * dims[1] * dims[2]), np.int64)
    n_used = 0
    for b in range(n):
        n_used = _insert(b, cen[b], rad[b], cs, dims, periodic, head, nxt, what, n_used, cells)
        if n_used < 0:
            return -1
    return n_used


@numba.njit(cache=True)
def _near(x, reach, cen, rad, cs, dims, periodic, box, head, nxt, what, stamp, tick, cells,
          near):  # pragma: no cover - numba
    """The listed bodies that reach within ``reach`` of ``x``, each once, in ``near`` (at most
    its length); returns how many."""
    k = _cells_of(x, reach, cs, dims, periodic, cells)
    nb = 0
    for q in range(min(k, cells.shape[0])):
        e = head[cells[q]]
        while e >= 0:
            b = what[e]
            if stamp[b] != tick:
                stamp[b] = tick
                if nb < near.shape[0] and _delta(x, cen[b], box, periodic) < rad[b] + reach:
                    near[nb] = b
                    nb += 1
            e = nxt[e]
    return nb


@numba.njit(cache=True)
def _inside_any(x, cen, rad, box, periodic, near, nb):  # pragma: no cover - numba
    """Whether ``x`` lies inside one of the bodies ``near[:nb]`` (deeper than 1 nm)."""
    for q in range(nb):
        if _delta(x, cen[near[q]], box, periodic) < rad[near[q]] - 1e-3:
            return True
    return False


@numba.njit(cache=True)
def _free_stretches(x, reach, dirs, cen, rad, periodic, box, near, nb, blk_a, blk_b, seg_a,
                    seg_b):  # pragma: no cover - numba
    """The free stretches ``[seg_a, seg_b)`` (µm from ``x``, within ``reach``) of every ray
    ``dirs`` from ``x``: outside the bodies ``near[:nb]`` (those that reach the ball) and
    inside the box along axis 0.  Returns their number."""
    n_seg = 0
    for kd in range(dirs.shape[0]):
        d0, d1, d2 = dirs[kd, 0], dirs[kd, 1], dirs[kd, 2]
        m = 0
        if d0 != 0.0:  # the collector / separator wall the ray runs into
            t = (-x[0] if d0 < 0.0 else box[0] - x[0]) / d0
            if t < reach:
                blk_a[m], blk_b[m] = max(t, 0.0), reach
                m += 1
        for q in range(nb):
            b = near[q]
            c0 = cen[b, 0] - x[0]
            c1 = _min_image(cen[b, 1] - x[1], box[1], periodic[1])
            c2 = _min_image(cen[b, 2] - x[2], box[2], periodic[2])
            along = d0 * c0 + d1 * c1 + d2 * c2
            disc = along * along - (c0 * c0 + c1 * c1 + c2 * c2 - rad[b] * rad[b])
            if disc <= 0.0:
                continue
            sq = math.sqrt(disc)
            if along + sq <= 0.0 or along - sq >= reach:
                continue
            blk_a[m], blk_b[m] = max(along - sq, 0.0), min(along + sq, reach)
            m += 1
        for i in range(1, m):  # the blocked stretches by start (a few per ray)
            a, z = blk_a[i], blk_b[i]
            j = i - 1
            while j >= 0 and blk_a[j] > a:
                blk_a[j + 1], blk_b[j + 1] = blk_a[j], blk_b[j]
                j -= 1
            blk_a[j + 1], blk_b[j + 1] = a, z
        t = 0.0
        for i in range(m):
            if blk_a[i] > t and n_seg < seg_a.shape[0]:
                seg_a[n_seg], seg_b[n_seg] = t, blk_a[i]
                n_seg += 1
            t = max(t, blk_b[i])
        if t < reach and n_seg < seg_a.shape[0]:
            seg_a[n_seg], seg_b[n_seg] = t, reach
            n_seg += 1
    return n_seg


@numba.njit(cache=True)
def _held(rho, n_seg, seg_a, seg_b, n_dirs):  # pragma: no cover - numba
    """Free volume (µm³) of the ball of radius ``rho`` from its rays' free stretches."""
    v = 0.0
    for i in range(n_seg):
        if seg_a[i] < rho:
            v += min(seg_b[i], rho) ** 3 - seg_a[i] ** 3
    return v * 4.0 * math.pi / (3.0 * n_dirs)


@numba.njit(cache=True)
def _surfaces(x, cen, rad, i, j, box, periodic):  # pragma: no cover - numba
    """Distances (µm) from ``x`` to the surfaces of particles ``i`` and ``j``."""
    return (_delta(x, cen[i], box, periodic) - rad[i], _delta(x, cen[j], box, periodic) - rad[j])


@numba.njit(cache=True)
def _seat(p, g_diam, turn, base, ring, u, v, phi, pairs, cen, rad, box, periodic, x
          ):  # pragma: no cover - numba
    """Write the seat of a grain of diameter ``g_diam`` in crevice ``p`` (round ``turn``) to
    ``x``: out along the contact circle's radius to where the two surfaces lie ``g_diam``
    apart, or the middle of a gap."""
    i, j = pairs[p, 0], pairs[p, 1]
    t = phi[p] + turn * GOLDEN
    ct, st = math.cos(t), math.sin(t)
    out = 0.0
    if ring[p] > 0.0:  # a contact: bracket, then bisect the distance out from the circle
        lo, hi = 0.0, g_diam
        for _ in range(40):
            for a in range(3):
                x[a] = base[p, a] + (ring[p] + hi) * (ct * u[p, a] + st * v[p, a])
            si, sj = _surfaces(x, cen, rad, i, j, box, periodic)
            if si + sj >= g_diam:
                break
            lo, hi = hi, 2.0 * hi
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            for a in range(3):
                x[a] = base[p, a] + (ring[p] + mid) * (ct * u[p, a] + st * v[p, a])
            si, sj = _surfaces(x, cen, rad, i, j, box, periodic)
            if si + sj < g_diam:
                lo = mid
            else:
                hi = mid
        out = hi
    for a in range(3):
        x[a] = base[p, a] + (ring[p] + out) * (ct * u[p, a] + st * v[p, a])
        if periodic[a] != 0:
            x[a] %= box[a]


@numba.njit(cache=True)
def _place(base, ring, u, v, phi, pairs, state, dead, diam, need, cen, rad, n_body, cs, dims,
           periodic, box, head, nxt, what, stamp, min_radius, dirs):  # pragma: no cover
    """Grains ``state[2], ...`` (diameters ``diam``) seated in the crevices, one per crevice
    and round (``state``: round, next crevice, next grain, stamp tick, hash entries used),
    until ``need`` µm³ are held, every crevice is full, the grains run out or ``cen`` is full.
    Each grain is appended to ``cen`` / ``rad`` (row ``n_body[0]``) and listed in the hash.
    Returns the volume held (µm³)."""
    cells = np.empty(_CELLS_PER_GRAIN, np.int64)
    x = np.empty(3)
    near = np.empty(4096, np.int64)
    blk_a = np.empty(near.shape[0] + 2)
    blk_b = np.empty(near.shape[0] + 2)
    seg_a = np.empty(dirs.shape[0] * 32)
    seg_b = np.empty(dirs.shape[0] * 32)
    n_sites = base.shape[0]
    n_dead = np.count_nonzero(dead)
    held = 0.0
    while (held < need and state[2] < diam.shape[0] and n_dead < n_sites
           and n_body[0] < cen.shape[0]):
        p = next_crevice(state, dead)
        g = state[2]
        _seat(p, diam[g], state[0], base, ring, u, v, phi, pairs, cen, rad, box, periodic, x)
        r_g = 0.5 * diam[g]
        reach = min(max(SPREAD_RADII * r_g, min_radius), cs.min())
        state[3] += 1
        nb = 0
        if 0.0 <= x[0] <= box[0]:
            nb = _near(x, reach, cen, rad, cs, dims, periodic, box, head, nxt, what, stamp,
                       state[3], cells, near)
        si, sj = _surfaces(x, cen, rad, pairs[p, 0], pairs[p, 1], box, periodic)
        floor = max(BRIDGE * max(si, sj), min_radius)
        # full: the seat is out of the box or taken, or no grain this size bridges it
        if (x[0] < 0.0 or x[0] > box[0] or _inside_any(x, cen, rad, box, periodic, near, nb)
                or floor > reach):
            dead[p] = True
            n_dead += 1
            continue
        n_seg = _free_stretches(x, reach, dirs, cen, rad, periodic, box, near, nb, blk_a, blk_b,
                                seg_a, seg_b)
        vol = math.pi / 6.0 * diam[g] ** 3
        rho = reach
        got = _held(reach, n_seg, seg_a, seg_b, dirs.shape[0])
        if got > vol:
            got = _held(floor, n_seg, seg_a, seg_b, dirs.shape[0])
            rho = floor
            if got < vol:  # the radius that holds vol, between floor and reach
                lo, hi = floor, reach
                for _ in range(40):
                    mid = 0.5 * (lo + hi)
                    if _held(mid, n_seg, seg_a, seg_b, dirs.shape[0]) < vol:
                        lo = mid
                    else:
                        hi = mid
                rho, got = hi, vol
        b = n_body[0]
        used = _insert(b, x, rho, cs, dims, periodic, head, nxt, what, state[4], cells)
        if used < 0:  # the entry arrays are full: the caller makes room, this grain again
            state[1] -= 1
            break
        state[4] = used
        cen[b, 0], cen[b, 1], cen[b, 2] = x[0], x[1], x[2]
        rad[b] = rho
        n_body[0] += 1
        held += got
        state[2] += 1
    return held


def place_grains(centers: np.ndarray, radii: np.ndarray, need_um3: float, box: np.ndarray,
                 periodic: np.ndarray, grains: Callable[[int], np.ndarray], largest: float,
                 sites: tuple[np.ndarray, ...], *, min_radius: float
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """The fine SE's resolved grains seated in the skeleton's crevices, until they hold
    ``need_um3`` µm³ or every crevice is full: their centres (µm), radii (µm: the balls that
    hold their volume in the free space, at least ``min_radius``) and the volume they hold.

    ``centers`` / ``radii`` are the pressed particles'; ``sites`` is
    :func:`._crevices.crevice_sites`' output;
    ``grains(k)`` draws ``k`` diameters (µm, none above ``largest``) by number.

    Examples
    --------
    Two touching 2 µm spheres; grains of 0.5 µm in the crevice of their contact bridge it:

    >>> import numpy as np
    >>> from microstructure._crevices import crevice_sites
    >>> c = np.array([[5.0, 5.0, 4.0], [5.0, 5.0, 5.9]])
    >>> r = np.array([1.0, 1.0])
    >>> box, per = np.array([10.0, 10.0, 10.0]), np.array([0, 1, 1])
    >>> sites = crevice_sites(c, r, np.array([[0, 1]]), np.zeros((0, 2), int), box, per, 1)
    >>> gc, gr, held = place_grains(c, r, 0.2, box, per, lambda k: np.full(k, 0.5), 0.5,
    ...                             sites, min_radius=0.1)
    >>> bool(np.all(np.linalg.norm(gc[:, None] - c[None], axis=2) < r + gr[:, None]))
    True
    """
    base, ring, u, v, phi = (np.ascontiguousarray(s, dtype=np.float64) for s in sites[:5])
    pairs = np.ascontiguousarray(sites[5], dtype=np.int64).reshape(-1, 2)
    box = np.asarray(box, dtype=np.float64)
    per = np.asarray(periodic, dtype=np.int64)
    n_part = len(radii)
    # whole hash cells across the box (so that the periodic images agree), each no narrower
    # than the widest ball a grain may take
    widest = max(SPREAD_RADII * 0.5 * float(largest), float(min_radius), 1e-3)
    dims = np.maximum(np.floor(box / widest), 1).astype(np.int64)
    cs = box / dims
    mean_v = float(np.mean(np.pi / 6 * np.asarray(grains(256), np.float64) ** 3))
    room = n_part + int(1.5 * need_um3 / mean_v) + 256
    cen = np.zeros((room, 3))
    rad = np.zeros(room)
    cen[:n_part] = centers
    rad[:n_part] = radii
    per_particle = np.prod(np.floor(2 * np.asarray(radii, np.float64)[:, None] / cs) + 2,
                           axis=1)
    entries = int(per_particle.sum()) + _CELLS_PER_GRAIN * (room - n_part)
    head = np.full(int(np.prod(dims)), -1, dtype=np.int64)
    nxt = np.empty(entries, dtype=np.int64)
    what = np.empty(entries, dtype=np.int64)
    state = np.zeros(5, dtype=np.int64)  # round, next crevice, next grain, tick, entries used
    state[4] = _list_bodies(n_part, cen, rad, cs, dims, per, head, nxt, what)
    stamp = np.zeros(room, dtype=np.int64)
    dead = np.zeros(base.shape[0], dtype=np.bool_)
    n_body = np.array([n_part], dtype=np.int64)
    diam = np.zeros(0)
    held = 0.0
    while held < need_um3 and not dead.all():
        if state[2] >= diam.shape[0]:  # enough grains for what is left, and some more
            more = np.asarray(grains(int(1.2 * (need_um3 - held) / mean_v) + 64), np.float64)
            diam = np.concatenate([diam, more])
        if n_body[0] >= cen.shape[0] or state[4] + _CELLS_PER_GRAIN > what.shape[0]:
            extra = max(cen.shape[0] // 2, 256)  # room for more grains (and their entries)
            cen = np.concatenate([cen, np.zeros((extra, 3))])
            rad = np.concatenate([rad, np.zeros(extra)])
            stamp = np.concatenate([stamp, np.zeros(extra, dtype=np.int64)])
            nxt = np.concatenate([nxt, np.empty(_CELLS_PER_GRAIN * extra, np.int64)])
            what = np.concatenate([what, np.empty(_CELLS_PER_GRAIN * extra, np.int64)])
        held += _place(base, ring, u, v, phi, pairs, state, dead, diam, need_um3 - held, cen,
                       rad, n_body, cs, dims, per, box, head, nxt, what, stamp,
                       float(min_radius), DIRS)
    k = int(n_body[0])
    return cen[n_part:k].copy(), rad[n_part:k].copy(), float(held)
