"""A structure's voxel arrays as a 3-D TIFF stack, for Fiji / ImageJ, ParaView, Dragonfly,
GeoDict, TauFactor -- or :func:`~microstructure.import_tiff`, which reads it back.

The stack keeps the project's orientation: slice 0 is the layer at the current collector, the
last slice the one at the separator (axis 0, through-plane, is the stack's Z), and it carries
the voxel edge in µm.  8- and 16-bit arrays (phases, CAM states, particle ids under 65 536) and
float arrays are ImageJ hyperstacks (Fiji shows them with their scale: ``unit=um``,
``spacing``): uint8 arrays stay 8-bit, other integer arrays are 16-bit when their values fit;
larger integer labels are 32-bit unsigned in a plain TIFF, whose resolution tags
(pixels per cm) and JSON description hold the same voxel edge.  The file is written next to
its target and moved into place, so an interrupted export leaves no partial TIFF.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._atomic import atomic_path

if TYPE_CHECKING:
    from ._microstructure import Microstructure

__all__ = ["EXPORT_ARRAYS", "TiffExport", "check_file_target", "check_tiff_target",
           "export_tiff"]

#: The arrays of a :class:`~microstructure.Microstructure` that can be exported by name.
EXPORT_ARRAYS = ("phases", "particle_ids", "carbon_ids")

#: Suffixes accepted for the output file.
TIFF_SUFFIXES = (".tif", ".tiff")

#: Largest file written as classic TIFF (the format's offsets are 32-bit); larger are BigTIFF.
_CLASSIC_LIMIT = 2**32 - 2**25


@dataclass(frozen=True)
class TiffExport:
    """What :func:`export_tiff` wrote.

    Attributes
    ----------
    path : Path
        The TIFF file.
    array : str
        The exported array's name (``"array"`` for one passed as data).
    shape : tuple of int
        Voxels (nz, ny, nx); Z is the through-plane axis, slice 0 at the current collector.
    dtype : str
        Sample type in the file (``uint8``, ``uint16``, ``uint32`` or ``float32``).
    imagej : bool
        Whether the file is an ImageJ hyperstack (8/16-bit or float) or a plain TIFF (32-bit
        labels).
    voxel_size_um : float
        Voxel edge (µm), stored in the file.
    size_bytes : int
        Size of the file on disk (bytes).
    """

    path: Path
    array: str
    shape: tuple[int, int, int]
    dtype: str
    imagej: bool
    voxel_size_um: float
    size_bytes: int


def export_tiff(m: Microstructure, path: str | Path, *, array: str | np.ndarray = "phases",
                overwrite: bool = False) -> TiffExport:
    """Write one voxel array of ``m`` as a 3-D TIFF stack with its voxel size.

    Parameters
    ----------
    m : Microstructure
        A generated, opened or imported structure.
    path : str or Path
        Output file, ending in ``.tif`` or ``.tiff``.
    array : str or ndarray, keyword-only
        ``"phases"`` (uint8 codes 0 pore, 1 CAM, 2 SE, 3 carbon; the default),
        ``"particle_ids"`` (the owner particle of each voxel), ``"carbon_ids"`` (the carbon
        particle of each carbon voxel; pressed structures with carbon) or a 3-D array of
        ``m``'s shape (boolean, non-negative integers or floats), e.g. a CAM state map.
    overwrite : bool, keyword-only
        Replace an existing file at ``path`` (default: refuse it).

    Returns
    -------
    TiffExport
        The file, its sample type and format, the voxel edge (µm) and its size (bytes).

    Raises
    ------
    ValueError
        ``path`` without a TIFF suffix, an unknown array name, an array of another shape, or
        negative / non-finite values that the TIFF would not keep.
    FileExistsError
        ``path`` exists and ``overwrite`` is False, or it is a directory.

    Examples
    --------
    >>> import tempfile, warnings, microstructure as ms
    >>> spec = ms.load_spec(ms.default_spec_path()).updated(
    ...     {"domain.shape": [48, 40, 40], "domain.voxel_size_um": 0.5})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # SE, carbon under 2 voxels at 0.5 um
    ...     m = ms.generate(spec, seed=3)
    >>> out = ms.export_tiff(m, tempfile.mkdtemp() + "/phases.tif")
    >>> out.shape, out.dtype, out.imagej, out.voxel_size_um
    ((48, 40, 40), 'uint8', True, 0.5)
    >>> back = ms.import_tiff(out.path, phase_map="0:pore,1:cam,2:se,3:carbon",
    ...                       voxel_size_um=out.voxel_size_um)
    >>> bool((back.phases == m.phases).all())
    True
    """
    path = Path(path)
    check_tiff_target(path, overwrite=overwrite)
    name, data = _array(m, array)
    data, imagej = _as_tiff_samples(data, name)
    h = float(m.voxel_size_um)
    with atomic_path(path) as tmp:
        _write(tmp, data, h, imagej=imagej, name=name)
    return TiffExport(path=path, array=name, shape=tuple(int(n) for n in data.shape),
                      dtype=str(data.dtype), imagej=imagej, voxel_size_um=h,
                      size_bytes=path.stat().st_size)


def _array(m: Any, array: str | np.ndarray) -> tuple[str, np.ndarray]:
    if isinstance(array, str):
        if array not in EXPORT_ARRAYS:
            raise ValueError(f"array must be one of {', '.join(map(repr, EXPORT_ARRAYS))} or a "
                             f"3-D array of the structure's shape, got {array!r}")
        data = getattr(m, array)
        if data is None:
            raise ValueError(f"array {array!r}: this structure has none (carbon ids are kept "
                             "for pressed structures with carbon)")
        return array, np.asarray(data)
    data = np.asarray(array)
    if data.shape != tuple(m.shape):
        raise ValueError(f"array must have the structure's shape {tuple(m.shape)}, got "
                         f"{data.shape}")
    return "array", data


def check_tiff_target(path: Path, *, overwrite: bool) -> None:
    """A TIFF can be written at ``path``: a ``.tif`` / ``.tiff`` name, not a directory, not an
    existing file unless ``overwrite``, in an existing writable directory (checked before any
    work)."""
    check_file_target(path, suffixes=TIFF_SUFFIXES, what="a TIFF", overwrite=overwrite)


def check_file_target(path: Path, *, suffixes: tuple[str, ...], what: str,
                      overwrite: bool) -> None:
    """A file ``what`` (e.g. "a TIFF") can be written at ``path``: one of ``suffixes``, not a
    directory, not an existing file unless ``overwrite``, in an existing writable directory."""
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{what} path must end in {' or '.join(suffixes)}, got {str(path)!r}")
    if path.is_dir():
        raise FileExistsError(f"{path} is a directory; give a file name ending in "
                              f"{suffixes[0]}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (assb export --overwrite) "
                              "to replace it")
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"{path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: {parent} is not writable")


def _as_tiff_samples(data: np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    """The samples to write and whether they fit an ImageJ hyperstack (8/16-bit, float32)."""
    if data.dtype == bool:
        return data.astype(np.uint8), True
    if np.issubdtype(data.dtype, np.integer):
        lo = int(data.min()) if data.size else 0
        hi = int(data.max()) if data.size else 0
        if lo < 0:
            raise ValueError(f"array {name!r} has negative values (min {lo}); a TIFF of "
                             "labels holds values >= 0")
        if hi <= np.iinfo(np.uint8).max and data.dtype.itemsize == 1:
            return data.astype(np.uint8, copy=False), True
        if hi <= np.iinfo(np.uint16).max:
            return data.astype(np.uint16, copy=False), True
        if hi <= np.iinfo(np.uint32).max:
            return data.astype(np.uint32, copy=False), False
        raise ValueError(f"array {name!r} holds values up to {hi}, beyond 32 bits")
    if np.issubdtype(data.dtype, np.floating):
        if not np.isfinite(data).all():
            raise ValueError(f"array {name!r} has non-finite values")
        return data.astype(np.float32, copy=False), True
    raise ValueError(f"array {name!r} has dtype {data.dtype}; export takes booleans, integers "
                     "or floats")


def _write(path: Path, data: np.ndarray, h: float, *, imagej: bool, name: str) -> None:
    import tifffile

    per_cm = 1e4 / h
    if imagej:
        tifffile.imwrite(path, data, imagej=True, resolution=(1.0 / h, 1.0 / h),
                         metadata={"axes": "ZYX", "spacing": h, "unit": "um"})
        return
    tifffile.imwrite(path, data, bigtiff=data.nbytes > _CLASSIC_LIMIT,
                     resolution=(per_cm, per_cm), resolutionunit="CENTIMETER",
                     metadata={"axes": "ZYX", "voxel_size_um": h, "array": name,
                               "axis0": "through-plane, slice 0 at the current collector"})
