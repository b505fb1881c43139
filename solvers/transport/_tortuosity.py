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
aggregation of connected block pieces for several) or Jacobi preconditioner.
"""

from __future__ import annotations

import importlib
import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from .._validate import check_axis, check_positive, check_volume
from ..device import check_device, get_xp, to_host
from ._cg import pcg
from ._multigrid import FineOperator, Jacobi, Multigrid, PieceMultigrid

__all__ = ["TransportResult", "TransportProperties", "tortuosity", "transport_properties"]

PRECONDITIONERS = ("multigrid", "jacobi")
CONVENTIONS = ("tau", "tau2")
DTYPES = ("float64", "float32")


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
    """Whether the relative residual reached ``rtol`` within ``max_iter`` iterations."""
    seconds: float
    """Wall time of the call, s."""
    device: str
    """``"cpu"`` or ``"cuda"``."""
    convention: str = "tau"
    """``"tau"`` or ``"tau2"``: which tortuosity factor ``tau`` holds."""
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
            f"flux_mismatch={self.flux_mismatch:.2e}, converged={self.converged}, "
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
        """Area-specific electronic resistance ``L / sigma_eff``, Ω·cm² (None without a voxel size)."""
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


# --------------------------------------------------------------------------- validation
def _check_conductivity(conductivity: Any, name: str) -> dict[int, float]:
    if not isinstance(conductivity, Mapping):
        raise TypeError(
            f"{name} must be a mapping {{phase_code: S/cm}}, got {type(conductivity).__name__}"
        )
    out = {}
    for code, value in conductivity.items():
        if isinstance(code, (bool, np.bool_)):
            code = int(code)
        if not isinstance(code, (int, np.integer)):
            raise TypeError(f"{name} keys must be integer phase codes, got {code!r}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name}[{code}] must be a number in S/cm, got {value!r}") from None
        if not math.isfinite(v) or v < 0:
            raise ValueError(
                f"{name}[{code}] must be a finite conductivity >= 0 S/cm, got {value!r}"
            )
        out[int(code)] = v
    return out


def _check_choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return str(value)


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_max_iter(max_iter: Any) -> int | None:
    if max_iter is None:
        return None
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer or None, got {max_iter!r}")
    return int(max_iter)


def _is_cupy(a: Any) -> bool:
    return type(a).__module__.startswith("cupy")


# --------------------------------------------------------------------------- building blocks
def _kernels(device: str) -> ModuleType:
    """The kernel module of ``device`` (numba-cuda kernels imported only for the GPU)."""
    name = "._stencil" if device == "cpu" else "._stencil_cuda"
    return importlib.import_module(name, __package__)


class _SolveProgress:
    """tqdm bar over CG iterations; its position is the residual's progress in decades."""

    def __init__(self, label: bool | str, rtol: float) -> None:
        from tqdm.auto import tqdm

        self.decades = max(-math.log10(rtol), 1.0)
        desc = label if isinstance(label, str) else "solve"
        self.bar = tqdm(total=round(self.decades, 1), desc=desc, unit="decade", leave=False,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def update(self, it: int, rel_residual: float) -> None:
        done = min(max(-math.log10(max(rel_residual, 1e-300)), 0.0), self.decades)
        self.bar.n = round(done, 1)
        self.bar.set_postfix_str(f"iteration {it}, residual {rel_residual:.1e}")

    def close(self) -> None:
        self.bar.close()


def _percolating_mask(mask: Any, axis: int, periodic_lateral: bool, device: str) -> Any:
    """Voxels of ``mask`` 6-connected to both faces of ``axis`` (an array of ``device``).

    Uses :func:`solvers.label` (numba union-find on runs on the CPU, numba-cuda union-find on
    the GPU) with lateral wrap when ``periodic_lateral``; a component is kept if its label
    appears in both the first and the last layer along ``axis``.
    """
    from ..labeling._label import label

    xp = get_xp(device)
    m = xp.ascontiguousarray(xp.moveaxis(mask, axis, 0))
    labels, n = label(
        m, connectivity=6, periodic=(False, periodic_lateral, periodic_lateral), device=device
    )
    lut = xp.zeros(int(n) + 1, dtype=bool)
    lut[xp.unique(labels[0])] = True
    lut_out = xp.zeros(int(n) + 1, dtype=bool)
    lut_out[xp.unique(labels[-1])] = True
    lut &= lut_out
    lut[0] = False
    return xp.moveaxis(lut[labels], 0, axis)


def _classes(image: Any, conductivity: dict[int, float] | None, xp: ModuleType):
    """Class index per voxel (uint8), class conductivities and sum_i eps_i sigma_i."""
    if conductivity is None:
        if image.dtype == bool:
            cls = image.astype(np.uint8)
        else:
            lo, hi = int(image.min()), int(image.max())
            if lo < 0 or hi > 1:
                raise ValueError(
                    "image with phase codes other than 0/1 needs conductivity={phase_code: S/cm}, "
                    f"got codes in [{lo}, {hi}] and conductivity=None"
                )
            cls = image.astype(np.uint8)
        sig = np.array([0.0, 1.0])
        eps = float(cls.mean()) if cls.size else 0.0
        return cls, sig, eps, eps * 1.0
    if image.dtype == bool:
        image = image.astype(np.uint8)
    lo, hi = int(image.min()), int(image.max())
    conducting = sorted(c for c, s in conductivity.items() if s > 0 and lo <= c <= hi)
    if len(conducting) > 254:
        raise ValueError(f"at most 254 conducting phases are supported, got {len(conducting)}")
    lut = np.zeros(hi - lo + 1, dtype=np.uint8)
    sig = np.zeros(len(conducting) + 1)
    for n, c in enumerate(conducting, start=1):
        lut[c - lo] = n
        sig[n] = conductivity[c]
    shifted = image - lo if lo != 0 else image
    counts = to_host(xp.bincount(shifted.ravel().astype(np.int64), minlength=hi - lo + 1))
    total = image.size
    eps_sigma = sum(counts[c - lo] / total * conductivity[c] for c in conducting)
    eps = sum(counts[c - lo] / total for c in conducting)
    cls = xp.asarray(lut)[shifted]
    return cls, sig, float(eps), float(eps_sigma)


def _empty_result(eps, perc_frac, t0, device, convention, shape, xp, return_field, dtype):
    fld = xp.full(shape, np.nan, dtype=dtype) if return_field else None
    return TransportResult(
        tau=math.inf,
        effective_conductivity=0.0,
        relative_conductivity=0.0,
        volume_fraction=eps,
        percolating_fraction=perc_frac,
        iterations=0,
        residual=0.0,
        flux_mismatch=0.0,
        converged=True,
        seconds=time.perf_counter() - t0,
        device=device,
        convention=convention,
        field=fld,
    )


# --------------------------------------------------------------------------- public API
def tortuosity(
    image: Any,
    *,
    axis: int = 0,
    conductivity: Mapping[int, float] | None = None,
    periodic_lateral: bool = False,
    rtol: float = 1e-5,
    max_iter: int | None = None,
    preconditioner: str = "multigrid",
    convention: str = "tau",
    dtype: str = "float64",
    return_field: bool = False,
    progress: bool | str = False,
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
    rtol : float
        Stop when ``||b - A x|| <= rtol ||b||``.
    max_iter : int, optional
        Iteration limit (default ``max(1000, 10 * max(image.shape))``).
    preconditioner : {"multigrid", "jacobi"}
        Multigrid V-cycle (iteration count nearly independent of size) or point Jacobi.
        With several conducting phases the multigrid aggregates the connected pieces of
        ``2 x 2 x 2`` blocks (robust to conductivity contrast and narrow contacts), with one
        phase it uses the cheaper geometric ``2 x 2 x 2`` hierarchy.
    convention : {"tau", "tau2"}
        Report ``tau = eps sigma / sigma_eff`` or its square root.
    dtype : {"float64", "float32"}
        Storage of the vectors and face conductances; reductions always use float64.
        float32 halves memory traffic and is accurate for one phase or moderate contrasts;
        with conductivity contrasts of 1e3 or more use float64 (the potential then varies
        by less than float32 resolves across the highly conducting regions).
    return_field : bool
        Also return the potential field.
    progress : bool or str
        Show a progress bar (tqdm, to stderr) over the CG iterations with the relative residual;
        a string is used as the bar's label.
    device : {"cpu", "cuda"}
        CPU (numba-parallel kernels) or GPU (CuPy + numba-cuda kernels).

    Returns
    -------
    TransportResult

    Warns
    -----
    RuntimeWarning
        If the solver stops at ``max_iter`` before reaching ``rtol`` (``converged=False``).

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
    device = check_device(device)
    check_volume(image, "image")
    if _is_cupy(image) and device == "cpu":
        raise TypeError("image is a CuPy array but device='cpu'; use device='cuda' or image.get()")
    dt = np.dtype(getattr(image, "dtype", None))
    if not (dt.kind == "b" or np.issubdtype(dt, np.integer)):
        raise TypeError(f"image must be a boolean mask or an integer phase array, got dtype {dt}")
    axis = check_axis(axis)
    cond = None if conductivity is None else _check_conductivity(conductivity, "conductivity")
    periodic_lateral = _check_bool(periodic_lateral, "periodic_lateral")
    rtol = check_positive(rtol, "rtol")
    max_iter = _check_max_iter(max_iter)
    preconditioner = _check_choice(preconditioner, "preconditioner", PRECONDITIONERS)
    convention = _check_choice(convention, "convention", CONVENTIONS)
    dtype = _check_choice(dtype, "dtype", DTYPES)
    return_field = _check_bool(return_field, "return_field")
    if not isinstance(progress, (bool, str)):
        raise TypeError(f"progress must be a bool or a label string, got {progress!r}")
    if min(image.shape) < 1:
        raise ValueError(f"image must not be empty, got shape {tuple(image.shape)}")
    if max_iter is None:
        max_iter = max(1000, 10 * max(image.shape))
    fdt = np.dtype(dtype)

    xp = get_xp(device)
    image = xp.asarray(image)
    cls, sig, eps, eps_sigma = _classes(image, cond, xp)
    conducting = cls > 0
    n_cond = int(conducting.sum())
    if n_cond == 0:
        return _empty_result(eps, 0.0, t0, device, convention, image.shape, xp, return_field, fdt)
    perc = _percolating_mask(conducting, axis, periodic_lateral, device)
    n_perc = int(perc.sum())
    perc_frac = n_perc / n_cond
    if n_perc == 0:
        return _empty_result(eps, 0.0, t0, device, convention, image.shape, xp, return_field, fdt)

    # solve with the transport axis first; conductivities scaled to max 1
    phase = xp.ascontiguousarray(xp.moveaxis(xp.where(perc, cls, 0).astype(np.uint8), axis, 0))
    scale = float(sig.max())
    s = sig / scale
    with np.errstate(divide="ignore", invalid="ignore"):
        gtab = np.where(
            (s[:, None] > 0) & (s[None, :] > 0),
            2 * s[:, None] * s[None, :] / (s[:, None] + s[None, :]),
            0.0,
        )
    gdir = 2.0 * s
    n0, n1, n2 = phase.shape
    K = _kernels(device)
    op = FineOperator(
        gx=xp.empty((n0 + 1, n1, n2), dtype=fdt),
        gy=xp.empty((n0, n1, n2), dtype=fdt),
        gz=xp.empty((n0, n1, n2), dtype=fdt),
        kernels=K,
        periodic=periodic_lateral,
    )
    gdir_x = xp.asarray(gdir)
    K.build_faces(
        phase, xp.asarray(gtab), gdir_x, bool(periodic_lateral), bool(periodic_lateral), *op.faces
    )
    if preconditioner == "jacobi":
        M = Jacobi(op)
    else:
        # several conducting phases (contrast, e.g. CAM + carbon): aggregate connected pieces;
        # one phase: the cheaper geometric hierarchy (see solvers.transport._multigrid)
        counts = xp.bincount(phase.ravel(), minlength=len(sig))[1:]
        several = int(xp.count_nonzero(counts)) > 1  # device sync
        M = (PieceMultigrid if several else Multigrid)(op, xp, fdt)

    # initial guess: linear profile on the solved voxels; b = gdir on the outlet layer
    active = phase > 0
    prof = ((xp.arange(n0, dtype=np.float64) + 0.5) / n0).astype(fdt)
    x = xp.where(active, prof[:, None, None], 0).astype(fdt)
    b_out = gdir_x[phase[-1]].astype(fdt)  # (n1, n2)
    bnorm = math.sqrt(float(xp.sum(b_out.astype(np.float64) ** 2)))
    q = xp.empty_like(x)
    op.matvec_dot(x, q)
    r = -q
    r[-1] += b_out
    d = xp.zeros_like(x)
    if math.sqrt(K.dot(r, r)) <= rtol * bnorm:
        from ._cg import CGInfo

        info = CGInfo(0, math.sqrt(K.dot(r, r)) / bnorm, True)
    else:
        bar = _SolveProgress(progress, rtol) if progress else None
        try:
            info = pcg(
                op.matvec_dot, M, K.update_xr, K.update_d, x, r, d, q,
                bnorm=bnorm, rtol=rtol, max_iter=max_iter,
                flexible=not M.symmetric, z=None if M.symmetric else xp.zeros_like(x), dot=K.dot,
                callback=bar.update if bar is not None else None,
            )  # fmt: skip
        finally:
            if bar is not None:
                bar.close()
    del d
    # true residual, fluxes and energy (device sync points: host scalars)
    op.matvec_dot(x, q)
    r[...] = -q
    r[-1] += b_out
    del q
    resid = math.sqrt(K.dot(r, r)) / bnorm
    xr = K.dot(x, r)
    g_in = float(xp.sum(gdir_x[phase[0]] * x[0].astype(np.float64)))
    g_out = float(xp.sum(gdir_x[phase[-1]] * (1.0 - x[-1].astype(np.float64))))
    G = g_out - xr  # energy sum_faces g (du)^2, >= exact conductance
    del r
    sigma_eff = G * n0 / (n1 * n2) * scale
    mismatch = abs(g_in - g_out) / G if G > 0 else math.inf
    sigma_bulk = eps_sigma / eps
    tau = eps_sigma / sigma_eff if sigma_eff > 0 else math.inf
    if convention == "tau2":
        tau = math.sqrt(tau)
    if not info.converged:
        warnings.warn(
            f"tortuosity: conjugate gradients stopped after {info.iterations} iterations at "
            f"relative residual {info.residual:.2e} > rtol={rtol:g} (breakdown={info.breakdown}); "
            "the result has converged=False. Raise max_iter, loosen rtol or use "
            "preconditioner='multigrid'.",
            RuntimeWarning,
            stacklevel=2,
        )
    fld = None
    if return_field:
        fld = xp.where(active, x, np.nan).astype(fdt)
        fld = xp.moveaxis(fld, 0, axis)
    return TransportResult(
        tau=float(tau),
        effective_conductivity=float(sigma_eff),
        relative_conductivity=float(sigma_eff / sigma_bulk),
        volume_fraction=eps,
        percolating_fraction=float(perc_frac),
        iterations=info.iterations,
        residual=float(resid),
        flux_mismatch=float(mismatch),
        converged=info.converged,
        seconds=time.perf_counter() - t0,
        device=device,
        convention=convention,
        field=fld,
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
    rtol: float = 1e-5,
    max_iter: int | None = None,
    preconditioner: str = "multigrid",
    convention: str = "tau",
    dtype: str = "float64",
    progress: bool = False,
    device: str = "cpu",
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
        Phase codes of the two networks.
    voxel_size_um : float, optional
        Voxel edge in µm; gives ``thickness_um`` and area-specific resistances.
    periodic_lateral, rtol, max_iter, preconditioner, convention, dtype, device
        As in :func:`tortuosity`.
    progress : bool
        Show a progress bar for each of the two solves.

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
    cond = _check_conductivity(conductivities, "conductivities")
    axis = check_axis(axis)
    present = {int(c) for c in to_host(get_xp(check_device(device)).unique(phases))}
    nets = {}
    for name, codes in (("ionic_phases", ionic_phases), ("electronic_phases", electronic_phases)):
        try:
            codes = tuple(int(c) for c in codes)
        except TypeError:
            raise TypeError(f"{name} must be a tuple of phase codes, got {codes!r}") from None
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
    kw = dict(
        axis=axis,
        periodic_lateral=periodic_lateral,
        rtol=rtol,
        max_iter=max_iter,
        preconditioner=preconditioner,
        convention=convention,
        dtype=dtype,
        device=device,
    )
    ionic = tortuosity(phases, conductivity=nets["ionic_phases"],
                       progress="ionic transport" if progress else False, **kw)
    electronic = tortuosity(phases, conductivity=nets["electronic_phases"],
                            progress="electronic transport" if progress else False, **kw)
    return TransportProperties(
        ionic=ionic, electronic=electronic, axis=axis, thickness_um=thickness
    )
