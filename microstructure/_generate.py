"""``generate``: from an electrode spec to a voxelized composite.

``packing.mode = "pressed"`` builds a pressed powder (:mod:`._generate_pressed`); the steps below
are those of ``sequential`` (formerly ``dense``) and ``rsa``, each on the chosen device, same
random numbers on both:

1. CAM diameters drawn by number from the (volume-based) PSD until their volume equals the
   target CAM volume; packed hard (``dense``: FIRE relaxation; ``rsa``: plain RSA).
2. CAM voxelized; in dense mode the radii are rescaled by a common factor (and relaxed again)
   until the CAM voxel fraction is within a quarter of the tolerance of its target.
3. Distance of every non-CAM voxel to the CAM (EDT) limits how far soft particles reach into CAM.
4. Carbon, then SE, fill pore voxels up to their targets; pores are what remains.
5. Every achieved fraction is checked against its target: a structure that misses one by more
   than ``packing.fraction_tolerance`` raises :class:`PackingError` -- never a silent under-fill.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import numpy as np

from solvers.device import check_device, to_host
from solvers.memory import check_memory
from solvers.phases import CAM, PHASE_CODES

from ._fill import fill_soft_phase
from ._memory import estimate_generate
from ._microstructure import GenerationReport, Microstructure, ParticleTable
from ._packing import pack_dense, pack_rsa, relax
from ._spec import ElectrodeSpec
from ._spec_warnings import spec_warnings
from ._voxelize import clearance, stamp_hard

log = logging.getLogger(__name__)


class PackingError(RuntimeError):
    """The packing could not reach a target; the message gives target and achieved values."""


def get_kernels(device: str) -> Any:
    """Kernel launcher for ``device`` (CuPy + numba-cuda, or NumPy + numba)."""
    check_device(device)
    if device == "cpu":
        from ._pressing_cpu import CpuPressKernels

        return CpuPressKernels()
    from ._packing_cuda import CudaKernels

    return CudaKernels()


def input_warnings(spec: ElectrodeSpec) -> list[str]:
    """What ``generate`` warns before it builds: :func:`spec_warnings` (a value a lab would
    not have written) and :func:`resolution_warnings` (a PSD the voxel does not resolve)."""
    return spec_warnings(spec) + resolution_warnings(spec)


def resolution_warnings(spec: ElectrodeSpec) -> list[str]:
    """Messages for phases whose d10 is under 2 voxels (poorly resolved particles)."""
    h = spec.domain.voxel_size_um
    out = []
    if spec.packing.mode == "pressed":
        from ._generate_pressed import MIN_DIAMETER_VOXELS, fines_share

        cut = MIN_DIAMETER_VOXELS * h
        for name, share in fines_share(spec).items():
            if share >= 0.005:
                out.append(
                    f"phases.{name}: {100 * share:.1f} % of its volume is in particles under "
                    f"{MIN_DIAMETER_VOXELS:g} voxels ({cut:.3g} um); that volume is drawn as "
                    f"particles of {cut:.3g} um and above -- use a smaller voxel_size_um to "
                    "keep them")
        return out
    target = spec.target_fractions()
    for name, phase in spec.present_phases().items():
        if target[name] <= 0:  # a phase of fraction 0 draws no particles
            continue
        sampler = phase.psd.sampler()
        d10 = sampler.volume_quantile(0.1)
        if d10 < 2 * h:
            out.append(
                f"phases.{name}: d10 = {d10:.3g} um is under 2 voxels ({2 * h:.3g} um); "
                "particles that small are poorly resolved -- use a smaller voxel_size_um"
            )
    return out


def contact_warnings(hard_contact_radius_um: float | None, voxel_size_um: float) -> list[str]:
    """A message when the hard contacts (CAM, carbon) are much finer than the voxel.

    ``hard_contact_radius_um`` is :meth:`ParticleTable.hard_contact_radius_um` (None without a
    contact graph: no message).  The electronic current runs through the contact circles
    between hard particles.  The electronic solve gives each contact's faces the conductance
    of its circle (:class:`solvers.ContactConductance`), which holds the electronic τ of the
    bulk within 6 % of the converged value from ~0.45 voxel per median contact radius up.
    Below that the error depends on the seed: for the same packing at every voxel, -4.7 to
    -1.3 % (the example composition, seeds 0-5) to -15 % (a 70:30 box without carbon) at
    0.29-0.35 voxel (``benchmarks/RESULTS.md``, sessions 25-28: the same bulk slab at every
    voxel).  Where the coarse voxel also lumps part of a PSD (:func:`resolution_warnings`), the
    seed presses another powder and the τ moves as another seed's would (-56 to +17 % at 0.24
    voxel).
    """
    a = hard_contact_radius_um
    h = float(voxel_size_um)
    if a is None or a >= 0.5 * h:
        return []
    return [f"domain.voxel_size_um = {h:.3g} um is more than twice the median radius of the "
            f"contacts between hard particles (CAM, carbon), {a:.3g} um ({a / h:.2f} voxel): "
            "the electronic tau, which runs through them, is off at this voxel even with "
            "their sub-voxel contact conductance (in the tests, the same packing at each "
            "voxel: within 6 % from 0.45 voxel up, and from 0 to -15 % at 0.29-0.35 voxel, "
            "varying with the seed) -- use "
            f"voxel_size_um <= {2 * a:.2g} um for the electronic tau "
            "(utilization and the ionic tau do not run through these contacts)"]


def generate(spec: ElectrodeSpec, *, seed: int = 0, device: str = "cpu",
             progress: bool = False) -> Microstructure:
    """Build a voxelized composite cathode from ``spec``.

    Parameters
    ----------
    spec : ElectrodeSpec
        The validated spec (see :func:`microstructure.load_spec`).
    seed : int
        Seed of the random generator; the same spec and seed give identical arrays.
    device : {"cpu", "cuda"}
        Where packing relaxation and voxelization run.
    progress : bool
        Show a progress bar (tqdm) over the generation steps.

    Returns
    -------
    Microstructure
        Phases (uint8: 0 pore, 1 CAM, 2 SE, 3 carbon), CAM particle ids, the particle table and
        a report of targets vs achieved values.  With ``packing.mode = "pressed"`` the table
        carries the contact graph and the report the compaction curve.

    Raises
    ------
    PackingError
        When a phase cannot reach its target volume fraction within tolerance.
    solvers.memory.InsufficientMemoryError
        Before any work, when the memory estimate of ``domain.shape`` (and the particle count)
        is above the memory available.

    Examples
    --------
    >>> import warnings, microstructure as ms
    >>> spec = ms.load_spec(ms.default_spec_path()).updated({"domain.shape": [64, 48, 48]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")     # the example's C65 fines under 2 voxels
    ...     m = ms.generate(spec, seed=1)
    >>> m.phases.shape, m.phases.dtype.name
    ((64, 48, 48), 'uint8')
    >>> abs(m.report.achieved["cam"] - m.report.target["cam"]) <= 0.005
    True
    """
    if not isinstance(spec, ElectrodeSpec):
        raise TypeError(f"spec must be an ElectrodeSpec, got {type(spec).__name__}")
    # validated again: pydantic's model_copy(update=...) skips validation
    spec = ElectrodeSpec.from_dict(spec.model_dump(mode="python", exclude_none=True))
    check_device(device)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    # before any allocation: InsufficientMemoryError naming domain.shape, estimate and limit
    check_memory(estimate_generate(spec, device=device), field="domain.shape")
    notes = input_warnings(spec)   # warned now, and kept in the report
    for msg in notes:
        warnings.warn(msg, stacklevel=2)
    if spec.packing.mode == "pressed":
        return _generate_pressed(spec, seed=int(seed), device=device, progress=progress,
                                 notes=notes)
    kern = get_kernels(device)
    xp = kern.xp
    t_start = time.perf_counter()
    times: dict[str, float] = {}
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in spec.domain.shape)
    h = float(spec.domain.voxel_size_um)
    box = np.asarray(spec.box_um(), dtype=np.float64)
    periodic = np.array([0, int(spec.domain.periodic_lateral), int(spec.domain.periodic_lateral)],
                        dtype=np.int8)
    nvox = int(np.prod(shape))
    target = spec.target_fractions()
    tol = spec.packing.fraction_tolerance
    pk = spec.packing
    bar = _Progress(progress, total=4)

    # 1-2. CAM: draw, pack, voxelize (and correct the volume)
    t0 = time.perf_counter()
    cam_diam = spec.phases.cam.psd.sampler().sample_volume(target["cam"] * float(np.prod(box)),
                                                           rng)
    radii = cam_diam / 2
    iterations = 0
    if pk.mode == "rsa":
        res = pack_rsa(radii, shape, h, periodic, rng=rng)
        centers, radii = res.centers, res.radii
        overlap, max_rel = 0.0, 0.0
    else:
        res = pack_dense(radii, box, periodic, rng=rng, overlap_target=0.25 * pk.max_cam_overlap,
                         max_iter=pk.max_iter, kern=kern)
        centers, radii = res.centers, res.radii
        overlap, max_rel = res.overlap_fraction, res.max_relative_overlap
        iterations = res.iterations
    times["pack"] = time.perf_counter() - t0
    bar.step("CAM packed")
    t0 = time.perf_counter()
    c_dev, r_dev = xp.asarray(centers), xp.asarray(radii)
    ids = stamp_hard(kern, c_dev, r_dev, shape, h, periodic)
    cam_vox = int(xp.count_nonzero(ids))
    if pk.mode in ("dense", "sequential"):
        for _ in range(4):
            frac = cam_vox / nvox
            if abs(frac - target["cam"]) <= 0.25 * tol or cam_vox == 0:
                break
            scale = (target["cam"] / frac) ** (1.0 / 3.0)
            r_dev = r_dev * scale
            c_dev, it, overlap, max_rel = relax(c_dev, r_dev, box, periodic, kern=kern,
                                                overlap_target=0.25 * pk.max_cam_overlap,
                                                max_iter=pk.max_iter)
            iterations += it
            ids = stamp_hard(kern, c_dev, r_dev, shape, h, periodic)
            cam_vox = int(xp.count_nonzero(ids))
        centers, radii = to_host(c_dev), to_host(r_dev)
    if overlap > pk.max_cam_overlap:
        raise PackingError(
            f"CAM packing did not relax: overlap volume {overlap:.4f} of CAM volume exceeds "
            f"packing.max_cam_overlap = {pk.max_cam_overlap} (target CAM fraction "
            f"{target['cam']:.4f}); lower the CAM fraction or raise packing.max_iter"
        )
    phases = xp.where(ids > 0, np.uint8(CAM), np.uint8(0)).astype(xp.uint8)
    times["voxelize"] = time.perf_counter() - t0
    bar.step("CAM voxelized")

    # 3-4. soft phases
    t0 = time.perf_counter()
    soft = {}
    names = [n for n in ("carbon", "se") if n in spec.present_phases() and target[n] > 0]
    if names:
        rmax_soft = max(spec.present_phases()[n].psd.sampler().d_max / 2 for n in names)
        cap = (1.0 - pk.se_cam_overlap) * rmax_soft + h
        clear = clearance(kern, c_dev, r_dev, shape, h, periodic, cap)
        for name in names:
            code = PHASE_CODES[name]
            soft[name] = fill_soft_phase(
                kern, phases, clear, spec.present_phases()[name].psd.sampler(), code=code,
                target_voxels=int(round(target[name] * nvox)),
                tol_voxels=max(int(0.1 * tol * nvox), 1), max_overlap=pk.se_cam_overlap, h=h,
                periodic=periodic, rng=rng)
        del clear
    times["fill"] = time.perf_counter() - t0
    bar.step("SE and carbon filled")

    # 5. achieved vs target
    counts = to_host(xp.bincount(phases.reshape(-1), minlength=4))
    achieved = {n: float(counts[c]) / nvox for n, c in PHASE_CODES.items()}
    misses = {n: (target[n], achieved[n]) for n in PHASE_CODES
              if abs(achieved[n] - target[n]) > tol}
    if misses:
        detail = "; ".join(f"{n}: target {t:.4f}, achieved {a:.4f}" for n, (t, a) in misses.items())
        raise PackingError(
            f"packing could not reach the target volume fractions within +-{tol} ({detail}). "
            + _advice(misses, spec)
        )
    bar.step("checked")
    bar.close()
    times["total"] = time.perf_counter() - t_start

    ids_h = to_host(ids)
    table = ParticleTable.build(centers, radii, soft)
    report = GenerationReport(
        target=dict(target), achieved=achieved,
        cam_overlap_fraction=float(overlap), cam_max_relative_overlap=float(max_rel),
        n_particles=table.counts(), relax_iterations=int(iterations),
        rsa_failed=int(getattr(res, "n_failed", 0)), seconds=times, device=device,
        warnings=tuple(notes),
    )
    return Microstructure(phases=to_host(phases), particle_ids=ids_h, particles=table,
                          voxel_size_um=h, spec=spec, seed=int(seed), report=report)


def _generate_pressed(spec: ElectrodeSpec, *, seed: int, device: str,
                      progress: bool, notes: list[str]) -> Microstructure:
    from ._generate_pressed import build_pressed
    from ._pressing import PressingError

    t_start = time.perf_counter()
    kern = get_kernels(device)
    rng = np.random.default_rng(seed)
    bar = _Progress(progress, total=spec.packing.compaction_steps + 1)
    try:
        b = build_pressed(spec, rng=rng, kern=kern,
                          progress=lambda step, por: bar.step(f"skeleton porosity {por:.3f}"))
    except PressingError as exc:
        raise PackingError(str(exc)) from None
    finally:
        bar.close()
    target = spec.target_fractions()
    tol = spec.packing.fraction_tolerance
    nvox = b.phases.size
    counts = np.bincount(b.phases.reshape(-1), minlength=4)
    achieved = {n: float(counts[c]) / nvox for n, c in PHASE_CODES.items()}
    misses = {n: (target[n], achieved[n]) for n in PHASE_CODES
              if abs(achieved[n] - target[n]) > tol}
    if misses:
        detail = "; ".join(f"{n}: target {t:.4f}, achieved {a:.4f}" for n, (t, a) in misses.items())
        d10 = spec.phases.cam.psd.sampler().volume_quantile(0.1) / spec.domain.voxel_size_um
        raise PackingError(
            f"packing could not reach the target volume fractions within +-{tol} ({detail}). "
            "At this voxel, keeping particles that do not touch a voxel apart, and touching "
            "CAM/carbon joined only on their contact circles, costs volume that growing the "
            f"particles could not win back (CAM d10 = {d10:.1f} voxels); a smaller "
            "domain.voxel_size_um or a higher composition.porosity helps."
        )
    times = dict(b.seconds)
    times["total"] = time.perf_counter() - t_start
    table = ParticleTable.from_pressed(b.centers, b.radii, b.phase, b.graph)
    late = contact_warnings(table.hard_contact_radius_um(), spec.domain.voxel_size_um)
    for msg in late:
        warnings.warn(msg, stacklevel=3)
    cam = b.phase == CAM
    report = GenerationReport(
        target=dict(target), achieved=achieved,
        cam_overlap_fraction=float(b.pressing.hard_overlap_fraction),
        cam_max_relative_overlap=b.cam_max_relative_overlap,
        n_particles={n: int(np.count_nonzero(b.pressing.phase == c))
                     for n, c in PHASE_CODES.items() if n != "pore"},
        relax_iterations=int(b.pressing.iterations),
        seconds=times, device=device, warnings=tuple(notes + late),
        compaction_porosity=tuple(float(x) for x in b.pressing.porosity),
        compaction_stress=tuple(float(x) for x in b.pressing.wall_stress),
        topology=dict(vars(b.topology)) | {"contacts": len(b.graph),
                                           "cam_particles": int(cam.sum()),
                                           "se_fill_bodies": int(b.fill_bodies),
                                           "se_coat_voxels": int(b.coat_voxels),
                                           "se_fill_voxels": int(b.fill_voxels),
                                           "se_grains": int(b.grains),
                                           "se_grain_voxels": int(b.grain_voxels)},
        se_fill_fraction=b.fill_fraction,
        radius_scale=b.radius_scale, lumped_fines=b.lumped_fines,
        hold_load=float(b.pressing.hold),
    )
    return Microstructure(phases=b.phases, particle_ids=b.particle_ids, particles=table,
                          voxel_size_um=float(spec.domain.voxel_size_um), spec=spec, seed=seed,
                          report=report, carbon_ids=b.carbon_ids)


def _advice(misses: dict[str, tuple[float, float]], spec: ElectrodeSpec) -> str:
    """What to change, for the phases that missed; the resolution warnings go with it (a
    PackingError must not swallow them)."""
    h = spec.domain.voxel_size_um
    present = spec.present_phases()
    out = ""
    if "cam" in misses and misses["cam"][1] < misses["cam"][0]:
        out = "The CAM packing jammed: lower the CAM fraction or use packing.mode = 'pressed'."
    elif any(n in misses for n in ("se", "carbon", "pore")):
        tiny = [n for n in ("se", "carbon") if n in present
                and present[n].psd.sampler().volume_quantile(0.5) < h]
        if tiny:
            out = " ".join(
                f"{n} particles (d50 {present[n].psd.sampler().volume_quantile(0.5):.3g} um) are "
                f"smaller than a voxel ({h:g} um) and cannot be drawn;" for n in tiny
            ) + " use a smaller domain.voxel_size_um."
        else:
            out = ("The soft phases could not fill the pore space: raise composition.porosity, "
                   "use smaller SE particles or raise packing.se_cam_overlap.")
    notes = resolution_warnings(spec)
    if notes:
        out += " Also: " + "; ".join(notes) + "."
    return out


class _Progress:
    def __init__(self, enabled: bool, total: int) -> None:
        self.bar = None
        if enabled:
            from solvers.progress import progress_bar

            self.bar = progress_bar(total=total, desc="generate", unit="step")

    def step(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(what)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()



