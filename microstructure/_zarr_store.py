"""The zarr v3 store of a :class:`~microstructure.Microstructure`: atomic writes, integrity
records (shape, dtype, SHA-256 of every array) and checked reads."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from solvers.phases import CAM, PHASE_CODES

from ._atomic import atomic_write_bytes, fsync_dir
from ._microstructure import (
    _TABLE_COLUMNS,
    STORE_FORMAT,
    GenerationReport,
    Microstructure,
    ParticleTable,
)
from ._spec import ElectrodeSpec
from ._store_checks import (
    AXIS_CONVENTION,
    StoreIntegrityError,
    attributes_digest,
    check_metadata,
)

#: Chunk edge of the voxel arrays.
_CHUNKS = 64

__all__ = [
    "StoreIntegrityError",
    "check_store_target",
    "is_store",
    "open_microstructure",
    "store_attrs",
    "update_store_attrs",
    "write_store",
]


def write_store(m: Microstructure, path: str | Path, *, overwrite: bool = True) -> Path:
    """Write ``m`` to the zarr v3 store ``path`` (see :meth:`Microstructure.save`)."""
    import zarr
    from zarr.codecs import BloscCodec

    from . import __version__

    path = Path(path)
    if path.is_symlink():  # write the store the link points to, not a directory over the link
        path = path.resolve()
    replace = check_store_target(path, overwrite=overwrite)
    _remove_leftovers(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        root = zarr.open_group(str(tmp), mode="w-", zarr_format=3)
        comp = BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")
        every_chunk = {"write_empty_chunks": True}   # a missing chunk is then damage
        chunks = tuple(min(_CHUNKS, s) for s in m.phases.shape)
        arrays = {"phases": np.ascontiguousarray(m.phases),
                  "particle_ids": np.ascontiguousarray(m.particle_ids)}
        if m.carbon_ids is not None:
            arrays["carbon_ids"] = np.ascontiguousarray(m.carbon_ids)
        for name, a in arrays.items():
            root.create_array(name, data=a, chunks=chunks, compressors=comp,
                              dimension_names=["z", "y", "x"], config=every_chunk)
        p = root.create_group("particles")
        for name in _TABLE_COLUMNS:   # the contact graph only where there is one
            a = getattr(m.particles, name)
            if a is None:
                continue
            a = np.ascontiguousarray(a)
            arrays[f"particles/{name}"] = a
            n = max(a.shape[0], 1)
            p.create_array(name, data=a, chunks=(min(n, 1 << 20),) + a.shape[1:],
                           compressors=comp, config=every_chunk)
        root.attrs.update({
            "format": STORE_FORMAT,
            "package_version": __version__,
            "spec": m.spec.model_dump(mode="json", exclude_none=True),
            "seed": int(m.seed),
            "voxel_size_um": float(m.voxel_size_um),
            "phase_codes": dict(PHASE_CODES),
            "axis_convention": AXIS_CONVENTION,
            "generation": m.report.to_dict() if m.report is not None else None,
            "integrity": {"algorithm": "sha256",
                          "arrays": {k: _fingerprint(a) for k, a in arrays.items()}},
        })
        # the attributes' digest, of the values as zarr stores them (read back)
        written = dict(zarr.open_group(str(tmp), mode="r").attrs)
        root.attrs["integrity"] = {**written["integrity"],
                                   "attributes": attributes_digest(written)}
        _fsync_tree(tmp)
        if replace:
            if not _exchange(tmp, path):  # no atomic swap here: two renames
                old = path.parent / f".{path.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            # after the swap tmp holds the old store; the finally clause removes it
        else:
            if path.is_dir():
                path.rmdir()        # empty (checked above)
            os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


#: Arrays of the particle table, in store order.
#: Every array of a store: dtype and number of dimensions.
_LAYOUT = {
    "phases": (np.dtype(np.uint8), 3),
    "particle_ids": (np.dtype(np.int32), 3),
    "particles/id": (np.dtype(np.int32), 1),
    "particles/phase": (np.dtype(np.uint8), 1),
    "particles/center_um": (np.dtype(np.float32), 2),
    "particles/radius_um": (np.dtype(np.float32), 1),
}
#: The contact graph of a pressed packing (absent for the other packing modes).
_CONTACT_LAYOUT = {
    "particles/contact_i": (np.dtype(np.int32), 1),
    "particles/contact_j": (np.dtype(np.int32), 1),
    "particles/contact_area_um2": (np.dtype(np.float32), 1),
    "particles/touches_cc": (np.dtype(np.bool_), 1),
    "particles/touches_separator": (np.dtype(np.bool_), 1),
}
#: Carbon particle ids per voxel (a pressed packing with carbon; stores of 0.9 and later).
_CARBON_LAYOUT = {"carbon_ids": (np.dtype(np.int32), 3)}


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a directory whose ``zarr.json`` carries the assb store format."""
    meta = Path(path) / "zarr.json"
    try:
        return json.loads(meta.read_text()).get("attributes", {}).get("format") == STORE_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def check_store_target(path: str | Path, *, overwrite: bool = True) -> bool:
    """Check that a store can be written at ``path`` before any work is done.

    Returns whether an existing assb store would be replaced.  Raises ``FileExistsError``
    for a file, a non-empty directory that is not an assb store, or an assb store with
    ``overwrite=False``; ``NotADirectoryError`` when a parent of ``path`` is a file;
    ``PermissionError`` when the first existing parent is not writable.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_store_target(d / "new.zarr")
    False
    >>> (d / "notes.txt").write_text("keep")
    4
    >>> try:
    ...     check_store_target(d)
    ... except FileExistsError as exc:
    ...     print("refused:", "not an assb store" in str(exc))
    refused: True
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise FileExistsError(f"{path} exists and is not a directory")
        if is_store(path):
            if not overwrite:
                raise FileExistsError(f"{path} is an assb store; pass overwrite=True to replace "
                                      "it")
            return True
        if any(path.iterdir()):
            raise FileExistsError(f"{path} is a non-empty directory that is not an assb "
                                  "store; refusing to overwrite it")
        parent = path.parent
    else:
        parent = path.parent
        while not parent.exists():
            if parent.is_symlink():     # a dangling link
                break
            parent = parent.parent
        if not parent.is_dir():
            raise NotADirectoryError(f"cannot create {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot create {path}: {parent} is not writable")
    return False


def _fingerprint(a: np.ndarray) -> dict[str, Any]:
    return {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": _sha256(a)}


def _sha256(a: np.ndarray) -> str:
    h = hashlib.sha256()
    flat = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    step = 1 << 26
    for i in range(0, flat.size, step):
        h.update(flat[i:i + step].data)
    return h.hexdigest()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or file system cannot, and nothing was moved."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                   ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory under ``root`` to disk (before the rename)."""
    for d, _, files in os.walk(root):
        for f in files:
            fd = os.open(os.path.join(d, f), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(d))


def _remove_leftovers(path: Path) -> None:
    """Temporary stores of an earlier save to ``path`` that was killed."""
    parent = path.parent
    if not parent.is_dir():
        return
    for pattern in (f".{path.name}.tmp-*", f".{path.name}.old-*"):
        for p in parent.glob(pattern):
            pid = p.name.rsplit("-", 2)[-2]
            if pid.isdigit() and _alive(int(pid)):
                continue                # another process is saving there right now
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_microstructure(path: str | Path) -> Microstructure:
    """Read a structure written by :meth:`Microstructure.save` (exact round trip).

    The store is checked before anything is returned: every array present with the dtype and
    shape it was written with, every chunk present and decodable, the SHA-256 of each
    array equal to the one recorded on save, and that of the metadata that gives the arrays
    their meaning (spec, seed, voxel size, generation report; required from 0.18 on) equal
    to the recorded one.  Stores written before checksums existed (no
    ``attrs["integrity"]``) get the chunk, shape and dtype checks only; their writer skipped
    all-zero chunks, so a missing ``particle_ids`` chunk is accepted where that block holds
    no CAM, and a missing ``phases`` chunk (a block of pure pore, or lost data) is an error.

    Raises
    ------
    FileNotFoundError
        No store at ``path``.
    ValueError
        A zarr group that is not an assb store.
    StoreIntegrityError
        A damaged store; the message names the store and what is missing or wrong.

    Examples
    --------
    >>> import tempfile, warnings, microstructure as ms
    >>> spec = ms.load_spec(ms.default_spec_path()).updated(
    ...     {"domain.shape": [48, 40, 40], "domain.voxel_size_um": 0.5})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # SE, carbon under 2 voxels at 0.5 um
    ...     p = ms.generate(spec, seed=3).save(tempfile.mkdtemp() + "/m.zarr")
    >>> ms.open(p).shape
    (48, 40, 40)
    """
    import zarr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no microstructure store at {path}")
    if not (path / "zarr.json").is_file():
        raise FileNotFoundError(f"no microstructure store at {path} (no zarr.json)")
    try:
        root = zarr.open_group(str(path), mode="r")
        attrs = dict(root.attrs)
    except Exception as exc:  # noqa: BLE001 - whatever zarr raises on unreadable metadata
        raise StoreIntegrityError(f"damaged store {path}: cannot read its metadata "
                                  f"(zarr.json): {type(exc).__name__}: {exc}") from None
    fmt = attrs.get("format")
    if fmt != STORE_FORMAT:
        other = isinstance(fmt, str) and fmt.startswith(STORE_FORMAT.split("/")[0] + "/")
        raise ValueError(
            f"{path} is an assb-microstructure store of another format ({fmt!r}, written by "
            f"version {attrs.get('package_version')!r}); this version reads {STORE_FORMAT!r}: "
            "open it with the version that wrote it" if other else
            f"{path} is not an assb-microstructure store (format={fmt!r}, expected "
            f"{STORE_FORMAT!r})")
    check_metadata(attrs, path)
    data = _read_checked(root, path, attrs.get("integrity"))
    table = ParticleTable(**{name: data[f"particles/{name}"] for name in _TABLE_COLUMNS
                             if f"particles/{name}" in data})
    gen = attrs.get("generation")
    report = None
    try:
        if gen is not None:
            gen = dict(gen)
            gen["warnings"] = tuple(gen.get("warnings", ()))
            for key in ("compaction_porosity", "compaction_stress"):
                gen[key] = tuple(gen.get(key, ()))
            report = GenerationReport(**gen)
        voxel_size_um = float(attrs["voxel_size_um"])
        seed = int(attrs["seed"])
        spec_data = attrs["spec"]
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreIntegrityError(f"damaged store {path}: bad metadata in zarr.json "
                                  f"({type(exc).__name__}: {exc})") from None
    spec = ElectrodeSpec.from_dict(spec_data, source=f"spec stored in {path}")
    try:
        return Microstructure(phases=data["phases"], particle_ids=data["particle_ids"],
                              particles=table, voxel_size_um=voxel_size_um, spec=spec,
                              seed=seed, report=report, carbon_ids=data.get("carbon_ids"))
    except ValueError as exc:
        raise StoreIntegrityError(f"damaged store {path}: {exc}") from None


def _read_checked(root: Any, path: Path, integrity: Any) -> dict[str, np.ndarray]:
    """Every array of the store, checked against the layout and the recorded fingerprints."""
    recorded = None
    if integrity is not None:
        try:
            recorded = dict(integrity["arrays"])
            extra = set(recorded) - set(_LAYOUT)
            if (integrity.get("algorithm") != "sha256" or not set(_LAYOUT) <= set(recorded)
                    or extra not in (set(), set(_CONTACT_LAYOUT),
                                     set(_CONTACT_LAYOUT) | set(_CARBON_LAYOUT))):
                raise ValueError(f"algorithm {integrity.get('algorithm')!r}, arrays "
                                 f"{sorted(recorded)}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreIntegrityError(f"damaged store {path}: unreadable integrity record in "
                                      f"zarr.json ({exc})") from None

    def damaged(name: str, what: str) -> StoreIntegrityError:
        return StoreIntegrityError(f"damaged store {path}: array {name!r} {what}")

    layout = dict(_LAYOUT)
    has_graph = (set(_CONTACT_LAYOUT) <= set(recorded) if recorded is not None
                 else _has_member(root, "particles", "contact_i"))
    if has_graph:
        layout.update(_CONTACT_LAYOUT)
    if recorded is not None and set(_CARBON_LAYOUT) <= set(recorded):
        layout.update(_CARBON_LAYOUT)
    arrays: dict[str, Any] = {}
    for name, (dtype, ndim) in layout.items():
        try:
            arr = root[name]
        except Exception:  # noqa: BLE001 - KeyError or a metadata decode error
            raise damaged(name, "is missing or its zarr.json is unreadable") from None
        if arr.dtype != dtype or arr.ndim != ndim:
            raise damaged(name, f"has dtype {arr.dtype} and {arr.ndim} dimensions, expected "
                                f"{dtype} with {ndim}")
        if recorded is not None:
            rec = recorded[name]
            if list(arr.shape) != list(rec["shape"]) or np.dtype(rec["dtype"]) != dtype:
                raise damaged(name, f"has shape {list(arr.shape)} and dtype {arr.dtype}; "
                                    f"recorded on save: {rec['shape']}, {np.dtype(rec['dtype'])}")
        arrays[name] = arr
    shape = arrays["phases"].shape
    for name in ("particle_ids", "carbon_ids"):
        if name in arrays and arrays[name].shape != shape:
            raise damaged(name, f"has shape {arrays[name].shape}, phases {shape}")
    n = arrays["particles/id"].shape[0]
    per_particle = ["particles/phase", "particles/center_um", "particles/radius_um"]
    if has_graph:
        per_particle += ["particles/touches_cc", "particles/touches_separator"]
        m = arrays["particles/contact_i"].shape[0]
        for name in ("particles/contact_j", "particles/contact_area_um2"):
            if arrays[name].shape != (m,):
                raise damaged(name, f"has shape {arrays[name].shape}, expected ({m},) "
                                    f"({m} contacts)")
    for name in per_particle:
        want = (n, 3) if name.endswith("center_um") else (n,)
        if arrays[name].shape != want:
            raise damaged(name, f"has shape {arrays[name].shape}, expected {want} "
                                f"({n} particles)")

    missing = {name: _missing_chunks(arr, path / name) for name, arr in arrays.items()}
    out: dict[str, np.ndarray] = {}
    for name, arr in arrays.items():
        try:
            out[name] = np.asarray(arr[...])
        except Exception as exc:  # noqa: BLE001 - a codec error on a corrupt chunk
            raise damaged(name, f"has an unreadable chunk ({type(exc).__name__}: {exc})"
                          ) from None
    for name, keys in missing.items():
        if not keys:
            continue
        if recorded is None and name == "particle_ids":
            # old writer: chunks of all zeros were not written; fine where there is no CAM
            keys = [k for k in keys
                    if (out["phases"][_chunk_slice(arrays[name], k)] == CAM).any()]
            if not keys:
                continue
        raise damaged(name, f"is missing {len(keys)} of {arrays[name].nchunks} chunks "
                            f"({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
                      + ("" if recorded is not None else
                         "; this store has no checksum (written before stores recorded "
                         "one); its writer skipped all-zero chunks, but this one held data"))
    if recorded is not None:
        for name, a in out.items():
            if _sha256(a) != recorded[name]["sha256"]:
                raise damaged(name, "differs from the checksum recorded on save (sha256); "
                                    "the data were changed or corrupted")
    return out


def _has_member(root: Any, group: str, name: str) -> bool:
    try:
        return name in root[group]
    except Exception:  # noqa: BLE001 - a missing group is reported by the layout check
        return False


def _missing_chunks(arr: Any, directory: Path) -> list[str]:
    """Keys (``c/i/j/k``) of the chunks of ``arr`` that have no file under ``directory``."""
    keys = []
    for idx in np.ndindex(*arr.cdata_shape):
        key = arr.metadata.encode_chunk_key(idx)
        if not (directory / key).is_file():
            keys.append(key)
    return keys


def _chunk_slice(arr: Any, key: str) -> tuple[slice, ...]:
    idx = [int(i) for i in key.split("/")[1:]]
    return tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, arr.chunks, strict=True))


def update_store_attrs(path: str | Path, values: dict[str, Any]) -> None:
    """Set top-level attributes of a store (plain JSON ``values``) by an atomic rewrite of its
    ``zarr.json``: a temporary file in the store, flushed, then renamed over the old one, so a
    crash or a full disk leaves the old metadata, never a truncated file.

    Examples
    --------
    >>> import tempfile, warnings, microstructure as ms
    >>> spec = ms.load_spec(ms.default_spec_path()).updated(
    ...     {"domain.shape": [48, 40, 40], "domain.voxel_size_um": 0.5})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # SE, carbon under 2 voxels at 0.5 um
    ...     p = ms.generate(spec, seed=3).save(tempfile.mkdtemp() + "/m.zarr")
    >>> update_store_attrs(p, {"note": "calendered"})
    >>> store_attrs(p)["note"]
    'calendered'
    """
    meta_path = Path(path) / "zarr.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.setdefault("attributes", {}).update(values)
    atomic_write_bytes(meta_path, json.dumps(meta, indent=2, allow_nan=False).encode("utf-8"))


def store_attrs(path: str | Path) -> dict[str, Any]:
    """The metadata of a store (spec, seed, version, stored analysis results)."""
    import zarr

    return json.loads(json.dumps(dict(zarr.open_group(str(path), mode="r").attrs)))
