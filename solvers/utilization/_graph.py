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
from ._result import read_only
from ._rules import RULES

__all__ = ["GraphUtilizationResult", "cam_utilization_graph"]


@dataclass(frozen=True, eq=False)
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

    def __post_init__(self) -> None:
        read_only(self.active)


def _components(n: int, i: np.ndarray, j: np.ndarray, keep: np.ndarray) -> np.ndarray:
    g = coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n, n))
    return connected_components(g, directed=False)[1]


def _integers(a: np.ndarray, name: str, shape: str) -> np.ndarray:
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise TypeError(f"{name} must be {shape} integer array, got dtype {a.dtype}")
    return a.astype(np.int64)


def _checked(phase, pairs, touches_cc, touches_separator, volume):
    """The graph's arrays as int64 / bool / float64, or an error naming the argument."""
    phase = np.asarray(phase)
    if phase.ndim != 1:
        raise ValueError(f"phase must be a 1-D array (one code per particle), got shape "
                         f"{phase.shape}")
    phase = _integers(phase, "phase", "a 1-D")
    n = phase.shape[0]
    bad = np.setdiff1d(phase, (CAM, SE, CARBON))
    if bad.size:
        raise ValueError(f"phase holds codes {bad[:10].tolist()}; a particle is {CAM} CAM, "
                         f"{SE} SE or {CARBON} carbon")
    pairs = np.asarray(pairs)
    if pairs.size == 0:
        pairs = pairs.reshape(0, 2)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be an (m, 2) array of particle indices, got shape "
                         f"{pairs.shape}")
    pairs = _integers(pairs, "pairs", "an (m, 2)")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= n):
        raise ValueError(f"pairs must be 0-based indices below {n}, got range "
                         f"[{pairs.min()}, {pairs.max()}]")
    flags = []
    for name, a in (("touches_cc", touches_cc), ("touches_separator", touches_separator)):
        a = np.asarray(a)
        if a.shape != (n,) or not (a.dtype == bool or np.isin(a, (0, 1)).all()):
            raise ValueError(f"{name} must be ({n},) booleans, one per particle, got shape "
                             f"{a.shape} dtype {a.dtype}")
        flags.append(a.astype(bool))
    vol = np.asarray(volume)
    if vol.shape != (n,) or not np.issubdtype(vol.dtype, np.number):
        raise ValueError(f"volume must be ({n},) numbers, one per particle, got shape "
                         f"{vol.shape} dtype {vol.dtype}")
    vol = vol.astype(np.float64)
    if not (np.isfinite(vol).all() and (vol >= 0).all()):
        raise ValueError("volume must be finite and >= 0, got "
                         f"{vol[~(np.isfinite(vol) & (vol >= 0))][:5].tolist()}")
    cam = phase == CAM
    if cam.any() and vol[cam].sum() <= 0:
        raise ValueError(f"volume is 0 for all {int(cam.sum())} CAM particles; theta is "
                         "weighted by CAM volume")
    return phase, pairs, flags[0], flags[1], vol


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
        Particle volume, finite and >= 0 (any unit; only CAM volumes are used, as weights).
    rule : {"strict", "cam_relay"}
    separator_contact : bool
        CAM touching the separator (a pure SE layer) has own ionic contact, as in
        :func:`solvers.cam_utilization`.

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong shape or kind (non-integer codes or indices), a phase code
        other than 1, 2, 3, an index out of range, a volume that is not finite and >= 0, or
        CAM particles whose volumes sum to 0.

    Notes
    -----
    Runs on the host (SciPy's ``connected_components``), so it takes no ``device``: a
    structure's graph has one node per particle, 10³–10⁶ of them, where its voxel image has
    10⁶–10⁹ voxels; NumPy arrays in, NumPy arrays out (pass ``cupy.asnumpy`` of GPU arrays).

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
    phase, pairs, tcc, tsep, vol = _checked(phase, pairs, touches_cc, touches_separator, volume)
    n = phase.shape[0]
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
    theta = float(vol[active].sum() / vol[cam].sum()) if n_cam else float("nan")
    return GraphUtilizationResult(
        static_utilization=theta,
        static_utilization_by_count=float(active.sum() / n_cam) if n_cam else float("nan"),
        n_cam=n_cam, n_active=int(active.sum()), n_electronic=int((cam & electronic).sum()),
        n_ionic=int(ionic.sum()), active=active, rule=rule)
