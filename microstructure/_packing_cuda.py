"""GPU backend of the generator: the kernel bodies of ``_packing_kernels`` and
``_voxelize_kernels`` compiled with numba-cuda, one thread per particle, on CuPy arrays.

Imported only when ``device="cuda"`` is asked for.  Under numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) the same kernels run on NumPy arrays, which is how CI tests the whole
GPU pipeline without a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from solvers.device import cuda_simulated, get_xp, launch_config

from . import _packing_kernels as K
from . import _pressing_kernels as PK
from . import _topology_kernels as TK
from . import _voxelize_kernels as VK


@cuda.jit(device=True)
def _key_min_gpu(keys, a, b, c, key):
    cuda.atomic.min(keys, (a, b, c), key)


@cuda.jit(device=True)
def _val_min_gpu(out, a, b, c, val):
    # the float32 clearance field takes float32 operands (the CPU twin compares in float64 and
    # stores float32: the same value)
    cuda.atomic.min(out, (a, b, c), np.float32(val))


_P = K.compile_for(cuda.jit(device=True))
_d_neighbours, _d_force, _d_overlap = _P["neighbours"], _P["force"], _P["overlap"]
_d_fire_power, _d_fire_step = _P["fire_power"], _P["fire_step"]
_Q = PK.compile_for(cuda.jit(device=True))
_d_pforce, _d_ppull = _Q["force"], _Q["pull"]
_d_plens, _d_pcontacts = _Q["hard_lens"], _Q["contacts"]
_B = VK.compile_for(cuda.jit(device=True), key_min=_key_min_gpu, val_min=_val_min_gpu)
_d_soft, _d_hard, _d_clear = _B["stamp_soft"], _B["stamp_hard"], _B["clearance"]
_T = TK.compile_for(cuda.jit(device=True), key_min=_key_min_gpu)
_d_tstamp, _d_tneck = _T["stamp"], _T["neck"]
_d_tlosers, _d_tsettle = _T["losers_row"], _T["settle"]


@cuda.jit
def _neighbours_kernel(pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic, skin,
                       padded, counts):
    i = cuda.grid(1)
    if i < pos.shape[0]:
        _d_neighbours(i, pos, rad, cell_start, cell_items, ncell, cell_size, box, periodic, skin,
                      padded, counts)


@cuda.jit
def _force_kernel(pos, rad, nbr_ptr, nbr_idx, box, periodic, force, energy):
    i = cuda.grid(1)
    if i < pos.shape[0]:
        _d_force(i, pos, rad, nbr_ptr, nbr_idx, box, periodic, force, energy)


@cuda.jit
def _overlap_kernel(pos, rad, nbr_ptr, nbr_idx, box, periodic, lens, rel):
    i = cuda.grid(1)
    if i < pos.shape[0]:
        _d_overlap(i, pos, rad, nbr_ptr, nbr_idx, box, periodic, lens, rel)


@cuda.jit
def _fire_power_kernel(vel, force, rad, use_mass, out):
    i = cuda.grid(1)
    if i < vel.shape[0]:
        _d_fire_power(i, vel, force, rad, use_mass, out)


@cuda.jit
def _fire_step_kernel(pos, vel, force, rad, use_mass, cv, ca, dt, max_move, box, periodic, ref,
                      disp2):
    i = cuda.grid(1)
    if i < pos.shape[0]:
        _d_fire_step(i, pos, vel, force, rad, use_mass, cv, ca, dt, max_move, box, periodic, ref,
                     disp2)


@cuda.jit
def _press_force_kernel(pos, rad, phase, nbr_ptr, nbr_idx, box, periodic, kpair, kwall, force,
                        wall_top, energy):
    i = cuda.grid(1)
    if i < pos.shape[0]:
        _d_pforce(i, pos, rad, phase, nbr_ptr, nbr_idx, box, periodic, kpair, kwall, force,
                  wall_top, energy)


@cuda.jit
def _press_pull_kernel(pos, rad, sel, nbr_ptr, nbr_idx, box, periodic, a, reach, force):
    i = cuda.grid(1)
    if i < sel.shape[0]:
        _d_ppull(i, pos, rad, sel, nbr_ptr, nbr_idx, box, periodic, a, reach, force)


@cuda.jit
def _press_hard_lens_kernel(pos, rad, phase, nbr_ptr, nbr_idx, box, periodic, cam_lens):
    i = cuda.grid(1)
    if i < pos.shape[0]:
        _d_plens(i, pos, rad, phase, nbr_ptr, nbr_idx, box, periodic, cam_lens)


@cuda.jit
def _press_contacts_kernel(pos, rad, nbr_ptr, nbr_idx, box, periodic, tol, padded, counts):
    i = cuda.grid(1)
    if i < pos.shape[0]:
        _d_pcontacts(i, pos, rad, nbr_ptr, nbr_idx, box, periodic, tol, padded, counts)


@cuda.jit
def _stamp_hard_kernel(centers, radii, h, shape, periodic, keys):
    k = cuda.grid(1)
    if k < centers.shape[0]:
        _d_hard(k, centers, radii, h, shape, periodic, 0.0, keys, 0, 0)


@cuda.jit
def _stamp_soft_kernel(centers, radii, h, shape, periodic, phases, code, into):
    k = cuda.grid(1)
    if k < centers.shape[0]:
        _d_soft(k, centers, radii, h, shape, periodic, 0.0, phases, code, into)


@cuda.jit
def _clearance_kernel(centers, radii, h, shape, periodic, cap, out):
    k = cuda.grid(1)
    if k < centers.shape[0]:
        _d_clear(k, centers, radii, h, shape, periodic, cap, out, 0, 0)


@cuda.jit
def _topo_stamp_kernel(c, r, ph, h, shape, periodic, keys):
    k = cuda.grid(1)
    if k < c.shape[0]:
        _d_tstamp(k, c, r, ph, h, shape, periodic, keys)


@cuda.jit
def _topo_neck_kernel(c, r, ph, pairs, ptr, nbr, tcc, tsep, h, shape, periodic, own, claim,
                      count):
    t = cuda.grid(1)
    if t < pairs.shape[0] + c.shape[0]:
        blocked = _d_tneck(t, c, r, ph, pairs, ptr, nbr, tcc, tsep, h, shape, periodic, own,
                           claim)
        if blocked:
            cuda.atomic.add(count, 0, blocked)


@cuda.jit
def _topo_losers_kernel(c, r, ph, ptr, nbr, spot2, h, shape, periodic, own, prot, st, stride,
                        count):
    # thread t takes every stride-th voxel of row t // stride, starting at t % stride: neighbouring
    # threads read neighbouring voxels
    t = cuda.grid(1)
    if t < shape[0] * shape[1] * stride:
        row = t // stride
        unresolved = _d_tlosers(row // shape[1], row % shape[1], t % stride, stride, c, r, ph,
                                ptr, nbr, spot2, h, shape, periodic, own, prot, st)
        if unresolved:
            cuda.atomic.add(count, 0, unresolved)


@cuda.jit
def _topo_settle_kernel(idx, c, r, ph, ptr, nbr, spot2, h, shape, periodic, own, prot, st, new):
    t = cuda.grid(1)
    if t < idx.shape[0]:
        _d_tsettle(t, idx, c, r, ph, ptr, nbr, spot2, h, shape, periodic, own, prot, st, new)


class CudaKernels:
    """GPU launcher with the same methods as :class:`._packing.CpuKernels`."""

    name = "cuda"

    def __init__(self) -> None:
        self.xp = get_xp("cuda")

    @staticmethod
    def _launch(kernel: Any, n: int, *args: Any) -> None:
        # These kernels use no shared memory, so any block size is valid.  Under the simulator
        # one thread per block: its Python threads contend on the atomics' lock and the GIL, which
        # made a 61-sphere clearance kernel take minutes with 4-32 threads per block.
        blocks, threads = launch_config(n, threads=1 if cuda_simulated() else 256)
        kernel[blocks, threads](*args)

    def neighbours(self, pos: Any, *args: Any) -> None:
        self._launch(_neighbours_kernel, pos.shape[0], pos, *args)

    def force(self, pos: Any, *args: Any) -> None:
        self._launch(_force_kernel, pos.shape[0], pos, *args)

    def overlap(self, pos: Any, *args: Any) -> None:
        self._launch(_overlap_kernel, pos.shape[0], pos, *args)

    def fire_power(self, vel: Any, *args: Any) -> None:
        self._launch(_fire_power_kernel, vel.shape[0], vel, *args)

    def fire_step(self, pos: Any, *args: Any) -> None:
        self._launch(_fire_step_kernel, pos.shape[0], pos, *args)

    def press_force(self, pos: Any, *args: Any) -> None:
        self._launch(_press_force_kernel, pos.shape[0], pos, *args)

    def press_pull(self, pos: Any, rad: Any, sel: Any, *args: Any) -> None:
        self._launch(_press_pull_kernel, sel.shape[0], pos, rad, sel, *args)

    def press_hard_lens(self, pos: Any, *args: Any) -> None:
        self._launch(_press_hard_lens_kernel, pos.shape[0], pos, *args)

    def press_contacts(self, pos: Any, *args: Any) -> None:
        self._launch(_press_contacts_kernel, pos.shape[0], pos, *args)

    def stamp_hard(self, centers: Any, *args: Any) -> None:
        self._launch(_stamp_hard_kernel, centers.shape[0], centers, *args)

    def stamp_soft(self, centers: Any, *args: Any) -> None:
        self._launch(_stamp_soft_kernel, centers.shape[0], centers, *args)

    def clearance(self, centers: Any, *args: Any) -> None:
        self._launch(_clearance_kernel, centers.shape[0], centers, *args)

    def topo_stamp(self, c: Any, *args: Any) -> None:
        self._launch(_topo_stamp_kernel, c.shape[0], c, *args)

    def topo_necks(self, c: Any, r: Any, ph: Any, pairs: Any, *args: Any) -> int:
        count = self.xp.zeros(1, dtype=self.xp.int64)
        self._launch(_topo_neck_kernel, pairs.shape[0] + c.shape[0], c, r, ph, pairs, *args,
                     count)
        return int(count[0])

    def topo_losers(self, *args: Any) -> int:
        own = args[9]
        nz, ny, nx = (int(s) for s in own.shape)
        stride = 1 if cuda_simulated() else min(32, nx)
        count = self.xp.zeros(1, dtype=self.xp.int64)
        self._launch(_topo_losers_kernel, nz * ny * stride, *args, stride, count)
        return int(count[0])

    def topo_settle(self, idx: Any, *args: Any) -> None:
        self._launch(_topo_settle_kernel, idx.shape[0], idx, *args)
