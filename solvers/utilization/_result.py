"""Step 6 of :func:`cam_utilization`: the result dataclasses and the step that fills them.

:class:`ParticleUtilization` is the per-particle table, :class:`UtilizationResult` the whole
result; :func:`utilization_result` derives both from the per-particle sums and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..phases import CAM
from ._options import UtilizationOptions
from ._particle_sums import ParticleSums

__all__ = ["ParticleUtilization", "UtilizationResult", "utilization_result"]


def read_only(*arrays: Any) -> None:
    """Make the NumPy arrays among ``arrays`` read-only: a frozen result's arrays cannot be
    edited behind its summary figures (``static_utilization`` from ``active``)."""
    for a in arrays:
        if isinstance(a, np.ndarray):
            a.flags.writeable = False


@dataclass(frozen=True, repr=False, eq=False)
class ParticleUtilization:
    """Per-particle utilization: one row per particle id present, ordered by id.

    The classification of each CAM particle (electronic / ionic connection, contact faces);
    the particle geometry is :class:`microstructure.ParticleTable`, a different thing.
    Formerly ``solvers.ParticleTable`` (deprecated alias).
    """

    id: np.ndarray
    """Particle id (int64), as in ``particle_ids``."""
    volume_voxels: np.ndarray
    """Particle volume in voxels (int64)."""
    volume_um3: np.ndarray | None
    """Particle volume in µm³ (float64); None when ``voxel_size_um`` was not given."""
    electronic: np.ndarray
    """Electronically connected to the current collector (bool)."""
    ionic_contact: np.ndarray
    """Shares at least one voxel face with the ionic network (or, with ``separator_contact``,
    lies on the separator face) (bool)."""
    ionic: np.ndarray
    """Ionically connected under the rule used (bool); equals ``ionic_contact`` for strict."""
    active: np.ndarray
    """``electronic & ionic`` (bool)."""
    cam_se_contact_faces: np.ndarray
    """Voxel faces shared with any voxel of ``ionic_phases`` (int64; CAM|SE contact area in
    units of one voxel face), faces on the separator included with ``separator_contact``."""
    ionic_network_contact_faces: np.ndarray
    """Voxel faces shared with the ionic network (int64), faces on the separator included with
    ``separator_contact``."""
    cam_se_contact_area_um2: np.ndarray | None
    """CAM|SE contact faces x h² in µm² (float64; raw faces: a curved surface's about 1.5x its
    true area at any voxel); None when ``voxel_size_um`` was not given."""

    def __post_init__(self) -> None:
        read_only(*(getattr(self, f.name) for f in fields(self)))

    def __len__(self) -> int:
        return int(self.id.shape[0])

    def as_dict(self) -> dict[str, np.ndarray]:
        """Columns as a dict (e.g. for ``pandas.DataFrame``); None columns are left out."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def __repr__(self) -> str:
        n = len(self)
        return (
            f"ParticleUtilization({n} particles, {int(self.active.sum())} active, "
            f"{int((~self.electronic).sum())} electronically isolated, "
            f"{int((~self.ionic).sum())} ionically isolated)"
        )


@dataclass(frozen=True, repr=False, eq=False)
class UtilizationResult:
    """Static CAM utilization of one microstructure (see :func:`cam_utilization`).

    Volume fractions are fractions of the total CAM volume (CAM voxels), so
    ``1 - static_utilization = electronically_isolated + ionically_isolated - isolated_both``.
    With no CAM in the volume the fractions are NaN and ``reason`` says why.
    """

    static_utilization: float
    """θ: active CAM volume / total CAM volume (dimensionless, 0..1)."""
    static_utilization_by_count: float
    """Active particles / particles (dimensionless, 0..1)."""
    electronically_isolated: float
    """Volume fraction of CAM without electronic connection (0..1)."""
    ionically_isolated: float
    """Volume fraction of CAM without ionic connection under ``rule`` (0..1)."""
    isolated_both: float
    """Volume fraction of CAM without either connection (0..1)."""
    electronic_percolates: bool
    """One component of ``electronic_phases`` joins current collector and separator faces."""
    ionic_percolates: bool
    """One component of ``ionic_phases`` joins current collector and separator faces."""
    active_interface_area_per_volume: float
    """Face area between active CAM and the ionic network per total box volume: µm⁻¹ when
    ``voxel_size_um`` is given, else voxel faces per voxel (1/voxel edge).  Raw faces, about
    1.5x the true area of a curved surface (``structure_metrics`` corrects its areas by 2/3)."""
    n_particles: int
    """Number of CAM particles (distinct ids)."""
    n_active: int
    """Number of active particles."""
    cam_volume_voxels: int
    """Total CAM volume in voxels."""
    particles: ParticleUtilization
    """Per-particle classification (:class:`ParticleUtilization`, one row per particle)."""
    rule: str
    """``"strict"`` or ``"cam_relay"``."""
    axis: int
    """Through-plane axis (index 0: current collector, last index: separator)."""
    connectivity: int
    """Voxel neighbourhood used for the networks (6, 18 or 26)."""
    periodic_lateral: bool
    """Whether the two lateral axes were wrapped."""
    separator_contact: bool
    """Whether CAM on the separator face counted as touching the ionic network."""
    voxel_size_um: float | None
    """Voxel edge length in µm, or None (results then in voxel units)."""
    reason: str
    """Empty when the utilization is defined; otherwise why it is NaN."""

    def __repr__(self) -> str:
        unit = "1/µm" if self.voxel_size_um is not None else "1/voxel"
        head = (
            f"UtilizationResult(rule={self.rule!r}, "
            f"static_utilization={self.static_utilization:.4f}, "
            f"by_count={self.static_utilization_by_count:.4f},\n"
            f"  electronically_isolated={self.electronically_isolated:.4f}, "
            f"ionically_isolated={self.ionically_isolated:.4f}, "
            f"isolated_both={self.isolated_both:.4f},\n"
            f"  electronic_percolates={self.electronic_percolates}, "
            f"ionic_percolates={self.ionic_percolates}, "
            "active_interface_area_per_volume="
            f"{self.active_interface_area_per_volume:.4g} {unit},\n"
            f"  particles={self.n_active}/{self.n_particles} active, "
            f"cam_volume_voxels={self.cam_volume_voxels}"
        )
        if self.reason:
            head += f",\n  reason={self.reason!r}"
        return head + ")"


def utilization_result(
    sums: ParticleSums,
    ionic: np.ndarray,
    *,
    electronic_percolates: bool,
    ionic_percolates: bool,
    n_voxels: int,
    options: UtilizationOptions,
) -> UtilizationResult:
    """Per-particle table and volume fractions from the sums and the ionic flags.

    ``sums`` and ``ionic`` are indexed by particle id (row 0: no particle); rows of ids that
    do not occur (volume 0) are left out of the table.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.utilization._options import check_utilization_args
    >>> from solvers.utilization._particle_sums import ParticleSums
    >>> v = np.zeros((1, 1, 4), dtype=np.int8)
    >>> sums = ParticleSums(volume=np.array([0, 3, 1]), electronic=np.array([False, True, True]),
    ...                     contact_faces=np.array([0, 2, 1]), network_faces=np.array([0, 2, 0]))
    >>> r = utilization_result(sums, sums.network_faces > 0, electronic_percolates=True,
    ...                        ionic_percolates=True, n_voxels=4,
    ...                        options=check_utilization_args(v, v))
    >>> r.static_utilization, r.particles.active.tolist(), r.active_interface_area_per_volume
    (0.75, [True, False], 0.5)
    """
    vol, elec, contact, network = sums
    own_contact = network > 0
    present = np.flatnonzero(vol > 0)
    present = present[present > 0]
    vol_p = vol[present]
    elec_p, own_p, ionic_p = elec[present], own_contact[present], ionic[present]
    active_p = elec_p & ionic_p
    vox = options.voxel_size_um
    table = ParticleUtilization(
        id=present.astype(np.int64),
        volume_voxels=vol_p,
        volume_um3=None if vox is None else vol_p * vox**3,
        electronic=elec_p,
        ionic_contact=own_p,
        ionic=ionic_p,
        active=active_p,
        cam_se_contact_faces=contact[present],
        ionic_network_contact_faces=network[present],
        cam_se_contact_area_um2=None if vox is None else contact[present] * vox**2,
    )
    total = int(vol_p.sum())
    area = float(network[present][active_p].sum()) / max(n_voxels, 1)
    if vox is not None:
        area /= vox
    if total == 0:
        nan = float("nan")
        fractions = (nan, nan, nan, nan, nan)
        reason = f"no CAM (phase {CAM}) voxels in the volume"
    else:
        fractions = (
            float(vol_p[active_p].sum()) / total,
            float(active_p.mean()),
            float(vol_p[~elec_p].sum()) / total,
            float(vol_p[~ionic_p].sum()) / total,
            float(vol_p[~elec_p & ~ionic_p].sum()) / total,
        )
        reason = ""
    return UtilizationResult(
        static_utilization=fractions[0],
        static_utilization_by_count=fractions[1],
        electronically_isolated=fractions[2],
        ionically_isolated=fractions[3],
        isolated_both=fractions[4],
        electronic_percolates=electronic_percolates,
        ionic_percolates=ionic_percolates,
        active_interface_area_per_volume=area,
        n_particles=int(present.size),
        n_active=int(active_p.sum()),
        cam_volume_voxels=total,
        particles=table,
        rule=options.rule,
        axis=options.axis,
        connectivity=options.connectivity,
        periodic_lateral=options.periodic_lateral,
        separator_contact=options.separator_contact,
        voxel_size_um=vox,
        reason=reason,
    )
