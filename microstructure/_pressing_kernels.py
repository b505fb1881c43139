"""Per-particle kernel bodies of the pressing model, compiled for CPU (numba) and GPU (numba-cuda).

Same scheme as :mod:`._packing_kernels`: plain Python working on one particle ``i``, with the
helper :func:`min_image` bound per target by :func:`compile_for`.

Contact law (see :mod:`._pressing` for the physics): a pair that overlaps by ``delta > 0`` pushes
with ``f = k_ij R_ij delta`` along the centre line, ``R_ij = r_i r_j / (r_i + r_j)`` (so under a
given pressure the overlap is the same fraction of the radius for every size, as for Hertz
contacts) and ``k_ij`` from the phase-pair table ``kpair[0]`` (CAM–CAM = 1); beyond the yield
overlap ``kpair[1] R_ij`` the force stays at its yield value.  A pair may also attract with
``kpair[2] R_ij^2`` (resting overlap ``kpair[2] R_ij / k_ij``), falling linearly to zero at a
gap of ``kpair[3] R_ij``: pairs with carbon (``carbon_adhesion`` within ``ADH_RANGE``: carbon
sticks where it lands).  During the hold, CAM–CAM pairs attract the same way within a gap of up to
2 R_ij, beyond the press list's skin: that pull runs over a list of the CAM alone
(:func:`press_pull_body`).  Walls at
``x_0 = 0`` (current collector) and ``x_0 = box[0]`` (the press piston) push like a contact with
an infinitely large partner (``R = r_i``, stiffness ``kwall``); the collector may also attract,
with the table's column 0 (``kpair[2:4, phase, 0]``; during the hold, CAM).
"""

import math

from solvers.device import bind

#: Reach of the carbon adhesion, in units of the reduced radius R_ij.
ADH_RANGE = 0.1


def press_force_body(i, pos, rad, phase, nbr_ptr, nbr_idx, box, periodic, kpair, kwall, force,
                     wall_top, energy):
    """Force on particle ``i`` (``force[i]``), its push on the piston (``wall_top[i]``, >= 0) and
    its energy share (``energy[i]``, pairs counted half)."""
    x0 = pos[i, 0]
    x1 = pos[i, 1]
    x2 = pos[i, 2]
    ri = rad[i]
    pi_ = phase[i]
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    e = 0.0
    for k in range(nbr_ptr[i], nbr_ptr[i + 1]):
        j = nbr_idx[k]
        d0 = min_image(x0 - pos[j, 0], box[0], periodic[0])  # noqa: F821 - bound per target
        d1 = min_image(x1 - pos[j, 1], box[1], periodic[1])  # noqa: F821
        d2 = min_image(x2 - pos[j, 2], box[2], periodic[2])  # noqa: F821
        rj = rad[j]
        s = ri + rj
        dd = d0 * d0 + d1 * d1 + d2 * d2
        pj = phase[j]
        reff = ri * rj / s
        a = kpair[2, pi_, pj] * reff * reff
        arange = kpair[3, pi_, pj] * reff
        reach = s + arange if a > 0.0 else s
        if dd < reach * reach:
            d = math.sqrt(dd)
            delta = s - d
            kk = kpair[0, pi_, pj] * reff
            dy = kpair[1, pi_, pj] * reff
            fmag = 0.0
            if delta > dy:
                # yielded (a pair with SE): the contact flows at its yield force
                fmag = kk * dy - a
                e += 0.5 * kk * dy * (delta - 0.5 * dy) - 0.5 * a * delta
            elif delta > 0.0:
                fmag = kk * delta - a
                e += 0.25 * kk * delta * delta - 0.5 * a * delta
            else:
                # adhesive tail: -a at contact, 0 at the end of its range
                fmag = -a * (1.0 + delta / arange)
            if d > 1e-12:
                f0 += fmag * d0 / d
                f1 += fmag * d1 / d
                f2 += fmag * d2 / d
    kw = kwall * ri
    # the collector face: a partner of infinite radius (R = r_i) and phase index 0
    aw = kpair[2, pi_, 0] * ri * ri
    w = ri - x0
    if w > 0.0:
        f0 += kw * w - aw
        e += 0.5 * kw * w * w - aw * w
    elif aw > 0.0:
        wr = kpair[3, pi_, 0] * ri
        if -w < wr:
            f0 -= aw * (1.0 + w / wr)
    w = x0 + ri - box[0]
    top = 0.0
    if w > 0.0:
        f0 -= kw * w
        top = kw * w
        e += 0.5 * kw * w * w
    force[i, 0] = f0
    force[i, 1] = f1
    force[i, 2] = f2
    wall_top[i] = top
    energy[i] = e


def press_pull_body(i, pos, rad, sel, nbr_ptr, nbr_idx, box, periodic, a, reach, force):
    """The hold's pull on particle ``sel[i]``, added to ``force[sel[i]]``: each partner
    ``sel[j]`` of row ``i`` (``nbr_*`` index into ``sel``) within a gap of ``reach R_ij``
    attracts with ``a R_ij^2``, falling linearly to zero at that gap (the adhesive part of
    :func:`press_force_body`'s law; its contact push stays there)."""
    gi = sel[i]
    x0 = pos[gi, 0]
    x1 = pos[gi, 1]
    x2 = pos[gi, 2]
    ri = rad[gi]
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    for k in range(nbr_ptr[i], nbr_ptr[i + 1]):
        gj = sel[nbr_idx[k]]
        d0 = min_image(x0 - pos[gj, 0], box[0], periodic[0])  # noqa: F821 - bound per target
        d1 = min_image(x1 - pos[gj, 1], box[1], periodic[1])  # noqa: F821
        d2 = min_image(x2 - pos[gj, 2], box[2], periodic[2])  # noqa: F821
        rj = rad[gj]
        s = ri + rj
        reff = ri * rj / s
        ar = reach * reff
        dd = d0 * d0 + d1 * d1 + d2 * d2
        if dd < (s + ar) * (s + ar):
            d = math.sqrt(dd)
            fmag = -a * reff * reff
            if d > s:
                fmag *= 1.0 - (d - s) / ar
            if d > 1e-12:
                f0 += fmag * d0 / d
                f1 += fmag * d1 / d
                f2 += fmag * d2 / d
    force[gi, 0] += f0
    force[gi, 1] += f1
    force[gi, 2] += f2


def lens_volume(ri, rj, d):
    """Volume (µm³) of the lens where spheres of radii ``ri``, ``rj`` at distance ``d`` overlap."""
    s = ri + rj
    if d >= s:
        return 0.0
    if d <= abs(ri - rj):
        rm = min(ri, rj)
        return 4.0 / 3.0 * math.pi * rm * rm * rm
    return math.pi * (s - d) ** 2 * (d * d + 2 * d * s - 3 * (ri - rj) ** 2) / (12 * d)


def press_hard_lens_body(i, pos, rad, phase, nbr_ptr, nbr_idx, box, periodic, cam_lens):
    """``cam_lens[i]``: the lens volume (µm³) of the hard pairs (i, j > i) -- CAM and carbon --
    the measure of how far the hard skeleton is over-compressed (0 for an SE particle)."""
    cam_lens[i] = 0.0
    if phase[i] == 2:
        return
    x0 = pos[i, 0]
    x1 = pos[i, 1]
    x2 = pos[i, 2]
    ri = rad[i]
    h = 0.0
    for k in range(nbr_ptr[i], nbr_ptr[i + 1]):
        j = nbr_idx[k]
        d0 = min_image(x0 - pos[j, 0], box[0], periodic[0])  # noqa: F821 - bound per target
        d1 = min_image(x1 - pos[j, 1], box[1], periodic[1])  # noqa: F821
        d2 = min_image(x2 - pos[j, 2], box[2], periodic[2])  # noqa: F821
        rj = rad[j]
        dd = d0 * d0 + d1 * d1 + d2 * d2
        s = ri + rj
        if dd < s * s and phase[j] != 2 and j > i:
            h += lens_volume(ri, rj, math.sqrt(dd))  # noqa: F821 - bound per target
    cam_lens[i] = h


def press_contacts_body(i, pos, rad, nbr_ptr, nbr_idx, box, periodic, tol, padded, counts):
    """Pairs (i, j > i) whose gap ``d - r_i - r_j`` is below ``tol`` (µm): their count goes to
    ``counts[i]`` and the first ``padded.shape[1]`` partners to ``padded[i]``."""
    x0 = pos[i, 0]
    x1 = pos[i, 1]
    x2 = pos[i, 2]
    ri = rad[i]
    n = 0
    cap = padded.shape[1]
    for k in range(nbr_ptr[i], nbr_ptr[i + 1]):
        j = nbr_idx[k]
        if j <= i:
            continue
        d0 = min_image(x0 - pos[j, 0], box[0], periodic[0])  # noqa: F821 - bound per target
        d1 = min_image(x1 - pos[j, 1], box[1], periodic[1])  # noqa: F821
        d2 = min_image(x2 - pos[j, 2], box[2], periodic[2])  # noqa: F821
        s = ri + rad[j] + tol
        if d0 * d0 + d1 * d1 + d2 * d2 < s * s:
            if n < cap:
                padded[i, n] = j
            n += 1
    counts[i] = n


def compile_for(jit):
    """``{"force", "pull", "hard_lens", "contacts"}`` bodies compiled with ``jit`` (``numba.njit``
    or ``cuda.jit(device=True)``), with the helpers bound to their compiled twins."""
    from ._packing_kernels import min_image

    mi = jit(min_image)
    lv = jit(lens_volume)
    return {
        "force": jit(bind(press_force_body, min_image=mi)),
        "pull": jit(bind(press_pull_body, min_image=mi)),
        "hard_lens": jit(bind(press_hard_lens_body, min_image=mi, lens_volume=lv)),
        "contacts": jit(bind(press_contacts_body, min_image=mi)),
    }
