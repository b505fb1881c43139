"""Phase codes of every voxel array in this project: the one owner of these numbers.

``0`` pore, ``1`` cathode active material (CAM), ``2`` solid electrolyte (SE), ``3`` carbon.
The generator, the importer, the solvers and the stores all take them from here.

Examples
--------
>>> from solvers.phases import CAM, PHASE_CODES
>>> CAM, PHASE_CODES["se"]
(1, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["CAM", "CARBON", "PHASE_CODES", "PORE", "SE"]

PORE = 0
CAM = 1
SE = 2
CARBON = 3

PHASE_CODES: Mapping[str, int] = MappingProxyType(
    {"pore": PORE, "cam": CAM, "se": SE, "carbon": CARBON}
)
"""Phase name -> code (read-only), in code order."""
