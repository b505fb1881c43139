"""Step 5 of :func:`cam_utilization`: the ionic-connection rule.

``"strict"``: a particle is ionically connected when it has its own face contact with the
ionic network.  ``"cam_relay"``: also when it lies in the same CAM cluster (CAM voxels joined
with ``connectivity``) as a particle with own contact, since Li diffuses through touching CAM.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from ..device import array_module, to_host
from ..labeling._label import label, label_cpu_raw
from ..labeling._percolation import fold_flags

__all__ = ["RULES", "cam_relay", "ionic_connected"]

RULES = ("strict", "cam_relay")
"""The ionic-connection rules of :func:`solvers.cam_utilization`."""


def ionic_connected(
    rule: str,
    particle_ids: Any,
    cam_mask: Any,
    own_contact: np.ndarray,
    *,
    connectivity: int,
    periodic: tuple[bool, bool, bool],
    device: str,
) -> np.ndarray:
    """Ionically connected per particle id (host bool array) under ``rule``.

    ``own_contact[p]``: particle ``p`` shares a face with the ionic network.  ``cam_mask`` (CAM
    voxels) is used by ``"cam_relay"`` only and may be None for ``"strict"``.

    Examples
    --------
    >>> import numpy as np
    >>> ids = np.array([1, 1, 2, 0, 3], dtype=np.int32).reshape(1, 1, 5)
    >>> own = np.array([False, False, True, False])       # only particle 2 touches the SE
    >>> kw = dict(connectivity=6, periodic=(False,) * 3, device="cpu")
    >>> ionic_connected("strict", ids, None, own, **kw).tolist()
    [False, False, True, False]
    >>> ionic_connected("cam_relay", ids, ids > 0, own, **kw).tolist()
    [False, True, True, False]
    """
    if rule == "strict" or own_contact.size <= 1:  # no particles: nothing to relay
        return own_contact
    return cam_relay(
        particle_ids,
        cam_mask,
        own_contact,
        connectivity=connectivity,
        periodic=periodic,
        device=device,
    ) | own_contact


def cam_relay(
    particle_ids: Any,
    cam_mask: Any,
    own_contact: np.ndarray,
    *,
    connectivity: int,
    periodic: tuple[bool, bool, bool],
    device: str,
) -> np.ndarray:
    """Per particle id: has a voxel in a CAM cluster that holds a particle with own contact."""
    nid = own_contact.size
    if device == "cpu":
        clab, table, nc = label_cpu_raw(cam_mask, connectivity, periodic)
        pid_flat, clab_flat = np.ascontiguousarray(particle_ids).reshape(-1), clab.reshape(-1)
        ok_raw = np.zeros((nc if table is None else table.size - 1) + 1, dtype=bool)
        _flag_clusters_cpu(pid_flat, clab_flat, own_contact, ok_raw)
        relay = np.zeros(nid, dtype=bool)
        _flag_particles_cpu(pid_flat, clab_flat, fold_flags(ok_raw, table, nc), relay)
        return relay
    clab, nc = label(cam_mask, connectivity=connectivity, periodic=periodic, device=device)
    return cam_relay_xp(particle_ids, clab, nc, own_contact)


def cam_relay_xp(particle_ids: Any, clab: Any, nc: int, own_contact: np.ndarray) -> np.ndarray:
    """GPU path of :func:`cam_relay` on given CAM-cluster labels (NumPy arrays work too)."""
    xp = array_module(clab)
    cam = clab > 0
    pid_cam = particle_ids[cam]
    cl_cam = clab[cam]
    cluster_ok = xp.zeros(nc + 1, dtype=bool)
    cluster_ok[cl_cam[xp.asarray(own_contact)[pid_cam]]] = True
    relay = xp.zeros(own_contact.size, dtype=bool)
    relay[pid_cam[cluster_ok[cl_cam]]] = True
    return to_host(relay)


@numba.njit(cache=True, nogil=True)
def _flag_clusters_cpu(pid, clab, own, cluster_ok_raw):
    """Pass 1: flag CAM clusters holding a voxel of a particle with own contact."""
    for i in range(pid.shape[0]):
        p = pid[i]
        if p != 0 and own[p]:
            cluster_ok_raw[clab[i]] = True


@numba.njit(cache=True, nogil=True)
def _flag_particles_cpu(pid, clab, cluster_ok, relay):
    """Pass 2: particles with a voxel in a flagged cluster are reachable."""
    for i in range(pid.shape[0]):
        p = pid[i]
        if p != 0 and cluster_ok[clab[i]]:
            relay[p] = True
