"""``packing.mode = "pressed"``: powder -> pressing -> contact graph -> topological voxels.

1. Every solid phase is drawn by number from its PSD until its sphere volume equals its target
   volume (CAM, SE, carbon alike).
2. The powder is pressed to the electrode thickness (:func:`._pressing.press`).
3. The contact graph is read off the pressed packing (:func:`._contacts.contact_graph`) and the
   packing voxelized with that topology (:func:`._contacts.voxelize_topological`).
4. Voxelization and the SE's flattening do not conserve each phase's volume exactly, so the
   drawn radii of each phase are scaled by a common factor (``(target / achieved)^GAIN``, at
   most ``CORRECTIONS`` times; the exponent of a phase is halved when its correction overshot)
   and the voxelization repeated until every phase is within a quarter of
   ``packing.fraction_tolerance``; the best attempt is kept.  The contact graph stays that of
   the pressed packing (necks and gaps enforce it), so it does not depend on the voxel size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers.phases import CAM, PHASE_CODES

from ._contacts import ContactGraph, VoxelTopology, contact_graph, voxelize_topological
from ._pressing import PressingResult, contact_pairs, press
from ._spec import ElectrodeSpec

#: Radius corrections after the first voxelization.
CORRECTIONS = 8
#: Exponent of the radius correction (target / achieved)^GAIN (1/3: a lone sphere).
GAIN = 1.0 / 3.0


@dataclass(frozen=True)
class PressedBuild:
    phases: np.ndarray
    particle_ids: np.ndarray
    centers: np.ndarray
    radii: np.ndarray
    phase: np.ndarray
    graph: ContactGraph
    topology: VoxelTopology
    pressing: PressingResult
    radius_scale: dict[str, float]
    cam_max_relative_overlap: float
    seconds: dict[str, float]


def draw_powder(spec: ElectrodeSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Radii (µm) and phase codes of all particles, CAM first (ids 1..n_cam), then SE, carbon."""
    box = np.asarray(spec.box_um(), dtype=np.float64)
    target = spec.target_fractions()
    radii, phase = [], []
    for name in ("cam", "se", "carbon"):
        p = spec.present_phases().get(name)
        if p is None or target[name] <= 0:
            continue
        d = p.psd.sampler().sample_volume(target[name] * float(np.prod(box)), rng)
        radii.append(d / 2)
        phase.append(np.full(d.shape[0], PHASE_CODES[name], dtype=np.uint8))
    return np.concatenate(radii), np.concatenate(phase)


def build_pressed(spec: ElectrodeSpec, *, rng: np.random.Generator, kern: Any,
                  progress: Any = None) -> PressedBuild:
    """Steps 1-4 of the module docstring (raises ``PressingError`` when pressing fails)."""
    pk = spec.packing
    times: dict[str, float] = {}
    shape = tuple(int(s) for s in spec.domain.shape)
    h = float(spec.domain.voxel_size_um)
    box = np.asarray(spec.box_um(), dtype=np.float64)
    periodic = np.array([0, int(spec.domain.periodic_lateral), int(spec.domain.periodic_lateral)],
                        dtype=np.int8)
    target = spec.target_fractions()
    nvox = int(np.prod(shape))
    t0 = time.perf_counter()
    radii, phase = draw_powder(spec, rng)
    res = press(radii, phase, box, periodic, rng=rng, kern=kern, se_ductility=pk.se_ductility,
                carbon_adhesion=pk.carbon_adhesion, compaction_steps=pk.compaction_steps,
                max_iter=pk.compaction_iter, max_hard_overlap=pk.max_cam_overlap,
                target_porosity=spec.composition.porosity, progress=progress)
    times["press"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    centers = res.centers
    r = res.radii.copy()
    xp = kern.xp
    gain = np.full(4, GAIN)
    last_err = np.zeros(4)
    best = None
    # the contact graph is that of the pressed packing: the volume correction below changes
    # the drawn radii, never which particles touch
    pairs = contact_pairs(kern, xp.asarray(centers), xp.asarray(r), box, periodic)
    graph = contact_graph(centers, r, phase, pairs, box, periodic)
    for _ in range(CORRECTIONS + 1):
        owner, topo = voxelize_topological(centers, r, phase, graph, shape, h, periodic)
        ph_vox = np.zeros(len(r) + 1, dtype=np.uint8)
        ph_vox[1:] = phase
        phases = ph_vox[owner]
        counts = np.bincount(phases.reshape(-1), minlength=4)
        err = np.zeros(4)
        scale = np.ones(4)
        for name, code in PHASE_CODES.items():
            if name == "pore" or target[name] <= 0:
                continue
            got = counts[code] / nvox
            err[code] = got - target[name]
            if err[code] * last_err[code] < 0:  # overshot: damp this phase's correction
                gain[code] *= 0.5
            if got > 0:
                scale[code] = (target[name] / got) ** gain[code]
        worst = float(np.abs(err).max())
        if best is None or worst < best[0]:
            best = (worst, owner, phases, r, topo)
        if worst <= 0.25 * pk.fraction_tolerance:
            break
        last_err = err
        r = r * scale[phase]
    _, owner, phases, r, topo = best
    times["voxelize"] = time.perf_counter() - t0
    ids = np.where(phases == CAM, owner, 0).astype(np.int32)
    # deepest CAM-CAM overlap / smaller radius in the pressed packing
    c_i, c_j = pairs[:, 0], pairs[:, 1]
    cc = (phase[c_i] == CAM) & (phase[c_j] == CAM)
    d = centers[c_i[cc]] - centers[c_j[cc]]
    for a in range(1, 3):
        if periodic[a]:
            d[:, a] -= box[a] * np.round(d[:, a] / box[a])
    ri, rj = res.radii[c_i[cc]], res.radii[c_j[cc]]
    depth = (ri + rj - np.sqrt((d * d).sum(axis=1))) / np.minimum(ri, rj)
    max_rel = float(depth.max()) if depth.size else 0.0
    scale = {name: float(np.median(r[phase == code] / res.radii[phase == code]))
             for name, code in PHASE_CODES.items() if code and np.any(phase == code)}
    # the table keeps the pressed radii: the geometry the contact graph belongs to
    return PressedBuild(phases, ids, centers, res.radii, phase, graph, topo, res, scale,
                        max_rel, times)
