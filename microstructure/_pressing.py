"""The pressing model: a loose powder of CAM, SE and carbon spheres compacted uniaxially.

Physics (a light DEM / energy minimisation in the spirit of So, Inoue et al., J. Power Sources
508 (2021) 230344, and Shi et al., Adv. Energy Mater. 10 (2020) 1902881)
---------------------------------------------------------------------------------------------
* **Powder.** Every solid phase is a set of spheres drawn by number from its PSD until their
  volume equals the phase's target volume.  They start at random positions in a box
  ``LOOSE_HEIGHT`` times taller than the electrode (a loose powder, solid fraction ~1/3).
* **Contacts.** A pair overlapping by ``delta`` pushes with ``k_ij R_ij delta``
  (``R_ij = r_i r_j / (r_i + r_j)``: the overlap under a given pressure is the same fraction of
  the radius for every size).  The stiffness of a particle is 2 for CAM and carbon and
  ``2 / se_ductility`` for SE; a pair's ``k_ij`` is the two in series (CAM–CAM 1, SE–SE
  ``1 / se_ductility``, CAM–SE ``2 / (1 + se_ductility)``).  ``se_ductility`` is thus how much
  more an SE contact flattens than a CAM contact under the same load (Young's moduli of Ni-rich
  NCM ~200 GPa and of LPSCl ~20-25 GPa, plus the SE's plastic flow: default 10).  Pairs with
  carbon also attract within a short range (``carbon_adhesion``): carbon sticks where it lands.
* **SE yields.** A contact with SE is elastic up to the overlap ``SE_YIELD R_ij`` and perfectly
  plastic beyond: it carries at most its yield force ``k_ij R_ij^2 SE_YIELD`` (elastic-perfectly
  plastic contact, as in Thornton's model with the post-yield stiffness of a soft sulfide
  taken to zero).  A sulfide SE (LPSCl, yield stress ~0.1-0.3 GPa) flows at a fraction of the
  pressing pressure (~0.3-0.5 GPa) while NCM (hardness several GPa) stays nearly rigid: the
  load a flowing SE grain puts on the CAM is capped, it wraps around the CAM (overlaps it; the
  voxels go to the CAM) instead of crushing the CAM clusters in its interstices.  Without
  the cap a coarse SE (20 µm with 5 µm CAM) at 5 % porosity over-compresses those clusters
  (hard-pair overlap 0.026 of their volume); more relaxation does not help (0.070 with
  24 steps of 1000 iterations): the jam is not kinetic.  Hard pairs (CAM, carbon) never yield,
  nor do carbon contacts (their adhesion would pull carbon through a yielded SE grain).  The
  linear contacts carry no absolute pressure scale, so the load on the hard skeleton is the
  gauge: the SE stays elastic until a compaction step leaves the hard-pair overlap above
  ``max_cam_overlap``; that step is relaxed again with yielding SE, and the SE yields from
  there on.  A powder whose hard skeleton never reaches the limit is pressed as before.
* **SE volume: the press moves particles, it does not resize them.**  A flattened SE particle
  gives up the lens of each contact (the whole lens to a hard partner, half of it to another
  SE particle) and a ductile SE pushes that volume into the free space next to its own
  contacts; it stays a granular sphere of its drawn size, so it cannot reach into a crevice
  much narrower than itself (where SE is coarse, the pores stay next to the CAM).  The volume is
  put back after pressing, in the voxel image (``_generate_pressed`` steps 4-5): the SE radii
  grow with the fraction correction while the contact graph stays that of the press, and
  wherever a grown SE comes within a voxel of a particle it does not touch, the SE gives way
  (``_contacts``), so the flow fills free space but never makes a contact the press did not
  make.  Until version 0.3 the SE sphere grew during the press instead (radius up to 1.5x):
  a grown sphere reaches out evenly in every direction, and with 8 µm SE around 5 µm NCM
  (80:20 w/w, 15 % pores) 19 % of its CAM contacts were made by the growth alone (the drawn
  spheres at the pressed centres would not overlap), θ 0.91 instead of 0.89.
* **Compaction.** The piston (the separator-side wall, ``x_0 = H``) moves from the loose
  height to the electrode thickness in ``compaction_steps`` geometric steps; each step scales
  the through-plane coordinates affinely and relaxes the forces with FIRE (Bitzek et al. 2006)
  until no particle carries an unbalanced force above ``FORCE_TOL`` of its contact scale (or
  ``max_iter`` per step).  The lateral faces are periodic.  The wall stress (piston force per
  area, relative to the last step) against porosity is the compaction curve.
* **Hold.** A real press holds 300-500 MPa, far above the SE's yield stress, and the load
  concentrates on the near-contacts of the hard particles: SE between two CAM particles flows
  aside until they touch, unless it is a grain large enough to carry the load.  The linear
  model has no absolute pressure, so after the last piston step the hold applies it as a
  short-range pull between CAM pairs whose surfaces are within ``se_extrusion R_ij``
  (force ``HOLD_ADHESION R_ij^2`` at contact, falling linearly to zero at that gap), and
  between CAM and the current collector the same way (the collector is a partner of infinite
  radius, ``R = r_i``), and relaxes once more, the SE keeping the contact law it was
  pressed with.  The pull runs over a neighbour list of the CAM alone (:class:`_HoldPull`):
  its reach (~2 µm) is beyond the skin of the press's list (``SKIN`` median radii, under
  1 µm where the SE is fine), which until version 0.7 cut it off there (about half the CAM
  pairs within reach at 80:20 and 70:30 with 1.5 µm SE were never pulled; θ and the CAM
  contacts barely changed when it was fixed: such pairs are mostly held apart by a grain).
  An SE grain between two CAM particles resists with a force that scales with its own,
  smaller ``R_ij`` (at most its yield force ``k_ij R_ij^2 SE_YIELD``), and the pull at the
  gap it holds is already down the linear tail: with ``se_ductility`` 10 and the default
  reach, a lone grain on the centre line gives way up to ~0.9 µm between two 5 µm CAM
  particles and ~1.7 µm between two 8 µm ones (about half the reach; measured); a coarser
  one holds them apart.  The box height, and so the porosity, does not change.  Without the
  hold, 70:30 NCM 5 µm : LPSCl 1.5 µm (no carbon) had 0.6x the CAM–CAM contacts of the same
  powder with 3 µm SE and θ 0.89 against 0.99; with it both give 0.99.
* **Too dense.** When the hard skeleton (CAM, carbon) is over-compressed -- its pair lenses
  exceed ``packing.max_cam_overlap`` of the hard volume -- the target porosity cannot be
  reached by pressing these particles; :class:`PressingError` names target and achieved.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers.device import to_host

from ._contact_law import pair_law
from ._packing import SKIN, Fire, _NeighbourList, sorted_pairs

log = logging.getLogger(__name__)

#: Initial (loose powder) height, in units of the electrode thickness.
LOOSE_HEIGHT = 2.6
#: Stiffness of the walls relative to a CAM contact.
WALL = 4.0
#: A compaction step is relaxed when max |F_i| / (r_i) is below this (relative overlap imbalance).
FORCE_TOL = 2e-3
#: Largest move of one relaxation step, in units of the median radius (small: the affine
#: compaction does the bulk of the motion, and the neighbour list then lasts >= 20 steps).
MAX_MOVE = 0.025
#: Adhesion ``a`` of a CAM–CAM pair during the hold (force ``a R_ij^2``, resting overlap
#: 0.01 R_ij); with ``se_ductility`` 10 it equals the yield force of an SE contact whose
#: R_ij is 0.6 that of the CAM pair (an SE grain of ~2 µm between two 5 µm CAM particles) --
#: at contact: at the gap such a grain holds, the pull is down its linear tail (module
#: docstring).
HOLD_ADHESION = 0.01
#: Halvings of the hold's pull tried before a skeleton at its overlap limit is left unheld.
HOLD_TRIES = 3
#: FIRE steps between two convergence checks.
CHECK_EVERY = 20
#: Pairs closer than this gap (µm) are in contact (a pressed contact overlaps; this only
#: absorbs round-off).
CONTACT_GAP = 1e-4


class PressingError(RuntimeError):
    """The powder cannot be pressed to the target; the message gives target and achieved."""


@dataclass(frozen=True)
class PressingResult:
    """Particles after compaction (continuous coordinates, µm)."""

    centers: np.ndarray
    """(n, 3) centres in µm (through-plane, lateral, lateral)."""
    radii: np.ndarray
    """(n,) radii in µm, as drawn from the PSD (the press does not resize particles)."""
    phase: np.ndarray
    """(n,) uint8 phase code (1 CAM, 2 SE, 3 carbon)."""
    porosity: np.ndarray
    """Compaction curve: porosity (1 - powder volume / box volume) after each step."""
    wall_stress: np.ndarray
    """Compaction curve: piston force per area after each step, relative to the last step."""
    hard_overlap_fraction: float
    """Lens volume of hard pairs (CAM, carbon) / hard volume at the end (dimensionless)."""
    iterations: int
    """FIRE steps taken in all."""
    hold: float = 0.0
    """The hold's pull relative to its full value ``HOLD_ADHESION`` (1: held as specified;
    less where the hard skeleton could not carry it; 0: no hold)."""


def press(radii: np.ndarray, phase: np.ndarray, box: np.ndarray, periodic: np.ndarray, *,
          rng: np.random.Generator, kern: Any, se_ductility: float, carbon_adhesion: float,
          compaction_steps: int, max_iter: int, max_hard_overlap: float,
          target_porosity: float, se_extrusion: float = 0.0, progress: Any = None
          ) -> PressingResult:
    """Place the powder loosely and press it to the box height ``box[0]``, then hold the load
    (``se_extrusion`` > 0, see the module docstring).

    ``radii`` and ``phase`` are the powder; ``box`` the final electrode box (µm).
    """
    xp = kern.xp
    n = radii.shape[0]
    r0 = np.asarray(radii, dtype=np.float64)
    box_h = np.asarray(box, dtype=np.float64).copy()
    height = float(box_h[0])
    h0 = LOOSE_HEIGHT * height
    loose = box_h.copy()
    loose[0] = h0
    pos_h = np.empty((n, 3))
    for a in range(3):
        u = rng.random(n)
        if periodic[a]:
            pos_h[:, a] = u * loose[a]
        else:
            pos_h[:, a] = r0 + u * np.maximum(loose[a] - 2 * r0, 0.0)
    # relax the particles in the order of their cells (through-plane slab, then lateral), so
    # that neighbours sit close in memory (the affine compaction keeps that order): 17 % less
    # time per step at 256³; the results come back in the caller's order
    key = np.floor(pos_h / max(2 * float(np.median(r0)) if n else 1.0, 1e-9)).astype(np.int64)
    order = np.lexsort((key[:, 2], key[:, 1], key[:, 0]))
    back = np.empty_like(order)
    back[order] = np.arange(n)
    pos_h, r0, phase = pos_h[order], r0[order], np.asarray(phase)[order]
    pos = xp.asarray(pos_h)
    rad = xp.asarray(r0.copy())
    ph = xp.asarray(np.asarray(phase, dtype=np.int64))
    hard_vol = float(np.sum(4 / 3 * math.pi * r0[phase != 2] ** 3))
    solid_vol = float(np.sum(4 / 3 * math.pi * r0**3))
    area = float(box_h[1] * box_h[2])
    # elastic SE until the hard skeleton would be over-compressed; then the SE yields
    kpair = xp.asarray(pair_law(se_ductility, np.inf, carbon_adhesion=carbon_adhesion))
    yielding = False
    r_med = float(np.median(r0)) if n else 1.0
    heights = h0 * (height / h0) ** (np.arange(1, compaction_steps + 1) / compaction_steps)
    state = _State(kern, xp, pos, rad, ph, kpair, periodic, r_med)
    porosity, stress = [], []
    total_it = 0
    hard_ov = prev_ov = 0.0
    reached = 1.0 - solid_vol / (h0 * area)
    cur = h0
    for step, hk in enumerate(np.concatenate([[h0], heights])):
        state.pos[:, 0] *= hk / cur
        cur = hk
        box_k = box_h.copy()
        box_k[0] = hk
        last = step == compaction_steps
        it, top = state.relax(box_k, 2 * max_iter if last else max_iter)
        total_it += it
        hard_ov = state.hard_lens(box_k) / max(hard_vol, 1e-300)
        if step > 0 and not yielding and hard_ov > max_hard_overlap and bool(xp.any(ph == 2)):
            # the pressure has reached what the CAM skeleton can carry: the SE flows from here
            yielding = True
            state.kpair = xp.asarray(pair_law(se_ductility, carbon_adhesion=carbon_adhesion))
            it, top = state.relax(box_k, 2 * max_iter)
            total_it += it
            hard_ov = state.hard_lens(box_k) / max(hard_vol, 1e-300)
        por = 1.0 - solid_vol / (hk * area)
        if step > 0:
            porosity.append(por)
            stress.append(top / area)
        if progress is not None:
            progress(step, por)
        if hard_ov <= max_hard_overlap:
            reached = por
        # the loose start may still overlap; a jam shows as hard overlap that grows as the
        # piston advances: fail at the end, or early once it is far beyond the limit
        growing = step > 0 and hard_ov > prev_ov
        if (last and hard_ov > max_hard_overlap) or (growing and hard_ov > 4 * max_hard_overlap):
            raise PressingError(
                f"composition.porosity = {target_porosity:.4f} cannot be reached by pressing: "
                f"the hard CAM/carbon skeleton jams (hard-pair overlap {hard_ov:.4f} of their "
                f"volume at porosity {por:.4f} > packing.max_cam_overlap = {max_hard_overlap}); "
                f"achieved porosity {reached:.4f}"
                + (" with the SE yielding" if yielding else "")
                + ". Raise the porosity, lower the CAM fraction or raise packing.se_ductility"
            )
        prev_ov = hard_ov
    hold = 0.0
    if se_extrusion > 0 and int(np.count_nonzero(phase == 1)) > 1:
        hold, it, hard_ov = _hold(state, box_h, 2 * max_iter, hard_vol,
                                  hard_ov, max_hard_overlap, se_ductility, yielding,
                                  carbon_adhesion, se_extrusion)
        total_it += it
    stress_a = np.asarray(stress)
    if stress_a.size and stress_a[-1] > 0:
        stress_a = stress_a / stress_a[-1]
    return PressingResult(to_host(state.pos)[back], r0[back],
                          np.asarray(phase, np.uint8)[back],
                          np.asarray(porosity), stress_a, float(hard_ov), total_it, hold)


def _hold(state: _State, box: np.ndarray, max_iter: int,
          hard_vol: float, hard_ov: float, max_hard_overlap: float, se_ductility: float,
          yielding: bool, carbon_adhesion: float, se_extrusion: float
          ) -> tuple[float, int, float]:
    """The hold (module docstring): returns (pull relative to ``HOLD_ADHESION``, FIRE steps,
    hard-pair overlap fraction).  A skeleton pressed close to ``max_hard_overlap`` cannot carry
    the full pull (it also loads the CAM contacts already closed): the pull is halved until the
    skeleton stays within the limit, and the hold is dropped (positions restored) after
    ``HOLD_TRIES`` halvings."""
    xp = state.xp
    pos0 = state.pos.copy()
    steps = 0
    for k in range(HOLD_TRIES + 1):
        share = 0.5**k
        # the SE keeps the contact law it was pressed with (yielding once the hard skeleton
        # carried the load)
        state.kpair = xp.asarray(pair_law(se_ductility, None if yielding else np.inf,
                                          carbon_adhesion=carbon_adhesion,
                                          collector_adhesion=share * HOLD_ADHESION,
                                          collector_range=se_extrusion))
        state.pull = _HoldPull(state, box, share * HOLD_ADHESION, se_extrusion)
        it, _ = state.relax(box, max_iter)
        steps += it
        ov = state.hard_lens(box) / max(hard_vol, 1e-300)
        if ov <= max_hard_overlap:
            if k:
                log.info("pressing: the hold's pull was halved %d time(s) to keep the hard "
                         "skeleton within packing.max_cam_overlap", k)
            return share, steps, ov
        state.pos[...] = pos0
        state.nl = state.pull = None
    log.info("pressing: the hard skeleton is at packing.max_cam_overlap; no hold")
    return 0.0, steps, hard_ov


class _State:
    """Positions, radii and a neighbour list under relaxation."""

    def __init__(self, kern: Any, xp: Any, pos: Any, rad: Any, ph: Any, kpair: Any,
                 periodic: np.ndarray, r_med: float) -> None:
        self.kern, self.xp = kern, xp
        self.pos, self.rad, self.ph, self.kpair = pos, rad, ph, kpair
        self.periodic = np.asarray(periodic, dtype=np.int8)
        self.r_med = r_med
        self.nl: _NeighbourList | None = None
        self.nl_height = -1.0
        self.pull: _HoldPull | None = None

    def _neighbours(self, box: np.ndarray) -> _NeighbourList:
        xp = self.xp
        if self.nl is None or abs(box[0] - self.nl_height) > 1e-12:
            self.nl = _NeighbourList(self.kern, xp, box, self.periodic, self.rad,
                                     skin=SKIN * self.r_med)
            self.nl.build(self.pos)
            self.nl_height = float(box[0])
        else:
            self.nl.maybe_rebuild(self.pos)
        return self.nl

    def relax(self, box: np.ndarray, max_iter: int) -> tuple[int, float]:
        """FIRE on the current box; returns (steps, piston force)."""
        xp = self.xp
        n = self.pos.shape[0]
        if n == 0:
            return 0, 0.0
        nl = self._neighbours(box)
        force = xp.zeros_like(self.pos)
        top = xp.zeros(n)
        energy = xp.zeros(n)
        vel = xp.zeros_like(self.pos)
        max_move = MAX_MOVE * self.r_med
        fire = Fire()  # mass: the radius
        work = (xp.zeros((3, n)), xp.zeros(n))
        it = 0
        for it in range(1, max_iter + 1):
            self.kern.press_force(self.pos, self.rad, self.ph, nl.ptr, nl.idx, nl.box,
                                  nl.periodic, self.kpair, WALL, force, top, energy)
            if self.pull is not None:
                if (it - 1) % CHECK_EVERY == 0:  # at the first step, then every CHECK_EVERY
                    self.pull.check(self.pos, CHECK_EVERY * max_move)
                self.pull.add(self.pos, force)
            nl.maybe_rebuild(self.pos, fire.step(self.kern, self.pos, vel, force, self.rad,
                                                 True, nl, max_move, work))
            if it % CHECK_EVERY == 0:
                resid = float(xp.max(xp.sqrt(xp.sum(force * force, axis=1)) / self.rad))
                if resid < FORCE_TOL:
                    break
        return it, float(xp.sum(top))

    def hard_lens(self, box: np.ndarray) -> float:
        xp = self.xp
        n = self.pos.shape[0]
        if n == 0:
            return 0.0
        nl = self._neighbours(box)
        hl = xp.zeros(n)
        self.kern.press_hard_lens(self.pos, self.rad, self.ph, nl.ptr, nl.idx, nl.box,
                                  nl.periodic, hl)
        return float(xp.sum(hl))


class _HoldPull:
    """The hold's CAM–CAM pull (module docstring): force ``a R_ij^2`` at contact, falling
    linearly to zero at a gap of ``reach R_ij``, over a neighbour list of the CAM particles
    alone.  That reach (1.9 µm between two 5 µm CAM particles at the default 1.5 R_ij) lies
    beyond the skin of the press's list (``SKIN`` median radii, under 1 µm where the SE is
    fine), which would otherwise decide which pairs the pull reaches."""

    def __init__(self, state: _State, box: np.ndarray, a: float, reach: float) -> None:
        xp = state.xp
        self.kern, self.xp, self.rad = state.kern, xp, state.rad
        self.a, self.reach = float(a), float(reach)
        self.sel = xp.nonzero(state.ph == 1)[0].astype(xp.int64)
        # a pair within reach R_ij <= reach min(r_i, r_j) <= reach (r_i + r_j) / 2 overlaps
        # when each radius grows by the factor 1 + reach / 2: the list holds every pulled pair
        grown = state.rad[self.sel] * (1.0 + 0.5 * self.reach)
        self.nl = _NeighbourList(state.kern, xp, box, state.periodic, grown,
                                 skin=2 * SKIN * state.r_med)
        self.nl.build(state.pos[self.sel])

    def check(self, pos: Any, ahead: float) -> None:
        """Rebuild the list unless every CAM particle can still move ``ahead`` µm."""
        self.nl.maybe_rebuild(pos[self.sel], ahead=ahead)

    def add(self, pos: Any, force: Any) -> None:
        """Add the pull to ``force`` (of all particles)."""
        nl = self.nl
        self.kern.press_pull(pos, self.rad, self.sel, nl.ptr, nl.idx, nl.box, nl.periodic,
                             self.a, self.reach, force)


def contact_pairs(kern: Any, pos: Any, rad: Any, box: np.ndarray, periodic: np.ndarray,
                  gap: float = CONTACT_GAP) -> np.ndarray:
    """(m, 2) int64 pairs (i < j) whose gap is below ``gap`` µm, sorted (host array)."""
    xp = kern.xp
    n = pos.shape[0]
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    if hasattr(kern, "close_pairs"):  # CPU: the half list with a skin of ``gap`` is the answer
        # (its test, |x_i - x_j| < r_i + r_j + skin, is press_contacts_body's, term for term)
        nl = _NeighbourList(kern, xp, box, periodic, rad, skin=float(gap))
        return kern.close_pairs(*nl.search_args(pos))
    r_med = float(xp.median(rad))
    nl = _NeighbourList(kern, xp, box, periodic, rad, skin=max(gap, 0.05 * r_med))
    nl.build(pos)
    counts = xp.zeros(n, dtype=xp.int64)
    cap = 16
    while True:
        padded = xp.zeros((n, cap), dtype=xp.int64)
        kern.press_contacts(pos, rad, nl.ptr, nl.idx, nl.box, nl.periodic, float(gap), padded,
                            counts)
        most = int(xp.max(counts))  # sync point
        if most <= cap:
            break
        cap = most + 1
    src, col = xp.nonzero(xp.arange(cap)[None, :] < counts[:, None])
    return sorted_pairs(src, padded[src, col], n, xp)  # sorted on the device
