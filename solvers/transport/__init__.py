"""Steady diffusion on voxel grids: effective conductivity and tortuosity factor.

Matrix-free preconditioned conjugate gradients (:mod:`._cg`) with multigrid or Jacobi
preconditioners (:mod:`._multigrid`) over face-conductance stencil kernels (:mod:`._stencil`
on the CPU, :mod:`._stencil_cuda` on the GPU); particle contacts narrower than the grid draws
them carry their own conductance (:class:`ContactConductance`, :mod:`._contacts`).
"""

from ._cg import CGInfo, pcg
from ._contacts import ContactConductance
from ._tortuosity import TransportProperties, TransportResult, tortuosity, transport_properties

__all__ = [
    "CGInfo",
    "ContactConductance",
    "TransportProperties",
    "TransportResult",
    "pcg",
    "tortuosity",
    "transport_properties",
]
