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

Stopping rule: iterate until ``||r_k||_2 <= rtol * ||b||_2`` (``r_k`` the recursively updated
residual) *and* ``r_k . z_k <= rtol^2 * r_0 . z_0`` (``z = M r``; ``r . z`` approximates the
squared energy norm of the error, which is what a flux or conductance computed from the field
depends on -- with conductivity contrasts of 1e6 the plain residual alone can be small while
the low-conductivity regions are still far from converged), or until ``max_iter`` iterations.  Four vectors are needed besides ``b``:
``x``, ``r``, ``d`` and ``q`` (the preconditioned residual ``z`` lives in ``q`` until ``q``
is overwritten by ``A d``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CGInfo", "pcg"]


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
    rtol: float,
    max_iter: int,
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
        ``||b||_2``; the stopping test is ``||r|| <= rtol * bnorm``.
    rtol : float
        Relative residual tolerance.
    max_iter : int
        Maximum number of iterations.
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
    >>> info = pcg(mv, pc, uxr, ud, x, r, d, q, bnorm=float(np.linalg.norm(b)), rtol=1e-12, max_iter=10)
    >>> bool(np.allclose(A @ x, b)), info.converged
    (True, True)
    """
    if bnorm == 0.0:
        return CGInfo(0, 0.0, True)
    if flexible and (z is None or dot is None):
        raise ValueError("flexible=True needs the work array z and the dot callable")
    if not flexible:
        z = q  # z lives in q until q is overwritten by A d
    target = rtol * bnorm
    rz = precondition(r, z)
    rz_target = rtol * rtol * rz
    update_d(d, z, 0.0)  # d = z
    rr = math.inf
    it = 0
    while it < max_iter:
        dq = matvec_dot(d, q)
        if not (dq > 0.0 and math.isfinite(dq) and math.isfinite(rz)):
            return CGInfo(it, math.sqrt(rr) / bnorm if math.isfinite(rr) else math.inf, False, True)
        alpha = rz / dq
        rr = update_xr(x, r, d, q, alpha)
        it += 1
        if callback is not None:
            callback(it, math.sqrt(rr) / bnorm)
        rz_new = precondition(r, z)
        if math.sqrt(rr) <= target and rz_new <= rz_target:
            return CGInfo(it, math.sqrt(rr) / bnorm, True)
        if not (rz > 0.0):
            return CGInfo(it, math.sqrt(rr) / bnorm, False, True)
        beta = -alpha * dot(z, q) / rz if flexible else rz_new / rz
        rz = rz_new
        update_d(d, z, beta)
    return CGInfo(it, math.sqrt(rr) / bnorm if math.isfinite(rr) else math.inf, False)
