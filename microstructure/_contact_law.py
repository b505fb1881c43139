"""The pressing model's contact law as phase-pair tables (see :mod:`._pressing` for the physics
and :mod:`._pressing_kernels` for how the force kernel reads them)."""

from __future__ import annotations

import numpy as np

from ._pressing_kernels import ADH_RANGE

#: Yield overlap of a contact with SE, relative to its reduced radius R_ij: beyond it the
#: contact flows at its yield force ``k_ij R_ij^2 SE_YIELD`` (see :mod:`._pressing`).
SE_YIELD = 0.15


def pair_stiffness(se_ductility: float) -> np.ndarray:
    """(4, 4) contact stiffness ``k_ij`` by phase code (index 0 unused), CAM–CAM = 1."""
    k = np.array([1.0, 2.0, 2.0 / se_ductility, 2.0])
    out = k[:, None] * k[None, :] / (k[:, None] + k[None, :])
    return out


def pair_law(se_ductility: float, se_yield: float | None = None, *,
             carbon_adhesion: float = 0.0, collector_adhesion: float = 0.0,
             collector_range: float = 0.1) -> np.ndarray:
    """(4, 4, 4) contact law by phase code: ``[0]`` the stiffness :func:`pair_stiffness`,
    ``[1]`` the yield overlap relative to ``R_ij`` (``SE_YIELD`` for SE–SE and SE–CAM, infinite
    for the others), ``[2]`` the adhesion ``a`` (force ``a R_ij^2`` within a gap of
    ``ADH_RANGE R_ij``): ``carbon_adhesion`` for every pair with carbon, ``collector_adhesion``
    for CAM and the collector, ``[3]`` the reach of the adhesion relative to ``R_ij``
    (``ADH_RANGE``; ``collector_range`` for CAM and the collector).  Index 0 (pore) stands for
    the current-collector face, a partner of infinite radius (``R = r_i``).  The hold's CAM–CAM
    pull is not in the table: it reaches beyond the press's neighbour list and runs over a
    list of its own (``_pressing_kernels.press_pull_body``)."""
    y = SE_YIELD if se_yield is None else se_yield
    yld = np.full((4, 4), np.inf)
    # SE with SE or CAM; a carbon contact stays elastic: its adhesion (resting overlap
    # ``carbon_adhesion R_ij / k_ij``, beyond the SE yield overlap) would pull carbon through
    # a yielded SE grain
    yld[2, 1:3] = yld[1:3, 2] = y
    adh = np.zeros((4, 4))
    adh[3, 1:] = adh[1:, 3] = carbon_adhesion
    adh[1, 0] = collector_adhesion
    reach = np.full((4, 4), ADH_RANGE)
    reach[1, 0] = collector_range
    return np.stack([pair_stiffness(se_ductility), yld, adh, reach])
