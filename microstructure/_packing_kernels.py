"""Per-particle kernel bodies for the packing, compiled twice.

Each function below is plain Python that works on one particle ``i``.  ``_packing.py`` compiles
them with ``numba.njit`` and loops over particles with ``prange``; ``_packing_cuda.py`` compiles
the very same source with ``numba.cuda.jit(device=True)`` and runs one thread per particle.
Keeping one source for both backends is what makes the CPU and GPU results agree.

The bodies call ``math`` functions and the helpers :func:`min_image` and :func:`wall_push` by
global name; :func:`compile_for` binds them to the helpers compiled for the target.

Coordinates are in µm in a box ``box = (Lz, Ly, Lx)``; ``periodic[a]`` (0/1) says whether axis
``a`` wraps (the through-plane axis 0 never does: it has hard walls at 0 and Lz).
"""

import math

from solvers.device import bind

#: Stiffness of the current-collector / separator walls relative to particle contacts.
WALL = 8.0


def neighbours_body(i, pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic,
                    skin, padded, counts):
    """Half neighbour list: every j with |x_i - x_j| < r_i + r_j + skin that ranks below i.

    j ranks below i when r_j < r_i, or r_j == r_i and j < i; so each close pair is found exactly
    once, by its larger sphere, which only has to search within 2 r_i + skin (small spheres,
    the many, search small regions).  The count goes to ``counts[i]`` and the first
    ``padded.shape[1]`` indices, in cell order, to ``padded[i]`` (the caller retries with wider
    rows when a count exceeds the width).  The ``neighbours_csr`` variant stores into
    ``padded = (start, out)``, row i being ``out[start[i]:start[i + 1]]``.
    """
    x0 = pos[i, 0]
    x1 = pos[i, 1]
    x2 = pos[i, 2]
    ri = rad[i]
    search = 2.0 * ri + skin
    # cell of particle i (clamped) and the ranges of cells to visit along each axis
    c0 = min(max(int(math.floor(x0 / cell_size[0])), 0), ncell[0] - 1)
    c1 = min(max(int(math.floor(x1 / cell_size[1])), 0), ncell[1] - 1)
    c2 = min(max(int(math.floor(x2 / cell_size[2])), 0), ncell[2] - 1)
    k0 = int(math.ceil(search / cell_size[0]))
    k1 = int(math.ceil(search / cell_size[1]))
    k2 = int(math.ceil(search / cell_size[2]))
    lo0 = c0 - k0
    hi0 = c0 + k0
    if periodic[0] != 0 and 2 * k0 + 1 >= ncell[0]:
        lo0 = 0
        hi0 = ncell[0] - 1
    elif periodic[0] == 0:
        lo0 = max(lo0, 0)
        hi0 = min(hi0, ncell[0] - 1)
    lo1 = c1 - k1
    hi1 = c1 + k1
    if periodic[1] != 0 and 2 * k1 + 1 >= ncell[1]:
        lo1 = 0
        hi1 = ncell[1] - 1
    elif periodic[1] == 0:
        lo1 = max(lo1, 0)
        hi1 = min(hi1, ncell[1] - 1)
    lo2 = c2 - k2
    hi2 = c2 + k2
    if periodic[2] != 0 and 2 * k2 + 1 >= ncell[2]:
        lo2 = 0
        hi2 = ncell[2] - 1
    elif periodic[2] == 0:
        lo2 = max(lo2, 0)
        hi2 = min(hi2, ncell[2] - 1)
    n = 0
    cap = row_capacity(padded, i)  # noqa: F821 - bound per variant
    for a in range(lo0, hi0 + 1):
        ca = a % ncell[0]
        for b in range(lo1, hi1 + 1):
            cb = b % ncell[1]
            for c in range(lo2, hi2 + 1):
                cc = c % ncell[2]
                cell = (ca * ncell[1] + cb) * ncell[2] + cc
                for q in range(cell_start[cell], cell_start[cell + 1]):
                    j = cell_items[q]
                    rj = rad[j]
                    if rj > ri or (rj == ri and j >= i):
                        continue
                    d0 = min_image(x0 - pos[j, 0], box[0], periodic[0])  # noqa: F821
                    d1 = min_image(x1 - pos[j, 1], box[1], periodic[1])  # noqa: F821
                    d2 = min_image(x2 - pos[j, 2], box[2], periodic[2])  # noqa: F821
                    s = ri + rj + skin
                    if d0 * d0 + d1 * d1 + d2 * d2 < s * s:
                        if n < cap:
                            store(padded, i, n, j)  # noqa: F821 - bound per variant
                        n += 1
    counts[i] = n


def force_body(i, pos, rad, nbr_ptr, nbr_idx, box, periodic, force, energy):
    """Harmonic repulsion of overlapping spheres and of the hard walls on non-periodic axes.

    Pair energy ``(r_i + r_j - d)^2 / 2`` for ``d < r_i + r_j``; wall energy
    ``WALL (r_i - x)^2 / 2`` for a sphere reaching through a wall (stiffer walls keep CAM inside
    the electrode).  Writes ``force[i]`` (= -dE/dx_i) and ``energy[i]``
    (pairs counted half, so ``sum(energy)`` is the total energy).
    """
    x0 = pos[i, 0]
    x1 = pos[i, 1]
    x2 = pos[i, 2]
    ri = rad[i]
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    e = 0.0
    for k in range(nbr_ptr[i], nbr_ptr[i + 1]):
        j = nbr_idx[k]
        d0 = min_image(x0 - pos[j, 0], box[0], periodic[0])  # noqa: F821 - bound per target
        d1 = min_image(x1 - pos[j, 1], box[1], periodic[1])  # noqa: F821
        d2 = min_image(x2 - pos[j, 2], box[2], periodic[2])  # noqa: F821
        s = ri + rad[j]
        dd = d0 * d0 + d1 * d1 + d2 * d2
        if dd < s * s:
            d = math.sqrt(dd)
            delta = s - d
            e += 0.25 * delta * delta
            if d > 1e-12:
                f0 += delta * d0 / d
                f1 += delta * d1 / d
                f2 += delta * d2 / d
    # hard walls on the non-periodic axes
    g, w = wall_push(x0, ri, box[0], periodic[0])  # noqa: F821 - bound per target
    f0 += g
    e += w
    g, w = wall_push(x1, ri, box[1], periodic[1])  # noqa: F821
    f1 += g
    e += w
    g, w = wall_push(x2, ri, box[2], periodic[2])  # noqa: F821
    f2 += g
    e += w
    force[i, 0] = f0
    force[i, 1] = f1
    force[i, 2] = f2
    energy[i] = e


def overlap_body(i, pos, rad, nbr_ptr, nbr_idx, box, periodic, lens, rel):
    """Overlap of sphere ``i`` with its neighbours ``j > i``.

    ``lens[i]``: summed lens volume (µm³) of the pairs (i, j > i); ``rel[i]``: the largest
    ``(r_i + r_j - d) / min(r_i, r_j)`` over all neighbours, and the wall penetration / r_i.
    """
    x0 = pos[i, 0]
    x1 = pos[i, 1]
    x2 = pos[i, 2]
    ri = rad[i]
    v = 0.0
    worst = 0.0
    for k in range(nbr_ptr[i], nbr_ptr[i + 1]):
        j = nbr_idx[k]
        d0 = min_image(x0 - pos[j, 0], box[0], periodic[0])  # noqa: F821 - bound per target
        d1 = min_image(x1 - pos[j, 1], box[1], periodic[1])  # noqa: F821
        d2 = min_image(x2 - pos[j, 2], box[2], periodic[2])  # noqa: F821
        rj = rad[j]
        s = ri + rj
        d = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        if d < s:
            rmin = min(ri, rj)
            worst = max(worst, (s - d) / rmin)
            if j > i:
                if d <= abs(ri - rj):
                    v += 4.0 / 3.0 * math.pi * rmin * rmin * rmin
                else:
                    v += (math.pi * (s - d) ** 2
                          * (d * d + 2 * d * (ri + rj) - 3 * (ri - rj) ** 2) / (12 * d))
    for a in range(3):
        if periodic[a] == 0:
            worst = max(worst, (ri - pos[i, a]) / ri, (pos[i, a] + ri - box[a]) / ri)
    lens[i] = v
    rel[i] = worst


def padded_store(padded, i, n, j):
    """Row store of the padded layout: ``padded[i, n] = j``."""
    padded[i, n] = j


def padded_capacity(padded, i):
    return padded.shape[1]


def csr_store(rows, i, n, j):
    """Row store of the CSR layout ``rows = (start, out)``: ``out[start[i] + n] = j``."""
    rows[1][rows[0][i] + n] = j


def csr_capacity(rows, i):
    return rows[0][i + 1] - rows[0][i]


def min_image(d, length, periodic):
    """Minimum-image separation along an axis of ``length`` (unchanged if not periodic)."""
    # inside [-length / 2, length / 2) the formula leaves d as it is: skip its division there
    # (nearly every call: neighbours, moves), unless d / length rounds to 0.5 within an ulp
    if periodic != 0 and (d >= 0.5 * length or d < -0.5 * length):
        d -= length * math.floor(d / length + 0.5)
    return d


def wall_push(x, r, length, periodic):
    """(force, energy) of the walls at 0 and ``length`` on a sphere at ``x`` (none if periodic)."""
    f = 0.0
    e = 0.0
    if periodic == 0:
        w = r - x
        if w > 0:
            f += WALL * w
            e += 0.5 * WALL * w * w
        w = x + r - length
        if w > 0:
            f -= WALL * w
            e += 0.5 * WALL * w * w
    return f, e


def fire_power_body(i, vel, force, rad, use_mass, out):
    """FIRE's sums, per particle: ``out[:, i]`` = (a . v, v . v, a . a) with the acceleration
    ``a = force[i] / m`` (``m = rad[i]`` when ``use_mass``, else 1)."""
    m = rad[i] if use_mass else 1.0
    a0 = force[i, 0] / m
    a1 = force[i, 1] / m
    a2 = force[i, 2] / m
    v0 = vel[i, 0]
    v1 = vel[i, 1]
    v2 = vel[i, 2]
    out[0, i] = a0 * v0 + a1 * v1 + a2 * v2
    out[1, i] = v0 * v0 + v1 * v1 + v2 * v2
    out[2, i] = a0 * a0 + a1 * a1 + a2 * a2


def fire_step_body(i, pos, vel, force, rad, use_mass, cv, ca, dt, max_move, box, periodic, ref,
                   disp2):
    """One FIRE move of particle ``i``: ``v <- cv v + ca a``, ``v <- v + dt a``, a step of
    ``dt v`` capped at ``max_move`` (µm), positions wrapped on periodic axes; ``disp2[i]`` is
    the squared distance (nearest image) from ``ref[i]``, the neighbour list's positions."""
    m = rad[i] if use_mass else 1.0
    a0 = force[i, 0] / m
    a1 = force[i, 1] / m
    a2 = force[i, 2] / m
    v0 = cv * vel[i, 0] + ca * a0
    v1 = cv * vel[i, 1] + ca * a1
    v2 = cv * vel[i, 2] + ca * a2
    v0 += dt * a0
    v1 += dt * a1
    v2 += dt * a2
    vel[i, 0] = v0
    vel[i, 1] = v1
    vel[i, 2] = v2
    s0 = dt * v0
    s1 = dt * v1
    s2 = dt * v2
    sq = s0 * s0 + s1 * s1 + s2 * s2
    if sq > max_move * max_move:
        f = max_move / math.sqrt(sq)
        s0 *= f
        s1 *= f
        s2 *= f
    x0 = pos[i, 0] + s0
    x1 = pos[i, 1] + s1
    x2 = pos[i, 2] + s2
    # wrapped on periodic axes (x % L is x itself inside [0, L): only the few outside pay)
    if periodic[0] != 0 and (x0 < 0.0 or x0 >= box[0]):
        x0 = x0 % box[0]
    if periodic[1] != 0 and (x1 < 0.0 or x1 >= box[1]):
        x1 = x1 % box[1]
    if periodic[2] != 0 and (x2 < 0.0 or x2 >= box[2]):
        x2 = x2 % box[2]
    pos[i, 0] = x0
    pos[i, 1] = x1
    pos[i, 2] = x2
    d0 = min_image(x0 - ref[i, 0], box[0], periodic[0])  # noqa: F821 - bound per target
    d1 = min_image(x1 - ref[i, 1], box[1], periodic[1])  # noqa: F821
    d2 = min_image(x2 - ref[i, 2], box[2], periodic[2])  # noqa: F821
    disp2[i] = d0 * d0 + d1 * d1 + d2 * d2


def compile_for(jit):
    """``{"neighbours", "neighbours_csr", "force", "overlap", "fire_power", "fire_step"}``
    bodies compiled with ``jit`` (``numba.njit`` or ``cuda.jit(device=True)``), with
    :func:`min_image` bound to its compiled twin."""
    mi = jit(min_image)
    wp = jit(wall_push)
    return {
        "neighbours": jit(bind(neighbours_body, min_image=mi, store=jit(padded_store),
                               row_capacity=jit(padded_capacity))),
        "neighbours_csr": jit(bind(neighbours_body, min_image=mi, store=jit(csr_store),
                                   row_capacity=jit(csr_capacity))),
        "force": jit(bind(force_body, min_image=mi, wall_push=wp)),
        "overlap": jit(bind(overlap_body, min_image=mi)),
        "fire_power": jit(fire_power_body),
        "fire_step": jit(bind(fire_step_body, min_image=mi)),
    }
