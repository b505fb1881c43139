"""CPU launchers of the pressing, packing and topology kernel bodies (numba, parallel over
particles); their GPU twins are :class:`._packing_cuda.CudaKernels`."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from . import _packing_kernels as K
from . import _pressing_kernels as PK
from ._contacts import CpuTopologyKernels
from ._packing import CpuKernels, sorted_pairs

_B = PK.compile_for(numba.njit(cache=True))
_PB = K.compile_for(numba.njit(cache=True))
_nb_force, _nb_pull = _B["force"], _B["pull"]
_nb_lens, _nb_contacts = _B["hard_lens"], _B["contacts"]
_nb_search, _nb_search_csr = _PB["neighbours"], _PB["neighbours_csr"]


@numba.njit(parallel=True, cache=True)
def _count_cpu(pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic, skin, counts):
    empty = np.zeros((pos.shape[0], 0), dtype=np.int64)
    for i in numba.prange(pos.shape[0]):
        _nb_search(i, pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic, skin,
                   empty, counts)


@numba.njit(parallel=True, cache=True)
def _fill_cpu(pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic, skin, start,
              out, counts):
    rows = (start, out)
    for i in numba.prange(pos.shape[0]):
        _nb_search_csr(i, pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic,
                       skin, rows, counts)


@numba.njit(cache=True)
def _symmetrize(n, start, half, counts):  # pragma: no cover - numba
    """Full CSR list (rows sorted) from the half list ``half[start[i]:start[i] + counts[i]]``."""
    deg = np.zeros(n, dtype=np.int64)
    for i in range(n):
        deg[i] += counts[i]
        for k in range(start[i], start[i] + counts[i]):
            deg[half[k]] += 1
    ptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        ptr[i + 1] = ptr[i] + deg[i]
    cur = ptr[:-1].copy()
    idx = np.empty(max(ptr[n], 1), dtype=np.int64)
    for i in range(n):
        for k in range(start[i], start[i] + counts[i]):
            j = half[k]
            idx[cur[i]] = j
            cur[i] += 1
            idx[cur[j]] = i
            cur[j] += 1
    _sort_rows(ptr, idx)
    return ptr, idx


@numba.njit(parallel=True, cache=True)
def _sort_rows(ptr, idx):  # pragma: no cover - numba
    """Sort each CSR row in place (insertion sort: rows hold tens of entries)."""
    for i in numba.prange(ptr.shape[0] - 1):
        lo = ptr[i]
        for k in range(lo + 1, ptr[i + 1]):
            v = idx[k]
            m = k - 1
            while m >= lo and idx[m] > v:
                idx[m + 1] = idx[m]
                m -= 1
            idx[m + 1] = v


@numba.njit(parallel=True, cache=True)
def _force_cpu(pos, rad, phase, nbr_ptr, nbr_idx, box, periodic, kpair, kwall, force, wall_top,
               energy):
    for i in numba.prange(pos.shape[0]):
        _nb_force(i, pos, rad, phase, nbr_ptr, nbr_idx, box, periodic, kpair, kwall, force,
                  wall_top, energy)


@numba.njit(parallel=True, cache=True)
def _pull_cpu(pos, rad, sel, nbr_ptr, nbr_idx, box, periodic, a, reach, force):
    for i in numba.prange(sel.shape[0]):
        _nb_pull(i, pos, rad, sel, nbr_ptr, nbr_idx, box, periodic, a, reach, force)


@numba.njit(parallel=True, cache=True)
def _hard_lens_cpu(pos, rad, phase, nbr_ptr, nbr_idx, box, periodic, cam_lens):
    for i in numba.prange(pos.shape[0]):
        _nb_lens(i, pos, rad, phase, nbr_ptr, nbr_idx, box, periodic, cam_lens)


@numba.njit(parallel=True, cache=True)
def _contacts_cpu(pos, rad, nbr_ptr, nbr_idx, box, periodic, tol, padded, counts):
    for i in numba.prange(pos.shape[0]):
        _nb_contacts(i, pos, rad, nbr_ptr, nbr_idx, box, periodic, tol, padded, counts)


def _half_rows(args: tuple, hint: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The half neighbour list of the search ``args``: row ``i`` is
    ``half[start[i]:start[i] + counts[i]]``.  The rows are sized from ``hint`` (the counts of
    the last build, plus a quarter and 4) and filled in one pass; without a hint, or when a row
    overflows, the counts are taken first (a second pass over the cells) and the rows packed.
    Positions and radii are passed C-contiguous (``_generate_pressed._gaps`` asks in reversed
    order, a strided view), so numba compiles one signature of the two kernels, not two (a
    cold compile is ~16 s each)."""
    args = (np.ascontiguousarray(args[0]), np.ascontiguousarray(args[1]), *args[2:])
    n = args[0].shape[0]
    counts = np.zeros(n, dtype=np.int64)
    if hint is None or hint.shape[0] != n:
        _count_cpu(*args, counts)
        cap = counts.copy()
    else:
        cap = hint + (hint >> 2) + 4
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(cap, out=start[1:])
    half = np.empty(max(int(start[-1]), 1), dtype=np.int64)
    _fill_cpu(*args, start, half, counts)
    if np.any(counts > cap):  # rows too short for this build: sized exactly, again
        np.cumsum(counts, out=start[1:])
        half = np.empty(max(int(start[-1]), 1), dtype=np.int64)
        _fill_cpu(*args, start, half, counts)
    return start, half, counts


class CpuPressKernels(CpuKernels, CpuTopologyKernels):
    """CPU launchers of the packing, pressing and topology bodies (GPU twins:
    ``_packing_cuda``)."""

    def press_force(self, *args: Any) -> None:
        _force_cpu(*args)

    def press_pull(self, *args: Any) -> None:
        _pull_cpu(*args)

    def press_hard_lens(self, *args: Any) -> None:
        _hard_lens_cpu(*args)

    def press_contacts(self, *args: Any) -> None:
        _contacts_cpu(*args)

    def close_pairs(self, pos: Any, rad: Any, cell_start: Any, cell_items: Any, ncell: Any,
                    cell_size: Any, box: Any, periodic: Any, skin: float) -> np.ndarray:
        """(m, 2) int64 pairs (i < j) with ``|x_i - x_j| < r_i + r_j + skin``, sorted: the half
        neighbour list itself (each pair once), without the full list or a filtering pass."""
        args = (pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic, skin)
        start, half, counts = _half_rows(args, None)  # without a hint the rows are packed
        i = np.repeat(np.arange(pos.shape[0], dtype=np.int64), counts)
        return sorted_pairs(i, half[:int(start[-1])], pos.shape[0])

    def neighbours_csr(self, pos: Any, rad: Any, cell_start: Any, cell_items: Any, ncell: Any,
                       cell_size: Any, box: Any, periodic: Any, skin: float,
                       hint: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Full neighbour list (CSR, rows sorted by j) without the padded rows, and each
        particle's count in the half list.  Same list as :meth:`._packing._NeighbourList.build`
        (the half list's rows sized as :func:`_half_rows` says)."""
        args = (pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic, skin)
        start, half, counts = _half_rows(args, hint)
        ptr, idx = _symmetrize(pos.shape[0], start, half, counts)
        return ptr, idx, counts
