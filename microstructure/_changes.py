"""Changing a spec's data by dotted path (:meth:`~microstructure.ElectrodeSpec.updated`, sweep
points), so that what the engineer measured stays the source: a box given in µm keeps its size
at a new voxel, a porosity given by a measured density is derived again."""

from __future__ import annotations

from typing import Any

from ._density import keep_density_source


def apply_changes(data: dict[str, Any], changes: dict[str, Any]) -> None:
    """:func:`set_dotted` for each change in order, on a spec's data; then the box: a new
    ``domain.shape`` replaces a ``domain.size_um`` (the box in voxels now), else a box in µm
    drops the stored shape so that it is derived again at the (maybe new) voxel size."""
    for path, value in changes.items():
        set_dotted(data, path, value)
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
