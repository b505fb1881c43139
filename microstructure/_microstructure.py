"""The generated structure, its particle table and report, and their zarr v3 storage."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from solvers.phases import CAM, PHASE_CODES

from ._spec import ElectrodeSpec

#: Format marker written into every store.
STORE_FORMAT = "assb-microstructure/1"
_CHUNKS = 64


@dataclass(frozen=True, eq=False)
class ParticleTable:
    """Every placed particle: CAM ids are 1..n_cam (as in ``particle_ids``), then SE, carbon."""

    id: np.ndarray
    """(n,) int32 particle id."""
    phase: np.ndarray
    """(n,) uint8 phase code (1 CAM, 2 SE, 3 carbon)."""
    center_um: np.ndarray
    """(n, 3) float32 centre in µm (through-plane, lateral, lateral)."""
    radius_um: np.ndarray
    """(n,) float32 radius in µm."""

    @classmethod
    def build(cls, cam_centers: np.ndarray, cam_radii: np.ndarray, soft: dict[str, Any]
              ) -> ParticleTable:
        centers = [np.asarray(cam_centers, dtype=np.float32).reshape(-1, 3)]
        radii = [np.asarray(cam_radii, dtype=np.float32)]
        phase = [np.full(len(cam_radii), CAM, dtype=np.uint8)]
        for name in ("se", "carbon"):
            if name in soft:
                centers.append(np.asarray(soft[name].centers, dtype=np.float32).reshape(-1, 3))
                radii.append(np.asarray(soft[name].radii, dtype=np.float32))
                phase.append(np.full(len(soft[name].radii), PHASE_CODES[name], dtype=np.uint8))
        c = np.concatenate(centers)
        r = np.concatenate(radii)
        return cls(np.arange(1, len(r) + 1, dtype=np.int32), np.concatenate(phase), c, r)

    def __len__(self) -> int:
        return int(self.id.shape[0])

    def counts(self) -> dict[str, int]:
        """Number of particles per solid phase."""
        return {n: int(np.count_nonzero(self.phase == c)) for n, c in PHASE_CODES.items()
                if n != "pore"}

    def __repr__(self) -> str:
        return f"ParticleTable({', '.join(f'{k}={v}' for k, v in self.counts().items())})"


@dataclass(frozen=True)
class GenerationReport:
    """What the generator aimed at and what it achieved."""

    target: dict[str, float]
    """Target volume fraction of the box per phase (pore, cam, se, carbon)."""
    achieved: dict[str, float]
    """Achieved voxel volume fraction of the box per phase."""
    cam_overlap_fraction: float
    """CAM–CAM pair-lens volume / CAM sphere volume (dimensionless)."""
    cam_max_relative_overlap: float
    """Largest CAM–CAM overlap depth / smaller radius (dimensionless)."""
    n_particles: dict[str, int]
    """Placed particles per solid phase."""
    relax_iterations: int
    """FIRE steps of the dense packing (0 for RSA)."""
    seconds: dict[str, float]
    """Wall time per step (s)."""
    device: str
    rsa_failed: int = 0
    """RSA mode: CAM particles that found no free place."""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["warnings"] = list(self.warnings)
        return d


@dataclass(frozen=True, eq=False)
class Microstructure:
    """A voxelized composite cathode.

    Axis 0 is through-plane (index 0 touches the current collector, the last index the
    separator).  Phase codes: 0 pore, 1 CAM, 2 SE, 3 carbon.
    """

    phases: np.ndarray
    """uint8 phase code per voxel."""
    particle_ids: np.ndarray
    """int32 CAM particle id (1..n) per voxel, 0 elsewhere."""
    particles: ParticleTable
    voxel_size_um: float
    """Edge length of a voxel in µm."""
    spec: ElectrodeSpec
    seed: int
    report: GenerationReport | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.phases.shape)  # type: ignore[return-value]

    def __repr__(self) -> str:
        ach = ""
        if self.report is not None:
            ach = ", " + ", ".join(f"{k}={v:.3f}" for k, v in self.report.achieved.items())
        return (f"Microstructure(shape={self.shape}, voxel_size_um={self.voxel_size_um}, "
                f"seed={self.seed}{ach})")

    def save(self, path: str | Path, *, overwrite: bool = True) -> Path:
        """Write to a zarr v3 store (chunked, zstd-compressed) with spec, seed and version.

        The store is written next to ``path`` under a temporary name, flushed to disk and moved
        into place when complete (an existing store is swapped atomically where Linux
        ``renameat2`` allows, else by two renames), so ``path`` never holds a half-written
        store; leftovers of a killed save are removed by the next save to ``path``.  Every chunk is written
        (also all-zero ones) and ``attrs["integrity"]`` records each array's shape, dtype and
        SHA-256, which :func:`open_microstructure` verifies.

        Parameters
        ----------
        path : str or Path
            The store (a directory).  It may be absent, an empty directory or, with
            ``overwrite=True``, an existing assb store, which is replaced.
        overwrite : bool
            Replace an existing assb store at ``path``.

        Raises
        ------
        FileExistsError
            ``path`` is a file, a non-empty directory that is not an assb store (never
            emptied, whatever ``overwrite`` says), or an assb store with ``overwrite=False``.

        Examples
        --------
        >>> import tempfile, warnings, microstructure as ms
        >>> spec = ms.load_spec(ms.default_spec_path()).updated(
        ...     {"domain.shape": [48, 40, 40], "domain.voxel_size_um": 0.5})
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")     # d10 under 2 voxels
        ...     m = ms.generate(spec, seed=3)
        >>> p = m.save(tempfile.mkdtemp() + "/m.zarr")
        >>> (ms.open(p).phases == m.phases).all()
        np.True_
        """
        import zarr
        from zarr.codecs import BloscCodec

        from . import __version__

        path = Path(path)
        replace = check_store_target(path, overwrite=overwrite)
        _remove_leftovers(path)
        tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            root = zarr.open_group(str(tmp), mode="w-", zarr_format=3)
            comp = BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")
            every_chunk = {"write_empty_chunks": True}   # a missing chunk is then damage
            chunks = tuple(min(_CHUNKS, s) for s in self.phases.shape)
            arrays = {"phases": np.ascontiguousarray(self.phases),
                      "particle_ids": np.ascontiguousarray(self.particle_ids)}
            for name, a in arrays.items():
                root.create_array(name, data=a, chunks=chunks, compressors=comp,
                                  dimension_names=["z", "y", "x"], config=every_chunk)
            p = root.create_group("particles")
            n = max(len(self.particles), 1)
            for name in _PARTICLE_FIELDS:
                a = np.ascontiguousarray(getattr(self.particles, name))
                arrays[f"particles/{name}"] = a
                p.create_array(name, data=a, chunks=(min(n, 1 << 20),) + a.shape[1:],
                               compressors=comp, config=every_chunk)
            root.attrs.update({
                "format": STORE_FORMAT,
                "package_version": __version__,
                "spec": self.spec.model_dump(mode="json", exclude_none=True),
                "seed": int(self.seed),
                "voxel_size_um": float(self.voxel_size_um),
                "phase_codes": dict(PHASE_CODES),
                "axis_convention": "axis 0 through-plane; index 0 = current collector",
                "generation": self.report.to_dict() if self.report is not None else None,
                "integrity": {"algorithm": "sha256",
                              "arrays": {k: _fingerprint(a) for k, a in arrays.items()}},
            })
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
            _fsync_dir(path.parent)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return path


#: Arrays of the particle table, in store order.
_PARTICLE_FIELDS = ("id", "phase", "center_um", "radius_um")
#: Every array of a store: dtype and number of dimensions.
_LAYOUT = {
    "phases": (np.dtype(np.uint8), 3),
    "particle_ids": (np.dtype(np.int32), 3),
    "particles/id": (np.dtype(np.int32), 1),
    "particles/phase": (np.dtype(np.uint8), 1),
    "particles/center_um": (np.dtype(np.float32), 2),
    "particles/radius_um": (np.dtype(np.float32), 1),
}


class StoreIntegrityError(ValueError):
    """A store is damaged: a missing or unreadable chunk or array, a shape or dtype that is not
    the recorded one, or arrays whose checksum differs from the one written on save."""


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
        _fsync_dir(Path(d))


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass                            # some file systems cannot fsync a directory
    finally:
        os.close(fd)


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
    shape it was written with, every chunk present and decodable, and the SHA-256 of each
    array equal to the one recorded on save.  Stores written before checksums existed (no
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
    ...     warnings.simplefilter("ignore")         # d10 under 2 voxels
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
    if attrs.get("format") != STORE_FORMAT:
        raise ValueError(f"{path} is not an assb-microstructure store "
                         f"(format={attrs.get('format')!r}, expected {STORE_FORMAT!r})")
    data = _read_checked(root, path, attrs.get("integrity"))
    table = ParticleTable(*(data[f"particles/{name}"] for name in _PARTICLE_FIELDS))
    gen = attrs.get("generation")
    report = None
    try:
        if gen is not None:
            gen = dict(gen)
            gen["warnings"] = tuple(gen.get("warnings", ()))
            report = GenerationReport(**gen)
        voxel_size_um = float(attrs["voxel_size_um"])
        seed = int(attrs["seed"])
        spec_data = attrs["spec"]
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreIntegrityError(f"damaged store {path}: bad metadata in zarr.json "
                                  f"({type(exc).__name__}: {exc})") from None
    return Microstructure(
        phases=data["phases"],
        particle_ids=data["particle_ids"],
        particles=table,
        voxel_size_um=voxel_size_um,
        spec=ElectrodeSpec.from_dict(spec_data, source=f"spec stored in {path}"),
        seed=seed,
        report=report,
    )


def _read_checked(root: Any, path: Path, integrity: Any) -> dict[str, np.ndarray]:
    """Every array of the store, checked against the layout and the recorded fingerprints."""
    recorded = None
    if integrity is not None:
        try:
            recorded = dict(integrity["arrays"])
            if integrity.get("algorithm") != "sha256" or set(recorded) != set(_LAYOUT):
                raise ValueError(f"algorithm {integrity.get('algorithm')!r}, arrays "
                                 f"{sorted(recorded)}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreIntegrityError(f"damaged store {path}: unreadable integrity record in "
                                      f"zarr.json ({exc})") from None

    def damaged(name: str, what: str) -> StoreIntegrityError:
        return StoreIntegrityError(f"damaged store {path}: array {name!r} {what}")

    arrays: dict[str, Any] = {}
    for name, (dtype, ndim) in _LAYOUT.items():
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
    if arrays["particle_ids"].shape != shape:
        raise damaged("particle_ids", f"has shape {arrays['particle_ids'].shape}, phases "
                                      f"{shape}")
    n = arrays["particles/id"].shape[0]
    for name in ("particles/phase", "particles/center_um", "particles/radius_um"):
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
    ...     warnings.simplefilter("ignore")         # d10 under 2 voxels
    ...     p = ms.generate(spec, seed=3).save(tempfile.mkdtemp() + "/m.zarr")
    >>> update_store_attrs(p, {"note": "calendered"})
    >>> store_attrs(p)["note"]
    'calendered'
    """
    meta_path = Path(path) / "zarr.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.setdefault("attributes", {}).update(values)
    text = json.dumps(meta, indent=2, allow_nan=False)
    tmp = meta_path.with_name(f".zarr.json.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, meta_path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(meta_path.parent)


def store_attrs(path: str | Path) -> dict[str, Any]:
    """The metadata of a store (spec, seed, version, stored analysis results)."""
    import zarr

    return json.loads(json.dumps(dict(zarr.open_group(str(path), mode="r").attrs)))
