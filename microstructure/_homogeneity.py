"""Homogeneity of a composite: how evenly each phase is spread over the electrode's bulk.

Powder technology judges a mix by sampling it: the volume fraction of each component in many
samples of one size, and its relative standard deviation (RSD, the coefficient of variation
``std / mean``) over the samples.  0 is a perfectly even mix; an ideal random mix of particles
of diameter ``d`` has an RSD that falls roughly like ``(d / L)^(3/2)`` with the sample edge
``L``, so RSDs are compared at one sample size, and a phase of coarse particles (coarse SE)
is less even at the scale of a CAM particle than a fine one.  Here the samples are cubic
windows of edge ``L`` inside the bulk of the electrode (``Microstructure.bulk_slice``: the
layers next to the collector and separator are ordered by the walls and are left out, as for
transport), at every position on a lattice of steps ``L / 3`` to ``L / 6``: overlapping
windows, as in Hilfer's local porosity analysis, so that a box holding only a few whole
windows still gives a spread (``independent_windows`` says how many independent samples it
rests on).  The default ``L`` is three CAM volume d50s, about 20 CAM particles per window, so
the RSD of one composition can be compared with that of another whatever the CAM size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solvers.phases import PHASE_CODES

#: Default window edge, in CAM volume d50s.
WINDOW_CAM_D50 = 3.0


@dataclass(frozen=True)
class Homogeneity:
    """Volume fraction of each phase in cubic windows inside the bulk, and its spread.

    Phases are those present in the box (``pore``, ``cam``, ``se``, ``carbon``).  Where the
    window does not fit in the bulk the fractions are NaN, and so is the spread where it fits
    in one position only.
    """

    window_um: float
    """Edge of the cubic windows, µm (a whole number of voxels)."""
    n_windows: int
    """Window positions measured: every position on a lattice of steps of a third to a sixth
    of the window where the window lies wholly inside the bulk (overlapping windows)."""
    independent_windows: float
    """Bulk volume / window volume: about how many independent samples the spread rests on."""
    bulk_um: tuple[float, float]
    """Through-plane range measured, µm from the current collector (the bulk)."""
    mean_fraction: dict[str, float]
    """Mean volume fraction of each phase over the windows."""
    std_fraction: dict[str, float]
    """Standard deviation of each phase's volume fraction over the windows."""
    rsd: dict[str, float]
    """Relative standard deviation ``std_fraction / mean_fraction`` (dimensionless; 0 is
    perfectly even)."""

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {"window_um": self.window_um, "n_windows": self.n_windows,
                "independent_windows": self.independent_windows,
                "bulk_um": list(self.bulk_um), "mean_fraction": dict(self.mean_fraction),
                "std_fraction": dict(self.std_fraction), "rsd": dict(self.rsd)}

    def __repr__(self) -> str:
        if self.n_windows < 2:
            return (f"Homogeneity(a {self.window_um:.3g} um window fits the "
                    f"{self.bulk_um[1] - self.bulk_um[0]:.3g} um bulk {self.n_windows} time(s): "
                    "no spread; choose a smaller homogeneity_window_um)")
        rsd = ", ".join(f"{k} {v:.3g}" for k, v in self.rsd.items())
        return (f"Homogeneity(RSD of the volume fraction in windows of {self.window_um:.3g} um, "
                f"{self.independent_windows:.3g} independent: {rsd})")


def check_window(window_um: object, voxel_size_um: float,
                 name: str = "homogeneity_window_um") -> float | None:
    """``window_um`` as a float (None stays None: the default), or a ValueError naming
    ``name`` when it is not a finite number of µm of at least one voxel."""
    if window_um is None:
        return None
    if (isinstance(window_um, (int, float)) and not isinstance(window_um, bool)
            and math.isfinite(window_um) and window_um >= voxel_size_um):
        return float(window_um)
    raise ValueError(f"{name} must be a number of µm of at least one voxel "
                     f"({voxel_size_um:g} µm), got {window_um!r}")


def _lattice(n: int) -> tuple[int, int]:
    """``(block, steps)`` with ``block * steps`` as close to ``n`` voxels as can be and 3-6
    steps per window (the largest block among the closest; one-voxel blocks for n < 3)."""
    if n < 3:
        return 1, n
    return min(((b, round(n / b)) for b in range(max(1, n // 6), n // 3 + 1)),
               key=lambda bs: (abs(bs[0] * bs[1] - n), -bs[0]))


def window_counts(phases: np.ndarray, block: int, steps: int) -> np.ndarray:
    """Voxels of each phase code (0-3) in the cubic windows of ``steps`` x ``block`` voxels
    inside ``phases``, at every position on the lattice of ``block`` steps.

    The box is cut into ``block``-voxel cubes (the leftover split between both ends of each
    axis); a window is ``steps``³ neighbouring cubes.  Returns an ``(n_windows, 4)`` int64
    array (``(0, 4)`` when no window fits).
    """
    k = [s // block for s in phases.shape]
    if min(k) < steps:
        return np.zeros((0, 4), dtype=np.int64)
    crop = tuple(slice((s - kk * block) // 2, (s - kk * block) // 2 + kk * block)
                 for s, kk in zip(phases.shape, k, strict=True))
    sub = phases[crop]
    sums = np.empty((4, *k), dtype=np.int64)     # voxels of each phase per cube
    for code in range(4):
        sums[code] = (sub == code).reshape(k[0], block, k[1], block, k[2], block).sum(
            axis=(1, 3, 5), dtype=np.int64)
    for axis in (1, 2, 3):    # sliding sums of ``steps`` cubes along each axis
        c = np.cumsum(sums, axis=axis)
        zero = np.zeros_like(np.take(c, [0], axis=axis))
        c = np.concatenate([zero, c], axis=axis)
        n = c.shape[axis]
        sums = np.take(c, np.arange(steps, n), axis=axis) - np.take(c, np.arange(n - steps),
                                                                  axis=axis)
    return sums.reshape(4, -1).T


def homogeneity(phases: np.ndarray, *, voxel_size_um: float, window_um: float, bulk: slice,
                present: tuple[str, ...]) -> Homogeneity:
    """:class:`Homogeneity` of the phases named in ``present`` in ``phases[bulk]``, in windows
    of about ``window_um`` (checked by the caller), rounded to whole voxels."""
    h = float(voxel_size_um)
    block, steps = _lattice(max(1, round(window_um / h)))
    n = block * steps
    part = phases[bulk]
    counts = window_counts(part, block, steps)
    frac = counts / float(n**3)
    mean, std, rsd = {}, {}, {}
    for name in present:
        f = frac[:, PHASE_CODES[name]]
        mean[name] = float(f.mean()) if f.size else math.nan
        std[name] = float(f.std()) if f.size > 1 else math.nan
        rsd[name] = std[name] / mean[name] if mean[name] > 0 else math.nan
    start, stop, _ = bulk.indices(phases.shape[0])
    return Homogeneity(window_um=n * h, n_windows=int(counts.shape[0]),
                       independent_windows=(float(part.size) / n**3 if counts.size else 0.0),
                       bulk_um=(start * h, stop * h), mean_fraction=mean, std_fraction=std,
                       rsd=rsd)
