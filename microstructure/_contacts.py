"""The contact graph of a pressed packing, and a voxelization that keeps its topology.

Contact graph
    Two particles are in contact when their spheres overlap (a pressed contact always does;
    ``_pressing.CONTACT_GAP`` absorbs round-off) and the contact spot -- the centre of the lens
    circle, on the centre line -- is not buried inside a third, hard particle (CAM or carbon):
    an SE–SE contact swallowed by a CAM particle is not a path for ions.  The contact area is the
    lens circle ``pi a^2``.  A particle touches the current collector (separator) when it reaches
    the wall at ``x_0 = 0`` (``x_0 = L``).

Voxelization (topology-preserving)
    1. A voxel belongs to the sphere containing its centre; hard spheres (CAM, carbon) beat SE;
       among one kind the smallest ``|x - c|^2 / r^2`` wins (ties: lowest id).  Where two spheres
       overlap the border passes through their contact circle.
    2. **Necks.** For every contact, the voxels met by the centre line (a face-connected walk,
       Amanatides & Woo) from the contact spot towards each centre go to that particle until
       the walk meets the particle's own voxels of step 1, so every contact is a face-connected
       path at least one voxel wide whatever the voxel size; the same for a particle touching a
       wall (a straight walk from the wall).  A neck never takes a voxel stamped hard for SE,
       but near a stranger: the voxel of the spot of a hard–SE contact goes to the SE particle
       unless step 1 gave it to a hard one, and where a hard particle that the hard one does
       not touch holds it or one of its 26 neighbours, the SE particle takes it all the same,
       and the next voxels of the hard half inside its sphere that are still next to one: an
       SE grain pressed into a gap narrower than a voxel between two hard particles keeps them
       apart (else the two hard necks to the grain met across the gap, joining what does not
       touch).
       Where two necks cross, the voxel goes to the hard particle's, then to the lower id.
       Neck voxels are protected.
    3. **Gaps.** Two particles that are not in contact must not look connected: where voxels of
       two such particles are face-, edge- or corner-adjacent in the same conducting network
       (CAM/carbon for electrons, SE for ions), or face-adjacent CAM and SE (an ionic contact),
       the voxel nearer its own sphere's surface becomes pore (on a tie, that of the higher id)
       -- of a CAM and an SE voxel, the SE one: the ductile SE gives way to the hard CAM, as in
       step 1, so an SE grown to keep its volume never eats into a CAM particle it does not
       touch.  A voxel gives way only to a neighbour that stays: one that would give way to a
       voxel that is itself carved keeps its place.  First, likewise, an electronically
       conducting voxel in the first layer of a particle that does not touch the current
       collector, and an SE or CAM voxel in the last layer of one that does not touch the
       separator (CAM on the separator face counts as touching the separator's SE).
       Two hard particles (CAM, carbon) that touch share faces only within a quarter voxel
       of their contact circle (``area_um2``, or the lens circle of the spheres as drawn if
       the fraction correction grew it) or where both voxels are neck voxels; elsewhere the
       same rule parts them.  Without it the grid widens every hard contact to wherever the
       two surfaces come within a voxel (radius ~sqrt(2 R_ij h); pressed 5 µm NCM: ~0.3 µm), and
       the electronic conductance of a CAM network drifts with the voxel size instead of
       converging (``_topology_kernels.SPOT_DILATION``).

No step depends on the order of particles, contacts or voxels (keys decide, never "who came
last"), so the GPU runs them with one thread per particle, contact or voxel row and gives the
CPU's array (:mod:`._topology_kernels`).
The result therefore has the graph's topology for 6-, 18- and 26-connectivity alike, up to the
counts reported in :class:`VoxelTopology` (necks that would have crossed hard voxels, gaps
between two protected voxels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from solvers.phases import CARBON, SE

from . import _topology_kernels as TK
from ._packing_kernels import min_image
from ._voxelize import _key_min_cpu

_min_image = numba.njit(cache=True)(min_image)


@dataclass(frozen=True)
class ContactGraph:
    """Which particles touch, and how much (ids as in the particle table, 1-based)."""

    i: np.ndarray
    """(m,) int32 id of the first particle of each contact (i < j)."""
    j: np.ndarray
    """(m,) int32 id of the second particle."""
    area_um2: np.ndarray
    """(m,) float32 contact area (lens circle) in µm²."""
    touches_cc: np.ndarray
    """(n,) bool: the particle touches the current-collector face (x_0 = 0)."""
    touches_separator: np.ndarray
    """(n,) bool: the particle touches the separator face (x_0 = L)."""

    def __len__(self) -> int:
        return int(self.i.shape[0])

    def pairs(self) -> np.ndarray:
        """(m, 2) int64 contacts as 0-based particle rows."""
        return np.stack([self.i, self.j], axis=1).astype(np.int64) - 1


@dataclass(frozen=True)
class VoxelTopology:
    """What the topology-preserving voxelization had to do (voxel counts)."""

    neck_voxels: int
    """Voxels re-assigned to draw contact and wall necks."""
    carved_voxels: int
    """Voxels turned to pore to keep non-touching particles apart, and touching hard ones
    (CAM, carbon) off their contact circle."""
    blocked_neck_voxels: int
    """Neck voxels refused because a hard particle holds them (should be 0 or near)."""
    unresolved_gaps: int
    """Adjacent voxels of non-touching particles that were both protected (should be 0)."""


def contact_graph(centers: np.ndarray, radii: np.ndarray, phase: np.ndarray,
                  pairs: np.ndarray, box: np.ndarray, periodic: np.ndarray) -> ContactGraph:
    """The contact graph from candidate ``pairs`` (0-based, i < j, gap below the tolerance)."""
    c = np.ascontiguousarray(centers, dtype=np.float64)
    r = np.ascontiguousarray(radii, dtype=np.float64)
    ph = np.ascontiguousarray(phase, dtype=np.int64)
    pairs = np.ascontiguousarray(pairs, dtype=np.int64).reshape(-1, 2)
    ptr, nbr = _csr(pairs, c.shape[0])
    keep, area = _contact_spots(c, r, ph, pairs, ptr, nbr, np.asarray(box, np.float64),
                                np.asarray(periodic, np.int64))
    tol = 1e-4
    touches_cc = c[:, 0] - r <= tol
    touches_sep = c[:, 0] + r >= float(box[0]) - tol
    return ContactGraph((pairs[keep, 0] + 1).astype(np.int32),
                        (pairs[keep, 1] + 1).astype(np.int32), area[keep].astype(np.float32),
                        touches_cc, touches_sep)


def _csr(pairs: np.ndarray, n: int, with_order: bool = False) -> tuple[np.ndarray, ...]:
    """Symmetric CSR of ``pairs``: row ``a`` lists its partners in ascending order (from one
    sort of the int64 keys ``a * n + b``); with ``with_order``, also where each entry comes
    from in ``[pairs[:, 0] -> pairs[:, 1], pairs[:, 1] -> pairs[:, 0]]``."""
    a = np.concatenate([pairs[:, 0], pairs[:, 1]])
    b = np.concatenate([pairs[:, 1], pairs[:, 0]])
    ptr = np.zeros(n + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(a, minlength=n))
    keys = a.astype(np.int64) * n + b
    if not with_order:
        return ptr, np.sort(keys) % n
    order = np.argsort(keys, kind="stable")
    return ptr, keys[order] % n, order


@numba.njit(parallel=True, cache=True)
def _contact_spots(c, r, ph, pairs, ptr, nbr, box, periodic):  # pragma: no cover - numba
    m = pairs.shape[0]
    keep = np.zeros(m, dtype=np.bool_)
    area = np.zeros(m)
    for k in numba.prange(m):
        p = pairs[k, 0]
        q = pairs[k, 1]
        d0 = _min_image(c[q, 0] - c[p, 0], box[0], periodic[0])
        d1 = _min_image(c[q, 1] - c[p, 1], box[1], periodic[1])
        d2 = _min_image(c[q, 2] - c[p, 2], box[2], periodic[2])
        dist = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        if dist < 1e-12:
            continue
        xp = (dist * dist + r[p] * r[p] - r[q] * r[q]) / (2 * dist)
        xp = min(max(xp, 0.0), dist)
        a2 = r[p] * r[p] - xp * xp
        area[k] = math.pi * max(a2, 0.0)
        s0 = c[p, 0] + d0 * xp / dist
        s1 = c[p, 1] + d1 * xp / dist
        s2 = c[p, 2] + d2 * xp / dist
        buried = False
        for t in range(ptr[p], ptr[p + 1]):
            s = nbr[t]
            if s == q or ph[s] == SE:
                continue
            e0 = _min_image(s0 - c[s, 0], box[0], periodic[0])
            e1 = _min_image(s1 - c[s, 1], box[1], periodic[1])
            e2 = _min_image(s2 - c[s, 2], box[2], periodic[2])
            if e0 * e0 + e1 * e1 + e2 * e2 < r[s] * r[s]:
                buried = True
                break
        keep[k] = not buried
    return keep, area


@dataclass(frozen=True)
class GraphArrays:
    """A contact graph as the topology kernels read it, on one device: 0-based ``pairs``
    (m, 2), its symmetric CSR ``ptr`` / ``nbr`` with each contact's circle radius^2 ``spot2``
    (µm^2, aligned with ``nbr``), and the wall flags ``tcc`` / ``tsep``."""

    pairs: Any
    ptr: Any
    nbr: Any
    spot2: Any
    tcc: Any
    tsep: Any


def graph_arrays(graph: ContactGraph, n: int, xp: Any) -> GraphArrays:
    """``graph`` (of ``n`` particles) for :func:`voxelize_topological` on ``xp``'s device:
    built once, it serves every pass of a radius correction."""
    pairs_h = graph.pairs()
    ptr_h, nbr_h, order = _csr(pairs_h, n, with_order=True)
    spot2 = np.tile(np.asarray(graph.area_um2, np.float64) / math.pi, 2)[order]
    return GraphArrays(xp.asarray(pairs_h), xp.asarray(ptr_h), xp.asarray(nbr_h),
                       xp.asarray(spot2),
                       xp.asarray(np.asarray(graph.touches_cc, dtype=np.bool_)),
                       xp.asarray(np.asarray(graph.touches_separator, dtype=np.bool_)))


def voxelize_topological(centers: np.ndarray, radii: np.ndarray, phase: np.ndarray,
                         graph: ContactGraph | GraphArrays, shape: tuple[int, int, int],
                         h: float, periodic: np.ndarray, *, kern: Any = None
                         ) -> tuple[Any, VoxelTopology]:
    """Owner id per voxel (int32, 0 = pore, else 1-based particle id) with the graph's topology.

    Runs on ``kern``'s device (default: the CPU) and returns the owner array there; every step
    is independent of the order of particles, contacts and voxels
    (:mod:`._topology_kernels`), so the CPU and the GPU give the same array.  ``graph`` may
    come as :func:`graph_arrays` made it for that device (repeated passes)."""
    if kern is None:
        from ._pressing_cpu import CpuPressKernels

        kern = CpuPressKernels()
    xp = kern.xp
    n = int(np.asarray(centers).shape[0])
    c = xp.asarray(np.ascontiguousarray(centers, dtype=np.float64))
    r = xp.asarray(np.ascontiguousarray(radii, dtype=np.float64))
    ph = xp.asarray(np.ascontiguousarray(phase, dtype=np.int64))
    sh = xp.asarray(np.asarray(shape, dtype=np.int64))
    per = xp.asarray(np.asarray(periodic, dtype=np.int64))
    g = graph if isinstance(graph, GraphArrays) else graph_arrays(graph, n, xp)
    pairs, ptr, nbr, spot2, tcc, tsep = g.pairs, g.ptr, g.nbr, g.spot2, g.tcc, g.tsep
    # 1. stamp: nearest centre relative to radius, hard before SE
    keys = xp.full(tuple(int(s) for s in shape), TK.NO_KEY, dtype=xp.int64)
    kern.topo_stamp(c, r, ph, float(h), sh, per, keys)
    owner = _ids(xp, keys)
    # 2. necks: claims on the stamped owners, smallest key wins
    keys.fill(TK.NO_KEY)
    blocked = kern.topo_necks(c, r, ph, pairs, ptr, nbr, tcc, tsep, float(h), sh, per, owner,
                              keys)
    drawn = _ids(xp, keys)
    del keys
    claimed = drawn > 0
    necks = int(xp.count_nonzero(claimed & (drawn != owner)))
    xp.copyto(owner, drawn, where=claimed)
    del drawn
    prot = claimed.view(xp.uint8)
    # 3a. walls: electronically conducting voxels on the collector of particles that do not
    # touch it, SE and CAM on the separator of particles that do not touch the separator
    ph_id = xp.zeros(n + 1, dtype=xp.int64)  # phase by owner id; 0: pore
    ph_id[1:] = ph
    carved = 0
    unresolved = 0
    for layer, exempt, touches in ((0, SE, tcc), (int(shape[0]) - 1, CARBON, tsep)):
        t_id = xp.zeros(n + 1, dtype=xp.bool_)
        t_id[1:] = touches
        o = owner[layer]  # a view: carving it carves the owner array
        wrong = (o > 0) & (ph_id[o] != exempt) & ~t_id[o]
        unresolved += int(xp.count_nonzero(wrong & claimed[layer]))
        wrong &= ~claimed[layer]
        carved += int(xp.count_nonzero(wrong))
        o[wrong] = 0
    # 3b. gaps: mark the voxels that give way to a neighbour, then settle which of them are
    # carved (those that give way to a neighbour that stays), in rounds over the marked ones
    st = xp.zeros(owner.shape, dtype=xp.uint8)
    unresolved += kern.topo_losers(c, r, ph, ptr, nbr, spot2, float(h), sh, per, owner, prot,
                                  st)
    flat = st.reshape(-1)
    idx = xp.flatnonzero(flat == 1)
    while idx.size:
        new = xp.empty(idx.size, dtype=xp.uint8)
        kern.topo_settle(idx, c, r, ph, ptr, nbr, spot2, float(h), sh, per, owner, prot, st,
                         new)
        flat[idx] = new
        left = idx[new == 1]
        if left.size == idx.size:  # cannot happen: "gives way to" has no cycle
            raise RuntimeError("topological voxelization: the gap rule did not settle")
        idx = left
    lost = st == 3
    del st, flat
    carved += int(xp.count_nonzero(lost))
    owner[lost] = 0
    return owner, VoxelTopology(necks, carved, int(blocked), unresolved)


def _ids(xp: Any, keys: Any) -> Any:
    """The particle ids (int32, 0: none) of an array of keys, which it overwrites."""
    xp.bitwise_and(keys, TK.ID_MASK, out=keys)  # NO_KEY -> ID_MASK, an id no particle has
    ids = keys.astype(xp.int32)
    ids[ids == TK.ID_MASK] = 0
    return ids


_K = TK.compile_for(numba.njit(cache=True), key_min=_key_min_cpu)
_nb_stamp, _nb_neck = _K["stamp"], _K["neck"]
_nb_losers, _nb_settle = _K["losers_row"], _K["settle"]


@numba.njit(cache=True)
def _topo_stamp_cpu(c, r, ph, h, shape, periodic, keys):  # pragma: no cover - numba
    """Step 1 on the CPU (serial: compare-and-store is not atomic)."""
    for k in range(c.shape[0]):
        _nb_stamp(k, c, r, ph, h, shape, periodic, keys)


@numba.njit(cache=True)
def _topo_necks_cpu(c, r, ph, pairs, ptr, nbr, tcc, tsep, h, shape, periodic, own, claim
                   ):  # pragma: no cover - numba
    """Step 2 on the CPU; returns the voxels refused to SE necks."""
    blocked = 0
    for t in range(pairs.shape[0] + c.shape[0]):
        blocked += _nb_neck(t, c, r, ph, pairs, ptr, nbr, tcc, tsep, h, shape, periodic, own,
                            claim)
    return blocked


@numba.njit(parallel=True, cache=True)
def _topo_losers_cpu(c, r, ph, ptr, nbr, spot2, h, shape, periodic, own, prot, st
                    ):  # pragma: no cover - numba
    """Step 3b's marks on the CPU, in parallel over layers (marks are only set to 1)."""
    unresolved = 0
    for a in numba.prange(shape[0]):
        for b in range(shape[1]):
            unresolved += _nb_losers(a, b, 0, 1, c, r, ph, ptr, nbr, spot2, h, shape, periodic,
                                     own, prot, st)
    return unresolved


@numba.njit(parallel=True, cache=True)
def _topo_settle_cpu(idx, c, r, ph, ptr, nbr, spot2, h, shape, periodic, own, prot, st, new
                    ):  # pragma: no cover - numba
    """One round of step 3b on the CPU (each marked voxel writes only its own ``new``)."""
    for t in numba.prange(idx.shape[0]):
        _nb_settle(t, idx, c, r, ph, ptr, nbr, spot2, h, shape, periodic, own, prot, st, new)


class CpuTopologyKernels:
    """CPU launchers of the topology bodies (GPU twins: ``_packing_cuda.CudaKernels``)."""

    def topo_stamp(self, *args: Any) -> None:
        _topo_stamp_cpu(*args)

    def topo_necks(self, *args: Any) -> int:
        return int(_topo_necks_cpu(*args))

    def topo_losers(self, *args: Any) -> int:
        return int(_topo_losers_cpu(*args))

    def topo_settle(self, *args: Any) -> None:
        _topo_settle_cpu(*args)
