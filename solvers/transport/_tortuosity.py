"""Effective conductivity and tortuosity factor of voxel structures (CPU and GPU).

Definitions (compatible with TauFactor's binary solver)
-------------------------------------------------------
* Cell-centred finite volumes on the voxel grid.  Two face-adjacent conducting voxels of
  conductivities ``s_a``, ``s_b`` are joined by the harmonic-mean face conductance
  ``2 s_a s_b / (s_a + s_b)`` (voxel size 1: area 1, centre distance 1).
* Fixed potentials on both faces of ``axis``: 0 on the face before index 0 (the current
  collector side) and 1 on the face after the last index (the separator side), each half a
  voxel from the first/last cell centres (face conductance ``2 s``).
* Lateral sides are sealed (no flux), or periodic with ``periodic_lateral=True``.
* Only the voxels of the conducting network connected (6-connectivity, across all conducting
  phases) to *both* fixed faces are solved; isolated clusters and dead ends that touch only
  one face carry no steady current and are left out, so the system is never singular.
* ``sigma_eff = G * L / A`` with ``G`` the conductance between the two faces, ``L`` the
  number of voxels along ``axis`` and ``A`` the number of voxels in a cross-section.  ``G``
  is taken from the energy of the discrete solution (Dirichlet principle,
  ``G = sum_faces g (du)^2``), whose error is quadratic in the solver error and never
  negative; the inlet and outlet fluxes are reported as ``flux_mismatch``.
* ``tau = (sum_i eps_i s_i) / sigma_eff`` over the conducting phases ``i`` with volume
  fractions ``eps_i`` (for a mask: ``tau = eps / sigma_rel``); ``eps`` counts all voxels
  of the conducting phases, percolating or not, as TauFactor does.  With
  ``convention="tau2"`` the reported value is ``sqrt`` of that, the factor of
  ``sigma_eff = s eps / tau^2`` used by some papers.

TauFactor's ``MultiPhaseSolver`` places its fixed potentials one voxel (not half a voxel)
outside the volume, so its multi-phase values differ from these by O(1/L).

Solver: matrix-free preconditioned conjugate gradients (:mod:`solvers.transport._cg`) with a
multigrid V-cycle (default, :mod:`solvers.transport._multigrid`: geometric for one conducting phase,
aggregation of connected block pieces and smoothed aggregation below for several) or Jacobi
preconditioner.  :func:`tortuosity` is a short sequence of the steps in
:mod:`solvers.transport._steps`.

Accuracy: by default the solve stops when the estimated relative error of ``sigma_eff`` (and
hence of ``tau``) is below ``accuracy = 3e-5`` -- the energy rule of
:mod:`solvers.transport._cg`: the conductance is the minimum of the Dirichlet energy, every CG
step lowers the energy by a known amount, and the remaining error is estimated from the tail
of those decreases.  The estimate can read up to about 6x low when a solve stops after 4-6
iterations, so the default keeps the true error of ``tau`` below 1e-4 (measured on blobs,
composites and random multi-phase volumes: 6e-6 to 7.9e-5).  Giving ``rtol`` instead stops on
the relative residual as before.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import (
    check_axis,
    check_bool,
    check_choice,
    check_conductivity,
    check_known_codes,
    check_max_iter,
    check_optional_positive,
    check_phase_codes,
    check_positive,
    check_volume,
)
from ..device import check_device, get_xp, to_host
from ..memory import check_memory, estimate_tortuosity
from ._contacts import ContactConductance, weight_faces
from ._result import TransportProperties, TransportResult
from ._steps import (
    DEFAULT_ACCURACY,
    build_operator,
    choose_dtype,
    choose_preconditioner,
    classes,
    conductance_tables,
    measure,
    percolating_mask,
    solve,
)

__all__ = ["TransportResult", "TransportProperties", "tortuosity", "transport_properties"]

PRECONDITIONERS = ("multigrid", "jacobi")
CONVENTIONS = ("tau", "tau2")
DTYPES = ("auto", "float64", "float32")
#: With ``rtol``, the result counts as converged only if the true relative residual is within
#: this factor of ``rtol`` (in float64 it ends below 0.1 rtol: the rule also asks the
#: preconditioned residual to drop by rtol^2; in float32 the recursive residual drifts from
#: the true one, 400x rtol = 1e-9 measured).
RESIDUAL_SLACK = 2.0


@dataclass(frozen=True)
class _Options:
    """The checked arguments of :func:`tortuosity`."""

    device: str
    axis: int
    conductivity: dict[int, float] | None
    periodic_lateral: bool
    rtol: float | None
    accuracy: float | None
    max_iter: int
    preconditioner: str
    convention: str
    dtype: str
    return_field: bool
    progress: bool | str


def _options(image, axis, conductivity, periodic_lateral, rtol, max_iter, preconditioner,
             convention, dtype, return_field, progress, device, accuracy) -> _Options:
    """Validate the arguments of :func:`tortuosity` (step 0)."""
    device = check_device(device)
    check_volume(image, "image")
    if type(image).__module__.startswith("cupy") and device == "cpu":
        raise TypeError("image is a CuPy array but device='cpu'; use device='cuda' or image.get()")
    dt = np.dtype(getattr(image, "dtype", None))
    if not (dt.kind == "b" or np.issubdtype(dt, np.integer)):
        raise TypeError(f"image must be a boolean mask or an integer phase array, got dtype {dt}")
    if min(image.shape) < 1:
        raise ValueError(f"image must not be empty, got shape {tuple(image.shape)}")
    if not isinstance(progress, (bool, str)):
        raise TypeError(f"progress must be a bool or a label string, got {progress!r}")
    rtol = check_optional_positive(rtol, "rtol")
    accuracy = check_optional_positive(accuracy, "accuracy")
    if accuracy is not None and accuracy >= 1:
        raise ValueError(f"accuracy must be a relative error below 1 (e.g. 1e-4), got "
                         f"{accuracy!r}")
    if dt.kind == "b" and conductivity is not None and set(conductivity) - {1}:
        raise ValueError(f"image is a boolean mask: only its True voxels (code 1) conduct, so "
                         f"conductivity may map code 1 only, got codes {sorted(conductivity)}")
    if rtol is None and accuracy is None:
        accuracy = DEFAULT_ACCURACY
    max_iter = check_max_iter(max_iter)
    return _Options(
        device=device,
        axis=check_axis(axis),
        conductivity=None if conductivity is None else check_conductivity(conductivity),
        periodic_lateral=check_bool(periodic_lateral, "periodic_lateral"),
        rtol=rtol,
        accuracy=accuracy,
        max_iter=max(1000, 10 * max(image.shape)) if max_iter is None else max_iter,
        preconditioner=check_choice(preconditioner, "preconditioner", PRECONDITIONERS),
        convention=check_choice(convention, "convention", CONVENTIONS),
        dtype=check_choice(dtype, "dtype", DTYPES),
        return_field=check_bool(return_field, "return_field"),
        progress=progress,
    )


def _empty_result(eps: float, t0: float, o: _Options, shape: tuple[int, ...], xp: Any):
    """A network that does not percolate: tau = inf without iterating."""
    fld = xp.full(shape, np.nan, dtype=np.float64 if o.dtype == "auto" else o.dtype)
    return TransportResult(
        tau=math.inf,
        effective_conductivity=0.0,
        relative_conductivity=0.0,
        volume_fraction=eps,
        percolating_fraction=0.0,
        iterations=0,
        residual=0.0,
        flux_mismatch=0.0,
        converged=True,
        seconds=time.perf_counter() - t0,
        device=o.device,
        convention=o.convention,
        field=fld if o.return_field else None,
        estimated_error=0.0,
    )


def tortuosity(
    image: Any,
    *,
    axis: int = 0,
    conductivity: Mapping[int, float] | None = None,
    periodic_lateral: bool = False,
    rtol: float | None = None,
    max_iter: int | None = None,
    preconditioner: str = "multigrid",
    convention: str = "tau",
    dtype: str = "auto",
    return_field: bool = False,
    accuracy: float | None = None,
    progress: bool | str = False,
    contacts: ContactConductance | None = None,
    device: str = "cpu",
) -> TransportResult:
    """Effective conductivity and tortuosity factor of a voxel structure along ``axis``.

    Solves the steady conduction problem with fixed potentials on the two faces of ``axis``
    by matrix-free preconditioned conjugate gradients on the voxels connected to both faces.
    The definitions (TauFactor-compatible) are given in the module docstring of
    :mod:`solvers.transport._tortuosity`.

    Parameters
    ----------
    image : (n0, n1, n2) array of bool or int
        Boolean mask of the conducting phase (unit conductivity unless ``conductivity`` maps
        code 1), or integer phase codes (0 pore, 1 CAM, 2 SE, 3 carbon, ...).  A CuPy array
        with ``device="cuda"``.
    axis : int
        Transport axis; index 0 along it faces the current collector.
    conductivity : mapping {phase_code: S/cm}, optional
        Conductivity per phase code; codes not listed conduct nothing.  Required for integer
        images with codes other than 0/1.
    periodic_lateral : bool
        Periodic (instead of sealed) sides normal to the two other axes.
    rtol : float, optional
        Residual rule: stop when ``||b - A x|| <= rtol ||b||`` (and the preconditioned
        residual has dropped by ``rtol^2``).  By default only the energy rule (``accuracy``)
        is used.
    max_iter : int, optional
        Iteration limit (default ``max(1000, 10 * max(image.shape))``).
    preconditioner : {"multigrid", "jacobi"}
        Multigrid cycle (iteration count nearly independent of size) or point Jacobi.
        With several conducting phases, or one that fills less than 15 % of the box, the
        multigrid aggregates the connected pieces of ``2 x 2 x 2`` blocks with smoothed
        aggregation below (robust to conductivity contrast and narrow contacts); otherwise it
        uses the cheaper geometric ``2 x 2 x 2`` hierarchy with a W-cycle.
    convention : {"tau", "tau2"}
        Report ``tau = eps sigma / sigma_eff`` or its square root.
    dtype : {"auto", "float64", "float32"}
        Storage of the vectors and face conductances; reductions always use float64.
        float32 halves memory traffic and is accurate (to ~1e-6 in ``tau``) for one phase or
        moderate contrasts; with conductivity contrasts of 1e2 or more it is not safe (the
        potential varies across the highly conducting regions by less than float32 resolves,
        and the energy, summed over faces of very different conductance, loses digits), so
        ``"auto"`` stores float32 only when the solved phases' conductivities differ by at
        most a factor 10 and ``rtol`` (if given) is at least 1e-5, float64 otherwise.
    return_field : bool
        Also return the potential field.
    progress : bool or str
        Show a progress bar (tqdm, to stderr) over the CG iterations with the relative residual;
        a string is used as the bar's label.
    contacts : ContactConductance, optional
        Particle labels and the contacts (pairs of labels, contact radius in µm) of the
        conducting network: the faces joining the two particles of a contact get the
        conductance of the contact circle (sub-voxel contact conductance, see
        :mod:`solvers.transport._contacts`), so that tau does not depend on how much wider than
        the contact the grid draws it.  ``dtype="auto"`` then stores float64.
    device : {"cpu", "cuda"}
        CPU (numba-parallel kernels) or GPU (CuPy + numba-cuda kernels).
    accuracy : float, optional
        Energy rule: stop when the estimated relative error of ``sigma_eff`` (and ``tau``) is
        at most ``accuracy`` (default ``3e-5`` when ``rtol`` is not given either; see the
        module docstring).  The error estimate is returned as ``estimated_error``.

    Returns
    -------
    TransportResult

    Warns
    -----
    RuntimeWarning
        If the solver stops at ``max_iter`` before meeting its stopping rule (``converged=False``).

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import tortuosity
    >>> img = np.ones((8, 6, 6), dtype=bool)
    >>> img[:, :, :3] = False                     # a straight half-width strip
    >>> res = tortuosity(img)
    >>> round(res.tau, 6), round(res.volume_fraction, 3)
    (1.0, 0.5)
    >>> layered = np.ones((4, 3, 3), dtype=np.uint8)
    >>> layered[2:] = 2                           # two layers in series
    >>> r = tortuosity(layered, conductivity={1: 1.0, 2: 3.0})
    >>> round(r.effective_conductivity, 6)        # 1 / (0.5 / 1 + 0.5 / 3)
    1.5
    """
    t0 = time.perf_counter()
    o = _options(image, axis, conductivity, periodic_lateral, rtol, max_iter, preconditioner,
                 convention, dtype, return_field, progress, device, accuracy)
    if contacts is not None:
        if not isinstance(contacts, ContactConductance):
            raise TypeError(f"contacts must be a ContactConductance, got {type(contacts).__name__}")
        if tuple(contacts.labels.shape) != tuple(image.shape):
            raise ValueError(f"contacts.labels has shape {tuple(contacts.labels.shape)}, the "
                             f"image {tuple(image.shape)}; they must be equal")
    check_memory(estimate_tortuosity(image.shape, device=o.device), field="image")
    xp = get_xp(o.device)
    image = xp.asarray(image)
    # 1-2: classes and the part of the network connected to both faces
    cls, sig, eps, eps_sigma = classes(image, o.conductivity, xp)
    conducting = cls > 0
    n_cond = int(conducting.sum())
    perc = percolating_mask(conducting, o.axis, o.periodic_lateral, o.device) if n_cond else None
    n_perc = 0 if perc is None else int(perc.sum())
    if n_perc == 0:
        return _empty_result(eps, t0, o, image.shape, xp)
    # 3-4: operator on the solved voxels (transport axis first), dtype, preconditioner
    phase = xp.ascontiguousarray(xp.moveaxis(xp.where(perc, cls, 0).astype(np.uint8), o.axis, 0))
    present = to_host(xp.bincount(phase.ravel(), minlength=len(sig))) > 0  # device sync
    fdt = choose_dtype(o.dtype, sig, present, o.rtol, contact_weights=contacts is not None)
    gtab, gdir, scale = conductance_tables(sig)
    op = build_operator(phase, gtab, gdir, o.periodic_lateral, fdt, o.device)
    n_weighted = 0
    if contacts is not None:
        n_weighted = weight_faces(op, contacts, o.axis, xp)
    M = choose_preconditioner(o.preconditioner, op, present, xp, fdt, n_perc / image.size)
    # 5-6: solve and read off the conductance
    x, info = solve(op, M, phase, gdir, rtol=o.rtol, accuracy=o.accuracy,
                    max_iter=o.max_iter, progress=o.progress)
    m = measure(op, x, phase, gdir)
    converged = info.converged
    if converged and o.rtol is not None and not m.residual <= RESIDUAL_SLACK * o.rtol:
        # the recursive residual met rtol, the true one did not: in float32 it drifts away
        converged = False
        warnings.warn(
            f"tortuosity: the recursive residual met rtol={o.rtol} after {info.iterations} "
            f"iterations, but the true relative residual is {m.residual:.2e} (dtype {fdt}); "
            "the result has converged=False. Use dtype='float64' (or 'auto') for an rtol "
            "below the float32 floor (~1e-6).",
            RuntimeWarning,
            stacklevel=2,
        )
    elif not converged:
        warnings.warn(
            f"tortuosity: conjugate gradients stopped after {info.iterations} iterations at "
            f"relative residual {info.residual:.2e} (rtol={o.rtol}, estimated error "
            f"{info.energy_error:.1e}, accuracy={o.accuracy}, breakdown={info.breakdown}); "
            "the result has converged=False. Raise max_iter, loosen rtol or accuracy, or use "
            "preconditioner='multigrid'.",
            RuntimeWarning,
            stacklevel=2,
        )
    sigma_eff = m.conductance * phase.shape[0] / (phase.shape[1] * phase.shape[2]) * scale
    tau = eps_sigma / sigma_eff if sigma_eff > 0 else math.inf
    fld = None
    if o.return_field:
        fld = xp.moveaxis(xp.where(phase > 0, x, np.nan).astype(fdt), 0, o.axis)
    return TransportResult(
        tau=float(math.sqrt(tau) if o.convention == "tau2" else tau),
        effective_conductivity=float(sigma_eff),
        relative_conductivity=float(sigma_eff / (eps_sigma / eps)),
        volume_fraction=eps,
        percolating_fraction=n_perc / n_cond,
        iterations=info.iterations,
        residual=float(m.residual),
        flux_mismatch=float(m.flux_mismatch),
        converged=converged,
        seconds=time.perf_counter() - t0,
        device=o.device,
        convention=o.convention,
        field=fld,
        estimated_error=float(info.energy_error),
        contacts_weighted=n_weighted,
    )


def transport_properties(
    phases: Any,
    conductivities: Mapping[int, float],
    *,
    axis: int = 0,
    ionic_phases: tuple[int, ...] = (2,),
    electronic_phases: tuple[int, ...] = (1, 3),
    voxel_size_um: float | None = None,
    periodic_lateral: bool = False,
    rtol: float | None = None,
    max_iter: int | None = None,
    preconditioner: str = "multigrid",
    convention: str = "tau",
    dtype: str = "auto",
    progress: bool = False,
    device: str = "cpu",
    accuracy: float | None = None,
    electronic_contacts: ContactConductance | None = None,
) -> TransportProperties:
    """Ionic and electronic effective conductivity and tortuosity of a composite cathode.

    Runs :func:`tortuosity` twice on the phase volume: once with only ``ionic_phases``
    conducting (the electrolyte network) and once with only ``electronic_phases`` conducting
    (CAM and carbon), each phase with its conductivity from ``conductivities``.

    Parameters
    ----------
    phases : (n0, n1, n2) integer array
        Phase codes: 0 pore, 1 CAM, 2 SE, 3 carbon.
    conductivities : mapping {phase_code: S/cm}
        Conductivity of each phase for the carrier of the network it belongs to (ionic for
        ``ionic_phases``, electronic for ``electronic_phases``).  Every listed phase code that
        occurs in ``phases`` must have an entry.
    axis : int
        Transport axis (0 = through-plane, current collector to separator).
    ionic_phases, electronic_phases : tuple of int
        Phase codes of the two networks (non-empty, from 0-3, no code in both: one
        conductivity per phase).
    voxel_size_um : float, optional
        Voxel edge in µm; gives ``thickness_um`` and area-specific resistances.  Must equal
        ``electronic_contacts.voxel_size_um`` when both are given.
    periodic_lateral, rtol, max_iter, preconditioner, convention, dtype, device, accuracy
        As in :func:`tortuosity`.
    progress : bool
        Show a progress bar for each of the two solves.
    electronic_contacts : ContactConductance, optional
        The contacts between the particles of the electronic network (CAM, carbon) and their
        radii: the electronic solve gives their faces the contact's own conductance
        (``contacts`` of :func:`tortuosity`).  The ionic network's (ductile SE) contacts are
        drawn as wide as they are and are not weighted.

    Returns
    -------
    TransportProperties

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import transport_properties
    >>> ph = np.full((6, 4, 4), 2, dtype=np.uint8)   # SE everywhere ...
    >>> ph[:, :, :2] = 1                            # ... except a CAM half
    >>> tp = transport_properties(ph, {1: 1e-2, 2: 3e-3}, voxel_size_um=0.5)
    >>> round(tp.ionic.tau, 6), round(tp.ionic.effective_conductivity, 6)
    (1.0, 0.0015)
    >>> round(tp.electronic_resistance_ohm_cm2, 6)   # 3 µm / 5e-3 S/cm
    0.06
    """
    check_volume(phases, "phases")
    dt = np.dtype(getattr(phases, "dtype", None))
    if not np.issubdtype(dt, np.integer):
        raise TypeError(f"phases must be an integer phase array, got dtype {dt}")
    cond = check_conductivity(conductivities, "conductivities")
    axis = check_axis(axis)
    networks = {"ionic_phases": check_phase_codes(ionic_phases, "ionic_phases"),
                "electronic_phases": check_phase_codes(electronic_phases, "electronic_phases")}
    shared = sorted(set(networks["ionic_phases"]) & set(networks["electronic_phases"]))
    if shared:
        raise ValueError(
            f"ionic_phases {networks['ionic_phases']} and electronic_phases "
            f"{networks['electronic_phases']} share phase code(s) {shared}; conductivities "
            "holds one value per phase, so a phase belongs to one network (solve a mixed "
            "conductor's two networks with tortuosity(), one conductivity mapping each)")
    device = check_device(device)
    if not isinstance(progress, (bool, np.bool_)):  # each solve is labelled by its network
        raise TypeError(f"progress must be a bool (True or False), got {progress!r}")
    check_memory(estimate_tortuosity(phases.shape, device=device), field="phases")
    present = {int(c) for c in to_host(get_xp(device).unique(phases))}
    check_known_codes(present)
    nets = {}
    for name, codes in networks.items():
        missing = [c for c in codes if c not in cond and c in present]
        if missing:
            raise ValueError(
                f"conductivities has no entry for {name} code(s) {missing}; "
                f"got codes {sorted(cond)}"
            )
        nets[name] = {c: cond[c] for c in codes if c in cond}
    thickness = None
    if voxel_size_um is not None:
        thickness = check_positive(voxel_size_um, "voxel_size_um") * phases.shape[axis]
        if (isinstance(electronic_contacts, ContactConductance)
                and not math.isclose(electronic_contacts.voxel_size_um, voxel_size_um,
                                     rel_tol=1e-9)):
            raise ValueError(
                f"electronic_contacts.voxel_size_um is {electronic_contacts.voxel_size_um} µm "
                f"but voxel_size_um is {voxel_size_um} µm; the contacts must be those of "
                "this image")
    kw = dict(
        axis=axis,
        periodic_lateral=periodic_lateral,
        rtol=rtol,
        max_iter=max_iter,
        preconditioner=preconditioner,
        convention=convention,
        dtype=dtype,
        device=device,
        accuracy=accuracy,
    )
    ionic = tortuosity(phases, conductivity=nets["ionic_phases"],
                       progress="ionic transport" if progress else False, **kw)
    electronic = tortuosity(phases, conductivity=nets["electronic_phases"],
                            progress="electronic transport" if progress else False,
                            contacts=electronic_contacts, **kw)
    return TransportProperties(
        ionic=ionic, electronic=electronic, axis=axis, thickness_um=thickness
    )
