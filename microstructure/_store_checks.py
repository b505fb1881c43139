"""What :func:`microstructure.open` checks in a store's metadata before it reads an array: the
conventions it was written under, that its integrity record is there, and that the attributes
which give its arrays their meaning (spec, seed, voxel size, generation report, ...) are those
written (their SHA-256 in the integrity record)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from solvers.phases import PHASE_CODES

__all__ = ["AXIS_CONVENTION", "META_KEYS", "StoreIntegrityError", "attributes_digest",
           "check_metadata", "version_tuple"]


class StoreIntegrityError(ValueError):
    """A store is damaged: a missing or unreadable chunk or array, a shape or dtype that is not
    the recorded one, arrays whose checksum differs from the one written on save, or metadata
    (spec, seed, voxel size, ...) that is not the one written."""


#: The axis convention every store records (and open requires).
AXIS_CONVENTION = "axis 0 through-plane; index 0 = current collector"
#: Attributes the integrity record's ``"attributes"`` digest covers: all but the analysis,
#: which ``assb analyze`` adds later.
META_KEYS = ("format", "package_version", "spec", "seed", "voxel_size_um", "phase_codes",
             "axis_convention", "generation")
#: The integrity record came during 0.1; a store of a later version without one lost it.
_INTEGRITY_SINCE = (0, 2)
#: Stores of this version on carry the attributes' digest.
_ATTRIBUTES_SINCE = (0, 18)


def attributes_digest(attrs: dict[str, Any]) -> str:
    """SHA-256 (hex) of the :data:`META_KEYS` of ``attrs``, as JSON with sorted keys."""
    body = {k: attrs.get(k) for k in META_KEYS}
    text = json.dumps(body, sort_keys=True, allow_nan=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def version_tuple(text: Any) -> tuple[int, int] | None:
    """``(major, minor)`` of a package version string (``"0.17.0"`` -> ``(0, 17)``); None
    where it is not one.

    Examples
    --------
    >>> version_tuple("0.17.0"), version_tuple("1.2"), version_tuple(None), version_tuple("0.1x")
    ((0, 17), (1, 2), None, None)
    """
    m = re.match(r"(\d+)\.(\d+)(?:\.|$)", text) if isinstance(text, str) else None
    return (int(m[1]), int(m[2])) if m else None


def check_metadata(attrs: dict[str, Any], path: Path) -> None:
    """Refuse a store whose phase codes or axis convention are not this package's, that lost
    the integrity record its writer always writes, or whose attributes differ from those
    written (:class:`StoreIntegrityError` naming the store)."""
    for key, ours in (("phase_codes", dict(PHASE_CODES)), ("axis_convention", AXIS_CONVENTION)):
        if attrs.get(key) != ours:
            raise StoreIntegrityError(f"damaged store {path}: {key} {attrs.get(key)!r} in "
                                      f"zarr.json, this package reads {ours!r}")
    version = version_tuple(attrs.get("package_version"))
    integrity = attrs.get("integrity")
    if integrity is None:
        if version is None or version >= _INTEGRITY_SINCE:
            raise StoreIntegrityError(
                f"damaged store {path}: no integrity record in zarr.json (written by "
                f"package_version {attrs.get('package_version')!r}; every store from "
                f"{'.'.join(map(str, _INTEGRITY_SINCE))} on has one)")
        return
    recorded = integrity.get("attributes") if isinstance(integrity, dict) else None
    if recorded is not None:
        if recorded != attributes_digest(attrs):
            raise StoreIntegrityError(
                f"damaged store {path}: its metadata in zarr.json (spec, seed, voxel size, "
                "generation report, ...) is not the one written with its arrays: edited or "
                "damaged")
    elif version is None or version >= _ATTRIBUTES_SINCE:
        raise StoreIntegrityError(
            f"damaged store {path}: its integrity record has no digest of its metadata "
            f"(written by package_version {attrs.get('package_version')!r}; every store from "
            f"{'.'.join(map(str, _ATTRIBUTES_SINCE))} on has one)")
