"""Cell and block kernel bodies of the conductance stencil, compiled for both devices.

Each function below is plain Python working on one cell ``(i, j, k)`` or one ``2 x 2 x 2``
block of the storage described in :mod:`solvers.transport._stencil`.  :func:`compile_for`
compiles them with ``numba.njit`` (the CPU loops call them inside ``prange`` loops, see
:mod:`._stencil`) or with ``numba.cuda.jit(device=True)`` (one thread per cell or block, see
:mod:`._stencil_cuda`), binding the helpers they call by global name with
:func:`solvers.device.bind` -- one source, so the two devices cannot drift apart (the CUDA
simulator tests compare them).
"""

from __future__ import annotations

from typing import Any

from ..device import bind

__all__ = [
    "block_code",
    "block_pieces",
    "cell_diag",
    "cell_ax",
    "cell_ax_at",
    "coarse_faces_cell",
    "compile_for",
    "energy_cell",
    "faces_cell",
    "gs_cell",
    "neighbours",
    "prolong_agg_cell",
    "prolong_cell",
    "restrict_agg_block",
    "strong",
    "update_d_cell",
    "update_xr_cell",
]


#: A face joins two cells of a block piece when ``g^2 >= PIECE_STRENGTH^2 a_ii a_jj``.
PIECE_STRENGTH = 0.05


def cell_diag(gx, gy, gz, i, j, k):
    """Diagonal ``a_ii``: the sum of the six face conductances of cell ``(i, j, k)``."""
    n0, n1, n2 = gy.shape
    jm = j - 1 if j > 0 else n1 - 1
    km = k - 1 if k > 0 else n2 - 1
    return gx[i, j, k] + gx[i + 1, j, k] + gy[i, jm, k] + gy[i, j, k] + gz[i, j, km] + gz[i, j, k]


def strong(g, da, db):
    """Whether a face of conductance ``g > 0`` between cells of diagonals ``da``, ``db`` is
    strong (the test of smoothed aggregation, ``g >= PIECE_STRENGTH sqrt(da db)``)."""
    return g * g >= PIECE_STRENGTH * PIECE_STRENGTH * da * db


def block_code(gx, gy, gz, bi, bj, bk):
    """12-bit code of the strong open faces inside block ``(bi, bj, bk)``.

    Cell ``loc = 4a + 2b + c`` of the block is ``(2bi + a, 2bj + b, 2bk + c)``; bit ``2b + c``
    is the axis-0 face of line ``(b, c)``, bit ``4 + 2a + c`` the axis-1 face of line
    ``(a, c)``, bit ``8 + 2a + b`` the axis-2 face of line ``(a, b)``.  Wrap and Dirichlet
    faces are never inside a block.  A face counts when it is strong (:func:`strong`): a
    carbon grain and the CAM around it (contrast 500) become separate pieces -- tied together
    they are a coarse value the low-energy error does not have (192³ electronic network of
    the example composite: 46 -> 24 iterations to a residual of 1e-5).
    """
    n0, n1, n2 = gy.shape
    code = 0
    for u in range(2):
        for v in range(2):
            i = 2 * bi
            j = 2 * bj + u
            k = 2 * bk + v
            if i + 1 < n0 and j < n1 and k < n2 and gx[i + 1, j, k] > 0:
                da = cell_diag(gx, gy, gz, i, j, k)  # noqa: F821
                if strong(gx[i + 1, j, k], da, cell_diag(gx, gy, gz, i + 1, j, k)):  # noqa: F821
                    code |= 1 << (2 * u + v)
            i = 2 * bi + u
            j = 2 * bj
            if i < n0 and j + 1 < n1 and k < n2 and gy[i, j, k] > 0:
                da = cell_diag(gx, gy, gz, i, j, k)  # noqa: F821
                if strong(gy[i, j, k], da, cell_diag(gx, gy, gz, i, j + 1, k)):  # noqa: F821
                    code |= 1 << (4 + 2 * u + v)
            j = 2 * bj + v
            k = 2 * bk
            if i < n0 and j < n1 and k + 1 < n2 and gz[i, j, k] > 0:
                da = cell_diag(gx, gy, gz, i, j, k)  # noqa: F821
                if strong(gz[i, j, k], da, cell_diag(gx, gy, gz, i, j, k + 1)):  # noqa: F821
                    code |= 1 << (8 + 2 * u + v)
    return code


def energy_cell(gx, gy, gz, x, i, j, k):
    """``sum g (du)^2`` over the faces a cell owns: its faces towards ``+1`` along each axis
    (the wrap faces included; zero when sealed) and, on the first / last layer, the face to
    the fixed potential 0 / 1.  Accumulated in float64."""
    n0, n1, n2 = x.shape
    jp = j + 1 if j < n1 - 1 else 0
    kp = k + 1 if k < n2 - 1 else 0
    c = float64(x[i, j, k])  # noqa: F821 - bound per target
    dy = c - float64(x[i, jp, k])  # noqa: F821
    dz = c - float64(x[i, j, kp])  # noqa: F821
    e = float64(gy[i, j, k]) * dy * dy + float64(gz[i, j, k]) * dz * dz  # noqa: F821
    if i < n0 - 1:
        dx = c - float64(x[i + 1, j, k])  # noqa: F821
        e += float64(gx[i + 1, j, k]) * dx * dx  # noqa: F821
    else:
        e += float64(gx[n0, j, k]) * (1.0 - c) * (1.0 - c)  # noqa: F821
    if i == 0:
        e += float64(gx[0, j, k]) * c * c  # noqa: F821
    return e


def neighbours(i, j, k, n0, n1, n2):
    """Neighbour indices of cell ``(i, j, k)`` with lateral wrap, and the Dirichlet flags.

    Returns ``(im, ip, jm, jp, km, kp, fm, fp)``: along axis 0 a missing neighbour is replaced
    by the cell itself and ``fm`` / ``fp`` (1.0 or 0.0) switch its term off (the fixed
    potentials enter through the right-hand side); along axes 1 and 2 the index wraps (the
    wrap faces are zero when the sides are sealed).
    """
    im = i - 1 if i > 0 else 0
    ip = i + 1 if i < n0 - 1 else n0 - 1
    jm = j - 1 if j > 0 else n1 - 1
    jp = j + 1 if j < n1 - 1 else 0
    km = k - 1 if k > 0 else n2 - 1
    kp = k + 1 if k < n2 - 1 else 0
    fm = 1.0 if i > 0 else 0.0
    fp = 1.0 if i < n0 - 1 else 0.0
    return im, ip, jm, jp, km, kp, fm, fp


def cell_ax(gx, gy, gz, x, i, j, k, im, ip, jm, jp, km, kp, fm, fp):
    """``((A x)_ijk, a_ii)`` for one cell, neighbour indices given (see :func:`neighbours`).

    Branch-free, so that the CPU row loops over ``k`` (``km = k - 1``, ``kp = k + 1`` inside a
    row) vectorise after inlining.
    """
    ga = gx[i, j, k]
    gb = gx[i + 1, j, k]
    gym = gy[i, jm, k]
    gyp = gy[i, j, k]
    gzm = gz[i, j, km]
    gzp = gz[i, j, k]
    d = ga + gb + gym + gyp + gzm + gzp
    off = (
        fm * ga * x[im, j, k]
        + fp * gb * x[ip, j, k]
        + gym * x[i, jm, k]
        + gyp * x[i, jp, k]
        + gzm * x[i, j, km]
        + gzp * x[i, j, kp]
    )
    return d * x[i, j, k] - off, d


def gs_cell(gx, gy, gz, x, b, i, j, k, im, ip, jm, jp, km, kp, fm, fp, zero_init):
    """Gauss-Seidel update of one cell; with ``zero_init`` the neighbours count as 0.

    A cell without conducting faces (zero row) keeps its value.
    """
    if zero_init:
        d = gx[i, j, k] + gx[i + 1, j, k] + gy[i, jm, k] + gy[i, j, k] + gz[i, j, km] + gz[i, j, k]
        if d > 0:
            x[i, j, k] = b[i, j, k] / d
    else:
        ax, d = cell_ax(gx, gy, gz, x, i, j, k, im, ip, jm, jp, km, kp, fm, fp)  # noqa: F821
        if d > 0:
            x[i, j, k] = x[i, j, k] + (b[i, j, k] - ax) / d


def cell_ax_at(gx, gy, gz, x, i, j, k):
    """:func:`cell_ax` with the neighbours of :func:`neighbours` (one cell, GPU style)."""
    n0, n1, n2 = x.shape
    im, ip, jm, jp, km, kp, fm, fp = neighbours(i, j, k, n0, n1, n2)  # noqa: F821
    return cell_ax(gx, gy, gz, x, i, j, k, im, ip, jm, jp, km, kp, fm, fp)  # noqa: F821


def block_pieces(gx, gy, gz, lut, lab, bi, bj, bk, base):
    """Label the cells of block ``(bi, bj, bk)``: ``base + lut[code, loc]`` on cells with a
    conducting face, ``-1`` on the others (``code`` from :func:`block_code`)."""
    n0, n1, n2 = lab.shape
    code = block_code(gx, gy, gz, bi, bj, bk)  # noqa: F821
    for loc in range(8):
        i = 2 * bi + loc // 4
        j = 2 * bj + (loc // 2) % 2
        k = 2 * bk + loc % 2
        if i < n0 and j < n1 and k < n2:
            jm = j - 1 if j > 0 else n1 - 1
            km = k - 1 if k > 0 else n2 - 1
            d = gx[i, j, k] + gx[i + 1, j, k] + gy[i, jm, k] + gy[i, j, k]
            d += gz[i, j, km] + gz[i, j, k]
            lab[i, j, k] = base + lut[code, loc] if d > 0 else -1


def restrict_agg_block(gx, gy, gz, x, b, agg, rc, bi, bj, bk):
    """``rc[a] += (b - A x)`` over the cells of block ``(bi, bj, bk)`` (aggregates ``agg``;
    each aggregate lies in one block, so blocks never add to the same entry)."""
    n0, n1, n2 = x.shape
    for i in range(2 * bi, min(2 * bi + 2, n0)):
        for j in range(2 * bj, min(2 * bj + 2, n1)):
            for k in range(2 * bk, min(2 * bk + 2, n2)):
                a = agg[i, j, k]
                if a >= 0:
                    ax, _ = cell_ax_at(gx, gy, gz, x, i, j, k)  # noqa: F821
                    rc[a] += b[i, j, k] - ax


def prolong_agg_cell(x, xc, agg, i, j, k):
    """``x += P xc`` at one cell (piecewise constant over the aggregates; -1: unchanged)."""
    a = agg[i, j, k]
    if a >= 0:
        x[i, j, k] += xc[a]


def prolong_cell(x, xc, i, j, k, c0, c1, c2):
    """``x += P xc`` at one cell (piecewise constant over blocks of ``c0 x c1 x c2``)."""
    x[i, j, k] += xc[i // c0, j // c1, k // c2]


def faces_cell(phase, gtab, gdir, per1, per2, gx, gy, gz, i, j, k):
    """Face conductances owned by cell ``(i, j, k)``, ``0 <= i <= n0``: ``gx[i, j, k]`` (the
    Dirichlet faces for ``i == 0`` and ``i == n0``) and, for ``i < n0``, ``gy`` and ``gz``
    towards ``+1`` (the wrap faces when ``per1`` / ``per2``, else 0)."""
    n0, n1, n2 = phase.shape
    if i == 0:
        gx[i, j, k] = gdir[phase[0, j, k]]
    elif i == n0:
        gx[i, j, k] = gdir[phase[n0 - 1, j, k]]
    else:
        gx[i, j, k] = gtab[phase[i - 1, j, k], phase[i, j, k]]
    if i == n0:
        return
    if j + 1 < n1:
        gy[i, j, k] = gtab[phase[i, j, k], phase[i, j + 1, k]]
    elif per1 and n1 > 1:
        gy[i, j, k] = gtab[phase[i, j, k], phase[i, 0, k]]
    else:
        gy[i, j, k] = 0.0
    if k + 1 < n2:
        gz[i, j, k] = gtab[phase[i, j, k], phase[i, j, k + 1]]
    elif per2 and n2 > 1:
        gz[i, j, k] = gtab[phase[i, j, k], phase[i, j, 0]]
    else:
        gz[i, j, k] = 0.0


def coarse_faces_cell(gx, gy, gz, c0, c1, c2, gxc, gyc, gzc, ic, jc, kc):
    """Coarse faces owned by coarse cell ``(ic, jc, kc)``, ``0 <= ic <= m0`` (as
    :func:`faces_cell`): the sum of the fine faces each covers divided by the coarsening
    factor along its normal; a wrap face of an axis coarsened to length 1 is dropped."""
    n0, n1, n2 = gy.shape
    m0, m1, m2 = gyc.shape
    s = 0.0
    i = n0 if ic == m0 else ic * c0
    for j in range(jc * c1, min(jc * c1 + c1, n1)):
        for k in range(kc * c2, min(kc * c2 + c2, n2)):
            s += gx[i, j, k]
    gxc[ic, jc, kc] = s / c0
    if ic == m0:
        return
    s = 0.0
    if m1 > 1 or c1 == 1:
        j = min(jc * c1 + c1, n1) - 1
        for i in range(ic * c0, min(ic * c0 + c0, n0)):
            for k in range(kc * c2, min(kc * c2 + c2, n2)):
                s += gy[i, j, k]
    gyc[ic, jc, kc] = s / c1
    s = 0.0
    if m2 > 1 or c2 == 1:
        k = min(kc * c2 + c2, n2) - 1
        for i in range(ic * c0, min(ic * c0 + c0, n0)):
            for j in range(jc * c1, min(jc * c1 + c1, n1)):
                s += gz[i, j, k]
    gzc[ic, jc, kc] = s / c2


def update_xr_cell(x, r, d, q, alpha, i, j, k):
    """``x += alpha d``, ``r -= alpha q`` at one cell; returns the new ``r^2`` in float64."""
    x[i, j, k] += alpha * d[i, j, k]
    v = r[i, j, k] - alpha * q[i, j, k]
    r[i, j, k] = v
    return float64(v) * float64(v)  # noqa: F821 - bound per target


def update_d_cell(d, z, beta, i, j, k):
    """``d = z + beta d`` at one cell."""
    d[i, j, k] = z[i, j, k] + beta * d[i, j, k]


def compile_for(jit: Any, float64: Any) -> dict[str, Any]:
    """The bodies compiled with ``jit`` (``numba.njit(inline="always")`` or
    ``cuda.jit(device=True)``); ``float64`` is the target's float64 cast (``numba.float64``)."""
    nb = jit(neighbours)
    ca = jit(cell_ax)
    cat = jit(bind(cell_ax_at, neighbours=nb, cell_ax=ca))
    cd = jit(cell_diag)
    bc = jit(bind(block_code, cell_diag=cd, strong=jit(strong)))
    return {
        "neighbours": nb,
        "cell_ax": ca,
        "cell_ax_at": cat,
        "gs_cell": jit(bind(gs_cell, cell_ax=ca)),
        "cell_diag": cd,
        "block_code": bc,
        "block_pieces": jit(bind(block_pieces, block_code=bc)),
        "energy_cell": jit(bind(energy_cell, float64=float64)),
        "restrict_agg_block": jit(bind(restrict_agg_block, cell_ax_at=cat)),
        "prolong_agg_cell": jit(prolong_agg_cell),
        "prolong_cell": jit(prolong_cell),
        "faces_cell": jit(faces_cell),
        "coarse_faces_cell": jit(coarse_faces_cell),
        "update_xr_cell": jit(bind(update_xr_cell, float64=float64)),
        "update_d_cell": jit(update_d_cell),
    }
