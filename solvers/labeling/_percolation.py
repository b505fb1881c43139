"""Face connectivity and percolation of a phase mask along one axis.

A voxel is connected to a face when its component (see :func:`solvers.label`) has at least one
voxel on that face; a mask percolates along ``axis`` when one component touches both faces.
Wrap along ``axis`` itself is refused: it would join the two faces being tested.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._validate import check_axis, check_periodic, check_side
from ..device import array_module, check_device, to_host
from ._label import label, label_cpu_raw

__all__ = [
    "FaceHits",
    "check_periodic_not_on_axis",
    "connected_to_face",
    "face_hits",
    "fold_flags",
    "label_face_hits",
    "percolates",
]


def check_periodic_not_on_axis(periodic: Any, axis: int) -> tuple[bool, bool, bool]:
    """Normalize ``periodic`` and refuse wrap along the tested axis."""
    per = check_periodic(periodic)
    if per[axis]:
        raise ValueError(
            f"periodic must be False along axis={axis} (the axis whose faces are tested), "
            f"got periodic={per}"
        )
    return per


def _check_faces_exist(mask: Any, axis: int) -> None:
    shape = getattr(mask, "shape", None)
    if shape is not None and len(shape) == 3 and shape[axis] == 0:
        raise ValueError(
            f"mask has no voxels along axis={axis} (shape {tuple(shape)}), so no faces"
        )


def face_hits(labels: Any, n: int, axis: int, side: int) -> Any:
    """Boolean table ``hit[0..n]``: which labels have a voxel on the face ``side`` of ``axis``.

    ``hit[0]`` (background) is False.  Works on NumPy and CuPy labels alike.
    """
    xp = array_module(labels)
    face = xp.take(labels, side, axis=axis)
    hit = xp.zeros(n + 1, dtype=bool)
    hit[face.ravel()] = True
    hit[0] = False
    return hit


def fold_flags(raw_flags: np.ndarray, table: np.ndarray | None, n: int) -> np.ndarray:
    """Flags per raw label -> flags per raw label of the merged components.

    ``table`` maps raw label -> component (1..n) as returned by ``label_cpu_raw`` (None: the raw
    labels are the components).  A component is flagged when any of its raw labels is, and
    every raw label of it then carries the flag.
    """
    if table is None:
        return raw_flags
    final = np.zeros(n + 1, dtype=bool)
    final[table[raw_flags]] = True
    final[0] = False
    return final[table]


class FaceHits(NamedTuple):
    """Labels of a mask and, per label, whether its component touches each face of an axis."""

    labels: Any
    """int32 labels, same shape as the mask.  On the CPU these are the labels before the
    periodic merge (no remap pass), so one component may carry several labels; index
    ``first`` / ``last`` with them, never count them."""
    n: int
    """Number of components."""
    first: Any
    """Bool per label: its component has a voxel on the face at index 0 along the axis."""
    last: Any
    """Bool per label: its component has a voxel on the face at the last index."""

    def spans(self) -> bool:
        """Whether one component touches both faces (a device sync point on the GPU)."""
        return bool(to_host((self.first & self.last).any()))


def label_face_hits(
    mask: Any,
    *,
    axis: int,
    connectivity: int,
    periodic: tuple[bool, bool, bool],
    device: str,
) -> FaceHits:
    """Label ``mask`` once and flag the components touching the two faces of ``axis``.

    The percolating-part step shared by the solvers; arguments already validated (see
    :func:`percolates` for the public, checked entry).  On the CPU the image keeps its raw
    labels and the face flags are folded through the periodic merge table instead, which saves
    the remap pass over the image.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((3, 1, 3), dtype=bool)
    >>> m[:, 0, 0] = True        # a column from face 0 to face 2
    >>> m[0, 0, 2] = True        # an island on face 0
    >>> h = label_face_hits(m, axis=0, connectivity=6, periodic=(False,) * 3, device="cpu")
    >>> h.n, h.first.tolist(), h.last.tolist(), h.spans()
    (2, [False, True, True], [False, True, False], True)
    """
    if device == "cpu":
        labels, table, n = label_cpu_raw(mask, connectivity, periodic)
        nraw = n if table is None else table.size - 1
    else:
        labels, n = label(mask, connectivity=connectivity, periodic=periodic, device=device)
        table, nraw = None, n
    first = fold_flags(face_hits(labels, nraw, axis, 0), table, n)
    last = fold_flags(face_hits(labels, nraw, axis, -1), table, n)
    return FaceHits(labels, n, first, last)


def connected_to_face(
    mask: Any,
    *,
    axis: int = 0,
    side: int = 0,
    connectivity: int = 6,
    periodic: bool | tuple[bool, bool, bool] = (False, False, False),
    device: str = "cpu",
) -> Any:
    """Voxels of ``mask`` connected to one face of the box.

    Parameters
    ----------
    mask : (nz, ny, nx) array of bool or integers
        Foreground where true / nonzero.
    axis : int
        Axis whose face is used (0 = through-plane; index 0 touches the current collector).
    side : {0, -1}
        0: the face at index 0 along ``axis``; -1: the face at the last index.
    connectivity : {6, 18, 26}
        Neighbourhood, as in :func:`solvers.label`.
    periodic : bool or tuple of 3 bools
        Wrap per axis; must be False along ``axis``.
    device : {"cpu", "cuda"}
        Backend; the result lives on the same device.

    Returns
    -------
    bool array, same shape as ``mask``
        True on foreground voxels whose component touches the face.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import connected_to_face
    >>> m = np.zeros((3, 1, 3), dtype=bool)
    >>> m[:, 0, 0] = True        # a column from face 0 to face 2
    >>> m[0, 0, 2] = True        # an island on face 0
    >>> connected_to_face(m, axis=0, side=0)[:, 0, :].astype(int).tolist()
    [[1, 0, 1], [1, 0, 0], [1, 0, 0]]
    >>> connected_to_face(m, axis=0, side=-1)[:, 0, :].astype(int).tolist()
    [[1, 0, 0], [1, 0, 0], [1, 0, 0]]
    """
    check_device(device)
    axis = check_axis(axis)
    side = check_side(side)
    periodic = check_periodic_not_on_axis(periodic, axis)
    _check_faces_exist(mask, axis)
    labels, n = label(mask, connectivity=connectivity, periodic=periodic, device=device)
    return face_hits(labels, n, axis, side)[labels]


def percolates(
    mask: Any,
    *,
    axis: int = 0,
    connectivity: int = 6,
    periodic: bool | tuple[bool, bool, bool] = (False, False, False),
    device: str = "cpu",
) -> bool:
    """Whether one component of ``mask`` touches both faces of ``axis``.

    Parameters
    ----------
    mask : (nz, ny, nx) array of bool or integers
        Foreground where true / nonzero.
    axis : int
        Axis along which spanning is tested.
    connectivity : {6, 18, 26}
        Neighbourhood, as in :func:`solvers.label`.
    periodic : bool or tuple of 3 bools
        Wrap per axis; must be False along ``axis``.
    device : {"cpu", "cuda"}
        Backend.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import percolates
    >>> m = np.zeros((5, 3, 3), dtype=bool)
    >>> m[:, 1, 1] = True
    >>> percolates(m), percolates(m, axis=1)
    (True, False)
    """
    check_device(device)
    axis = check_axis(axis)
    periodic = check_periodic_not_on_axis(periodic, axis)
    _check_faces_exist(mask, axis)
    labels, n = label(mask, connectivity=connectivity, periodic=periodic, device=device)
    both = face_hits(labels, n, axis, 0) & face_hits(labels, n, axis, -1)
    return bool(to_host(both.any()))  # device sync point
