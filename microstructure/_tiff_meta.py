"""The voxel edge a TIFF records about itself, which :func:`microstructure.import_tiff` checks
its ``voxel_size_um`` against (and takes when none is given).

Two records are read: an ImageJ hyperstack's ``spacing`` (the Z step) with ``unit`` a length
(``um``, ``µm``, ``micron``, ``nm``, ``mm``, ...; what Fiji and ``assb export`` write), and the
``voxel_size_um`` of the JSON description ``assb export`` writes into a plain TIFF of 32-bit
labels.  An ImageJ stack whose X / Y pixel size (its resolution tags, pixels per unit) differs
from its Z step is refused: the voxels are not cubes, and the model needs cubes (resample the
stack first).  Resolution tags of 1 pixel per unit are what a writer puts when it has none
(tifffile's default) and are not read.  An ImageJ stack in no length unit (``pixel``) or
without a spacing, a TIFF without either record and a directory of 2-D slices record none.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ._tiff_stack import tiff_named

__all__ = ["recorded_voxel_size_um"]

#: ImageJ ``unit`` values that mean a micron (compared in lower case; ImageJ escapes µ as
#: ``\u00B5``).
MICRON_UNITS = frozenset({"um", "µm", "μm", "\\u00b5m", "micron", "microns", "micrometer",
                          "micrometers", "micrometre", "micrometres"})
#: Other ImageJ length units, in µm.
LENGTH_UNITS_UM = {"nm": 1e-3, "nanometer": 1e-3, "nanometers": 1e-3, "nanometre": 1e-3,
                   "nanometres": 1e-3, "mm": 1e3, "millimeter": 1e3, "millimeters": 1e3,
                   "millimetre": 1e3, "millimetres": 1e3, **dict.fromkeys(MICRON_UNITS, 1.0)}


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
    with tiff_named(path):
        tif = tifffile.TiffFile(path)
    with tif:
        ij = tif.imagej_metadata
        if ij:
            unit = str(ij.get("unit", "")).strip()
            scale = LENGTH_UNITS_UM.get(unit.lower())
            if scale is None or ij.get("spacing") is None:
                return None
            where = f"ImageJ spacing={ij['spacing']} unit={unit}"
            h = _positive(ij["spacing"], path, where) * scale
            _check_cubic(tif.pages[0], h, scale, unit, path)
            return h, where
        for md in tif.shaped_metadata or ():
            if isinstance(md, dict) and md.get("voxel_size_um") is not None:
                where = f"voxel_size_um={md['voxel_size_um']} in its description"
                return _positive(md["voxel_size_um"], path, where), where
    return None


def _check_cubic(page: Any, h: float, scale: float, unit: str, path: Path) -> None:
    """Refuse an X or Y pixel size (resolution tags of the TIFF page ``page``, pixels per
    ``unit``) other than the Z step ``h`` µm; tags of 1 pixel per unit (a writer's default) are
    not read."""
    edges = {}
    for axis in ("X", "Y"):
        tag = page.tags.get(f"{axis}Resolution")
        if tag is None:
            return
        num, den = tag.value
        if num == den or num <= 0 or den <= 0:   # 1 pixel per unit: no calibration
            return
        edges[axis] = den / num * scale
    if any(not math.isclose(e, h, rel_tol=1e-3) for e in edges.values()):
        raise ValueError(
            f"{path} records voxels that are not cubes: X {edges['X']:.4g} um, Y "
            f"{edges['Y']:.4g} um, Z {h:.4g} um (resolution tags and ImageJ spacing, unit "
            f"{unit}); the model needs cubic voxels: resample the stack to one edge first")


def _positive(value: object, path: Path, where: str) -> float:
    try:
        h = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        h = math.nan
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"{path} records a voxel size that is not a positive number "
                         f"({where}); fix its metadata or re-save it")
    return h
