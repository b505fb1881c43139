"""Sub-voxel contact conductance: the faces of a particle contact conduct like the contact.

Two hard particles (CAM, carbon) touch on a contact circle of radius ``a``, often far smaller
than a voxel (a pressed 3 µm NCM has ``a`` ~ 0.08 µm).  In the continuum their contact adds the
constriction resistance ``1 / (2 s a)`` (Holm; ``1 / (4 s_1 a) + 1 / (4 s_2 a)`` for two
conductivities) to the bulk of the two particles.  On the voxel grid the contact is the set of
faces between voxels of the two particles, which has its own constriction resistance, that of an
aperture of ``n`` faces in the cubic lattice -- much lower when the voxel is larger than the
contact (the grid widens the contact to a face or more), so the electronic tau read low at a
coarse voxel.

This module scales the conductance of every face of a contact by one weight ``w`` so that the
contact's resistance on the grid is the continuum one:

* **Lattice aperture.**  Between two half-spaces of unit conductance and voxel, a disc-shaped
  aperture of ``n`` faces has the constriction resistance ``R_lat(n) = 1 / (2 (sqrt(n / pi) -
  delta(n)))``: a disc of the faces' area with a radius ``delta`` ~ 0.27-0.35 voxel smaller
  (:data:`LATTICE_N`, :data:`LATTICE_DELTA`, computed by
  ``benchmarks/calibrate_contact_lattice.py``: SciPy + pyamg, a 128 x 128 cross-section, the
  finite-cylinder correction of Roess; 64 x 64 gives the same to 1 %).  It is
  ``S(n) + 1 / n``: spreading on both sides plus the ``n`` faces themselves in parallel;
  scaling those faces by ``w`` makes it ``S(n) + 1 / (w n)`` (exact for ``n = 1`` and 4 by
  symmetry, within 1 % for a 37-face disc).
* **Tilted contacts.**  A contact circle tilted against the grid is drawn as a staircase whose
  faces along the three axes number ``n_a ~ |u_a| pi a^2 / h^2`` for its normal ``u``: the
  count overstates the flat aperture by ``sum_a |u_a|`` (1 ... sqrt(3)).  The staircase spreads
  the current like a flat aperture of its area projected on its mean plane, ``n = |(n_0, n_1,
  n_2)|`` faces (its unit-weight constriction is ``R_lat(n)`` to within the 5-8 % a finite
  column takes off a flat one), but the weight acts on every one of its ``N = n_0 + n_1 +
  n_2`` faces, which carry the current side by side: scaling them by ``w`` adds ``(1 / w - 1)
  / N``, not ``/ n`` (measured to 1 % on 45-degree and body-diagonal apertures of 4-30 faces).
* **Weight.**  ``1 / w = 1 + N (h / (2 a) - R_lat(n))`` makes the grid contact's resistance
  ``h / (2 a)`` (in units of ``1 / (s h)``), for any conductivities of the two sides (the face
  conductance is their harmonic mean); for a flat contact (``N = n``) this is ``w = 1 / (n (h /
  (2 a) - S(n)))``.  A contact whose grid aperture already resists more than the continuum one
  (``1 / w <= 0``: drawn smaller than it is) gets :data:`MAX_WEIGHT`; faces between two
  labelled particles that are not a listed contact keep their conductance.  Until 0.13 the
  staircase's ``N`` faces were weighted as if they were ``n``, so a tilted contact conducted up
  to ``sqrt(3)`` times too well where its faces dominate (a contact under a voxel): the
  electronic tau of the bulk read up to ~25 % low at 0.3 voxel per contact radius.

The weights change only faces, so every solver path (matrix-free CG, geometric and aggregation
multigrid, CPU and GPU) uses them unchanged.  Measured on pressed composites, the bulk's tau
at three voxels, seeds 0 and 1 (``benchmarks/validate_physics.py``, ``benchmarks/RESULTS.md``
session 25): 80:20 NCM (5 µm) : LPSCl (5 µm), median contact radius 0.3 µm, h = 0.5 / 0.25 /
0.125 µm: 4.69 / 4.62 / 4.56 and 5.68 / 5.72 / 5.65; the example composition with 2 wt%
0.9 µm carbon (contacts of 0.08 µm), h = 0.25 / 0.125 / 0.0625 µm: 18.49 / 18.71 / 18.41 and
18.95 / 19.61 / 19.09, against 12.44 / 15.22 / 15.60 and 11.46 / 16.86 / 18.83 without.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._validate import check_positive
from ..device import to_host

__all__ = ["ContactConductance", "LATTICE_DELTA", "LATTICE_N", "MAX_WEIGHT", "MIN_RADIUS_VOXELS",
           "contact_weights", "lattice_constriction", "weight_faces"]

#: Aperture sizes (faces) of the lattice calibration, and the radius deficit ``delta(n)`` in
#: voxels: ``R_lat(n) = 1 / (2 (sqrt(n / pi) - delta(n)))``; constant beyond the last entry.
LATTICE_N = np.array([1, 2, 4, 5, 9, 12, 21, 32, 37, 52, 69, 97, 145, 193], dtype=np.float64)
LATTICE_DELTA = np.array([0.2677, 0.2906, 0.3138, 0.3026, 0.3071, 0.3167, 0.3081, 0.3371,
                          0.3186, 0.3402, 0.3204, 0.3233, 0.3453, 0.3508])

#: Largest weight given to a contact's faces (a grid contact drawn smaller than the continuum one).
MAX_WEIGHT = 10.0
#: Smallest contact radius used, voxels: a tangent contact (area 0 in a contact graph: spheres
#: that touch within float precision) conducts like one of this radius -- next to nothing,
#: without cutting the network the solve was set up on.
MIN_RADIUS_VOXELS = 1e-3


@dataclass(frozen=True, repr=False, eq=False)
class ContactConductance:
    """The particle contacts of a conducting network, for :func:`solvers.tortuosity`.

    Parameters
    ----------
    labels : (n0, n1, n2) integer array
        Particle label of each voxel (0 for none), the image's shape; a CuPy array with
        ``device="cuda"``.
    pairs : (m, 2) integer array
        Labels of the two particles of each contact.
    radius_um : (m,) float array
        Contact circle radius of each contact, µm (0 for a tangent contact: it conducts like
        one of :data:`MIN_RADIUS_VOXELS`).
    voxel_size_um : float
        Voxel edge, µm.

    Notes
    -----
    The weights model a contact circle much smaller than the two particles (Holm's
    constriction between two bodies that spread the current on both sides).  A weight above 1
    is routine where the grid draws a contact narrower than its circle (most contacts of a
    pressed 80:20 NCM : 5 µm SE at 0.125 µm; the bulk's electronic τ then stays within 1.3 %
    from 0.25 µm).  A "contact" as wide as the bodies themselves -- a column cut in two, its
    circle larger than the cross-section -- has no constriction to weight, and its faces would
    conduct better than the material (τ below 1).

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import ContactConductance, tortuosity
    >>> img = np.ones((4, 3, 3), dtype=bool)              # two blocks, 9 faces between them
    >>> labels = np.ones((4, 3, 3), dtype=np.int32)
    >>> labels[2:] = 2
    >>> cc = ContactConductance(labels, np.array([[1, 2]]), np.array([0.05]), 0.25)
    >>> r = tortuosity(img, contacts=cc)                  # ... that stand for one 0.05 µm contact
    >>> r.contacts_weighted, r.tau > 5 * tortuosity(img).tau
    (1, True)
    """

    labels: Any
    pairs: Any
    radius_um: Any
    voxel_size_um: float

    def __post_init__(self) -> None:
        check_positive(self.voxel_size_um, "voxel_size_um")
        pairs = np.asarray(self.pairs)
        radius = np.asarray(self.radius_um, dtype=np.float64)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
            raise ValueError(f"pairs must be an (m, 2) integer array of labels, got shape "
                             f"{pairs.shape} dtype {pairs.dtype}")
        if radius.shape != (pairs.shape[0],):
            raise ValueError(f"radius_um must have one entry per pair ({pairs.shape[0]}), got "
                             f"shape {radius.shape}")
        if radius.size and not (np.isfinite(radius).all() and radius.min() >= 0):
            raise ValueError(f"radius_um must be finite and >= 0, got min {radius.min()!r}")
        if pairs.size and pairs.min() < 1:
            raise ValueError(f"pairs must hold particle labels >= 1, got minimum {pairs.min()}")
        dt = np.dtype(getattr(self.labels, "dtype", None))
        if getattr(self.labels, "ndim", 0) != 3 or not np.issubdtype(dt, np.integer):
            raise ValueError(f"labels must be a 3-D integer array, got "
                             f"{getattr(self.labels, 'shape', None)} dtype {dt}")
        low = int(to_host(self.labels.min())) if self.labels.size else 0
        if low < 0:
            raise ValueError(f"labels must be >= 0 (0 = no particle), got minimum {low}")

    def __repr__(self) -> str:
        return (f"ContactConductance(labels shape {tuple(self.labels.shape)}, "
                f"{np.asarray(self.pairs).shape[0]} contacts, voxel_size_um="
                f"{self.voxel_size_um})")

    def subvolume(self, index: Any) -> ContactConductance:
        """The same contacts on the sub-volume ``labels[index]`` (``index``: a slice along axis
        0, or a tuple of up to three slices, axes 0, 1, 2), for a solve on that part of the image.

        Contacts the sub-volume cuts away draw no faces and are left out; the others keep
        their radius.  Slices with a step of 1 only: an integer index (a plane) or a stepped
        slice (not a sub-volume: it skips voxels) is refused.

        Examples
        --------
        >>> import numpy as np
        >>> from solvers import ContactConductance
        >>> labels = np.ones((6, 3, 3), dtype=np.int32)
        >>> labels[3:] = 2
        >>> cc = ContactConductance(labels, np.array([[1, 2]]), np.array([0.05]), 0.25)
        >>> cc.subvolume(slice(1, 5)).labels.shape
        (4, 3, 3)
        """
        parts = index if isinstance(index, tuple) else (index,)
        if not parts or len(parts) > 3 or not all(isinstance(p, slice) for p in parts):
            raise TypeError(f"index must be a slice or a tuple of up to three slices, got "
                            f"{index!r}")
        if any(p.step not in (None, 1) for p in parts):
            raise ValueError(f"index must hold slices with step 1 (a sub-volume), got {index!r}")
        return replace(self, labels=self.labels[parts])


def lattice_constriction(n: Any) -> np.ndarray:
    """Constriction resistance of a disc aperture of ``n`` faces between two half-lattices.

    Unit conductance and voxel; the ``n`` faces' own resistance ``1 / n`` included.

    Examples
    --------
    >>> from solvers.transport._contacts import lattice_constriction
    >>> round(float(lattice_constriction(1)), 3)   # one face: 1.9 x a disc of its area
    1.686
    """
    n = np.asarray(n, dtype=np.float64)
    delta = np.interp(np.log(n), np.log(LATTICE_N), LATTICE_DELTA)
    return 1.0 / (2.0 * (np.sqrt(n / math.pi) - delta))


def contact_weights(counts: np.ndarray, radius_vox: np.ndarray) -> np.ndarray:
    """Face weight of each contact from its faces per axis ``counts`` (m, 3) and radius in voxels.

    The spreading is that of the staircase's area projected on its plane, ``n = |counts|``; the
    weight acts on all ``N = counts.sum()`` faces: ``1 / w = 1 + N (1 / (2 a) - R_lat(n))``.
    Contacts without faces get weight 1 (unused).

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.transport._contacts import contact_weights, lattice_constriction
    >>> w = contact_weights(np.array([[1, 0, 0], [2, 2, 0]]), np.array([0.3, 0.3]))
    >>> n, N = np.sqrt(8), 4                                   # the tilted one's two counts
    >>> round(float(lattice_constriction(1) - 1 + 1 / w[0]), 6)   # = 1 / (2 a)
    1.666667
    >>> round(float(lattice_constriction(n) + (1 / w[1] - 1) / N), 6)
    1.666667
    """
    counts = np.asarray(counts, dtype=np.float64)
    n = np.sqrt((counts ** 2).sum(axis=1))                # staircase projected on its plane
    faces = counts.sum(axis=1)                            # ... and the faces the weight scales
    has = n > 0
    n1 = np.where(has, np.maximum(n, 1.0), 1.0)
    f1 = np.where(has, np.maximum(faces, 1.0), 1.0)
    a = np.maximum(np.asarray(radius_vox, dtype=np.float64), MIN_RADIUS_VOXELS)
    inv = 1.0 + f1 * (1.0 / (2.0 * a) - lattice_constriction(n1))
    with np.errstate(divide="ignore"):
        w = np.where(inv > 0, 1.0 / np.where(inv > 0, inv, 1.0), MAX_WEIGHT)
    return np.where(has, np.minimum(w, MAX_WEIGHT), 1.0)


def _between_particles(labels: Any, axis: int, xp: Any, wrap: bool) -> tuple[Any, Any, Any]:
    """The faces along ``axis`` (operator layout) that join two different labelled particles:
    their flat indices into that axis's face array and the two labels (int64)."""
    if wrap:
        a, b = labels, xp.roll(labels, -1, axis=axis)   # face j couples j and j + 1 (mod n)
    else:
        sl_a = [slice(None)] * 3
        sl_b = [slice(None)] * 3
        sl_a[axis], sl_b[axis] = slice(None, -1), slice(1, None)
        a, b = labels[tuple(sl_a)], labels[tuple(sl_b)]
    idx = xp.flatnonzero((a != b) & (a > 0) & (b > 0))   # a few % of the faces at most
    return idx, a.reshape(-1)[idx].astype(np.int64), b.reshape(-1)[idx].astype(np.int64)


def weight_faces(op: Any, cc: ContactConductance, axis: int, xp: Any) -> int:
    """Scale the faces of ``op`` (transport axis moved to 0) that belong to ``cc``'s contacts;
    return the number of contacts drawn (with conducting faces)."""
    labels = xp.moveaxis(xp.asarray(cc.labels), axis, 0)
    pairs = np.asarray(cc.pairs, dtype=np.int64)
    radius_vox = np.asarray(cc.radius_um, dtype=np.float64) / float(cc.voxel_size_um)
    k = int(to_host(labels.max())) + 1
    lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    inside = (lo > 0) & (hi < k)                           # both labels occur in the image
    keys_host = lo[inside] * k + hi[inside]
    order = np.argsort(keys_host, kind="stable")
    keys_sorted = keys_host[order]
    if keys_sorted.size and np.any(keys_sorted[1:] == keys_sorted[:-1]):
        raise ValueError("pairs lists a contact twice")
    m = keys_sorted.size
    keys = xp.asarray(keys_sorted)
    views = (op.gx[1:-1], op.gy, op.gz)
    found = []
    counts = np.zeros((m, 3))
    for ax, g in enumerate(views):
        idx, a, b = _between_particles(labels, ax, xp, wrap=ax > 0)
        if m == 0 or idx.size == 0:
            continue
        fk = xp.minimum(a, b) * k + xp.maximum(a, b)
        pos = xp.minimum(xp.searchsorted(keys, fk), m - 1)
        hit = (keys[pos] == fk) & (g.reshape(-1)[idx] > 0)
        idx, pos = idx[hit], pos[hit]
        found.append((g, idx, pos))
        counts[:, ax] = to_host(xp.bincount(pos, minlength=m))
    w_sorted = contact_weights(counts, radius_vox[inside][order])
    w_dev = xp.asarray(w_sorted)
    for g, idx, pos in found:
        if not g.flags.c_contiguous:                      # reshape would copy: writes lost
            raise RuntimeError("face array is not contiguous")
        flat = g.reshape(-1)
        flat[idx] = flat[idx] * w_dev[pos].astype(g.dtype)
    return int((counts.sum(axis=1) > 0).sum())
