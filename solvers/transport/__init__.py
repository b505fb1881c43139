"""Steady diffusion on voxel grids: effective conductivity and tortuosity factor.

Matrix-free preconditioned conjugate gradients (:mod:`._cg`) with multigrid or Jacobi
preconditioners (:mod:`._multigrid`) over face-conductance stencil kernels (:mod:`._stencil`
on the CPU, :mod:`._stencil_cuda` on the GPU).
"""

from ._cg import CGInfo, pcg
from ._tortuosity import TransportProperties, TransportResult, tortuosity, transport_properties

__all__ = [
    "CGInfo",
    "TransportProperties",
    "TransportResult",
    "pcg",
    "tortuosity",
    "transport_properties",
]
