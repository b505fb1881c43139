"""Connected-component labeling on the GPU: numba-cuda kernels on CuPy arrays.

Algorithm (union-find over voxels, in the style of Playne & Hawick 2018)
--------------------------------------------------------------------------
``par`` is an int32 array with one entry per voxel: -1 for background, else the flat C-order
index of a parent voxel.  The root of each tree is the smallest flat index of its component,
i.e. the component's first voxel in C order.

1. ``_init``: every foreground voxel is its own root.
2. ``_merge``: one thread per voxel joins it with each backward neighbour of the connectivity
   (3, 9 or 13 offsets; with periodic wrap on the axes asked for) by *atomic-min hooking*:
   find both roots; hook the larger root under the smaller with ``atomic.min``; if the entry
   that was hooked had meanwhile stopped being a root, retry from what it pointed to.  The
   result is independent of thread order: each set's root is its smallest index.
3. ``_compress``: every voxel points straight at its root (path compression).
4. Relabel: roots are numbered 1..n in C order (``cumsum`` over a root flag with the array
   namespace ``xp``) and ``_relabel`` gives every voxel its root's number.

Labels are therefore ordered by first voxel in C order, exactly like the CPU path; CPU and GPU
labels are identical.  The kernels take 1-D views of C-contiguous arrays and the shape as
scalars.  They are compiled on first launch.  This module imports ``numba.cuda`` and is itself
imported only on the GPU path (``device="cuda"``), never at package import.  Under numba's CUDA
simulator ``xp`` is NumPy and the kernels run as Python threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from ..device import get_xp, launch_config
from ._neighbors import neighbor_offsets


@cuda.jit(device=True)
def _find(par, i):
    # walk to the root; the path-halving writes are benign races (any ancestor is valid)
    p = par[i]
    while p != i:
        gp = par[p]
        if gp != p:
            par[i] = gp
        i = p
        p = par[i]
    return i


@cuda.jit
def _init(fg, par):
    i = cuda.grid(1)
    if i < fg.shape[0]:
        par[i] = i if fg[i] else -1


@cuda.jit
def _merge(fg, par, nz, ny, nx, pz, py, px, offs):
    i = cuda.grid(1)
    if i >= fg.shape[0] or not fg[i]:
        return
    x = i % nx
    y = (i // nx) % ny
    z = i // (nx * ny)
    for j in range(offs.shape[0]):
        c0 = z + offs[j, 0]
        c1 = y + offs[j, 1]
        c2 = x + offs[j, 2]
        if c0 < 0 or c0 >= nz:
            if not pz:
                continue
            c0 = (c0 + nz) % nz
        if c1 < 0 or c1 >= ny:
            if not py:
                continue
            c1 = (c1 + ny) % ny
        if c2 < 0 or c2 >= nx:
            if not px:
                continue
            c2 = (c2 + nx) % nx
        q = (c0 * ny + c1) * nx + c2
        if not fg[q]:
            continue
        # atomic-min hooking of the larger root under the smaller one
        a = _find(par, i)
        b = _find(par, q)
        while a != b:
            if a < b:
                a, b = b, a
            old = cuda.atomic.min(par, a, b)
            if old == a:
                break  # a was a root and now hangs under b
            a = _find(par, old)  # a was hooked elsewhere meanwhile: retry from there
            b = _find(par, b)


@cuda.jit(device=True)
def _find_readonly(par, i):
    # walk to the root without writing: only thread i writes par[i] in _compress
    p = par[i]
    while p != i:
        i = p
        p = par[i]
    return i


@cuda.jit
def _compress(par):
    i = cuda.grid(1)
    if i < par.shape[0] and par[i] >= 0:
        par[i] = _find_readonly(par, i)


@cuda.jit
def _relabel(par, rank, out):
    i = cuda.grid(1)
    if i < par.shape[0]:
        p = par[i]
        out[i] = rank[p] if p >= 0 else 0


def label_cuda(mask: Any, connectivity: int, periodic: tuple[bool, bool, bool]) -> tuple[Any, int]:
    """Label ``mask`` with the CUDA kernels; arguments already validated.

    ``mask`` is a CuPy array (a NumPy array under the simulator, or a NumPy array that is
    copied to the device once).  Returns (int32 labels on the device, n).
    """
    xp = get_xp("cuda")
    fg = xp.ascontiguousarray(xp.asarray(mask))
    if fg.dtype != xp.bool_:
        fg = fg != 0
    shape = tuple(int(s) for s in fg.shape)
    size = fg.size
    if size == 0:
        return xp.zeros(shape, dtype=xp.int32), 0
    flat = fg.reshape(-1)
    par = xp.empty(size, dtype=xp.int32)
    offs = xp.asarray(neighbor_offsets(connectivity, half=True).astype(np.int32))
    blocks, threads = launch_config(size)
    _init[blocks, threads](flat, par)
    _merge[blocks, threads](flat, par, *shape, *(bool(p) for p in periodic), offs)
    _compress[blocks, threads](par)
    # roots are numbered 1..n in C order; rank[r] is root r's number
    is_root = par == xp.arange(size, dtype=xp.int32)
    rank = xp.cumsum(is_root, dtype=xp.int32)
    n = int(rank[-1])  # device sync point
    out = xp.empty(size, dtype=xp.int32)
    _relabel[blocks, threads](par, rank, out)
    return out.reshape(shape), n
