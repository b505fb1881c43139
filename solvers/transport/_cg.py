"""Preconditioned conjugate gradients, written once for every backend.

The method only talks to its operator and preconditioner through a few fused calls, so the
same loop drives NumPy/numba arrays on the CPU and CuPy/numba-cuda arrays on the GPU:

``matvec_dot(v, out) -> float``
    ``out = A v``; returns ``v . out``.
``precondition(r, out) -> float``
    ``out = M r``; returns ``r . out``.
``update_xr(x, r, d, q, alpha) -> float``
    ``x += alpha d``, ``r -= alpha q``; returns ``r . r``.
``update_d(d, z, beta)``
    ``d = z + beta d``.

With ``flexible=True`` (for a preconditioner that is not exactly symmetric) the search
directions are kept conjugate by the flexible (Polak-Ribiere) choice
``beta = z_new . (r_new - r_old) / (r_old . z_old) = -alpha (z_new . A d) / (r_old . z_old)``,
which needs ``z`` in its own array and one more dot product ``dot(z, q)`` per iteration; for a
symmetric preconditioner it reproduces the standard iterates.

All returned dot products are float64 scalars (host values: one device sync per call).

Stopping rules (``x_k`` the iterate, ``r_k`` the recursively updated residual, ``z_k = M r_k``,
``gamma_k = r_k . z_k``, ``alpha_k`` the step length):

*Residual rule* (``rtol``): ``||r_k||_2 <= rtol * ||b||_2`` *and* ``gamma_k <= rtol^2 gamma_0``
(``r . z`` approximates the squared energy norm of the error, which is what a flux or
conductance computed from the field depends on -- with conductivity contrasts of 1e6 the plain
residual alone can be small while the low-conductivity regions are still far from converged).

*Energy rule* (``energy_rtol``, with ``energy`` = ``E(x_0)``): for the quadratic
``E(x) = x.Ax - 2 b.x + c`` whose minimum is the quantity of interest (the Dirichlet energy,
i.e. the conductance), ``E(x_k) - E(x*) = ||x_k - x*||_A^2`` and every step lowers ``E`` by
exactly ``delta_k = alpha_k gamma_k``, so ``E_k = E(x_0) - sum_{j<k} delta_j`` is known without
extra work and the remaining error is the tail ``sum_{j>=k} delta_j``.  It is estimated from
the recent convergence factor ``q = max(delta_j / delta_{j-1})`` over the last three steps:
``err_k = delta_{k-1} q / (1 - q)`` (the tail of a geometric series; CG converges at least
that fast once ``q`` has settled, and ``q`` is taken from the slowest recent step).  Stop when
``err_k <= energy_rtol * E_k`` (after at least four steps): the relative error of the energy --
of ``sigma_eff`` and ``tau`` -- is then about ``energy_rtol`` or less.  It also stops when four
successive decreases are each below ``1e-4 energy_rtol E_k``: the iteration has stagnated at
the rounding level, far below the tolerance (float32 storage of an almost exact guess).

Both rules together when both are given; the loop also ends at ``max_iter``.  Four vectors are
needed besides ``b``: ``x``, ``r``, ``d`` and ``q`` (the preconditioned residual ``z`` lives in
``q`` until ``q`` is overwritten by ``A d``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CGInfo", "pcg"]

#: Steps whose energy decreases set the convergence factor of the energy rule.
WINDOW = 3
#: The energy rule also stops when ``WINDOW + 1`` successive decreases are each below
#: ``FLOOR * energy_rtol * E_k`` (stagnation at the rounding level, e.g. float32 storage).
FLOOR = 1e-4


@dataclass(frozen=True)
class CGInfo:
    """Outcome of :func:`pcg`."""

    iterations: int
    """Iterations done (matrix-vector products after the initial residual)."""
    residual: float
    """Final ``||r||_2 / ||b||_2`` of the recursive residual."""
    converged: bool
    """Whether both stopping tests (see the module docstring) were met."""
    breakdown: bool = False
    """True if ``d . A d <= 0`` or a non-finite value stopped the iteration."""
    energy_error: float = math.nan
    """Estimated ``(E(x_k) - E(x*)) / E(x_k)`` of the energy rule (NaN without it)."""


def pcg(
    matvec_dot: Callable[[Any, Any], float],
    precondition: Callable[[Any, Any], float],
    update_xr: Callable[[Any, Any, Any, Any, float], float],
    update_d: Callable[[Any, Any, float], None],
    x: Any,
    r: Any,
    d: Any,
    q: Any,
    *,
    bnorm: float,
    rtol: float | None,
    max_iter: int,
    energy: float | None = None,
    energy_rtol: float | None = None,
    flexible: bool = False,
    z: Any = None,
    dot: Callable[[Any, Any], float] | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> CGInfo:
    """Solve ``A x = b`` by preconditioned conjugate gradients, in place.

    Parameters
    ----------
    matvec_dot, precondition, update_xr, update_d : callables
        Fused kernels, see the module docstring.
    x : array
        Initial guess, overwritten by the solution.
    r : array
        ``b - A x`` for the initial guess, overwritten by the final residual.
    d, q : arrays
        Work arrays of the shape and dtype of ``x`` (``d`` must hold finite values).
    bnorm : float
        ``||b||_2``; the residual rule tests ``||r|| <= rtol * bnorm``.
    rtol : float or None
        Relative residual tolerance of the residual rule (None: not used).
    max_iter : int
        Maximum number of iterations.
    energy : float, optional
        ``E(x_0)``, the energy of the initial guess (needed by the energy rule).
    energy_rtol : float, optional
        Relative tolerance of the energy rule (see the module docstring).
    flexible : bool
        Use the flexible ``beta`` (needs ``z`` and ``dot``).
    z : array, optional
        Work array for the preconditioned residual when ``flexible``.
    dot : callable, optional
        ``dot(a, b) -> float`` when ``flexible``.
    callback : callable, optional
        ``callback(iteration, ||r|| / ||b||)`` after every iteration (progress display).

    Returns
    -------
    CGInfo

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]]); b = np.array([1.0, 2.0])
    >>> def mv(v, out):
    ...     out[:] = A @ v
    ...     return float(v @ out)
    >>> def pc(r, out):
    ...     out[:] = r / np.diag(A)
    ...     return float(r @ out)
    >>> def uxr(x, r, d, q, a):
    ...     x += a * d; r -= a * q
    ...     return float(r @ r)
    >>> def ud(d, z, beta):
    ...     d[:] = z + beta * d
    >>> x = np.zeros(2); r = b.copy(); d = np.zeros(2); q = np.zeros(2)
    >>> info = pcg(mv, pc, uxr, ud, x, r, d, q, bnorm=float(np.linalg.norm(b)), rtol=1e-12,
    ...            max_iter=10)
    >>> bool(np.allclose(A @ x, b)), info.converged
    (True, True)
    """
    if bnorm == 0.0:
        return CGInfo(0, 0.0, True)
    if flexible and (z is None or dot is None):
        raise ValueError("flexible=True needs the work array z and the dot callable")
    if rtol is None and energy_rtol is None:
        raise ValueError("pcg needs a stopping rule: rtol, energy_rtol or both")
    if energy_rtol is not None and energy is None:
        raise ValueError("energy_rtol needs energy=E(x_0), the energy of the initial guess")
    if not flexible:
        z = q  # z lives in q until q is overwritten by A d
    target = -1.0 if rtol is None else rtol * bnorm
    rz = precondition(r, z)
    rz_target = math.inf if rtol is None else rtol * rtol * rz
    update_d(d, z, 0.0)  # d = z
    rr = math.inf
    it = 0
    e_k = energy if energy is not None else math.nan
    drops: list[float] = []
    err = math.nan
    small = 0
    while it < max_iter:
        dq = matvec_dot(d, q)
        if not (dq > 0.0 and math.isfinite(dq) and math.isfinite(rz)):
            return CGInfo(it, math.sqrt(rr) / bnorm if math.isfinite(rr) else math.inf, False, True,
                          err)
        alpha = rz / dq
        rr = update_xr(x, r, d, q, alpha)
        it += 1
        if callback is not None:
            callback(it, math.sqrt(rr) / bnorm)
        rz_new = precondition(r, z)
        ok = rtol is None or (math.sqrt(rr) <= target and rz_new <= rz_target)
        if energy_rtol is not None:
            drops.append(alpha * rz)
            e_k -= alpha * rz
            err = _energy_error(drops) / e_k if e_k > 0 else math.inf
            # rounding floor: the energy has stopped moving far below the tolerance
            small = small + 1 if drops[-1] <= FLOOR * energy_rtol * e_k else 0
            ok = ok and (err <= energy_rtol or small > WINDOW)
        if ok:
            return CGInfo(it, math.sqrt(rr) / bnorm, True, False, err)
        if not (rz > 0.0):
            return CGInfo(it, math.sqrt(rr) / bnorm, False, True, err)
        beta = -alpha * dot(z, q) / rz if flexible else rz_new / rz
        rz = rz_new
        update_d(d, z, beta)
    return CGInfo(it, math.sqrt(rr) / bnorm if math.isfinite(rr) else math.inf, False, False, err)


def _energy_error(drops: list[float], window: int = WINDOW) -> float:
    """Estimated ``E(x_k) - E(x*)`` from the energy drops ``alpha_j gamma_j`` so far.

    The tail of a geometric series with the largest ratio of the last ``window`` steps;
    ``inf`` until ``window`` ratios are known or while the drops do not shrink.
    """
    if len(drops) <= window:
        return math.inf
    q = 0.0
    for a, b in zip(drops[-window - 1 : -1], drops[-window:], strict=True):
        if not (a > 0.0):
            return math.inf if b > 0.0 else 0.0
        q = max(q, b / a)
    if q >= 1.0:
        return math.inf
    return drops[-1] * q / (1.0 - q)
