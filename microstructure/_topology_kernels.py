"""Bodies of the topology-preserving voxelization, compiled for CPU (numba) and GPU (numba-cuda).

The algorithm is described in :mod:`._contacts`.  Every step is written so that its result does
not depend on the order in which particles, contacts or voxels are visited, which is what lets
one thread per item run it on the GPU and give the CPU's arrays:

- :func:`stamp_class_body` (one sphere): a voxel takes the smallest 64-bit key
  ``class << 61 | quantised |x - c|^2 / r^2 << 31 | id`` offered to it (hard spheres are class 0,
  SE class 1), by compare-and-store on the CPU and ``atomic.min`` on the GPU;
- :func:`neck_body` (one contact or wall contact): the necks' walks read the stamped owners only
  and offer each voxel they cross the key ``class << 62 | id`` of the particle they draw (a hard
  particle's neck beats an SE one, then the lower id), again smallest key wins; who takes the
  contact spot's voxel is read from the stamp too (:func:`spot_modes`);
- :func:`losers_row_body` (one row of voxels, or every ``stride``-th voxel of it) marks each
  voxel that gives way to a neighbour under the gap rule (:func:`conflict`); then rounds of
  :func:`settle_body` (one thread per marked voxel) decide which of them are carved: a voxel is
  carved when it gives way to a neighbour that stays, and stays when every neighbour it gives
  way to is carved.  "Gives way to" has no cycle, so the rounds end, with the one set of
  survivors that fits both rules (the kernel of that graph), whatever the order of the voxels.

The bodies are plain Python calling their helpers by global name; :func:`compile_for` binds the
names to the helpers compiled for one target (as in :mod:`._voxelize_kernels`).
"""

import math

from solvers.device import bind
from solvers.phases import CAM, SE

#: Voxels no sphere (stamp) or no neck (claim) has reached.
NO_KEY = 2**63 - 1
#: Low bits of a key that hold the particle id.
ID_MASK = 2**31 - 1
_CLASS_STAMP = 2**61
_CLASS_NECK = 2**62
#: How a neck's walk treats its first voxel: not offered, offered as the others, offered even
#: where the stamp gave it to a hard particle (an SE neck's contact spot, see :func:`spot_modes`).
SKIP, TAKE, FORCE = 0, 1, 2
#: Hard particles that touch share voxel faces out to this many voxels beyond their contact
#: circle (see :func:`off_spot`).  Calibrated on the electronic tau of 80:20 NCM 5 µm : SE
#: 5 µm (seeds 0 and 1; h 0.5 / 0.25 / 0.125 / 0.0625 µm): 4.54 / 5.07 / 4.85 / 4.64 with 0,
#: 3.46 / 3.98 / 4.22 / 4.34 with 0.5, 3.84 / 4.36 / 4.50 / 4.48 with 0.25 (seed 0); 0.25 is
#: within 3 % of the finest from d50 / 20 on (seeds 2 and 3, not used to choose it: 6 %).
#: Before, faces were shared wherever the surfaces came within a voxel: 3.06 / 3.37 / 3.67 /
#: 3.94, still drifting.
SPOT_DILATION = 0.25


def stamp_class_body(k, c, r, ph, h, shape, periodic, keys):
    """Offer sphere ``k`` (id ``k + 1``) to each voxel centre inside it; smallest key wins."""
    cz = c[k, 0]
    cy = c[k, 1]
    cx = c[k, 2]
    rr = r[k]
    r2 = rr * rr
    cls = 0 if ph[k] != SE else _CLASS_STAMP
    nz = shape[0]
    ny = shape[1]
    nx = shape[2]
    lo0, hi0 = axis_range(cz, rr, h, nz, 0)  # noqa: F821 - bound per target
    lo1, hi1 = axis_range(cy, rr, h, ny, periodic[1])  # noqa: F821
    lo2, hi2 = axis_range(cx, rr, h, nx, periodic[2])  # noqa: F821
    for a in range(lo0, hi0 + 1):
        dz = (a + 0.5) * h - cz
        for b in range(lo1, hi1 + 1):
            dy = (b + 0.5) * h - cy
            rem = r2 - dz * dz - dy * dy
            if rem < 0:
                continue
            ib = b % ny
            for cc in range(lo2, hi2 + 1):
                dx = (cc + 0.5) * h - cx
                if dx * dx <= rem:
                    q = int((dz * dz + dy * dy + dx * dx) / r2 * 1073741823.0)
                    key_min(keys, a, ib, cc % nx, cls + q * 2147483648 + (k + 1))  # noqa: F821


def wrap(i, n, periodic):
    """Cell ``i`` of an axis of ``n`` cells: wrapped on a periodic axis, -1 off the grid."""
    if 0 <= i < n:
        return i
    if periodic != 0:
        return i % n
    return -1


def axis_walk(x, d, h):
    """Start of a face-connected walk (Amanatides & Woo) along one axis from ``x`` along ``d``
    (µm): first cell, step, parameter of the first cell border, parameter per cell."""
    u = x / h
    cell = int(math.floor(u))
    if d > 0:
        return cell, 1, (cell + 1 - u) * h / d, h / d
    if d < 0:
        return cell, -1, (u - cell) * h / -d, h / -d
    return cell, 0, math.inf, math.inf


def walk(x0, x1, x2, d0, d1, d2, want, first, ph, h, shape, periodic, own, claim, yield_to, c,
         r, ptr, nbr):
    """Offer each voxel met from ``x`` along ``d`` to particle ``want`` (0-based), up to and
    including the first that it owns in the stamp ``own``; the first voxel by ``first``
    (``SKIP``: not offered, ``TAKE``: as the others, ``FORCE``: even if stamped hard).  An SE
    particle's neck never takes any other voxel stamped hard: returns how many it was
    refused.  With ``yield_to`` (an SE particle, else -1), the hard ``want`` leaves to it the
    voxels inside its sphere that lie next to a hard particle ``want`` does not touch
    (:func:`near_stranger`), and walks on."""
    c0, s0, t0, e0 = axis_walk(x0, d0, h)  # noqa: F821 - bound per target
    c1, s1, t1, e1 = axis_walk(x1, d1, h)  # noqa: F821
    c2, s2, t2, e2 = axis_walk(x2, d2, h)  # noqa: F821
    se = ph[want] == SE
    key = (_CLASS_NECK if se else 0) + want + 1
    blocked = 0
    mode = first
    while True:
        if mode != SKIP and 0 <= c0 < shape[0]:
            ib = wrap(c1, shape[1], periodic[1])  # noqa: F821 - bound per target
            ic = wrap(c2, shape[2], periodic[2])  # noqa: F821
            if ib >= 0 and ic >= 0:
                cur = own[c0, ib, ic]
                if yield_to >= 0 and inside(c, r, yield_to, c0, ib, ic, h, shape,  # noqa: F821
                                            periodic) and near_stranger(  # noqa: F821
                        c0, ib, ic, want, ph, ptr, nbr, shape, periodic, own):
                    key_min(claim, c0, ib, ic, _CLASS_NECK + yield_to + 1)  # noqa: F821
                else:
                    if se and cur > 0 and ph[cur - 1] != SE and mode != FORCE:
                        blocked += 1
                    else:
                        key_min(claim, c0, ib, ic, key)  # noqa: F821
                    if cur == want + 1:
                        return blocked
        mode = TAKE
        if t0 <= t1 and t0 <= t2:
            if t0 > 1.0:
                return blocked
            c0 += s0
            t0 += e0
        elif t1 <= t2:
            if t1 > 1.0:
                return blocked
            c1 += s1
            t1 += e1
        else:
            if t2 > 1.0:
                return blocked
            c2 += s2
            t2 += e2


def neck_body(t, c, r, ph, pairs, ptr, nbr, tcc, tsep, h, shape, periodic, own, claim):
    """The necks of contact ``t`` (``t < len(pairs)``) or of particle ``t - len(pairs)`` with the
    walls; returns the voxels refused to an SE neck."""
    m = pairs.shape[0]
    if t >= m:  # walls: from the wall straight towards the centre
        p = t - m
        blocked = 0
        if tcc[p]:
            blocked += walk(0.5 * h, c[p, 1], c[p, 2], c[p, 0] - 0.5 * h, 0.0, 0.0, p,  # noqa: F821
                            TAKE, ph, h, shape, periodic, own, claim, -1, c, r, ptr, nbr)
        if tsep[p]:
            top = shape[0] * h - 0.5 * h
            blocked += walk(top, c[p, 1], c[p, 2], c[p, 0] - top, 0.0, 0.0, p,  # noqa: F821
                            TAKE, ph, h, shape, periodic, own, claim, -1, c, r, ptr, nbr)
        return blocked
    # contacts: from the contact spot (centre of the lens circle) towards each centre, the voxel
    # of the spot going to one of the two (spot_modes), so that the two halves share a face
    p = pairs[t, 0]
    q = pairs[t, 1]
    d0, d1, d2 = separation(c, p, q, h, shape, periodic)  # noqa: F821 - bound per target
    dist = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
    if dist < 1e-12:
        return 0
    xp = (dist * dist + r[p] * r[p] - r[q] * r[q]) / (2 * dist)
    f = min(max(xp / dist, 0.0), 1.0)
    s0 = c[p, 0] + f * d0
    s1 = c[p, 1] + f * d1
    s2 = c[p, 2] + f * d2
    g = 1.0 - f
    mp, mq, yp, yq = spot_modes(s0, s1, s2, p, q, ph, ptr, nbr, h, shape, periodic,  # noqa: F821
                                own)
    return (walk(s0, s1, s2, -f * d0, -f * d1, -f * d2, p, mp, ph, h,  # noqa: F821
                 shape, periodic, own, claim, yp, c, r, ptr, nbr)
            + walk(s0, s1, s2, g * d0, g * d1, g * d2, q, mq, ph, h,  # noqa: F821
                   shape, periodic, own, claim, yq, c, r, ptr, nbr))


def spot_modes(s0, s1, s2, p, q, ph, ptr, nbr, h, shape, periodic, own):
    """Who takes the voxel of the contact spot of ``p`` and ``q`` (the other half of the neck
    starts at the next voxel): the walk modes of ``p`` and ``q`` for it, and whom each walk
    yields voxels to (-1: nobody; see :func:`walk`).

    Of a hard and an SE particle the SE one takes it, unless the stamp gave it to a hard
    particle: then the hard one, whose neck starts inside its own body -- but where a hard
    particle it does not touch holds the voxel or one of its 26 neighbours, the hard one's walk
    leaves it, and the next ones inside the SE sphere that are still that close, to the SE
    particle: the SE grain pressed into a gap under a voxel wide between two hard particles
    keeps them apart, instead of their two necks meeting across it.  Otherwise ``p`` takes
    it.  Read from the stamp only, so the choice does not depend on the order of the
    contacts."""
    if (ph[p] == SE) == (ph[q] == SE):
        return TAKE, SKIP, -1, -1
    hd = p if ph[p] != SE else q
    sd = q if hd == p else p
    a = int(math.floor(s0 / h))
    b = wrap(int(math.floor(s1 / h)), shape[1], periodic[1])  # noqa: F821 - bound per target
    cc = wrap(int(math.floor(s2 / h)), shape[2], periodic[2])  # noqa: F821
    to_se = False
    if 0 <= a < shape[0] and b >= 0 and cc >= 0:
        if near_stranger(a, b, cc, hd, ph, ptr, nbr, shape, periodic, own):  # noqa: F821
            return (TAKE, SKIP, sd, -1) if hd == p else (SKIP, TAKE, -1, sd)
        cur = own[a, b, cc]
        to_se = cur == 0 or ph[cur - 1] == SE
    if to_se == (hd == p):
        return SKIP, TAKE, -1, -1
    return TAKE, SKIP, -1, -1


def near_stranger(a, b, cc, hd, ph, ptr, nbr, shape, periodic, own):
    """Whether the stamp ``own`` gives voxel (a, b, cc) or one of its 26 neighbours to a hard
    particle that the hard particle ``hd`` does not touch."""
    for da in range(-1, 2):
        a2 = a + da
        if a2 < 0 or a2 >= shape[0]:
            continue
        for db in range(-1, 2):
            b2 = wrap(b + db, shape[1], periodic[1])  # noqa: F821 - bound per target
            if b2 < 0:
                continue
            for dc in range(-1, 2):
                c2 = wrap(cc + dc, shape[2], periodic[2])  # noqa: F821
                if c2 < 0:
                    continue
                o = own[a2, b2, c2]
                if (o > 0 and o - 1 != hd and ph[o - 1] != SE
                        and contact_index(ptr, nbr, hd, o - 1) < 0):  # noqa: F821
                    return True
    return False


def inside(c, r, k, a, b, cc, h, shape, periodic):
    """Whether the centre of voxel (a, b, cc) lies in sphere ``k``."""
    x0, x1, x2 = centre_offset(c, k, a, b, cc, h, shape, periodic)  # noqa: F821 - bound
    return x0 * x0 + x1 * x1 + x2 * x2 <= r[k] * r[k]


def separation(c, p, q, h, shape, periodic):
    """``c[q] - c[p]`` (µm), the nearest image along the periodic lateral axes."""
    return (c[q, 0] - c[p, 0],
            min_image(c[q, 1] - c[p, 1], shape[1] * h, periodic[1]),  # noqa: F821 - bound
            min_image(c[q, 2] - c[p, 2], shape[2] * h, periodic[2]))  # noqa: F821


def contact_index(ptr, nbr, p, q):
    """Position of ``q`` among the sorted contact partners ``nbr[ptr[p]:ptr[p + 1]]`` of ``p``
    (-1: they do not touch)."""
    lo = ptr[p]
    hi = ptr[p + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if nbr[mid] < q:
            lo = mid + 1
        else:
            hi = mid
    if lo < ptr[p + 1] and nbr[lo] == q:
        return lo
    return -1


def off_spot(c, r, p, q, spot2, a, b, cc, a2, b2, c2, h, shape, periodic):
    """Whether the face between voxel (a, b, cc) and its neighbour (a2, b2, c2) lies farther
    from the centre line of particles ``p`` and ``q`` than their contact circle (radius^2
    ``spot2``, µm^2, or the lens circle of the spheres ``c``, ``r`` as drawn, if larger) plus
    ``SPOT_DILATION`` voxels."""
    v0, v1, v2 = centre_offset(c, p, a, b, cc, h, shape, periodic)  # noqa: F821 - bound
    w0, w1, w2 = centre_offset(c, p, a2, b2, c2, h, shape, periodic)  # noqa: F821
    m0 = 0.5 * (v0 + w0)  # the face's middle, from c_p
    m1 = 0.5 * (v1 + w1)
    m2 = 0.5 * (v2 + w2)
    n0, n1, n2 = separation(c, p, q, h, shape, periodic)  # noqa: F821
    nn = max(n0 * n0 + n1 * n1 + n2 * n2, 1e-300)
    # the lens circle of the drawn spheres (grown by the fraction correction): its faces are
    # where the spheres overlap, not a near miss of the grid
    x = (nn + r[p] * r[p] - r[q] * r[q]) / (2.0 * math.sqrt(nn))
    spot = math.sqrt(max(spot2, r[p] * r[p] - x * x, 0.0)) + SPOT_DILATION * h
    along = m0 * n0 + m1 * n1 + m2 * n2
    return m0 * m0 + m1 * m1 + m2 * m2 - along * along / nn > spot * spot


def centre_offset(c, p, a, b, cc, h, shape, periodic):
    """The centre of voxel (a, b, cc) minus ``c[p]`` (µm), the nearest image along the
    periodic lateral axes."""
    return ((a + 0.5) * h - c[p, 0],
            min_image((b + 0.5) * h - c[p, 1], shape[1] * h, periodic[1]),  # noqa: F821
            min_image((cc + 0.5) * h - c[p, 2], shape[2] * h, periodic[2]))  # noqa: F821


def depth(c, r, p, a, b, cc, h, shape, periodic):
    """|x - c_p|^2 / r_p^2 at the centre of voxel (a, b, cc)."""
    x0, x1, x2 = centre_offset(c, p, a, b, cc, h, shape, periodic)  # noqa: F821 - bound
    return (x0 * x0 + x1 * x1 + x2 * x2) / (r[p] * r[p])


def conflict(c, r, ph, ptr, nbr, spot2, h, shape, periodic, own, prot, a, b, cc, a2, b2, c2,
             face):
    """Who gives way between voxel v = (a, b, cc) and its neighbour w = (a2, b2, c2): 0 nobody
    (no conflict), 1 v, 2 w, 3 nobody though they conflict (both protected).

    Two voxels conflict when their particles do not touch and they are 26-adjacent in one
    conducting network (both SE, or both CAM/carbon) or face-adjacent CAM and SE.  Two hard
    particles (CAM, carbon) that touch conflict where their voxels share a face off their
    contact circle (``spot2``: its radius^2 per contact, aligned with ``nbr``), unless both
    voxels are protected: they meet on their contact spot and their neck, not wherever the grid
    puts their surfaces within a voxel of each other.  Of a conflicting pair a protected (neck)
    voxel wins; else, of CAM and SE the CAM wins (the ductile SE gives way); else the voxel
    nearer its own sphere's surface (larger |x - c|^2 / r^2) gives way, on a tie the one of the
    higher id.  So "gives way to" has no cycle."""
    o = own[a, b, cc]
    o2 = own[a2, b2, c2]
    if o == 0 or o2 == 0 or o2 == o:
        return 0
    p1 = ph[o - 1]
    p2 = ph[o2 - 1]
    ionic = face and ((p1 == CAM and p2 == SE) or (p1 == SE and p2 == CAM))
    if not ((p1 == SE) == (p2 == SE) or ionic):
        return 0
    pr1 = prot[a, b, cc] != 0
    pr2 = prot[a2, b2, c2] != 0
    k = contact_index(ptr, nbr, o - 1, o2 - 1)  # noqa: F821 - bound per target
    if k >= 0:
        if not face or p1 == SE or p2 == SE or (pr1 and pr2):
            return 0
        if not off_spot(c, r, o - 1, o2 - 1, spot2[k], a, b, cc, a2, b2, c2,  # noqa: F821
                        h, shape, periodic):
            return 0
    if pr1 and pr2:
        return 3
    if pr1 or pr2:
        return 1 if pr2 else 2
    if ionic:
        return 1 if p1 == SE else 2
    d1 = depth(c, r, o - 1, a, b, cc, h, shape, periodic)  # noqa: F821
    d2 = depth(c, r, o2 - 1, a2, b2, c2, h, shape, periodic)  # noqa: F821
    return 1 if d1 > d2 or (d1 == d2 and o > o2) else 2


def losers_row_body(a, b, c_start, stride, c, r, ph, ptr, nbr, spot2, h, shape, periodic, own,
                    prot, st):
    """Set ``st`` to 1 on the voxels that give way in a conflict between the voxels
    (a, b, c_start::stride) and their neighbours in the forward half of the 26-neighbourhood
    (each pair is judged once, by the voxel that comes first in C order).  Marks are only ever
    set to 1, so threads that mark the same voxel agree.  Returns the conflicts between two
    protected voxels."""
    nz = shape[0]
    ny = shape[1]
    nx = shape[2]
    if a < 0 or b < 0 or c_start < 0:  # never: tells the compiler no index below wraps
        return 0
    bp = wrap(b + 1, ny, periodic[1])  # noqa: F821 - bound per target
    bm = wrap(b - 1, ny, periodic[1])  # noqa: F821
    unresolved = 0
    for cc in range(c_start, nx, stride):
        o = own[a, b, cc]
        if o == 0:
            continue
        se = ph[o - 1] == SE
        cp = wrap(cc + 1, nx, periodic[2])  # noqa: F821
        cm = wrap(cc - 1, nx, periodic[2])  # noqa: F821
        for da in range(0, 2):
            a2 = a + da
            if a2 >= nz:
                continue
            for db in range(-1, 2):
                if da == 0 and db < 0:
                    continue
                b2 = bm if db < 0 else (b if db == 0 else bp)
                if b2 < 0:
                    continue
                for dc in range(-1, 2):
                    if da == 0 and db == 0 and dc <= 0:
                        continue
                    c2 = cm if dc < 0 else (cc if dc == 0 else cp)
                    if c2 < 0:
                        continue
                    o2 = own[a2, b2, c2]
                    face = da + abs(db) + abs(dc) == 1
                    if o2 == 0 or o2 == o or (not face and (ph[o2 - 1] == SE) != se):
                        continue  # the cheap cases of conflict(), inline
                    k = conflict(c, r, ph, ptr, nbr, spot2, h, shape, periodic,  # noqa: F821
                                 own, prot, a, b, cc, a2, b2, c2, face)
                    if k == 1:
                        st[a, b, cc] = 1
                    elif k == 2:
                        st[a2, b2, c2] = 1
                    elif k == 3:
                        unresolved += 1
    return unresolved


def settle_body(t, idx, c, r, ph, ptr, nbr, spot2, h, shape, periodic, own, prot, st, new):
    """One round for the undecided voxel ``idx[t]`` (flat index, ``st`` 1): ``new[t]`` = 3 (it
    gives way: a neighbour it gives way to stays, ``st`` 0 or 2), 2 (it stays: everything it gives
    way to is carved, ``st`` 3) or 1 (still undecided)."""
    nz = shape[0]
    ny = shape[1]
    nx = shape[2]
    v = idx[t]
    a = v // (ny * nx)
    b = (v // nx) % ny
    cc = v % nx
    o = own[a, b, cc]
    se = ph[o - 1] == SE
    out = 2
    for da in range(-1, 2):
        a2 = a + da
        if a2 < 0 or a2 >= nz:
            continue
        for db in range(-1, 2):
            b2 = wrap(b + db, ny, periodic[1])  # noqa: F821
            if b2 < 0:
                continue
            for dc in range(-1, 2):
                c2 = wrap(cc + dc, nx, periodic[2])  # noqa: F821
                if c2 < 0:
                    continue
                o2 = own[a2, b2, c2]
                face = abs(da) + abs(db) + abs(dc) == 1
                if out == 3 or o2 == 0 or o2 == o or (not face and (ph[o2 - 1] == SE) != se):
                    continue  # decided, or the cheap cases of conflict()
                s = st[a2, b2, c2]
                if s == 3:
                    continue  # carved: whoever it beat no longer gives way to it
                if conflict(c, r, ph, ptr, nbr, spot2, h, shape, periodic, own,  # noqa: F821
                            prot, a, b, cc, a2, b2, c2, face) == 1:
                    out = 3 if s != 1 else 1
    new[t] = out


def compile_for(jit, *, key_min):
    """``{"stamp", "neck", "losers_row", "settle"}`` bodies compiled with ``jit`` (``numba.njit`` or
    ``cuda.jit(device=True)``); ``key_min`` is the target's compiled min-store of an int64 key."""
    from ._packing_kernels import min_image
    from ._voxelize_kernels import axis_range

    mi = jit(min_image)
    wr = jit(wrap)
    sep = jit(bind(separation, min_image=mi))
    off = jit(bind(centre_offset, min_image=mi))
    ci = jit(contact_index)
    ns = jit(bind(near_stranger, wrap=wr, contact_index=ci))
    wk = jit(bind(walk, axis_walk=jit(axis_walk), key_min=key_min, wrap=wr,
                  inside=jit(bind(inside, centre_offset=off)), near_stranger=ns))
    cf = jit(bind(conflict, contact_index=ci,
                  off_spot=jit(bind(off_spot, centre_offset=off, separation=sep)),
                  depth=jit(bind(depth, centre_offset=off))))
    return {
        "stamp": jit(bind(stamp_class_body, axis_range=jit(axis_range), key_min=key_min)),
        "neck": jit(bind(neck_body, walk=wk, separation=sep,
                         spot_modes=jit(bind(spot_modes, wrap=wr, near_stranger=ns)))),
        "losers_row": jit(bind(losers_row_body, conflict=cf, wrap=wr)),
        "settle": jit(bind(settle_body, conflict=cf, wrap=wr)),
    }
