"""The steps of one transport solve, each a separately tested function.

:func:`solvers.tortuosity` runs them in order:

1. :func:`classes` -- class index per voxel and the class conductivities;
2. :func:`percolating_mask` -- the voxels connected to both fixed faces (:mod:`solvers.labeling`);
3. :func:`conductance_tables` and :func:`build_operator` -- face conductances of the solved voxels;
4. :func:`choose_dtype` and :func:`choose_preconditioner`;
5. :func:`solve` -- preconditioned conjugate gradients from a linear profile;
6. :func:`measure` -- conductance (Dirichlet energy), true residual and face currents.

Arrays are NumPy (CPU) or CuPy (GPU) arrays of the namespace ``xp``; from step 3 on the
transport axis is axis 0.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ..device import array_module, get_xp, to_host
from ._cg import CGInfo, pcg
from ._multigrid import FineOperator, Jacobi, Multigrid, PieceMultigrid

__all__ = [
    "AUTO_FLOAT32_CONTRAST",
    "AUTO_FLOAT32_RTOL",
    "DEFAULT_ACCURACY",
    "Measured",
    "PIECES_BELOW",
    "build_operator",
    "choose_dtype",
    "choose_preconditioner",
    "classes",
    "conductance_tables",
    "kernels",
    "measure",
    "percolating_mask",
    "solve",
]

#: Single-phase networks filling less than this fraction of the box use the piece multigrid.
PIECES_BELOW = 0.15
#: Requested relative accuracy of sigma_eff and tau when neither ``rtol`` nor ``accuracy`` is given.
#: The tail estimate can read up to ~6x low when a solve stops after 4-6 iterations (measured:
#: estimate 2.8e-5, true 7.9e-5; a 12 x 10 x 10 random four-phase volume, contrast 1e3, periodic
#: sides, 4 iterations: 1.2e-5, true 7.4e-5), so 3e-5 keeps the true error of tau below 1e-4;
#: 1e-5 spent a further 7 of 20 iterations on 200^3 blobs for errors nobody compares at.
DEFAULT_ACCURACY = 3e-5
#: ``dtype="auto"`` stores float32 when the solved phases' conductivities differ by at most this.
AUTO_FLOAT32_CONTRAST = 10.0
#: ... and when ``rtol`` (if given) is at least this (float32 residuals bottom out near 1e-7).
AUTO_FLOAT32_RTOL = 1e-5


def kernels(device: str) -> ModuleType:
    """The kernel module of ``device`` (numba-cuda kernels imported only for the GPU)."""
    name = "._stencil" if device == "cpu" else "._stencil_cuda"
    return importlib.import_module(name, __package__)


#: Widest range of phase codes mapped through a lookup table over the range (bytes); wider
#: ranges (larger than the image too) are mapped by the codes present.
LUT_MAX = 1 << 16


def classes(image: Any, conductivity: dict[int, float] | None, xp: ModuleType):
    """Class index per voxel (uint8), class conductivities, ``eps`` and ``sum_i eps_i sigma_i``.

    Class 0 conducts nothing; classes ``1..m`` are the conducting phase codes in increasing
    order.  Without ``conductivity`` the image must be a mask (or hold only 0/1): class 1 has
    unit conductivity.
    """
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
    sig = np.zeros(len(conducting) + 1)
    for n, c in enumerate(conducting, start=1):
        sig[n] = conductivity[c]
    total = image.size
    if hi - lo + 1 > max(LUT_MAX, total):
        # codes spread far wider than the image (labels of a segmentation): a table over the
        # whole range would not fit; map the codes present instead (a sort of the image)
        present, inv = xp.unique(image.ravel(), return_inverse=True)
        present_h = to_host(present)
        counts = dict(zip(present_h.tolist(), to_host(xp.bincount(inv.ravel())).tolist(),
                          strict=True))
        lut = np.array([conducting.index(c) + 1 if c in conducting else 0
                        for c in present_h.tolist()], dtype=np.uint8)
        cls = xp.asarray(lut)[inv.reshape(image.shape)]
    else:
        lut = np.zeros(hi - lo + 1, dtype=np.uint8)
        for n, c in enumerate(conducting, start=1):
            lut[c - lo] = n
        shifted = image - lo if lo != 0 else image
        dense = to_host(xp.bincount(shifted.ravel().astype(np.int64), minlength=hi - lo + 1))
        counts = {c: dense[c - lo] for c in conducting}
        cls = xp.asarray(lut)[shifted]
    eps_sigma = sum(counts.get(c, 0) / total * conductivity[c] for c in conducting)
    eps = sum(counts.get(c, 0) / total for c in conducting)
    return cls, sig, float(eps), float(eps_sigma)


def percolating_mask(mask: Any, axis: int, periodic_lateral: bool, device: str) -> Any:
    """Voxels of ``mask`` 6-connected to both faces of ``axis`` (an array of ``device``).

    :func:`solvers.label` with lateral wrap when ``periodic_lateral``, then the components
    that :func:`solvers.labeling._percolation.face_hits` finds on both faces.
    """
    from ..labeling import label
    from ..labeling._percolation import face_hits

    periodic = [bool(periodic_lateral)] * 3
    periodic[axis] = False
    labels, n = label(mask, connectivity=6, periodic=tuple(periodic), device=device)
    both = face_hits(labels, int(n), axis, 0) & face_hits(labels, int(n), axis, -1)
    return both[labels]


def conductance_tables(sig: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Face conductance tables of the classes, conductivities scaled to a maximum of 1.

    Returns ``gtab[a, b] = 2 s_a s_b / (s_a + s_b)`` (0 if either is 0), ``gdir[a] = 2 s_a``
    (to a fixed face half a voxel away) and the scale ``max(sig)`` (S/cm).
    """
    scale = float(sig.max())
    s = sig / scale
    with np.errstate(divide="ignore", invalid="ignore"):
        gtab = np.where(
            (s[:, None] > 0) & (s[None, :] > 0),
            2 * s[:, None] * s[None, :] / (s[:, None] + s[None, :]),
            0.0,
        )
    return gtab, 2.0 * s, scale


def choose_dtype(
    dtype: str, sig: np.ndarray, present: np.ndarray, rtol: float | None = None,
    contact_weights: bool = False,
) -> np.dtype:
    """Storage dtype.  ``"auto"`` is float32 when the conductivities of the classes ``present``
    (boolean per class) differ by at most :data:`AUTO_FLOAT32_CONTRAST`, no residual
    tolerance below :data:`AUTO_FLOAT32_RTOL` is asked for and no faces carry contact weights
    (face contrasts up to ~1e2), else float64."""
    if dtype != "auto":
        return np.dtype(dtype)
    if contact_weights:
        return np.dtype(np.float64)
    s = sig[1:][present[1:]]
    low_contrast = s.size == 0 or float(s.max()) <= AUTO_FLOAT32_CONTRAST * float(s.min())
    coarse_rtol = rtol is None or rtol >= AUTO_FLOAT32_RTOL
    return np.dtype(np.float32 if low_contrast and coarse_rtol else np.float64)


def build_operator(
    phase: Any, gtab: np.ndarray, gdir: np.ndarray, periodic: bool, dtype: np.dtype, device: str
) -> FineOperator:
    """Face conductances of the voxel grid of class indices ``phase`` (transport axis 0)."""
    xp = get_xp(device)
    K = kernels(device)
    n0, n1, n2 = phase.shape
    op = FineOperator(
        gx=xp.empty((n0 + 1, n1, n2), dtype=dtype),
        gy=xp.empty((n0, n1, n2), dtype=dtype),
        gz=xp.empty((n0, n1, n2), dtype=dtype),
        kernels=K,
        periodic=bool(periodic),
    )
    K.build_faces(phase, xp.asarray(gtab), xp.asarray(gdir), bool(periodic), bool(periodic),
                  *op.faces)
    return op


def choose_preconditioner(
    name: str,
    op: FineOperator,
    present: np.ndarray,
    xp: ModuleType,
    dtype: np.dtype,
    solved_fraction: float = 1.0,
) -> Any:
    """``"jacobi"``, or a multigrid: :class:`PieceMultigrid` (block pieces + smoothed
    aggregation) when more than one class is ``present`` or the solved voxels fill less than
    :data:`PIECES_BELOW` of the box, else the cheaper geometric :class:`Multigrid`.

    On sparse single-phase networks the geometric blocks tie unrelated branches together;
    the W-cycle of :class:`Multigrid` makes up for most of it.  Blobs at 160³ (solved
    fraction; iterations and best seconds, geometric W-cycle against pieces): porosity 0.3
    (0.30) 7 / 0.36 s against 5 / 0.68 s; 0.25 (0.24) 7 / 0.35 s against 5 / 0.60 s; 0.2
    (0.18) 11 / 0.46 s against 5 / 0.50 s; 0.15 (0.09) 17 / 0.60 s against 6 / 0.51 s.
    """
    if name == "jacobi":
        return Jacobi(op)
    several = int(np.count_nonzero(present[1:])) > 1
    pieces = several or solved_fraction < PIECES_BELOW
    return (PieceMultigrid if pieces else Multigrid)(op, xp, dtype)


class _SolveProgress:
    """tqdm bar over CG iterations; its position is the residual's progress in decades."""

    def __init__(self, label: bool | str, rtol: float) -> None:
        from ..progress import progress_bar

        self.decades = max(-math.log10(rtol), 1.0)
        desc = label if isinstance(label, str) else "solve"
        self.bar = progress_bar(total=round(self.decades, 1), desc=desc, unit="decade",
                                leave=False,
                                bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def update(self, it: int, rel_residual: float) -> None:
        done = min(max(-math.log10(max(rel_residual, 1e-300)), 0.0), self.decades)
        # the CG residual is not monotone: the bar shows the best reached, never going back
        self.bar.n = max(self.bar.n, round(done, 1))
        self.bar.set_postfix_str(f"iteration {it}, residual {rel_residual:.1e}")

    def close(self) -> None:
        self.bar.close()


def _face_currents(x: Any, phase: Any, gdir_x: Any, xp: ModuleType) -> tuple[float, float]:
    """Currents through the inlet (potential 0) and outlet (potential 1) faces (host floats)."""
    g_in = float(xp.sum(gdir_x[phase[0]] * x[0].astype(np.float64)))
    g_out = float(xp.sum(gdir_x[phase[-1]] * (1.0 - x[-1].astype(np.float64))))
    return g_in, g_out


def solve(
    op: FineOperator,
    M: Any,
    phase: Any,
    gdir: np.ndarray,
    *,
    rtol: float | None,
    accuracy: float | None,
    max_iter: int,
    progress: bool | str = False,
) -> tuple[Any, CGInfo]:
    """Potential on the solved voxels by PCG from the linear profile; ``(x, info)``.

    ``b`` is ``gdir`` on the outlet layer.  Stopping: the residual rule with ``rtol``, the
    energy rule with ``accuracy`` (relative error of the conductance), or both
    (:mod:`solvers.transport._cg`).
    """
    K = op.kernels
    xp = array_module(op.gy)
    dt = op.gy.dtype
    n0 = op.shape[0]
    gdir_x = xp.asarray(gdir)
    active = phase > 0
    prof = ((xp.arange(n0, dtype=np.float64) + 0.5) / n0).astype(dt)
    x = xp.where(active, prof[:, None, None], 0).astype(dt)
    b_out = gdir_x[phase[-1]].astype(dt)  # (n1, n2)
    bnorm = math.sqrt(float(xp.sum(b_out.astype(np.float64) ** 2)))
    q = xp.empty_like(x)
    op.matvec_dot(x, q)
    r = -q
    r[-1] += b_out
    rnorm = math.sqrt(K.dot(r, r))
    # the linear profile is exact (laminates, straight channels): nothing to iterate
    if rnorm <= (rtol if rtol is not None else 1e-12) * bnorm:
        return x, CGInfo(0, rnorm / bnorm if bnorm else 0.0, True, False, 0.0)
    energy = None
    if accuracy is not None:
        energy = K.energy(*op.faces, x)  # E(x0) >= G
    d = xp.zeros_like(x)
    bar = _SolveProgress(progress, rtol or accuracy) if progress else None
    try:
        info = pcg(
            op.matvec_dot, M, K.update_xr, K.update_d, x, r, d, q,
            bnorm=bnorm, rtol=rtol, max_iter=max_iter, energy=energy, energy_rtol=accuracy,
            flexible=not M.symmetric, z=None if M.symmetric else xp.zeros_like(x), dot=K.dot,
            callback=bar.update if bar is not None else None,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    return x, info


@dataclass(frozen=True)
class Measured:
    """What :func:`measure` reads off a potential field (scaled conductances)."""

    conductance: float
    """Dirichlet energy ``sum_faces g (du)^2``: the conductance between the faces (>= exact)."""
    residual: float
    """True ``||b - A x|| / ||b||``."""
    flux_mismatch: float
    """``|I_in - I_out| / G``."""


def measure(op: FineOperator, x: Any, phase: Any, gdir: np.ndarray) -> Measured:
    """Conductance, true residual and flux mismatch of the potential ``x`` (device syncs)."""
    K = op.kernels
    xp = array_module(x)
    gdir_x = xp.asarray(gdir)
    b_out = gdir_x[phase[-1]].astype(x.dtype)
    bnorm = math.sqrt(float(xp.sum(b_out.astype(np.float64) ** 2)))
    r = xp.empty_like(x)
    op.matvec_dot(x, r)
    r *= -1
    r[-1] += b_out
    resid = math.sqrt(K.dot(r, r)) / bnorm if bnorm else 0.0
    g_in, g_out = _face_currents(x, phase, gdir_x, xp)
    G = K.energy(*op.faces, x)  # sum_faces g (du)^2 in float64, >= exact conductance
    mismatch = abs(g_in - g_out) / G if G > 0 else math.inf
    return Measured(conductance=G, residual=resid, flux_mismatch=mismatch)
