"""Connected-component labeling of 3-D masks on the CPU.

Algorithm
---------
1. The box is labeled without wrap by the run-based union-find on bit-packed rows of
   :mod:`solvers.labeling._label_runs` (numba).  It is the fastest correct CPU labeler measured in
   ``benchmarks/bench_label.py`` (ahead of ``scipy.ndimage.label``, ``cc3d`` and
   ``skimage.measure.label``); its labels are ordered by each component's first voxel in C
   order, like ``scipy.ndimage.label``.
2. Periodic wrap, per axis, is done here for every connectivity.  Voxel pairs that are neighbours
   only through a periodic face, ``{p, (p + d) mod shape}`` for the offsets ``d`` of the
   connectivity that leave the box along periodic axes only, have their labels joined in a
   union-find table over labels (a numba kernel over the box's surface shell).
3. If anything was joined, the merged sets are renumbered 1..n in the order of their smallest
   old label, which keeps "ordered by first voxel in C order", and the label image is remapped
   (parallel numba pass).

The GPU kernels in ``_label_cuda.py`` order labels by the same rule, so CPU and GPU labels
are identical, not merely equivalent.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from .._validate import check_connectivity, check_mask, check_periodic
from ..device import check_device
from ._label_runs import label_runs
from ._neighbors import neighbor_offsets

# ---------------------------------------------------------------------------------------------
# numba kernels.  ``eq`` is a union-find table over labels (root = smallest label of the set).


@numba.njit(inline="always")
def _find(eq, a):
    """Root of label ``a``, with path halving."""
    while True:
        p = eq[a]
        if p == a:
            return a
        gp = eq[p]
        if gp == p:
            return p
        eq[a] = gp
        a = gp


@numba.njit(cache=True, nogil=True)
def _join_periodic(lab, eq, shape, periodic, offs):
    """Join the labels of voxel pairs that are neighbours only through a periodic face.

    Visits the voxels of the box's surface shell and, for each full-neighbourhood offset whose
    target leaves the box only along periodic axes, joins the voxel's label with the label of
    the wrapped target.  Returns the number of joins that merged two sets.
    """
    nz, ny, nx = shape
    k = offs.shape[0]
    merged = 0
    for z in range(nz):
        zb = z == 0 or z == nz - 1
        for y in range(ny):
            yb = zb or y == 0 or y == ny - 1
            step = 1 if yb else max(nx - 1, 1)
            for x in range(0, nx, step):
                a = lab[(z * ny + y) * nx + x]
                if a == 0:
                    continue
                for j in range(k):
                    c0 = z + offs[j, 0]
                    c1 = y + offs[j, 1]
                    c2 = x + offs[j, 2]
                    wrapped = False
                    ok = True
                    if c0 < 0 or c0 >= nz:
                        if periodic[0]:
                            c0 = (c0 + nz) % nz
                            wrapped = True
                        else:
                            ok = False
                    if c1 < 0 or c1 >= ny:
                        if periodic[1]:
                            c1 = (c1 + ny) % ny
                            wrapped = True
                        else:
                            ok = False
                    if c2 < 0 or c2 >= nx:
                        if periodic[2]:
                            c2 = (c2 + nx) % nx
                            wrapped = True
                        else:
                            ok = False
                    if not ok or not wrapped:
                        continue
                    b = lab[(c0 * ny + c1) * nx + c2]
                    if b == 0:
                        continue
                    ra = _find(eq, a)
                    rb = _find(eq, b)
                    if ra < rb:
                        eq[rb] = ra
                        merged += 1
                    elif rb < ra:
                        eq[ra] = rb
                        merged += 1
    return merged


@numba.njit(cache=True, nogil=True)
def _renumber_table(eq, new):
    """Fill ``new`` with old label -> new label (1..n, ordered by smallest old label); return n.

    Parents are always smaller than their children (the smaller root wins every join), so in
    one ascending sweep each parent is already flattened to its root when its child is met.
    """
    n = 0
    new[0] = 0
    for a in range(1, eq.shape[0]):
        p = eq[a]
        if p == a:
            n += 1
            new[a] = n
        else:
            r = eq[p]
            eq[a] = r
            new[a] = new[r]
    return n


@numba.njit(cache=True, parallel=True)
def _remap(lab, table, chunks):
    """``lab[i] = table[lab[i]]`` in parallel chunks."""
    for c in numba.prange(chunks.shape[0] - 1):
        for i in range(chunks[c], chunks[c + 1]):
            v = lab[i]
            if v != 0:
                lab[i] = table[v]


def label_cpu_raw(
    mask: np.ndarray, connectivity: int, periodic: tuple[bool, bool, bool]
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Steps 1-2 of the CPU labeling, without remapping the image.

    Returns ``(raw, table, n)``: ``raw`` are the int32 labels of the box without wrap,
    ``table`` maps raw label -> final label (None when periodic wrap merged nothing, i.e. raw
    labels are final) and ``n``
    is the final number of components.  Callers that only need per-component tables (the
    utilization pass) skip the remap pass over the image this way.
    """
    fg = np.ascontiguousarray(mask)
    if fg.size == 0:
        return np.zeros(fg.shape, dtype=np.int32), None, 0
    lab, n = label_runs(fg, connectivity)
    if n > 1 and any(periodic):
        eq = np.arange(n + 1, dtype=np.int32)
        merged = _join_periodic(
            lab.reshape(-1),
            eq,
            np.array(fg.shape, dtype=np.int64),
            np.array(periodic, dtype=np.bool_),
            neighbor_offsets(connectivity, half=False),
        )
        if merged:
            table = np.empty_like(eq)
            return lab, table, int(_renumber_table(eq, table))
    return lab, None, n


def label_cpu(
    mask: np.ndarray, connectivity: int, periodic: tuple[bool, bool, bool]
) -> tuple[np.ndarray, int]:
    """Label ``mask`` on the CPU; arguments already validated.  Returns (int32 labels, n)."""
    lab, table, n = label_cpu_raw(mask, connectivity, periodic)
    if table is not None:
        nchunk = max(1, min(lab.size, 8 * numba.get_num_threads()))
        chunks = np.linspace(0, lab.size, nchunk + 1).round().astype(np.int64)
        _remap(lab.reshape(-1), table, chunks)
    return lab, n


def validate_label_args(mask: Any, connectivity: Any, periodic: Any) -> tuple[int, tuple]:
    """Shared argument checks of the labeling entry points."""
    check_mask(mask)
    return check_connectivity(connectivity), check_periodic(periodic)


def label(
    mask: Any,
    *,
    connectivity: int = 6,
    periodic: bool | tuple[bool, bool, bool] = (False, False, False),
    device: str = "cpu",
) -> tuple[Any, int]:
    """Label the connected components of a 3-D mask.

    Parameters
    ----------
    mask : (nz, ny, nx) array of bool or integers
        Foreground where true / nonzero.  A NumPy array for ``device="cpu"``; a CuPy or NumPy
        array for ``device="cuda"`` (a NumPy array is copied to the GPU once).
    connectivity : {6, 18, 26}
        Voxels sharing a face (6), also an edge (18), also a corner (26) are neighbours.
    periodic : bool or tuple of 3 bools
        Wrap per axis: voxels on opposite faces of a periodic axis are neighbours.
    device : {"cpu", "cuda"}
        ``"cpu"``: run-based union-find on bit-packed rows (numba), plus a pass for
        periodic wrap.  ``"cuda"``: numba-cuda union-find
        kernels on CuPy arrays.  Both give identical labels.

    Returns
    -------
    labels : int32 array, same shape as ``mask``
        0 on background, 1..n on the components, numbered by each component's first voxel in
        C order (as ``scipy.ndimage.label`` does).  NumPy for ``"cpu"``, CuPy for ``"cuda"``.
    n : int
        Number of components.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import label
    >>> m = np.zeros((1, 1, 6), dtype=bool)
    >>> m[0, 0, [0, 1, 5]] = True
    >>> label(m)[1]
    2
    >>> lab, n = label(m, periodic=(False, False, True))
    >>> n, lab.ravel().tolist()
    (1, [1, 1, 0, 0, 0, 1])
    """
    device = check_device(device)
    connectivity, periodic = validate_label_args(mask, connectivity, periodic)
    if device == "cuda":
        from ._label_cuda import label_cuda

        return label_cuda(mask, connectivity, periodic)
    if not isinstance(mask, np.ndarray):
        raise TypeError(
            f"mask must be a NumPy array for device='cpu', got {type(mask).__module__}."
            f"{type(mask).__name__}; use device='cuda' for GPU arrays"
        )
    return label_cpu(mask, connectivity, periodic)
