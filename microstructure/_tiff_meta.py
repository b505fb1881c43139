"""The voxel edge a TIFF records about itself, which :func:`microstructure.import_tiff` checks
its ``voxel_size_um`` against (and takes when none is given).

Two records are read: an ImageJ hyperstack's ``spacing`` (the Z step) with ``unit`` a micron
(``um``, ``µm``, ``micron``, ...; what Fiji and ``assb export`` write), and the ``voxel_size_um``
of the JSON description ``assb export`` writes into a plain TIFF of 32-bit labels.  An ImageJ
stack in another unit (``pixel``, ``mm``) or without a spacing, a TIFF without either record
and a directory of 2-D slices record none.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["recorded_voxel_size_um"]

#: ImageJ ``unit`` values that mean a micron (compared in lower case; ImageJ escapes µ as
#: ``\u00B5``).
MICRON_UNITS = frozenset({"um", "µm", "μm", "\\u00b5m", "micron", "microns", "micrometer",
                          "micrometers", "micrometre", "micrometres"})


def recorded_voxel_size_um(path: str | Path) -> tuple[float, str] | None:
    """``(voxel edge in µm, the record it was read from)`` of the TIFF at ``path``, or None
    where it records none (see the module notes).  A record that is not a positive number is
    an error (``ValueError`` naming it), not a value.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.tif"
    >>> tifffile.imwrite(p, np.zeros((4, 4, 4), np.uint8), imagej=True,
    ...                  metadata={"axes": "ZYX", "spacing": 0.25, "unit": "um"})
    >>> recorded_voxel_size_um(p)
    (0.25, 'ImageJ spacing=0.25 unit=um')
    """
    import tifffile

    path = Path(path)
    if not path.is_file():
        return None
    with tifffile.TiffFile(path) as tif:
        ij = tif.imagej_metadata
        if ij:
            unit = str(ij.get("unit", "")).strip()
            if unit.lower() not in MICRON_UNITS or ij.get("spacing") is None:
                return None
            where = f"ImageJ spacing={ij['spacing']} unit={unit}"
            return _positive(ij["spacing"], path, where), where
        for md in tif.shaped_metadata or ():
            if isinstance(md, dict) and md.get("voxel_size_um") is not None:
                where = f"voxel_size_um={md['voxel_size_um']} in its description"
                return _positive(md["voxel_size_um"], path, where), where
    return None


def _positive(value: object, path: Path, where: str) -> float:
    try:
        h = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        h = math.nan
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"{path} records a voxel size that is not a positive number "
                         f"({where}); fix its metadata or re-save it")
    return h
