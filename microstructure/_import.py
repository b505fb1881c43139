"""``import_tiff``: a segmented tomography (TIFF stack) as a :class:`Microstructure`.

Steps
-----
1. **Read** a 3-D TIFF (``tifffile.imread``) or a directory of 2-D TIFF slices (sorted by file
   name, stacked along axis 0).  The stack's ``axis`` becomes axis 0 (through-plane; index 0 =
   current collector).  Flip the array first (``np.flip``) if the current collector is at the
   other end.
2. **Map** gray values to phase codes with ``phase_map`` (``"0:pore,1:cam,2:se,3:carbon"`` or
   ``{0: "pore", 1: "cam", ...}``).  Every gray value present must be mapped; CAM and SE must be
   present (a cathode needs both).
3. **Separate CAM particles** -- touching CAM particles form one connected blob in a segmented
   image, but utilization is a per-particle property.  The classic marker-controlled watershed
   on the Euclidean distance transform (EDT) splits them:

   * ``D`` = EDT of the CAM mask (``scipy.ndimage.distance_transform_edt``, voxel units): the
     distance of each CAM voxel to the nearest non-CAM voxel, largest at particle centres;
   * markers = local maxima of ``D`` (``skimage.feature.peak_local_max``) at least
     ``min_distance_um`` apart (converted to voxels, ``max(1, round(min_distance_um / h))``;
     the footprint is the cube of edge ``2 * min_distance + 1`` voxels) and with
     ``D >= min_peak_radius_um / h``; peaks on one flat maximum of ``D`` (26-connected voxels
     that all equal their 3x3x3 maximum) form one marker.  The default 1 µm suits NCM-type CAM
     (d ≥ ~2 µm, so two particle centres are ≥ ~1 µm apart); lower it for finer CAM;
   * ``skimage.segmentation.watershed(-D, markers, mask=CAM)`` grows one region per marker,
     restricted to the CAM voxels; the neck between two touching spheres is a saddle of ``D``
     and becomes the boundary;
   * CAM blobs without a marker become one particle each; fragments smaller than
     ``min_particle_voxels`` (default: a sphere of diameter ``min_distance_um``) are merged into
     the touching particle they share most faces with (kept on their own when isolated).

   The watershed does not wrap around the lateral faces: with ``periodic_lateral=True`` a
   particle cut by a lateral face keeps two ids.  Every CAM voxel gets an id, so the phase array
   is the input mapping unchanged.
4. **Describe it as a spec** (:class:`ElectrodeSpec`, ``material = "imported"``, volume basis):
   porosity = measured pore fraction; phase fractions = measured box fractions; CAM PSD = a
   lognormal with the measured volume-weighted d50 and the mean log half-width of d10..d90
   (written as ``d50_um``, ``d90_um``) of the equivalent-sphere diameters
   ``(6 V / pi)^(1/3)`` of the separated particles; SE (and carbon) PSD = the same fit to the
   diameters ``2 (D_max + 0.4) h`` (``D_max`` of 2 voxels and more; a voxelized ball's EDT
   peaks 0.4 voxel inside its radius) of the maximal inscribed spheres at the local maxima of
   the phase's own EDT, one per flat maximum (a local-thickness estimate; soft phases cannot
   be split into particles).
   When the fitted lognormal's largest size does not fit the box, the measured sizes are stored
   as a ``table`` PSD instead.  The particle table holds the CAM particles (centroid,
   equivalent radius) followed by those inscribed spheres of SE and carbon.

The result has ``seed = 0`` and ``report = None``; ``Microstructure.save`` writes it into the
usual zarr store, so ``assb analyze`` works on it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from solvers.memory import check_memory
from solvers.phases import CAM, PHASE_CODES

from ._inscribed import inscribed_spheres
from ._memory import estimate_import
from ._microstructure import Microstructure, ParticleTable
from ._spec import MAX_CAM_BOX_FRACTION, ElectrodeSpec, SpecError
from ._tiff_stack import read_stack

log = logging.getLogger(__name__)

#: Material name written into the spec of an imported structure.
IMPORTED = "imported"



def parse_phase_map(phase_map: str | Mapping[Any, str]) -> dict[int, int]:
    """``{gray value: phase code}`` from ``"0:pore,1:cam,2:se"`` or ``{0: "pore", ...}``.

    Examples
    --------
    >>> parse_phase_map("0:pore, 128:cam, 255:se")
    {0: 0, 128: 1, 255: 2}
    """
    if isinstance(phase_map, str):
        items = []
        for part in phase_map.split(","):
            part = part.strip()
            if not part:
                continue
            m = re.fullmatch(r"\s*(-?\d+)\s*:\s*([A-Za-z_]+)\s*", part)
            if m is None:
                raise ValueError(
                    f"phase_map entry {part!r} is not GRAY:PHASE (e.g. \"0:pore,1:cam,2:se\")"
                )
            items.append((int(m.group(1)), m.group(2)))
    elif isinstance(phase_map, Mapping):
        items = list(phase_map.items())
    else:
        raise TypeError(f"phase_map must be a str or a mapping, got {type(phase_map).__name__}")
    if not items:
        raise ValueError("phase_map is empty; give e.g. \"0:pore,1:cam,2:se\"")
    out: dict[int, int] = {}
    for gray, name in items:
        if isinstance(gray, (bool, np.bool_)) or not isinstance(gray, (int, np.integer)):
            raise TypeError(f"phase_map gray values must be integers, got {gray!r}")
        key = str(name).strip().lower()
        if key not in PHASE_CODES:
            raise ValueError(
                f"phase_map: unknown phase {name!r} for gray value {gray}; "
                f"expected one of {', '.join(PHASE_CODES)}"
            )
        if int(gray) in out:
            raise ValueError(f"phase_map: gray value {gray} is mapped twice")
        out[int(gray)] = PHASE_CODES[key]
    return out


def import_tiff(
    path: str | Path | np.ndarray,
    *,
    phase_map: str | Mapping[Any, str],
    voxel_size_um: float | None = None,
    axis: int = 0,
    collector: str = "first",
    periodic_lateral: bool = False,
    min_distance_um: float = 1.0,
    min_peak_radius_um: float | None = None,
    min_particle_voxels: int | None = None,
    density_g_cm3: Mapping[str, float] | None = None,
    progress: bool = False,
) -> Microstructure:
    """Import a segmented tomography as a :class:`Microstructure` (see the module notes).

    Parameters
    ----------
    path : str, Path or ndarray
        A 3-D TIFF, a directory of 2-D TIFF slices, or an already loaded 3-D integer array.
    phase_map : str or mapping
        Gray value to phase name (``pore``, ``cam``, ``se``, ``carbon``), e.g.
        ``"0:pore,1:cam,2:se"``.  Every value in the stack must be mapped.
    voxel_size_um : float, optional
        Voxel edge in µm (cubic voxels).  A TIFF that records its voxel size in µm (an ImageJ
        ``spacing`` with ``unit=um``, as Fiji and :func:`export_tiff` write) must agree within
        1e-6 (relative; else ``ValueError`` naming both); left out, it is taken from there.
    axis : int
        Axis of the stack that is through-plane; it becomes axis 0 (index 0 = current
        collector).
    collector : {"first", "last"}
        Which end of that axis touches the current collector: its first slice (default) or its
        last, which is then reversed so that index 0 is the collector's layer.
    periodic_lateral : bool
        Stored in the spec; analyses then wrap the lateral faces (rarely right for a
        tomography crop, hence False by default).
    min_distance_um : float
        Smallest distance between two CAM particle centres (watershed markers), µm.
    min_peak_radius_um : float, optional
        Smallest distance-map value of a marker, µm (default: half a voxel, i.e. any).
    min_particle_voxels : int, optional
        CAM fragments below this size are merged into their neighbour (default: the volume
        of a sphere of diameter ``min_distance_um``, at least 8 voxels).
    density_g_cm3 : mapping, optional
        Densities per phase name, stored in the spec (gives areal loadings).
    progress : bool
        A progress bar over the steps on stderr (a 1000³ stack takes ~20 min on 2 cores).

    Returns
    -------
    Microstructure
        ``seed = 0``, ``report = None``, a spec with ``material = "imported"``.

    Raises
    ------
    ValueError, TypeError
        Bad phase map, unmapped gray values, not a 3-D integer stack, no CAM or no SE, bad
        options.
    solvers.memory.InsufficientMemoryError
        The import would need more memory than is available (checked once the stack is read,
        before the particles are separated: ~96 B per voxel).

    Examples
    --------
    >>> import numpy as np
    >>> from microstructure import import_tiff
    >>> a = np.zeros((16, 16, 16), np.uint8); a[:, :, 8:] = 2     # SE half
    >>> a[4:12, 4:12, 2:7] = 1                                     # one CAM block
    >>> m = import_tiff(a, phase_map="0:pore,1:cam,2:se", voxel_size_um=0.5)
    >>> int(m.particle_ids.max()), m.spec.phases.cam.material
    (1, 'imported')
    """
    if not isinstance(path, np.ndarray) and not Path(path).exists():  # before its records
        raise FileNotFoundError(f"no TIFF stack at {path}")
    h = _voxel_size(path, voxel_size_um)
    _positive(min_distance_um, "min_distance_um")
    if min_peak_radius_um is not None:
        _positive(min_peak_radius_um, "min_peak_radius_um")
    if min_particle_voxels is not None and (
        isinstance(min_particle_voxels, bool)
        or not isinstance(min_particle_voxels, (int, np.integer))
        or min_particle_voxels < 1
    ):
        raise ValueError(
            f"min_particle_voxels must be an integer >= 1, got {min_particle_voxels!r}")
    if collector not in ("first", "last"):
        raise ValueError(f"collector must be 'first' or 'last' (the end of axis {axis} at the "
                         f"current collector), got {collector!r}")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -3 <= axis < 3:
        raise ValueError(f"axis must be 0, 1 or 2 (or -3, -2, -1, counted from the last), got "
                         f"{axis!r}")
    lut = parse_phase_map(phase_map)
    raw = path if isinstance(path, np.ndarray) else read_stack(path)
    if raw.ndim != 3:
        raise ValueError(f"the stack must be 3-D, got {raw.ndim}-D with shape {raw.shape}")
    if not (np.issubdtype(raw.dtype, np.integer) or raw.dtype == bool):
        raise TypeError(f"the stack must hold integer gray values (a segmented image), "
                        f"got dtype {raw.dtype}")
    raw = np.moveaxis(raw, int(axis), 0)
    if collector == "last":
        raw = raw[::-1]
    if min(raw.shape) < 8:
        raise ValueError(f"the stack must span at least 8 voxels per axis, got {raw.shape}")

    check_memory(estimate_import(raw.shape), field="stack")
    phases = map_phases(raw, lut)
    counts = np.bincount(phases.ravel(), minlength=4)
    for name in ("cam", "se"):
        if counts[PHASE_CODES[name]] == 0:
            raise ValueError(f"the stack has no {name} voxels after mapping {phase_map!r}; a "
                             "composite cathode needs CAM and SE")
    from solvers.progress import progress_bar

    steps = progress_bar(total=3, desc="import", unit="step", disable=not progress, leave=False)

    md_vox = max(1, int(round(min_distance_um / h)))
    if min_particle_voxels is None:
        min_particle_voxels = max(8, int(round(np.pi / 6 * (min_distance_um / h) ** 3)))
    thr = 0.5 if min_peak_radius_um is None else min_peak_radius_um / h
    steps.set_postfix_str("CAM particles (watershed)")
    pid = separate_particles(phases == CAM, min_distance=md_vox, threshold=thr,
                             min_particle_voxels=int(min_particle_voxels))
    n_cam = int(pid.max())

    # CAM particles: centroid and equivalent-sphere radius
    flat = pid.ravel()
    vox = np.bincount(flat, minlength=n_cam + 1)[1:].astype(np.float64)
    idx = np.nonzero(flat)[0]
    coords = np.unravel_index(idx, pid.shape)
    centers = np.stack([np.bincount(flat[idx], weights=c, minlength=n_cam + 1)[1:]
                        for c in coords], axis=1) / vox[:, None]
    centers = (centers + 0.5) * h
    d_cam = np.cbrt(6.0 / np.pi * vox) * h

    soft: dict[str, Any] = {}
    soft_d: dict[str, np.ndarray] = {}
    for name in ("se", "carbon"):
        steps.update()
        if counts[PHASE_CODES[name]] == 0:
            continue
        steps.set_postfix_str(f"{name} spheres")
        c, r = inscribed_spheres(phases == PHASE_CODES[name])
        soft[name] = _Spheres(centers=(c + 0.5) * h, radii=r * h)
        soft_d[name] = 2.0 * r * h
    steps.update()
    steps.close()
    table = ParticleTable.build(centers, d_cam / 2.0, soft)

    fractions = {n: float(counts[c]) / phases.size for n, c in PHASE_CODES.items()}
    if fractions["cam"] > MAX_CAM_BOX_FRACTION:
        raise ValueError(
            f"the stack is {fractions['cam']:.3f} CAM by volume; a spec cannot describe more than "
            f"{MAX_CAM_BOX_FRACTION} (check the phase map)"
        )
    sizes = {"cam": d_cam, **soft_d}
    spec = imported_spec(phases.shape, h, periodic_lateral, fractions, sizes,
                         density_g_cm3 or {})
    log.info("imported %s: %d CAM particles, fractions %s", phases.shape, n_cam, fractions)
    return Microstructure(phases=phases, particle_ids=pid, particles=table, voxel_size_um=h,
                          spec=spec, seed=0, report=None)


class _Spheres:
    def __init__(self, centers: np.ndarray, radii: np.ndarray) -> None:
        self.centers = centers
        self.radii = radii


def map_phases(raw: np.ndarray, lut: Mapping[int, int]) -> np.ndarray:
    """uint8 phase codes from gray values; raises naming the unmapped values."""
    values = np.unique(raw)
    missing = [int(v) for v in values if int(v) not in lut]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ValueError(f"gray values {shown} in the stack are not in phase_map "
                         f"(mapped: {sorted(lut)}); add them, e.g. \"{missing[0]}:pore\"")
    keys = np.array(sorted(lut), dtype=np.int64)
    codes = np.array([lut[k] for k in keys], dtype=np.uint8)
    return codes[np.searchsorted(keys, raw.astype(np.int64, copy=False))]


def separate_particles(cam: np.ndarray, *, min_distance: int, threshold: float = 0.5,
                       min_particle_voxels: int = 8) -> np.ndarray:
    """int32 particle ids 1..n on ``cam`` (EDT watershed, see the module notes), 0 elsewhere."""
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    cam = np.asarray(cam, dtype=bool)
    if not cam.any():
        return np.zeros(cam.shape, np.int32)
    dist = ndi.distance_transform_edt(cam)
    peaks = peak_local_max(dist, min_distance=int(min_distance), threshold_abs=float(threshold),
                           labels=cam.astype(np.uint8), exclude_border=False)
    # peaks on one flat maximum (a plateau of D, e.g. the mid-plane of a slab) are one marker
    plateau = cam & (dist == ndi.maximum_filter(dist, size=3))
    plateau_id, _ = ndi.label(plateau, structure=np.ones((3, 3, 3), bool))
    markers = np.zeros(cam.shape, np.int32)
    markers[tuple(peaks.T)] = plateau_id[tuple(peaks.T)]
    labels = watershed(-dist, markers, mask=cam).astype(np.int32)
    rest = cam & (labels == 0)          # blobs without a marker: one particle each
    if rest.any():
        extra, n_extra = ndi.label(rest)
        labels[rest] = extra[rest] + labels.max()
    labels = _merge_small(labels, min_particle_voxels)
    _, inv = np.unique(labels, return_inverse=True)   # consecutive 1..n (0 stays 0)
    return inv.reshape(labels.shape).astype(np.int32)


def _merge_small(labels: np.ndarray, min_voxels: int, passes: int = 3) -> np.ndarray:
    """Merge particles under ``min_voxels`` into the neighbour sharing most faces."""
    for _ in range(passes):
        size = np.bincount(labels.ravel())
        small = np.flatnonzero(size < min_voxels)
        small = small[(small > 0) & (size[small] > 0)]
        if small.size == 0:
            break
        is_small = np.zeros(size.size, bool)
        is_small[small] = True
        pairs = []
        for ax in range(3):
            a = np.moveaxis(labels, ax, 0)
            lo, hi = a[:-1].ravel(), a[1:].ravel()
            sel = (lo != hi) & (lo > 0) & (hi > 0)
            lo, hi = lo[sel], hi[sel]
            pairs.append(np.stack([lo, hi], 1))
            pairs.append(np.stack([hi, lo], 1))
        p = np.concatenate(pairs)
        p = p[is_small[p[:, 0]]]
        if p.size == 0:
            break
        uniq, n = np.unique(p, axis=0, return_counts=True)
        # for each small particle, the neighbour with most shared faces (larger first on ties)
        order = np.lexsort((-size[uniq[:, 1]], -n, uniq[:, 0]))
        uniq = uniq[order]
        first = np.r_[True, uniq[1:, 0] != uniq[:-1, 0]]
        target = np.arange(size.size)
        target[uniq[first, 0]] = uniq[first, 1]
        # resolve chains (a -> b -> c) so every small particle lands on a final label
        for _ in range(8):
            target = target[target]
        labels = target[labels].astype(np.int32)
    return labels


def imported_spec(shape: tuple[int, ...], h: float, periodic_lateral: bool,
                  fractions: Mapping[str, float], sizes: Mapping[str, np.ndarray],
                  density: Mapping[str, float]) -> ElectrodeSpec:
    """The spec of a measured structure (volume basis, measured fractions and PSDs)."""
    unknown = sorted(set(density) - {"cam", "se", "carbon"})
    if unknown:
        raise ValueError(f"density_g_cm3: unknown phases {unknown}; use cam, se, carbon")
    box = [s * h for s in shape]
    limit = min(box[0] if periodic_lateral else min(box), min(box[1:]))
    phases: dict[str, Any] = {}
    for name in ("cam", "se", "carbon"):
        if fractions[name] <= 0:
            continue
        entry: dict[str, Any] = {"material": IMPORTED, "fraction": 100.0 * fractions[name],
                                 "psd": _fitted_psd(np.asarray(sizes[name]), limit)}
        if name in density:
            entry["density_g_cm3"] = float(density[name])
        phases[name] = entry
    data = {
        "domain": {"shape": [int(s) for s in shape], "voxel_size_um": float(h),
                   "periodic_lateral": bool(periodic_lateral)},
        "composition": {"basis": "volume", "porosity": float(fractions["pore"])},
        "phases": phases,
    }
    try:
        return ElectrodeSpec.from_dict(data, source="imported spec")
    except SpecError as exc:
        raise ValueError(f"cannot describe the imported stack as a spec: {exc}") from None


def _fitted_psd(d: np.ndarray, limit_um: float) -> dict[str, Any]:
    """Lognormal through the volume-weighted d10/d50/d90, or the measured table if too wide."""
    from ._psd import _Z90, lognormal_parameters, lognormal_sampler

    d = np.sort(d[d > 0])
    w = d**3
    cum = np.cumsum(w) / w.sum()
    q = [float(np.interp(p, cum, d)) for p in (0.1, 0.5, 0.9)]
    # median fixed at the measured d50 (so structure_metrics compares like with like), width
    # the mean of the two half-widths; one-size data get a 1 % width
    sigma = max((np.log(q[2]) - np.log(q[0])) / (2 * _Z90), np.log(1.01) / _Z90)
    d90 = q[1] * float(np.exp(sigma * _Z90))
    mu, sigma = lognormal_parameters(None, q[1], d90)
    if lognormal_sampler(mu, sigma).d_max < limit_um:
        return {"kind": "lognormal", "d50_um": q[1], "d90_um": d90}
    # measured sizes as a table, clipped to what fits the box
    top = min(float(d[-1]), 0.99 * limit_um)
    d = np.minimum(d, top)
    grid, first = np.unique(d, return_index=True)
    c = cum[np.r_[first[1:] - 1, d.size - 1]] if grid.size > 1 else np.array([1.0])
    if grid.size < 2:
        grid = np.array([grid[0] * 0.98, grid[0]])
        c = np.array([0.0, 1.0])
    c[-1] = 1.0
    return {"kind": "table", "diameters_um": grid.tolist(), "cumulative": c.tolist()}


def _voxel_size(path: str | Path | np.ndarray, voxel_size_um: float | None) -> float:
    """The voxel edge given, checked against the one the TIFF at ``path`` records, or that one
    where none is given (:mod:`microstructure._tiff_meta`)."""
    from ._tiff_meta import recorded_voxel_size_um

    h = None if voxel_size_um is None else _positive(voxel_size_um, "voxel_size_um")
    recorded = None if isinstance(path, np.ndarray) else recorded_voxel_size_um(path)
    if recorded is None:
        if h is None:
            raise ValueError(f"voxel_size_um is not given and {_name(path)} records no voxel "
                             "size (an ImageJ spacing in a length unit); give the edge in um")
        return h
    if h is not None and abs(h - recorded[0]) > 1e-6 * recorded[0]:
        raise ValueError(f"voxel_size_um {h:g} differs from the {recorded[0]:g} um that "
                         f"{path} records ({recorded[1]}); give {recorded[0]:g} or leave it "
                         "out")
    return recorded[0]


def _name(path: str | Path | np.ndarray) -> str:
    return "the array" if isinstance(path, np.ndarray) else str(path)


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)
