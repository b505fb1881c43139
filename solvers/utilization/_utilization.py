"""Static CAM utilization: which cathode-active-material particles can store charge.

Definitions (axis 0 by default; index 0 touches the current collector, the last index the
separator)
---------------------------------------------------------------------------------------------
* electronic network: voxels of ``electronic_phases`` whose component (``connectivity``, wrap
  on the lateral axes if ``periodic_lateral``) touches the current-collector face;
* ionic network: voxels of ``ionic_phases`` whose component touches the separator face;
* a particle is *electronically connected* when its voxels belong to the electronic network
  (any voxel: a particle is one conductor);
* it has *own ionic contact* when one of its voxels shares a face with the ionic network;
* ``rule="strict"``: ionically connected = own ionic contact.  ``rule="cam_relay"``: also
  when it lies in the same CAM cluster (CAM voxels joined with ``connectivity``) as a particle
  with own ionic contact, since Li can diffuse through touching CAM;
* active = electronically and ionically connected.

Per-particle sums (volume, electronic flag, face contacts) come from one pass over the voxels:
a numba loop on the CPU, array operations (``bincount``) on the GPU; both are compared in the
tests.  Labeling runs once on the electronic mask and once on the ionic mask (plus once on the
CAM mask for ``cam_relay``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numba
import numpy as np

from .._validate import check_axis, check_connectivity, check_positive, check_same_shape
from ..device import array_module, check_device, get_xp, to_host
from ..labeling._label import label, label_cpu_raw
from ..labeling._percolation import face_hits
from ..memory import check_memory, estimate_utilization
from ..phases import CAM, PHASE_CODES

_CODES = tuple(PHASE_CODES.values())
RULES = ("strict", "cam_relay")


@dataclass(frozen=True, repr=False)
class ParticleTable:
    """Per-particle results, one row per particle id present, ordered by id."""

    id: np.ndarray
    """Particle id (int64), as in ``particle_ids``."""
    volume_voxels: np.ndarray
    """Particle volume in voxels (int64)."""
    volume_um3: np.ndarray | None
    """Particle volume in µm³ (float64); None when ``voxel_size_um`` was not given."""
    electronic: np.ndarray
    """Electronically connected to the current collector (bool)."""
    ionic_contact: np.ndarray
    """Shares at least one voxel face with the ionic network (bool)."""
    ionic: np.ndarray
    """Ionically connected under the rule used (bool); equals ``ionic_contact`` for strict."""
    active: np.ndarray
    """``electronic & ionic`` (bool)."""
    cam_se_contact_faces: np.ndarray
    """Voxel faces shared with any voxel of ``ionic_phases`` (int64; CAM|SE contact area in
    units of one voxel face)."""
    ionic_network_contact_faces: np.ndarray
    """Voxel faces shared with the ionic network (int64)."""
    cam_se_contact_area_um2: np.ndarray | None
    """CAM|SE contact area in µm² (float64); None when ``voxel_size_um`` was not given."""

    def __len__(self) -> int:
        return int(self.id.shape[0])

    def as_dict(self) -> dict[str, np.ndarray]:
        """Columns as a dict (e.g. for ``pandas.DataFrame``); None columns are left out."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def __repr__(self) -> str:
        n = len(self)
        return (
            f"ParticleTable({n} particles, {int(self.active.sum())} active, "
            f"{int((~self.electronic).sum())} electronically isolated, "
            f"{int((~self.ionic).sum())} ionically isolated)"
        )


@dataclass(frozen=True, repr=False)
class UtilizationResult:
    """Static CAM utilization of one microstructure (see :func:`cam_utilization`).

    Volume fractions are fractions of the total CAM volume (CAM voxels), so
    ``1 - static_utilization = electronically_isolated + ionically_isolated - isolated_both``.
    With no CAM in the volume the fractions are NaN and ``reason`` says why.
    """

    static_utilization: float
    """θ: active CAM volume / total CAM volume (dimensionless, 0..1)."""
    static_utilization_by_count: float
    """Active particles / particles (dimensionless, 0..1)."""
    electronically_isolated: float
    """Volume fraction of CAM without electronic connection (0..1)."""
    ionically_isolated: float
    """Volume fraction of CAM without ionic connection under ``rule`` (0..1)."""
    isolated_both: float
    """Volume fraction of CAM without either connection (0..1)."""
    electronic_percolates: bool
    """One component of ``electronic_phases`` joins current collector and separator faces."""
    ionic_percolates: bool
    """One component of ``ionic_phases`` joins current collector and separator faces."""
    active_interface_area_per_volume: float
    """Face area between active CAM and the ionic network per total box volume: µm⁻¹ when
    ``voxel_size_um`` is given, else voxel faces per voxel (1/voxel edge)."""
    n_particles: int
    """Number of CAM particles (distinct ids)."""
    n_active: int
    """Number of active particles."""
    cam_volume_voxels: int
    """Total CAM volume in voxels."""
    particles: ParticleTable
    """Per-particle table."""
    rule: str
    """``"strict"`` or ``"cam_relay"``."""
    axis: int
    """Through-plane axis (index 0: current collector, last index: separator)."""
    connectivity: int
    """Voxel neighbourhood used for the networks (6, 18 or 26)."""
    periodic_lateral: bool
    """Whether the two lateral axes were wrapped."""
    voxel_size_um: float | None
    """Voxel edge length in µm, or None (results then in voxel units)."""
    reason: str
    """Empty when the utilization is defined; otherwise why it is NaN."""

    def __repr__(self) -> str:
        unit = "1/µm" if self.voxel_size_um is not None else "1/voxel"
        head = (
            f"UtilizationResult(rule={self.rule!r}, static_utilization={self.static_utilization:.4f}, "
            f"by_count={self.static_utilization_by_count:.4f},\n"
            f"  electronically_isolated={self.electronically_isolated:.4f}, "
            f"ionically_isolated={self.ionically_isolated:.4f}, "
            f"isolated_both={self.isolated_both:.4f},\n"
            f"  electronic_percolates={self.electronic_percolates}, "
            f"ionic_percolates={self.ionic_percolates}, "
            f"active_interface_area_per_volume={self.active_interface_area_per_volume:.4g} {unit},\n"
            f"  particles={self.n_active}/{self.n_particles} active, "
            f"cam_volume_voxels={self.cam_volume_voxels}"
        )
        if self.reason:
            head += f",\n  reason={self.reason!r}"
        return head + ")"


# ---------------------------------------------------------------------------------------------
# argument checks


def _check_phase_tuple(value: Any, name: str) -> tuple[int, ...]:
    try:
        codes = tuple(value)
    except TypeError:
        codes = None
    if (
        not codes
        or any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) for c in codes)
        or any(c not in _CODES for c in codes)
    ):
        raise ValueError(
            f"{name} must be a non-empty tuple of phase codes from {_CODES} "
            f"(0 pore, 1 CAM, 2 SE, 3 carbon), got {value!r}"
        )
    return tuple(int(c) for c in codes)


def _check_int_volume(a: Any, name: str) -> None:
    ndim = getattr(a, "ndim", None)
    if ndim is None:
        raise TypeError(f"{name} must be a 3-D integer array, got {type(a).__name__}")
    if ndim != 3:
        raise ValueError(
            f"{name} must be a 3-D integer array, got ndim={ndim} (shape {tuple(a.shape)})"
        )
    dtype = np.dtype(a.dtype)
    if dtype == np.bool_ or not np.issubdtype(dtype, np.integer):
        raise TypeError(f"{name} must be a 3-D integer array, got dtype {dtype}")


def _check_utilization_args(
    phases: Any,
    particle_ids: Any,
    device: str,
    axis: Any,
    electronic_phases: Any,
    ionic_phases: Any,
    rule: Any,
    connectivity: Any,
    periodic_lateral: Any,
    voxel_size_um: Any,
) -> dict[str, Any]:
    device = check_device(device)
    _check_int_volume(phases, "phases")
    _check_int_volume(particle_ids, "particle_ids")
    check_same_shape(phases, particle_ids, "phases", "particle_ids")
    if phases.size == 0:
        raise ValueError(f"phases must not be empty, got shape {tuple(phases.shape)}")
    if device == "cpu":
        for a, name in ((phases, "phases"), (particle_ids, "particle_ids")):
            if not isinstance(a, np.ndarray):
                raise TypeError(
                    f"{name} must be a NumPy array for device='cpu', got "
                    f"{type(a).__module__}.{type(a).__name__}; use device='cuda' for GPU arrays"
                )
    axis = check_axis(axis)
    electronic = _check_phase_tuple(electronic_phases, "electronic_phases")
    ionic = _check_phase_tuple(ionic_phases, "ionic_phases")
    if CAM in ionic:
        raise ValueError(
            f"ionic_phases must not contain the CAM code {CAM}; ionic transport through touching "
            f"CAM is rule='cam_relay'. Got ionic_phases={ionic_phases!r}"
        )
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    connectivity = check_connectivity(connectivity)
    if not isinstance(periodic_lateral, (bool, np.bool_)):
        raise TypeError(f"periodic_lateral must be a bool, got {periodic_lateral!r}")
    voxel = None if voxel_size_um is None else check_positive(voxel_size_um, "voxel_size_um")
    return {
        "device": device,
        "axis": axis,
        "electronic": electronic,
        "ionic": ionic,
        "rule": str(rule),
        "connectivity": connectivity,
        "periodic_lateral": bool(periodic_lateral),
        "voxel": voxel,
    }


def _code_stats_xp(phases: Any, particle_ids: Any) -> list[int]:
    """Statistics of ``_prepare_cpu`` with array operations (GPU path)."""
    is_cam = phases == CAM
    has_id = particle_ids != 0
    return [
        int(phases.min()),  # device sync points
        int(phases.max()),
        int(particle_ids.min()),
        int(particle_ids.max()),
        int((has_id & ~is_cam).sum()),
        int((is_cam & ~has_id).sum()),
    ]


def _raise_code_errors(phases: Any, particle_ids: Any, stats: Any) -> int:
    """Raise on bad phase codes or particle ids (details computed only then); return max id."""
    xp = array_module(phases)
    lo, hi, pmin, pmax, n_straddle, n_orphan = (int(v) for v in stats)
    if lo < 0 or hi > max(_CODES):
        bad = to_host(xp.unique(phases[(phases < 0) | (phases > max(_CODES))]))
        raise ValueError(
            f"phases holds unknown phase codes {bad[:10].tolist()}; allowed are {_CODES} "
            "(0 pore, 1 CAM, 2 SE, 3 carbon)"
        )
    if pmin < 0:
        raise ValueError(f"particle_ids must be >= 0 (0 = no particle), got minimum {pmin}")
    if pmax > particle_ids.size:
        raise ValueError(
            f"particle_ids must be at most the number of voxels ({particle_ids.size}); got "
            f"maximum {pmax}. Renumber the particles 1..n"
        )
    if n_straddle:
        ids = to_host(xp.unique(particle_ids[(particle_ids > 0) & (phases != CAM)]))
        raise ValueError(
            f"particle_ids has particles straddling several phases: {n_straddle} voxels carry a "
            f"particle id but are not CAM (phase {CAM}), in particles {ids[:10].tolist()}"
            f"{' ...' if ids.size > 10 else ''}. Particle ids must be > 0 exactly on CAM voxels"
        )
    if n_orphan:
        raise ValueError(
            f"particle_ids is 0 on {n_orphan} CAM voxels; every CAM voxel (phase {CAM}) must "
            "carry the id (> 0) of its particle"
        )
    return pmax


def _masks_cpu(phases, particle_ids, electronic, ionic, want_cam):
    """Checked codes and the electronic / ionic / CAM masks in one numba pass (CPU path)."""
    shape = phases.shape
    if phases.size == 0:
        empty = np.zeros(shape, dtype=bool)
        return (empty, empty, empty if want_cam else None), 0
    ph = np.ascontiguousarray(phases).reshape(-1)
    ids = np.ascontiguousarray(particle_ids).reshape(-1)
    elut = np.zeros(len(_CODES), dtype=bool)
    elut[list(electronic)] = True
    ilut = np.zeros(len(_CODES), dtype=bool)
    ilut[list(ionic)] = True
    emask = np.empty(ph.size, dtype=bool)
    imask = np.empty(ph.size, dtype=bool)
    cmask = np.empty(ph.size if want_cam else 1, dtype=bool)
    stats = _prepare_cpu(ph, ids, elut, ilut, emask, imask, cmask, want_cam)
    max_id = _raise_code_errors(phases, particle_ids, stats)
    cam = cmask.reshape(shape) if want_cam else None
    return (emask.reshape(shape), imask.reshape(shape), cam), max_id


def _masks_xp(phases, particle_ids, electronic, ionic, want_cam):
    """Same as ``_masks_cpu`` with array operations (GPU path)."""
    xp = array_module(phases)
    if phases.size == 0:
        empty = xp.zeros(phases.shape, dtype=bool)
        return (empty, empty, empty if want_cam else None), 0
    max_id = _raise_code_errors(phases, particle_ids, _code_stats_xp(phases, particle_ids))
    small = phases.astype(xp.uint8, copy=False)  # codes checked: 0..3

    def in_phases(codes):
        lut = xp.zeros(256, dtype=bool)
        lut[list(codes)] = True
        return lut[small]

    cam = (phases == CAM) if want_cam else None
    return (in_phases(electronic), in_phases(ionic), cam), max_id


def _fold(raw_flags: Any, table: Any, n: int) -> Any:
    """Per-raw-label flags -> per-raw-label flags of the merged components (see label_cpu_raw)."""
    if table is None:
        return raw_flags
    final = np.zeros(n + 1, dtype=bool)
    final[table[raw_flags]] = True
    final[0] = False
    return final[table]


def _label_with_hits(mask, connectivity, periodic, axis, device):
    """Label ``mask``; flags per label: touches the collector face / the separator face.

    On the CPU the labels are the raw labels of the box (no remap pass) and the flags are folded
    through the periodic merge table, so flags are per merged component.
    """
    if device == "cpu":
        lab, table, n = label_cpu_raw(mask, connectivity, periodic)
        nraw = n if table is None else table.size - 1
    else:
        lab, n = label(mask, connectivity=connectivity, periodic=periodic, device=device)
        table, nraw = None, n
    to_cc = face_hits(lab, nraw, axis, 0)
    to_sep = face_hits(lab, nraw, axis, -1)
    return lab, table, n, _fold(to_cc, table, n), _fold(to_sep, table, n)


# ---------------------------------------------------------------------------------------------
# per-particle sums


@numba.njit(cache=True, nogil=True)
def _prepare_cpu(phases, pid, elut, ilut, emask, imask, cmask, want_cam):
    """One pass: code statistics for the checks, and the electronic / ionic / CAM masks.

    Returns ``[min phase, max phase, min id, max id, voxels with an id but not CAM,
    CAM voxels without an id]``.
    """
    pmin = np.int64(phases[0])
    pmax = pmin
    imin = np.int64(pid[0])
    imax = imin
    straddle = 0
    orphan = 0
    for i in range(phases.shape[0]):
        ph = np.int64(phases[i])
        p = np.int64(pid[i])
        pmin = min(pmin, ph)
        pmax = max(pmax, ph)
        imin = min(imin, p)
        imax = max(imax, p)
        ok = ph >= 0 and ph < elut.shape[0]
        emask[i] = elut[ph] if ok else False
        imask[i] = ilut[ph] if ok else False
        if ph == 1:
            if p == 0:
                orphan += 1
            if want_cam:
                cmask[i] = True
        else:
            if p != 0:
                straddle += 1
            if want_cam:
                cmask[i] = False
    return np.array([pmin, pmax, imin, imax, straddle, orphan], dtype=np.int64)


def _neighbour_table(n: int, wrap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Previous / next index along one axis (-1: none), with or without wrap."""
    idx = np.arange(n, dtype=np.int64)
    prev, nxt = idx - 1, idx + 1
    if wrap:
        prev[0], nxt[-1] = n - 1, 0
    else:
        prev[0], nxt[-1] = -1, -1
    return prev, nxt


@numba.njit(inline="always")
def _touch(ilab, ihit, q):
    lq = ilab[q]
    if lq > 0:
        return 1, 1 if ihit[lq] else 0
    return 0, 0


@numba.njit(cache=True, nogil=True)
def _particle_sums_cpu(pid, elab, ehit, ilab, ihit, shape, zp, zn, yp, yn, xp_, xn, nid):
    """One pass over the voxels; returns (volume, electronic, contact faces, network faces).

    ``zp``/``zn`` (and y, x) give the previous / next index along each axis (-1: no
    neighbour), which encodes wrap on the lateral axes and none through-plane.
    """
    nz, ny, nx = shape
    nxy = ny * nx
    vol = np.zeros(nid, dtype=np.int64)
    elec = np.zeros(nid, dtype=np.bool_)
    contact = np.zeros(nid, dtype=np.int64)
    network = np.zeros(nid, dtype=np.int64)
    for z in range(nz):
        for y in range(ny):
            base = z * nxy + y * nx
            for x in range(nx):
                i = base + x
                p = pid[i]
                if p == 0:
                    continue
                vol[p] += 1
                if ehit[elab[i]]:
                    elec[p] = True
                c = 0
                w = 0
                if zp[z] >= 0:
                    a, b = _touch(ilab, ihit, zp[z] * nxy + y * nx + x)
                    c += a
                    w += b
                if zn[z] >= 0:
                    a, b = _touch(ilab, ihit, zn[z] * nxy + y * nx + x)
                    c += a
                    w += b
                if yp[y] >= 0:
                    a, b = _touch(ilab, ihit, z * nxy + yp[y] * nx + x)
                    c += a
                    w += b
                if yn[y] >= 0:
                    a, b = _touch(ilab, ihit, z * nxy + yn[y] * nx + x)
                    c += a
                    w += b
                if xp_[x] >= 0:
                    a, b = _touch(ilab, ihit, base + xp_[x])
                    c += a
                    w += b
                if xn[x] >= 0:
                    a, b = _touch(ilab, ihit, base + xn[x])
                    c += a
                    w += b
                contact[p] += c
                network[p] += w
    return vol, elec, contact, network


def particle_sums_cpu(pid, elab, ehit, ilab, ihit, axis, wrap, nid):
    """CPU per-particle sums (numba); same contract as ``_particle_sums_xp``."""
    tables = []
    for a, n in enumerate(pid.shape):
        tables.extend(_neighbour_table(n, wrap and a != axis))
    return _particle_sums_cpu(
        pid.reshape(-1),
        elab.reshape(-1),
        ehit,
        ilab.reshape(-1),
        ihit,
        np.array(pid.shape, dtype=np.int64),
        *tables,
        nid,
    )


@numba.njit(cache=True, nogil=True)
def _relay_cpu(pid, clab, own, cluster_ok_raw):
    """CAM relay, pass 1: flag CAM clusters holding a voxel of a particle with own contact."""
    for i in range(pid.shape[0]):
        p = pid[i]
        if p != 0 and own[p]:
            cluster_ok_raw[clab[i]] = True


@numba.njit(cache=True, nogil=True)
def _relay_cpu_2(pid, clab, cluster_ok, relay):
    """CAM relay, pass 2: particles with a voxel in a flagged cluster are reachable."""
    for i in range(pid.shape[0]):
        p = pid[i]
        if p != 0 and cluster_ok[clab[i]]:
            relay[p] = True


def _particle_sums_xp(pid, elab, ehit, ilab, ihit, axis, wrap, nid):
    """Same sums as ``_particle_sums_cpu`` with array operations (GPU path)."""
    xp = array_module(pid)
    flat = pid.ravel().astype(xp.int64, copy=False)
    is_ionic = ilab > 0
    in_net = ihit[ilab]
    contact_v = xp.zeros(pid.shape, dtype=xp.int32)
    network_v = xp.zeros(pid.shape, dtype=xp.int32)
    for a in range(3):
        for step in (-1, 1):
            if a != axis and wrap:
                # neighbour at +step along a, wrapped: value at index c + step
                contact_v += xp.roll(is_ionic, -step, axis=a)
                network_v += xp.roll(in_net, -step, axis=a)
            else:
                n_a = pid.shape[a]
                dst = [slice(None)] * 3
                src = [slice(None)] * 3
                if step == 1:
                    dst[a], src[a] = slice(0, n_a - 1), slice(1, n_a)
                else:
                    dst[a], src[a] = slice(1, n_a), slice(0, n_a - 1)
                contact_v[tuple(dst)] += is_ionic[tuple(src)]
                network_v[tuple(dst)] += in_net[tuple(src)]
    vol = xp.bincount(flat, minlength=nid)
    f64 = xp.float64
    elec = xp.bincount(flat, weights=ehit[elab].ravel().astype(f64), minlength=nid) > 0
    contact = xp.bincount(flat, weights=contact_v.ravel().astype(f64), minlength=nid)
    network = xp.bincount(flat, weights=network_v.ravel().astype(f64), minlength=nid)
    out = (
        to_host(vol).astype(np.int64),
        to_host(elec),
        to_host(contact).round().astype(np.int64),
        to_host(network).round().astype(np.int64),
    )
    for a in out:
        a[0] = 0  # id 0 is "no particle"; the numba pass skips it
    return out


# ---------------------------------------------------------------------------------------------


def cam_utilization(
    phases: Any,
    particle_ids: Any,
    *,
    axis: int = 0,
    electronic_phases: tuple[int, ...] = (1, 3),
    ionic_phases: tuple[int, ...] = (2,),
    rule: str = "strict",
    connectivity: int = 6,
    periodic_lateral: bool = True,
    voxel_size_um: float | None = None,
    device: str = "cpu",
) -> UtilizationResult:
    """Static CAM utilization with per-particle electronic / ionic classification.

    Parameters
    ----------
    phases : (nz, ny, nx) integer array
        Phase codes: 0 pore, 1 CAM, 2 SE, 3 carbon.
    particle_ids : (nz, ny, nx) integer array
        Particle id (> 0) on every CAM voxel, 0 elsewhere.
    axis : int
        Through-plane axis: index 0 touches the current collector, the last index the separator.
    electronic_phases : tuple of int
        Phases that conduct electrons (default CAM and carbon).  A particle is electronically
        connected only through its own voxels, so without CAM (1) here none is.
    ionic_phases : tuple of int
        Phases that conduct Li ions (default SE); must not contain CAM (see ``rule``).
    rule : {"strict", "cam_relay"}
        ``"strict"``: a particle needs its own face contact with the ionic network.
        ``"cam_relay"``: contact of any particle in the same CAM cluster is enough (Li
        diffusion through touching CAM, as the Giessen group counts static losses).
    connectivity : {6, 18, 26}
        Neighbourhood for the networks and CAM clusters.  Ionic contact is always face sharing.
    periodic_lateral : bool
        Wrap the two axes other than ``axis`` (never ``axis`` itself).
    voxel_size_um : float, optional
        Voxel edge in µm; gives µm³ / µm² columns and ``active_interface_area_per_volume`` in
        µm⁻¹.  Without it areas and volumes are in voxel units.
    device : {"cpu", "cuda"}
        Backend for labeling and per-particle sums; results are on the host either way.

    Returns
    -------
    UtilizationResult
        With no CAM voxels, NaN utilization and fractions and a ``reason``.

    Raises
    ------
    TypeError, ValueError
        Non-3-D or non-integer arrays, shape mismatch, unknown phase codes, particle ids on
        non-CAM voxels (particles straddling several phases) or CAM voxels without an id,
        bad options.
    solvers.memory.InsufficientMemoryError
        Before any work, when the memory estimate for ``phases.shape`` is above the memory
        available.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import cam_utilization
    >>> phases = np.full((6, 4, 4), 2)              # SE everywhere
    >>> phases[0:3, 1:3, 1:3] = 1                    # particle 1 touches the current collector
    >>> phases[4, 1:3, 1:3] = 1                      # particle 2 sits in SE, no electron path
    >>> ids = np.zeros(phases.shape, dtype=np.int32)
    >>> ids[0:3, 1:3, 1:3] = 1
    >>> ids[4, 1:3, 1:3] = 2
    >>> r = cam_utilization(phases, ids)
    >>> r.static_utilization, r.particles.active.tolist()
    (0.75, [True, False])
    """
    opts = _check_utilization_args(
        phases,
        particle_ids,
        device,
        axis,
        electronic_phases,
        ionic_phases,
        rule,
        connectivity,
        periodic_lateral,
        voxel_size_um,
    )
    device, axis = opts["device"], opts["axis"]
    check_memory(estimate_utilization(phases.shape, device=device), field="phases")
    xp = get_xp(device)
    wrap = opts["periodic_lateral"]
    periodic = tuple(wrap and a != axis for a in range(3))
    conn = opts["connectivity"]
    relay_rule = opts["rule"] == "cam_relay"
    if device == "cuda":
        phases = xp.ascontiguousarray(xp.asarray(phases))
        particle_ids = xp.ascontiguousarray(xp.asarray(particle_ids))
        masks, max_id = _masks_xp(
            phases, particle_ids, opts["electronic"], opts["ionic"], relay_rule
        )
    else:
        masks, max_id = _masks_cpu(
            phases, particle_ids, opts["electronic"], opts["ionic"], relay_rule
        )
    emask, imask, cmask = masks

    # networks: label each conducting mask once; a component is in the network when it touches
    # its face (electronic: current collector, index 0; ionic: separator, last index)
    elab, _, _, e_cc, e_sep = _label_with_hits(emask, conn, periodic, axis, device)
    ilab, _, _, i_cc, i_sep = _label_with_hits(imask, conn, periodic, axis, device)
    electronic_percolates = bool(to_host((e_cc & e_sep).any()))  # device sync point
    ionic_percolates = bool(to_host((i_cc & i_sep).any()))
    del emask, imask

    nid = max_id + 1
    if device == "cpu":
        sums = particle_sums_cpu(particle_ids, elab, e_cc, ilab, i_sep, axis, wrap, nid)
    else:
        sums = _particle_sums_xp(particle_ids, elab, e_cc, ilab, i_sep, axis, wrap, nid)
    vol, elec, contact, network = sums
    own_contact = network > 0

    if relay_rule and max_id > 0:
        # ionic access through touching CAM: a CAM cluster is reachable when any particle in
        # it has its own contact; every particle with a voxel in such a cluster is reachable
        if device == "cpu":
            clab, table, nc = label_cpu_raw(cmask, conn, periodic)
            pid_flat, clab_flat = np.ascontiguousarray(particle_ids).reshape(-1), clab.reshape(-1)
            ok_raw = np.zeros((nc if table is None else table.size - 1) + 1, dtype=bool)
            _relay_cpu(pid_flat, clab_flat, own_contact, ok_raw)
            relay = np.zeros(nid, dtype=bool)
            _relay_cpu_2(pid_flat, clab_flat, _fold(ok_raw, table, nc), relay)
        else:
            clab, nc = label(cmask, connectivity=conn, periodic=periodic, device=device)
            cam = clab > 0
            pid_cam = particle_ids[cam]
            cl_cam = clab[cam]
            cluster_ok = xp.zeros(nc + 1, dtype=bool)
            cluster_ok[cl_cam[xp.asarray(own_contact)[pid_cam]]] = True
            relay = xp.zeros(nid, dtype=bool)
            relay[pid_cam[cluster_ok[cl_cam]]] = True
        ionic = to_host(relay) | own_contact
    else:
        ionic = own_contact

    present = np.flatnonzero(vol > 0)
    present = present[present > 0]
    vol_p = vol[present]
    elec_p, own_p, ionic_p = elec[present], own_contact[present], ionic[present]
    active_p = elec_p & ionic_p
    vox = opts["voxel"]
    table = ParticleTable(
        id=present.astype(np.int64),
        volume_voxels=vol_p,
        volume_um3=None if vox is None else vol_p * vox**3,
        electronic=elec_p,
        ionic_contact=own_p,
        ionic=ionic_p,
        active=active_p,
        cam_se_contact_faces=contact[present],
        ionic_network_contact_faces=network[present],
        cam_se_contact_area_um2=None if vox is None else contact[present] * vox**2,
    )
    total = int(vol_p.sum())
    n_vox = int(np.prod(phases.shape))
    area = float(network[present][active_p].sum()) / max(n_vox, 1)
    if vox is not None:
        area /= vox
    if total == 0:
        nan = float("nan")
        fractions = (nan, nan, nan, nan, nan)
        reason = f"no CAM (phase {CAM}) voxels in the volume"
    else:
        fractions = (
            float(vol_p[active_p].sum()) / total,
            float(active_p.mean()),
            float(vol_p[~elec_p].sum()) / total,
            float(vol_p[~ionic_p].sum()) / total,
            float(vol_p[~elec_p & ~ionic_p].sum()) / total,
        )
        reason = ""
    return UtilizationResult(
        static_utilization=fractions[0],
        static_utilization_by_count=fractions[1],
        electronically_isolated=fractions[2],
        ionically_isolated=fractions[3],
        isolated_both=fractions[4],
        electronic_percolates=electronic_percolates,
        ionic_percolates=ionic_percolates,
        active_interface_area_per_volume=area,
        n_particles=int(present.size),
        n_active=int(active_p.sum()),
        cam_volume_voxels=total,
        particles=table,
        rule=opts["rule"],
        axis=axis,
        connectivity=conn,
        periodic_lateral=wrap,
        voxel_size_um=vox,
        reason=reason,
    )
