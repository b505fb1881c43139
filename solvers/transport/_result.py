"""Result types of the transport solver: one network (:class:`TransportResult`) and the pair of
ionic and electronic networks of a composite (:class:`TransportProperties`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TransportProperties", "TransportResult"]


@dataclass(frozen=True)
class TransportResult:
    """Effective conductivity and tortuosity factor of one conducting network.

    All conductivities are in S/cm (relative to a unit conductivity when a boolean mask was
    given without ``conductivity``).
    """

    tau: float
    """Tortuosity factor ``(sum_i eps_i sigma_i) / sigma_eff`` (or its square root with
    ``convention="tau2"``); ``inf`` if the network does not percolate.  Dimensionless."""
    effective_conductivity: float
    """``sigma_eff`` along ``axis``, S/cm (0 if the network does not percolate)."""
    relative_conductivity: float
    """``sigma_eff / sigma_bulk`` with ``sigma_bulk`` the volume-weighted mean conductivity of
    the conducting phases (1 for one phase).  Dimensionless."""
    volume_fraction: float
    """Volume fraction ``eps`` of all conducting voxels, percolating or not.  Dimensionless."""
    percolating_fraction: float
    """Fraction of the conducting voxels connected to both fixed faces (0..1)."""
    iterations: int
    """Conjugate-gradient iterations (0 when nothing had to be solved)."""
    residual: float
    """Final true relative residual ``||b - A x|| / ||b||``."""
    flux_mismatch: float
    """``|I_in - I_out| / I`` of the currents through the two fixed faces."""
    converged: bool
    """Whether the solver met its stopping rule within ``max_iter`` iterations: the energy
    rule (``estimated_error`` at most ``accuracy``) and, where ``rtol`` is given, the relative
    residual at most ``rtol`` (the true residual, ``residual``, within twice ``rtol``)."""
    seconds: float
    """Wall time of the call, s."""
    device: str
    """``"cpu"`` or ``"cuda"``."""
    convention: str = "tau"
    """``"tau"`` or ``"tau2"``: which tortuosity factor ``tau`` holds."""
    estimated_error: float = math.nan
    """Estimated relative error of ``effective_conductivity`` (and of ``tau``) left by the
    solver's stopping rule (see :mod:`solvers.transport._cg`); 0 when nothing was iterated,
    NaN when only the residual rule (``rtol``) was used."""
    contacts_weighted: int = 0
    """Contacts whose faces carry a sub-voxel contact conductance (``contacts=`` of
    :func:`~solvers.tortuosity`; 0 without)."""
    field: Any = field(default=None, repr=False)
    """Potential (0 on the face before index 0, 1 after the last index along ``axis``) on
    the solved voxels, NaN elsewhere; a NumPy (CPU) or CuPy (GPU) array in the input's axis
    order.  None unless ``return_field=True``."""

    def __repr__(self) -> str:
        return (
            f"TransportResult(tau={self.tau:.6g} [{self.convention}], "
            f"effective_conductivity={self.effective_conductivity:.6g} S/cm, "
            f"relative_conductivity={self.relative_conductivity:.6g}, "
            f"volume_fraction={self.volume_fraction:.4f}, "
            f"percolating_fraction={self.percolating_fraction:.4f}, "
            f"iterations={self.iterations}, residual={self.residual:.2e}, "
            f"flux_mismatch={self.flux_mismatch:.2e}, estimated_error={self.estimated_error:.1e}, "
            f"converged={self.converged}, "
            f"seconds={self.seconds:.3f}, device={self.device!r})"
        )


@dataclass(frozen=True)
class TransportProperties:
    """Ionic and electronic transport of a composite cathode along ``axis``."""

    ionic: TransportResult
    """Network of the ionic phases (solid electrolyte) with their ionic conductivities."""
    electronic: TransportResult
    """Network of the electronic phases (CAM, carbon) with their electronic conductivities."""
    axis: int
    """Transport axis (0 = through-plane, current collector to separator)."""
    thickness_um: float | None = None
    """Length of the volume along ``axis``, µm (None without ``voxel_size_um``)."""

    @property
    def ionic_resistance_ohm_cm2(self) -> float | None:
        """Area-specific ionic resistance ``L / sigma_eff``, Ω·cm² (None without a voxel size)."""
        return _asr(self.thickness_um, self.ionic.effective_conductivity)

    @property
    def electronic_resistance_ohm_cm2(self) -> float | None:
        """Area-specific electronic resistance ``L / sigma_eff``, Ω·cm² (None without a voxel
        size)."""
        return _asr(self.thickness_um, self.electronic.effective_conductivity)

    def __repr__(self) -> str:
        t = "None" if self.thickness_um is None else f"{self.thickness_um:.6g} µm"
        return (
            f"TransportProperties(axis={self.axis}, thickness={t},\n"
            f"  ionic={self.ionic!r},\n  electronic={self.electronic!r})"
        )


def _asr(thickness_um: float | None, sigma: float) -> float | None:
    if thickness_um is None:
        return None
    return math.inf if sigma == 0 else thickness_um * 1e-4 / sigma
