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

__all__ = ["block_code", "compile_for", "energy_cell", "prolong_agg_cell", "restrict_agg_block"]


def block_code(gx, gy, gz, bi, bj, bk):
    """12-bit code of the open faces inside block ``(bi, bj, bk)``.

    Cell ``loc = 4a + 2b + c`` of the block is ``(2bi + a, 2bj + b, 2bk + c)``; bit ``2b + c``
    is the axis-0 face of line ``(b, c)``, bit ``4 + 2a + c`` the axis-1 face of line
    ``(a, c)``, bit ``8 + 2a + b`` the axis-2 face of line ``(a, b)``.  Wrap and Dirichlet
    faces are never inside a block.
    """
    n0, n1, n2 = gy.shape
    code = 0
    for u in range(2):
        for v in range(2):
            i = 2 * bi
            j = 2 * bj + u
            k = 2 * bk + v
            if i + 1 < n0 and j < n1 and k < n2 and gx[i + 1, j, k] > 0:
                code |= 1 << (2 * u + v)
            i = 2 * bi + u
            j = 2 * bj
            if i < n0 and j + 1 < n1 and k < n2 and gy[i, j, k] > 0:
                code |= 1 << (4 + 2 * u + v)
            j = 2 * bj + v
            k = 2 * bk
            if i < n0 and j < n1 and k + 1 < n2 and gz[i, j, k] > 0:
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


def restrict_agg_block(gx, gy, gz, x, b, agg, rc, bi, bj, bk):
    """``rc[a] += (b - A x)`` over the cells of block ``(bi, bj, bk)`` (aggregates ``agg``;
    each aggregate lies in one block, so blocks never add to the same entry)."""
    n0, n1, n2 = x.shape
    for i in range(2 * bi, min(2 * bi + 2, n0)):
        for j in range(2 * bj, min(2 * bj + 2, n1)):
            for k in range(2 * bk, min(2 * bk + 2, n2)):
                a = agg[i, j, k]
                if a >= 0:
                    ax, _ = cell_apply(gx, gy, gz, x, i, j, k)  # noqa: F821
                    rc[a] += b[i, j, k] - ax


def prolong_agg_cell(x, xc, agg, i, j, k):
    """``x += P xc`` at one cell (piecewise constant over the aggregates; -1: unchanged)."""
    a = agg[i, j, k]
    if a >= 0:
        x[i, j, k] += xc[a]


def cell_apply(gx, gy, gz, x, i, j, k):
    """``((A x)_ijk, diag_ijk)`` for one cell (wrap indices computed here)."""
    n0, n1, n2 = x.shape
    jm = j - 1 if j > 0 else n1 - 1
    jp = j + 1 if j < n1 - 1 else 0
    km = k - 1 if k > 0 else n2 - 1
    kp = k + 1 if k < n2 - 1 else 0
    ga = gx[i, j, k]
    gb = gx[i + 1, j, k]
    d = ga + gb + gy[i, jm, k] + gy[i, j, k] + gz[i, j, km] + gz[i, j, k]
    off = (
        gy[i, jm, k] * x[i, jm, k]
        + gy[i, j, k] * x[i, jp, k]
        + gz[i, j, km] * x[i, j, km]
        + gz[i, j, k] * x[i, j, kp]
    )
    if i > 0:
        off += ga * x[i - 1, j, k]
    if i < n0 - 1:
        off += gb * x[i + 1, j, k]
    return d * x[i, j, k] - off, d


def compile_for(jit: Any, float64: Any) -> dict[str, Any]:
    """The bodies compiled with ``jit`` (``numba.njit(inline="always")`` or
    ``cuda.jit(device=True)``); ``float64`` is the target's float64 cast (``numba.float64``)."""
    ca = jit(cell_apply)
    return {
        "block_code": jit(block_code),
        "cell_apply": ca,
        "energy_cell": jit(bind(energy_cell, float64=float64)),
        "restrict_agg_block": jit(bind(restrict_agg_block, cell_apply=ca)),
        "prolong_agg_cell": jit(prolong_agg_cell),
    }
