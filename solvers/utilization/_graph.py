"""Static CAM utilization on a particle contact graph (no voxels).

The same definitions as the voxel version (:func:`solvers.cam_utilization`), with particles as
nodes and physical contacts as edges:

* electronic network: CAM and carbon particles joined by CAM–CAM, CAM–carbon and carbon–carbon
  contacts; a component is connected when one of its particles touches the current collector;
* ionic network: SE particles joined by SE–SE contacts; connected when one touches the
  separator;
* a CAM particle has *own ionic contact* when it touches an SE particle of the ionic network,
  or (``separator_contact``) the separator itself, a pure SE layer;
* ``rule="strict"``: ionically connected = own ionic contact; ``rule="cam_relay"``: also when a
  particle of its CAM cluster (CAM–CAM contacts) has own ionic contact;
* active = electronically and ionically connected; θ is the active share of CAM volume.

Pure NumPy / SciPy; arrays in, a frozen dataclass out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .._validate import check_bool, check_choice
from ..phases import CAM, CARBON, SE
from ._rules import RULES

__all__ = ["GraphUtilizationResult", "cam_utilization_graph"]


@dataclass(frozen=True)
class GraphUtilizationResult:
    """Static utilization of the CAM particles of a contact graph."""

    static_utilization: float
    """Active CAM volume / CAM volume (dimensionless; NaN without CAM)."""
    static_utilization_by_count: float
    """Active CAM particles / CAM particles (dimensionless)."""
    n_cam: int
    """CAM particles."""
    n_active: int
    """Active CAM particles."""
    n_electronic: int
    """CAM particles electronically connected to the current collector."""
    n_ionic: int
    """CAM particles ionically connected under the rule used."""
    active: np.ndarray
    """(n,) bool per particle (False for non-CAM particles)."""
    rule: str
    """The rule used: ``"strict"`` or ``"cam_relay"``."""


def _components(n: int, i: np.ndarray, j: np.ndarray, keep: np.ndarray) -> np.ndarray:
    g = coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n, n))
    return connected_components(g, directed=False)[1]


def cam_utilization_graph(phase: np.ndarray, pairs: np.ndarray, *, touches_cc: np.ndarray,
                          touches_separator: np.ndarray, volume: np.ndarray,
                          rule: str = "strict",
                          separator_contact: bool = True) -> GraphUtilizationResult:
    """Static CAM utilization from the particle contact graph.

    Parameters
    ----------
    phase : (n,) int
        Phase code per particle (1 CAM, 2 SE, 3 carbon).
    pairs : (m, 2) int
        Contacts as 0-based particle indices.
    touches_cc, touches_separator : (n,) bool
        Particle touches the current-collector / separator face.
    volume : (n,) float
        Particle volume (any unit; only CAM volumes are used, as weights).
    rule : {"strict", "cam_relay"}
    separator_contact : bool
        CAM touching the separator (a pure SE layer) has own ionic contact, as in
        :func:`solvers.cam_utilization`.

    Examples
    --------
    >>> import numpy as np
    >>> phase = np.array([1, 1, 2])          # CAM 0 on the collector, CAM 1, SE 2 at the separator
    >>> pairs = np.array([[0, 1], [1, 2]])
    >>> from solvers import cam_utilization_graph
    >>> r = cam_utilization_graph(phase, pairs, touches_cc=np.array([1, 0, 0], bool),
    ...                           touches_separator=np.array([0, 0, 1], bool),
    ...                           volume=np.ones(3))
    >>> r.static_utilization, cam_utilization_graph(phase, pairs, touches_cc=np.array(
    ...     [1, 0, 0], bool), touches_separator=np.array([0, 0, 1], bool), volume=np.ones(3),
    ...     rule="cam_relay").static_utilization
    (0.5, 1.0)
    """
    rule = check_choice(rule, "rule", RULES)
    separator_contact = check_bool(separator_contact, "separator_contact")
    phase = np.asarray(phase).astype(np.int64).ravel()
    n = phase.shape[0]
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    tcc = np.asarray(touches_cc, dtype=bool).ravel()
    tsep = np.asarray(touches_separator, dtype=bool).ravel()
    vol = np.asarray(volume, dtype=np.float64).ravel()
    for name, arr in (("touches_cc", tcc), ("touches_separator", tsep), ("volume", vol)):
        if arr.shape[0] != n:
            raise ValueError(f"{name} must have one entry per particle ({n}), got {arr.shape[0]}")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= n):
        raise ValueError(f"pairs must be 0-based indices below {n}, got range "
                         f"[{pairs.min()}, {pairs.max()}]")
    i, j = pairs[:, 0], pairs[:, 1]
    pi, pj = phase[i], phase[j]
    elec = (phase == CAM) | (phase == CARBON)
    # electronic network
    lab = _components(n, i, j, elec[i] & elec[j])
    good = np.zeros(n, dtype=bool)
    good[np.unique(lab[elec & tcc])] = True
    electronic = elec & good[lab]
    # ionic network
    ion = phase == SE
    lab = _components(n, i, j, ion[i] & ion[j])
    good = np.zeros(n, dtype=bool)
    good[np.unique(lab[ion & tsep])] = True
    ionic_net = ion & good[lab]
    # own contact of CAM with the ionic network
    own = np.zeros(n, dtype=bool)
    m = (pi == CAM) & ionic_net[j]
    own[i[m]] = True
    m = (pj == CAM) & ionic_net[i]
    own[j[m]] = True
    cam = phase == CAM
    if separator_contact:
        own |= cam & tsep
    if rule == "cam_relay":
        lab = _components(n, i, j, (pi == CAM) & (pj == CAM))
        good = np.zeros(n, dtype=bool)
        good[np.unique(lab[cam & own])] = True
        ionic = cam & good[lab]
    else:
        ionic = cam & own
    active = cam & electronic & ionic
    n_cam = int(cam.sum())
    v = vol[cam].sum()
    theta = float(vol[active].sum() / v) if n_cam and v > 0 else float("nan")
    return GraphUtilizationResult(
        static_utilization=theta,
        static_utilization_by_count=float(active.sum() / n_cam) if n_cam else float("nan"),
        n_cam=n_cam, n_active=int(active.sum()), n_electronic=int((cam & electronic).sum()),
        n_ionic=int(ionic.sum()), active=active, rule=rule)
