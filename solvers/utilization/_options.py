"""Step 1 of :func:`cam_utilization`: check the arguments, once, into :class:`UtilizationOptions`.

Only the cheap checks run here (types, shapes, options); the checks on the values (phase codes,
particle ids) run inside the mask pass of :mod:`._networks`, which reads every voxel anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._validate import (
    check_axis,
    check_bool,
    check_choice,
    check_connectivity,
    check_host_array,
    check_phase_codes,
    check_positive,
    check_same_shape,
    check_volume,
)
from ..device import check_device
from ..phases import CAM
from ._rules import RULES

__all__ = ["UtilizationOptions", "check_utilization_args"]


@dataclass(frozen=True)
class UtilizationOptions:
    """The checked, normalized options of one :func:`cam_utilization` call."""

    axis: int
    """Through-plane axis, 0..2."""
    electronic_phases: tuple[int, ...]
    """Phase codes that conduct electrons."""
    ionic_phases: tuple[int, ...]
    """Phase codes that conduct Li ions (never CAM)."""
    rule: str
    """One of :data:`RULES`."""
    connectivity: int
    """6, 18 or 26."""
    periodic_lateral: bool
    """Wrap the two axes other than ``axis``."""
    separator_contact: bool
    """CAM on the separator face (last index along ``axis``) has own ionic contact."""
    voxel_size_um: float | None
    """Voxel edge in µm, or None."""
    device: str
    """``"cpu"`` or ``"cuda"``."""

    @property
    def periodic(self) -> tuple[bool, bool, bool]:
        """Wrap per axis: the lateral axes when ``periodic_lateral``, never ``axis``."""
        return tuple(self.periodic_lateral and a != self.axis for a in range(3))  # type: ignore[return-value]


def check_utilization_args(
    phases: Any,
    particle_ids: Any,
    *,
    axis: Any = 0,
    electronic_phases: Any = (1, 3),
    ionic_phases: Any = (2,),
    rule: Any = "strict",
    connectivity: Any = 6,
    periodic_lateral: Any = True,
    separator_contact: Any = True,
    voxel_size_um: Any = None,
    device: Any = "cpu",
) -> UtilizationOptions:
    """Check the arguments of :func:`cam_utilization`; raise ``TypeError`` / ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.zeros((2, 2, 2), dtype=np.int8)
    >>> check_utilization_args(v, v, axis=-1).periodic
    (True, True, False)
    """
    device = check_device(device)
    check_volume(phases, "phases", integer=True)
    check_volume(particle_ids, "particle_ids", integer=True)
    check_same_shape(phases, particle_ids, "phases", "particle_ids")
    if phases.size == 0:
        raise ValueError(f"phases must not be empty, got shape {tuple(phases.shape)}")
    if device == "cpu":
        check_host_array(phases, "phases")
        check_host_array(particle_ids, "particle_ids")
    axis = check_axis(axis)
    electronic = check_phase_codes(electronic_phases, "electronic_phases")
    ionic = check_phase_codes(ionic_phases, "ionic_phases")
    if CAM in ionic:
        raise ValueError(
            f"ionic_phases must not contain the CAM code {CAM}; ionic transport through touching "
            f"CAM is rule='cam_relay'. Got ionic_phases={ionic_phases!r}"
        )
    rule = check_choice(rule, "rule", RULES)
    connectivity = check_connectivity(connectivity)
    periodic_lateral = check_bool(periodic_lateral, "periodic_lateral")
    separator_contact = check_bool(separator_contact, "separator_contact")
    voxel = None if voxel_size_um is None else check_positive(voxel_size_um, "voxel_size_um")
    return UtilizationOptions(
        axis=axis,
        electronic_phases=electronic,
        ionic_phases=ionic,
        rule=rule,
        connectivity=connectivity,
        periodic_lateral=periodic_lateral,
        separator_contact=separator_contact,
        voxel_size_um=voxel,
        device=device,
    )
