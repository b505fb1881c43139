"""Phase codes of every voxel array in this project: the one owner of these numbers.

``0`` pore, ``1`` cathode active material (CAM), ``2`` solid electrolyte (SE), ``3`` carbon.
The generator, the importer, the solvers and the stores all take them from here.

Examples
--------
>>> from solvers.phases import CAM, PHASE_CODES
>>> CAM, PHASE_CODES["se"]
(1, 2)
>>> pair_key("se", "cam")
'cam|se'
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["CAM", "CARBON", "PHASE_CODES", "PORE", "SE", "pair_key"]

PORE = 0
CAM = 1
SE = 2
CARBON = 3

PHASE_CODES: Mapping[str, int] = MappingProxyType(
    {"pore": PORE, "cam": CAM, "se": SE, "carbon": CARBON}
)
"""Phase name -> code (read-only), in code order."""


def pair_key(a: str, b: str) -> str:
    """Name of the unordered pair of phases ``a`` and ``b``: ``"cam|se"``, in code order.

    The one spelling of a phase pair, used by the contact areas of ``structure_metrics`` and by
    the sweep rows' contact columns.

    Raises
    ------
    ValueError
        If ``a`` or ``b`` is not a phase name (a key of :data:`PHASE_CODES`).
    """
    for name in (a, b):
        if name not in PHASE_CODES:
            raise ValueError(f"phase {name!r} is unknown; phases: {', '.join(PHASE_CODES)}")
    lo, hi = sorted((a, b), key=PHASE_CODES.__getitem__)
    return f"{lo}|{hi}"
