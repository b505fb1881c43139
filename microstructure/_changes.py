"""Changing a spec's data by dotted path (:meth:`~microstructure.ElectrodeSpec.updated`, sweep
points), so that what the engineer measured stays the source: a box given in µm keeps its size
at a new voxel, a porosity given by a measured density is derived again."""

from __future__ import annotations

import copy
from typing import Any

from ._density import keep_density_source


def apply_changes(data: dict[str, Any], changes: dict[str, Any]) -> None:
    """:func:`set_dotted` for each change, on a spec's data, a whole table before the keys
    inside it (``phases.se.psd`` before ``phases.se.psd.d50_um``, whatever the order given:
    the more specific change wins, in a sweep as in ``updated`` and ``--set``); then the box:
    a new ``domain.shape`` replaces a ``domain.size_um`` (the box in voxels now), else a box in
    µm drops the stored shape so that it is derived again at the (maybe new) voxel size.
    The values are copied: a later change inside a table never reaches the caller's dict."""
    for path in sorted(changes, key=lambda p: p.count(".")):  # stable: same depth, same order
        set_dotted(data, path, copy.deepcopy(changes[path]))  # the caller's values untouched
    keep_density_source(data.get("composition"), changes)
    dom = data.get("domain")
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
