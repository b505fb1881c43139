"""Changing a spec's data by dotted path (:meth:`~microstructure.ElectrodeSpec.updated`, sweep
points), so that what the engineer measured stays the source: a box given in µm keeps its size
at a new voxel, a porosity given by a measured density is derived again."""

from __future__ import annotations

import copy
import warnings
from typing import Any

from ._density import keep_density_source


def apply_changes(data: dict[str, Any], changes: dict[str, Any]) -> None:
    """:func:`set_dotted` for each change, on a spec's data, a whole table before the keys
    inside it (``phases.se.psd`` before ``phases.se.psd.d50_um``, whatever the order given:
    the more specific change wins, in a sweep as in ``updated`` and ``--set``); then the box:
    a new ``domain.shape`` replaces a ``domain.size_um`` (the box in voxels now), else a box in
    µm drops the stored shape so that it is derived again at the (maybe new) voxel size.
    The values are copied: a later change inside a table never reaches the caller's dict."""
    before = copy.deepcopy(data.get("domain"))
    for path in sorted(changes, key=lambda p: p.count(".")):  # stable: same depth, same order
        set_dotted(data, path, copy.deepcopy(changes[path]))  # the caller's values untouched
    keep_density_source(data.get("composition"), changes)
    dom = data.get("domain")
    _warn_box_in_voxels(before, dom, changes)
    if not isinstance(dom, dict) or dom.get("size_um") is None or "domain" in changes:
        return
    if "domain.shape" in changes and "domain.size_um" not in changes:
        dom.pop("size_um")
    elif "domain.shape" not in changes:
        dom.pop("shape", None)


def set_dotted(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``path = "a.b.c"``; the parents must exist."""
    keys = path.split(".")
    node = data
    for i, k in enumerate(keys[:-1]):
        if not isinstance(node, dict) or k not in node:
            raise KeyError(f"unknown field {'.'.join(keys[: i + 1])!r} in path {path!r}")
        node = node[k]
    if not isinstance(node, dict):
        raise KeyError(f"unknown field {path!r}")
    node[keys[-1]] = value


def _warn_box_in_voxels(before: Any, after: Any, changes: dict[str, Any]) -> None:
    """A box given in voxels (``domain.shape``, no ``size_um``) whose voxel size changes
    alone changes its size in µm (the electrode's thickness): say so, with the new size."""
    if not (isinstance(before, dict) and isinstance(after, dict)) or before.get("size_um"):
        return
    if "domain.voxel_size_um" not in changes or {"domain", "domain.shape",
                                                 "domain.size_um"} & set(changes):
        return
    h0, h1, shape = before.get("voxel_size_um"), after.get("voxel_size_um"), after.get("shape")
    try:
        h0, h1 = float(h0), float(h1)
        old, new = [n * h0 for n in shape], [n * h1 for n in shape]
    except (TypeError, ValueError):   # malformed values: the fields' own checks name them
        return
    if old != new:
        um = " x ".join(f"{v:g}" for v in new)
        warnings.warn(f"domain.voxel_size_um = {h1:g} with the box given in voxels "
                      f"(domain.shape = {list(shape)}): the box is now {um} um, not "
                      f"{' x '.join(f'{v:g}' for v in old)} um; give domain.size_um to keep "
                      "its size in um", stacklevel=3)
