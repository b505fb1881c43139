"""``packing.mode = "pressed"``: powder -> pressing -> contact graph -> topological voxels.

1. Every solid phase is drawn by number from its PSD until its sphere volume equals its target
   volume (CAM, SE, carbon alike).  Particles under ``MIN_DIAMETER_VOXELS`` voxels cannot be
   drawn with their contacts (a neck and a gap need a voxel each), so the part of a PSD below
   that diameter is not drawn as such: its volume is drawn from the rest of the PSD (the
   conditional PSD above the cut), and the share so moved is reported per phase
   (``GenerationReport.lumped_fines``) with a warning.  A finer voxel removes it.
2. The powder is pressed to the electrode thickness and the load held
   (:func:`._pressing.press`).
3. SE particles finer than ``packing.se_fill_ratio`` x the CAM d50 were not drawn in step 1:
   they are pressed into the crevices of the pressed packing grain by grain (around its
   contacts, then its narrowest gaps).  Grains of ``GRAIN_VOXELS`` voxels and more are seated
   in the continuum and join the packing as SE particles (:mod:`._se_grains`); the finer ones
   are placed in step 5.  The contact graph is read off the packing with its grains
   (:func:`._contacts.contact_graph`) and the packing voxelized with that topology
   (:func:`._contacts.voxelize_topological`).
4. The pressed SE has given up the lenses of its contacts, and voxels do not conserve volume
   exactly, so the drawn radii of each phase are scaled by a common factor
   ``(target / achieved)^g`` (at most ``CORRECTIONS`` times) and the voxelization repeated until
   every phase is within a quarter of ``packing.fraction_tolerance``.  Where that is not
   reached, the attempt whose CAM and carbon come closest (and whose SE is not over its
   target) is kept: SE the skeleton is short of is made up by the coat and the fill below.
   The contact graph stays that of the pressed packing (necks and gaps enforce it: a grown SE
   gives way to a particle it does not touch), so the SE's volume flows into free space without
   making contacts, and the graph does not depend on the voxel size.
   The exponent ``g`` of a phase is ``GAIN`` (a lone sphere: fraction ~ radius^3) at first,
   then ``1 / k`` with ``k`` the response ``d ln(fraction) / d ln(radius)`` its last correction
   showed, kept within [1, 3] (a crowded phase, whose growth is partly carved away, responds
   less than a lone sphere); it is halved instead when the correction overshot, and 0 (no
   more growth) once a phase still short of its target gained next to nothing from its last
   growth (``SATURATED``: fine SE packed around coarse CAM fills every voxel the necks and
   gaps leave it, so growing it only makes overlap).  SE the voxel skeleton still could not
   hold (carved to keep particles apart, mostly at coarse voxels) is put back as a coat on the
   SE particles' own free surface that touches nothing new (:mod:`._se_coat`).
5. The fine SE's grains under ``GRAIN_VOXELS`` voxels (and SE that neither the skeleton nor its
   coat could hold) are pressed into the crevices of the voxelized skeleton as grains of their
   own sizes (:mod:`._se_fill`), and each body of that voxel fill joins the contact graph as an
   SE node.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers.device import to_host
from solvers.phases import CAM, CARBON, PHASE_CODES, SE

from ._contacts import (
    ContactGraph,
    VoxelTopology,
    contact_graph,
    graph_arrays,
    voxelize_topological,
)
from ._crevices import _distance, crevice_sites
from ._pressing import PressingError, PressingResult, contact_pairs, press
from ._se_coat import coat_se
from ._se_fill import REACH_CAM_RADII, fill_bodies, place_fill
from ._se_grains import GRAIN_VOXELS, place_grains
from ._spec import ElectrodeSpec

#: Smallest drawn particle diameter, in voxels (see step 1).
MIN_DIAMETER_VOXELS = 2.0
#: The SE fill takes at most the box volume beyond this solid fraction of the pressed skeleton
#: (the SE beyond it is pressed as particles).  A skeleton near random close packing (~0.64)
#: is barely jammed, with few load-bearing contacts: at 0.62, 70:30 NCM 5 µm : LPSCl 1.5 µm
#: without carbon with ``se_fill_ratio`` 0.35-0.5 gave θ 0.006-0.019 (CAM hardly touching);
#: at 0.68 the same powders give 0.88-0.89, and the default ratio 0.89 either way (two seeds,
#: 50 x 40 x 40 µm at 0.25 µm; 0.99 since the hold, ``packing.se_extrusion``).  The example
#: composition then presses 1.6x the particles: 256³ in 130 s instead of 89 s.
SKELETON_MIN = 0.68
#: Radius corrections after the first voxelization.
CORRECTIONS = 8
#: Exponent of the first radius correction (target / achieved)^GAIN (1/3: a lone sphere).
GAIN = 1.0 / 3.0
#: A phase still short of its target whose last growth of at least ``SATURATION_STEP`` (log of
#: the radius scale) gained less than ``SATURATED`` in ``d ln(fraction) / d ln(radius)`` (a lone
#: sphere: 3) is saturated: its particles fill every voxel the necks and gaps leave them, and
#: growing them further only makes more overlap (fine SE around coarse CAM, 50:50 w/w 8 : 0.8
#: µm at 0.25 µm: the SE radii grew 7-10x for no voxel).  Its radii stay; the coat and the fill
#: make up the rest.
SATURATION_STEP = 0.1
SATURATED = 0.2


@dataclass(frozen=True)
class PressedBuild:
    phases: np.ndarray
    particle_ids: np.ndarray
    carbon_ids: np.ndarray | None
    centers: np.ndarray
    radii: np.ndarray
    phase: np.ndarray
    graph: ContactGraph
    topology: VoxelTopology
    pressing: PressingResult
    radius_scale: dict[str, float]
    cam_max_relative_overlap: float
    seconds: dict[str, float]
    lumped_fines: dict[str, float]
    fill_bodies: int
    fill_fraction: float
    coat_voxels: int
    fill_voxels: int
    grains: int
    grain_voxels: int


def next_gain(gain: float, err: float, last_err: float, got: float, last_got: float,
              last_step: float) -> float:
    """The exponent ``g`` of a phase's next radius correction ``(target / got)^g`` (step 4):
    halved when the last correction overshot, else ``1 / k`` with ``k`` the response
    ``d ln(fraction) / d ln(radius)`` the last correction (``last_step``, the log of its radius
    scale) showed, kept within [1, 3]; 0 once the phase is saturated (``SATURATED``)."""
    if err * last_err < 0:  # overshot: damp this phase's correction
        return 0.5 * gain
    if got <= 0 or last_got <= 0 or abs(last_step) <= 1e-9:
        return gain
    k = math.log(got / last_got) / last_step
    if err < 0 and last_step > SATURATION_STEP and k < SATURATED:
        return 0.0  # grown into every free voxel it may take: stop growing
    return 1.0 / min(max(k, 1.0), 3.0)


def se_fill_cut(spec: ElectrodeSpec) -> float:
    """Diameter (µm) under which SE particles go to the crevice fill (0: none)."""
    present = spec.present_phases()
    if "cam" not in present or "se" not in present:
        return 0.0
    return spec.packing.se_fill_ratio * present["cam"].psd.sampler().volume_quantile(0.5)


#: Lumped shares below this are the rounding of ``share - fill_share`` where the fill takes
#: all of the PSD under the cut (5.6e-17 was reported as lumped SE).
LUMPED_NOISE = 1e-12


def powder_plan(spec: ElectrodeSpec) -> dict[str, tuple[Any, float, float]]:
    """Per present phase: (sampler of the drawn particles or None, share of its volume drawn
    from above the 2-voxel cut instead of below it, share that goes to the SE fill)."""
    target = spec.target_fractions()
    d_min = MIN_DIAMETER_VOXELS * float(spec.domain.voxel_size_um)
    fill_cut = se_fill_cut(spec)
    plan = {}
    for name in ("cam", "se", "carbon"):
        p = spec.present_phases().get(name)
        if p is None or target[name] <= 0:
            continue
        sampler = p.psd.sampler()
        fill_share = 0.0
        cut = d_min
        if name == "se":
            fill_share = sampler.volume_share_below(fill_cut)
            room = max(0.0, 1.0 - target["pore"] - SKELETON_MIN)
            if target[name] * fill_share > room:  # keep the skeleton a contact network
                fill_share = room / target[name]
                fill_cut = sampler.volume_quantile(fill_share) if fill_share > 0 else 0.0
            if fill_share >= 1.0:
                plan[name] = (None, 0.0, 1.0)
                continue
            cut = max(d_min, fill_cut)
        if cut >= sampler.d_max:
            raise PressingError(
                f"phases.{name}: every particle of its PSD (largest {sampler.d_max:.3g} um) is "
                f"under {MIN_DIAMETER_VOXELS:g} voxels ({d_min:.3g} um) and cannot be drawn: "
                f"a domain.voxel_size_um under {sampler.d_max / MIN_DIAMETER_VOXELS:.3g} um "
                "draws its largest particles (the rest of its PSD as particles of 2 voxels), "
                f"one of at most {sampler.volume_quantile(0.5) / 4:.3g} um gives its d50 "
                "4 voxels")
        share = sampler.volume_share_below(cut)
        lumped = share - fill_share
        plan[name] = (sampler.above(cut)[0] if share > 0 else sampler,
                      lumped if lumped > LUMPED_NOISE else 0.0, fill_share)
    return plan


def fill_grains(spec: ElectrodeSpec, rng: np.random.Generator, *, lo: float = 0.0,
                hi: float | None = None) -> tuple[Callable[[int], np.ndarray], float]:
    """Diameters (µm) of the SE fill's grains, drawn by number (step 5), and the largest: the SE
    PSD below the fill cut; where none of it lies below (the fill then only holds SE the voxel
    skeleton could not), grains of the cut's diameter (``packing.se_fill_ratio`` x the CAM
    d50), or of the PSD's smallest diameter without a cut.  ``lo`` / ``hi`` (µm) keep only the
    grains from ``lo`` up / under ``hi``."""
    sampler = spec.present_phases()["se"].psd.sampler()
    share = powder_plan(spec)["se"][2]
    cut = sampler.volume_quantile(share) if share > 0 else se_fill_cut(spec) or sampler.d_min
    if hi is not None:
        cut = min(cut, hi)
    if sampler.d_min < lo < cut:
        sampler = sampler.above(lo)[0]

    def draw(k: int) -> np.ndarray:
        d = sampler.sample_below(np.full(k, cut), rng)
        return np.where(np.isnan(d), cut, d)

    return draw, float(cut)


def resolved_fill_share(spec: ElectrodeSpec) -> tuple[float, float]:
    """The diameter (µm) from which a fill grain is resolved (``GRAIN_VOXELS`` voxels) and the
    share of the fill's volume in such grains."""
    d_res = GRAIN_VOXELS * float(spec.domain.voxel_size_um)
    share = powder_plan(spec).get("se", (None, 0.0, 0.0))[2]
    if share <= 0:
        return d_res, 0.0
    sampler = spec.present_phases()["se"].psd.sampler()
    cut = sampler.volume_quantile(share)
    if d_res >= cut:
        return d_res, 0.0
    return d_res, 1.0 - sampler.volume_share_below(d_res) / share


def voxel_fill_share(spec: ElectrodeSpec) -> float:
    """Share of the SE volume planned for the voxel fill: the fine SE's grains under
    ``GRAIN_VOXELS`` voxels (0 where every fine grain is seated as a particle, or none)."""
    if spec.packing.mode != "pressed":
        return 0.0
    try:
        fill = powder_plan(spec).get("se", (None, 0.0, 0.0))[2]
    except PressingError:
        return 0.0
    return fill * (1.0 - resolved_fill_share(spec)[1])


def fines_share(spec: ElectrodeSpec) -> dict[str, float]:
    """Volume share of each phase's PSD drawn from above the 2-voxel cut instead of below it
    (only shares > 0; empty when the plan cannot be drawn at all)."""
    try:
        plan = powder_plan(spec)
    except PressingError:
        return {}
    return {name: lumped for name, (_, lumped, _) in plan.items() if lumped > 0}


def draw_powder(spec: ElectrodeSpec, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray, dict[str, float], float]:
    """Radii (µm) and phase codes of the pressed particles, CAM first (ids 1..n_cam), then SE,
    carbon; the volume share of each phase drawn from above the 2-voxel cut instead of below it;
    and the volume fraction of the box that the SE fill takes (step 1)."""
    box = np.asarray(spec.box_um(), dtype=np.float64)
    target = spec.target_fractions()
    radii, phase, lumped = [], [], {}
    fill_fraction = 0.0
    for name, (sampler, lumped_share, fill_share) in powder_plan(spec).items():
        if name == "se":
            fill_fraction = target[name] * fill_share
        if lumped_share > 0:
            lumped[name] = lumped_share
        if sampler is None:
            continue
        d = sampler.sample_volume(target[name] * (1.0 - fill_share) * float(np.prod(box)), rng)
        radii.append(d / 2)
        phase.append(np.full(d.shape[0], PHASE_CODES[name], dtype=np.uint8))
    return np.concatenate(radii), np.concatenate(phase), lumped, fill_fraction


def _gaps(kern: Any, centers: np.ndarray, r: np.ndarray, box: np.ndarray, periodic: np.ndarray,
          width: float, contacts: np.ndarray) -> np.ndarray:
    """(m, 2) 0-based pairs (i < j) of particles that do not touch (not in ``contacts``) with a
    surface gap below ``width`` µm.

    Asked in reverse order, so each pair is listed under its later particle, the smaller kind
    (CAM are drawn first): a CAM particle has hundreds of fine neighbours within a grain's
    width, and ``contact_pairs`` pads every row to the longest (700 MB more at 256³ of the
    example composition the other way round).  The pairs come back sorted in the reversed
    numbering, where the contacts are looked up by sorted keys (one pass, not ``np.isin``'s
    sort of both lists: 24 million pairs at 512³)."""
    m = len(r)
    near = contact_pairs(kern, kern.xp.asarray(np.ascontiguousarray(centers[::-1])),
                         kern.xp.asarray(np.ascontiguousarray(r[::-1])), box,
                         periodic, gap=width)  # row (a, b), a < b, is the pair (m-1-b, m-1-a)
    keys = near[:, 0] * m + near[:, 1]
    touch = np.sort((m - 1 - contacts[:, 1]) * m + (m - 1 - contacts[:, 0]))
    at = np.minimum(np.searchsorted(touch, keys), max(len(touch) - 1, 0))
    apart = touch[at] != keys if len(touch) else np.ones(len(keys), dtype=bool)
    return np.ascontiguousarray((m - 1) - near[apart][:, ::-1])


def build_pressed(spec: ElectrodeSpec, *, rng: np.random.Generator, kern: Any,
                  progress: Any = None) -> PressedBuild:
    """Steps 1-5 of the module docstring (raises ``PressingError`` when pressing fails)."""
    pk = spec.packing
    times: dict[str, float] = {}
    shape = tuple(int(s) for s in spec.domain.shape)
    h = float(spec.domain.voxel_size_um)
    box = np.asarray(spec.box_um(), dtype=np.float64)
    periodic = np.array([0, int(spec.domain.periodic_lateral), int(spec.domain.periodic_lateral)],
                        dtype=np.int8)
    nvox = int(np.prod(shape))
    t0 = time.perf_counter()
    radii, phase, lumped, fill_fraction = draw_powder(spec, rng)
    target_all = spec.target_fractions()
    # the voxelized skeleton aims at the box minus the SE fill; the fill then makes up the SE
    target = dict(target_all)
    target["se"] -= fill_fraction
    target["pore"] += fill_fraction
    res = press(radii, phase, box, periodic, rng=rng, kern=kern, se_ductility=pk.se_ductility,
                carbon_adhesion=pk.carbon_adhesion, compaction_steps=pk.compaction_steps,
                max_iter=pk.compaction_iter, max_hard_overlap=pk.max_cam_overlap,
                target_porosity=spec.composition.porosity, se_extrusion=pk.se_extrusion,
                progress=progress)
    times["press"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    centers = res.centers
    r = res.radii.copy()
    xp = kern.xp
    gain = np.full(4, GAIN)
    last_err = np.zeros(4)
    last_got = np.zeros(4)
    last_step = np.zeros(4)  # log of the radius scale applied after the previous pass
    best = None
    # the contact graph is that of the pressed packing: the volume correction below changes
    # the drawn radii, never which particles touch
    pairs = contact_pairs(kern, xp.asarray(centers), xp.asarray(r), box, periodic)
    graph = contact_graph(centers, r, phase, pairs, box, periodic)
    base_r = res.radii  # the radii the contact graph belongs to (pressed, then the grains')
    planned_fill = fill_fraction
    d_res, share_res = resolved_fill_share(spec)
    n_grains = 0
    if fill_fraction > 0 and share_res > 0:
        t_grains = time.perf_counter()
        # the fine SE's grains of GRAIN_VOXELS voxels and more, seated in the crevices of the
        # pressed packing, join it as SE particles (:mod:`._se_grains`): the contact graph says
        # what they touch, the voxels draw it; finer grains stay with the voxel fill
        draw, largest = fill_grains(spec, rng, lo=d_res)
        contacts = graph.pairs()
        gaps = _gaps(kern, centers, r, box, periodic, largest, contacts)
        need = fill_fraction * share_res * float(np.prod(box))
        mean_v = float(np.mean(np.pi / 6 * draw(256) ** 3))
        sites = crevice_sites(centers, r, contacts, gaps, box, periodic,
                              int(rng.integers(2**62)), max_gaps=int(2 * need / mean_v) + 1024)
        g_c, g_r, held = place_grains(centers, r, need, box, periodic, draw, largest, sites,
                                      min_radius=0.5 * d_res)
        n_grains = len(g_r)
        centers = np.concatenate([centers, g_c])
        r = np.concatenate([r, g_r])
        base_r = r.copy()
        phase = np.concatenate([phase, np.full(n_grains, SE, dtype=phase.dtype)])
        # the voxels now aim at the SE with the grains; the voxel fill makes up the rest
        moved = held / float(np.prod(box))
        target["se"] += moved
        target["pore"] -= moved
        fill_fraction -= moved
        times["se_grains"] = time.perf_counter() - t_grains
        pairs = contact_pairs(kern, xp.asarray(centers), xp.asarray(r), box, periodic)
        graph = contact_graph(centers, r, phase, pairs, box, periodic)
    times["contacts"] = time.perf_counter() - t0 - times.get("se_grains", 0.0)
    t0 = time.perf_counter()
    ph_vox = np.zeros(len(r) + 1, dtype=np.uint8)  # phase code of each particle id, 0: pore
    ph_vox[1:] = phase
    ph_dev = xp.asarray(ph_vox)
    graph_dev = graph_arrays(graph, len(r), xp)
    for _ in range(CORRECTIONS + 1):  # on the device; the voxels come back once, at the end
        owner, topo = voxelize_topological(centers, r, phase, graph_dev, shape, h, periodic,
                                           kern=kern)
        phases = ph_dev[owner]
        counts = to_host(xp.bincount(phases.reshape(-1), minlength=4))
        err = np.zeros(4)
        scale = np.ones(4)
        for name, code in PHASE_CODES.items():
            if name == "pore" or target[name] <= 0:
                continue
            got = counts[code] / nvox
            err[code] = got - target[name]
            gain[code] = next_gain(gain[code], err[code], last_err[code], got, last_got[code],
                                   last_step[code])
            last_got[code] = got
            if got > 0:
                scale[code] = (target[name] / got) ** gain[code]
        worst = float(np.abs(err).max())
        if worst <= 0.25 * pk.fraction_tolerance:
            best = (worst, owner, phases, r, topo)
            break
        # not converged: keep the attempt whose CAM and carbon are closest; SE short of its
        # target is made up below (coat, fill), SE beyond it is not
        miss = float(max(np.abs(err[[CAM, CARBON]]).max(), err[SE]))
        if best is None or miss < best[0]:
            best = (miss, owner, phases, r, topo)
        last_err = err
        last_step = np.log(scale)
        r = r * scale[phase]
    _, owner, phases, r, topo = best
    del best, graph_dev
    owner, phases = to_host(owner), to_host(phases)
    grain_voxels = int(np.count_nonzero(owner > len(phase) - n_grains)) if n_grains else 0
    times["voxelize"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # SE the voxel skeleton could not hold (carved to keep particles apart) flows next to its
    # own particles, never into a new contact (:mod:`._se_coat`)
    short = int(round(target["se"] * nvox)) - int(np.count_nonzero(phases == SE))
    coated = 0
    contacts = graph.pairs()
    coat_rng = np.random.default_rng(int(rng.integers(2**62)))  # drawn at every voxel size,
    if short > 0 and target["se"] > 0:  # so what follows draws the same numbers at h and h/2
        coated = coat_se(owner, phase, contacts + 1, short, periodic, coat_rng)  # ids
        phases = ph_vox[owner]
    times["se_coat"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_press = len(phase)
    n_fill = int(round(target_all["se"] * nvox)) - int(np.count_nonzero(phases == SE))
    fill = None
    n_filled = 0
    # the fill also takes SE volume that neither the voxel skeleton nor its coat could hold
    # (no free surface left that touches nothing new): ductile SE extruded into the crevices
    tol_vox = 0.25 * pk.fraction_tolerance * nvox
    if n_fill > 0 and (fill_fraction > 0 or n_fill > tol_vox):
        cam_r = base_r[phase == CAM]
        reach = max(REACH_CAM_RADII * float(np.median(cam_r if cam_r.size else base_r)),
                    4 * h)
        draw, largest = fill_grains(spec, rng, hi=d_res if share_res > 0 else None)
        gaps = _gaps(kern, centers, r, box, periodic, largest, contacts)
        try:
            fill_lab, n_lab = place_fill(owner, centers, r, n_fill, h, periodic, reach, draw,
                                         contacts=contacts, gaps=gaps,
                                         salt=int(rng.integers(2**62)))
        except ValueError as exc:
            raise PressingError(
                f"packing.se_fill_ratio = {pk.se_fill_ratio}, composition.porosity = "
                f"{spec.composition.porosity:g}: {exc}; lower packing.se_fill_ratio or raise "
                "composition.porosity") from None
        phases[fill_lab > 0] = SE
        n_filled = int(np.count_nonzero(fill_lab))
        fill = (n_lab, *fill_bodies(fill_lab, n_lab, owner, h, periodic))
    times["se_fill"] = time.perf_counter() - t0
    ids = np.where(phases == CAM, owner, 0).astype(np.int32)
    carbon_ids = (np.where(phases == CARBON, owner, 0).astype(np.int32)
                  if np.any(phase == CARBON) else None)
    # deepest CAM-CAM overlap / smaller radius in the pressed packing
    c_i, c_j = pairs[:, 0], pairs[:, 1]
    cc = (phase[c_i] == CAM) & (phase[c_j] == CAM)
    ri, rj = res.radii[c_i[cc]], res.radii[c_j[cc]]
    depth = (ri + rj - _distance(centers, pairs[cc], box, periodic)) / np.minimum(ri, rj)
    max_rel = float(depth.max()) if depth.size else 0.0
    scale = {name: float(np.median(r[phase == code] / base_r[phase == code]))
             for name, code in PHASE_CODES.items() if code and np.any(phase == code)}
    # the table keeps the pressed radii and the grains' balls: the geometry the contact graph
    # belongs to; the fill bodies follow as SE rows (centroid, radius of the sphere of equal
    # volume)
    radii_out, centers_out, phase_out = base_r, centers, phase
    n_bodies = 0
    if fill is not None:
        n_bodies, fpairs, farea, fcc, fsep, fcen, fvol = fill
        radii_out = np.concatenate([base_r, np.cbrt(3 * fvol / (4 * np.pi))])
        centers_out = np.concatenate([centers, fcen])
        phase_out = np.concatenate([phase, np.full(n_bodies, SE, dtype=phase.dtype)])
        gi = np.concatenate([graph.i, fpairs[:, 1].astype(np.int32)])
        gj = np.concatenate([graph.j, (fpairs[:, 0] + n_press).astype(np.int32)])
        ga = np.concatenate([graph.area_um2, farea.astype(np.float32)])
        order = np.lexsort((gj, gi))
        graph = ContactGraph(gi[order], gj[order], ga[order],
                             np.concatenate([graph.touches_cc, fcc]),
                             np.concatenate([graph.touches_separator, fsep]))
    return PressedBuild(phases, ids, carbon_ids, centers_out, radii_out, phase_out, graph, topo,
                        res, scale, max_rel, times, lumped, n_bodies, float(planned_fill),
                        coated, n_filled, n_grains, grain_voxels)
