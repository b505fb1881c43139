"""Reading a segmented stack for :func:`microstructure.import_tiff`: a multi-page TIFF, or a
directory of 2-D slices stacked in the natural order of their names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TIFF_SUFFIXES", "read_stack", "slice_order", "tiff_named"]

#: Names of the slices a directory is read from.
TIFF_SUFFIXES = (".tif", ".tiff")


def slice_order(files: Any) -> list[Path]:
    """``files`` in the natural order of their names: runs of digits compare as numbers, so
    unpadded slice numbers (``s_0``, ``s_1``, ..., ``s_10``) stack in order, not as text
    (``s_0``, ``s_1``, ``s_10``, ``s_11``, ..., ``s_2``).  Names equal as numbers (``s_01``,
    ``s_1``) are ambiguous: a ValueError names them.

    Examples
    --------
    >>> [p.name for p in slice_order(Path(f"s_{i}.tif") for i in (10, 2, 0, 1))]
    ['s_0.tif', 's_1.tif', 's_2.tif', 's_10.tif']
    """
    def key(p: Path) -> tuple:
        return tuple((0, int(t), "") if t.isdigit() else (1, 0, t)
                     for t in re.split(r"(\d+)", p.name.lower()) if t)

    ordered = sorted(files, key=lambda p: (key(p), p.name))
    for a, b in zip(ordered, ordered[1:], strict=False):
        if key(a) == key(b):
            raise ValueError(f"slices {a.name} and {b.name} sort alike (the same numbers): "
                             "their order is ambiguous; rename them (e.g. zero-padded numbers)")
    return ordered


def read_stack(path: str | Path) -> np.ndarray:
    """A 3-D array from a multi-page TIFF or a directory of 2-D TIFF slices, in the natural
    order of their names (``s_2.tif`` before ``s_10.tif``, as :func:`slice_order` sorts)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no TIFF stack at {path}")
    if path.is_dir():
        files = slice_order(p for p in path.iterdir() if p.suffix.lower() in TIFF_SUFFIXES)
        if not files:
            raise ValueError(f"directory {path} holds no .tif/.tiff slices")
        slices = [_read_tiff(f) for f in files]
        bad = [f.name for f, s in zip(files, slices, strict=True) if s.ndim != 2]
        if bad:
            raise ValueError(f"slices in {path} must be 2-D images; not 2-D: {bad[:5]}")
        shapes = {s.shape for s in slices}
        if len(shapes) > 1:
            raise ValueError(f"slices in {path} differ in shape: {sorted(shapes)}")
        return np.stack(slices)
    return _read_tiff(path)


@contextmanager
def tiff_named(path: Path) -> Iterator[None]:
    """tifffile's error on a file that is not a TIFF (it names the header, not the file) as a
    ValueError naming ``path``."""
    import tifffile

    try:
        yield
    except tifffile.TiffFileError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    with tiff_named(path):
        return np.asarray(tifffile.imread(path))
