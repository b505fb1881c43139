"""Structure metrics of a generated composite: fractions, sizes, contact area, profiles.

Everything here is a cheap pass over the voxel arrays (``np.bincount``, vectorised neighbour
comparisons) plus the particle table, so a 256³ structure is measured in about a second.

Size distributions
------------------
* **CAM** sizes come from the voxels: every CAM particle has its own id in ``particle_ids``,
  so its voxel count gives its volume and an equivalent-sphere diameter
  ``d = (6 V / pi)^(1/3)``.  This measures what was really built (radius rescaling, overlaps,
  voxelization included).
* **SE and carbon** are soft particles that overlap each other freely, so their voxels cannot be
  split into particles; their sizes come from the placed-particle table (``m.particles``) --
  i.e. the radii the filler stamped, not a segmentation of the voxels.

All quantiles are *volume-weighted* (the basis of laser diffraction, d10/d50/d90 of a Q3
curve).  The recovered d50 is compared with the **reference d50**: the volume median of the
distribution the sampler really draws from.  For a lognormal PSD given by two quantiles that
is the given d50 (or the one implied by d10/d90; given all three, the written d50).  For a
table it is the table's median.  Both numbers are reported.

Contact area
------------
The CAM|SE contact area is estimated from the voxel faces shared by a CAM and an SE voxel:
``A = (2/3) * n_faces * h^2``.  A voxelized surface is a staircase whose face area exceeds
the true area by the factor ``<|n_x| + |n_y| + |n_z|> = 3/2`` averaged over orientations, so
the factor 2/3 makes the estimate unbiased for isotropic (e.g. particle) surfaces.  Planes
aligned with the grid are counted exactly by the raw face area (``cam_se_contact_faces``), and
are under-estimated by the same 2/3.

``pressed`` structures also carry their contact graph, and :attr:`StructureMetrics.
contact_area_per_volume` sums its contact areas per pair of phases (``cam|cam``, ``cam|se``,
``cam|carbon``, ``se|se``, ``se|carbon``, ``carbon|carbon``): the lens circles of the pressed
packing, set by the press and not by the grid (the same at h and h/2), and for the bodies of
the fine-SE fill their shared voxel faces (``h^2`` each).

Homogeneity
-----------
The relative standard deviation of each phase's volume fraction over cubic windows inside the
bulk, a mixing index as powder technology samples a mix (``_homogeneity``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from solvers.phases import CAM, PHASE_CODES, SE, pair_key

from ._generate import contact_warnings, resolution_warnings
from ._homogeneity import WINDOW_CAM_D50, Homogeneity, check_window, homogeneity
from ._microstructure import Microstructure, wall_bulk_slice
from ._surface import ISOTROPIC_SURFACE_FACTOR


@dataclass(frozen=True)
class SizeDistribution:
    """Recovered volume-weighted size distribution of one solid phase."""

    phase: str
    """``"cam"``, ``"se"`` or ``"carbon"``."""
    source: str
    """``"voxels"`` (CAM: voxel volume per particle id) or ``"particle table"`` (soft phases:
    radii of the placed particles, which overlap and cannot be split in the voxels)."""
    n_particles: int
    """Particles measured (CAM ids with at least one voxel; rows of the table otherwise)."""
    d10_um: float
    """Volume-weighted 10 % quantile of the equivalent-sphere diameter, µm."""
    d50_um: float
    """Volume-weighted median diameter, µm."""
    d90_um: float
    """Volume-weighted 90 % quantile, µm."""
    reference_d50_um: float
    """Volume median of the PSD the sampler draws from, µm (see module notes)."""
    spec_d50_um: float | None
    """d50 as written in the spec, µm (None when the spec gives no d50)."""
    d50_relative_error: float
    """``(d50_um - reference_d50_um) / reference_d50_um`` (dimensionless)."""
    d50_within_tolerance: bool
    """``abs(d50_relative_error) <= d50_tolerance`` of :func:`structure_metrics`."""
    resolved: bool
    """The reference d10 spans at least 2 voxels (below that voxel sizes are unreliable);
    ``pressed``: no part of the PSD had to be drawn larger than it is (the SE under the fill
    cut is the crevice fill, not a resolution loss)."""

    def __repr__(self) -> str:
        ok = "ok" if self.d50_within_tolerance else "OFF"
        return (f"{self.phase}: d10/d50/d90 = {self.d10_um:.3g}/{self.d50_um:.3g}/"
                f"{self.d90_um:.3g} um from {self.n_particles} particles ({self.source}); "
                f"d50 {self.d50_relative_error:+.1%} vs {self.reference_d50_um:.3g} um [{ok}]")


@dataclass(frozen=True, eq=False)
class StructureMetrics:
    """Measured properties of a :class:`~microstructure.Microstructure`.

    See :func:`structure_metrics`.  Fractions are of the whole box; axis 0 is through-plane.
    """

    volume_fractions: dict[str, float]
    """Voxel volume fraction of the box per phase (``pore``, ``cam``, ``se``, ``carbon``)."""
    target_fractions: dict[str, float]
    """Target volume fraction of the box per phase, from the spec."""
    cam_overlap_fraction: float | None
    """CAM–CAM lens overlap volume / CAM volume from the generation report (None without one)."""
    size_distributions: dict[str, SizeDistribution]
    """Recovered size distribution per solid phase present."""
    cam_se_contact_area_per_volume: float
    """CAM|SE contact area per box volume, µm⁻¹ (isotropic-corrected face count, 2/3 n h²/V)."""
    cam_se_contact_faces: int
    """Raw number of voxel faces shared by a CAM and an SE voxel."""
    cam_surface_area_per_volume: float
    """Surface area of the CAM (all faces to non-CAM voxels, corrected alike) per box volume,
    µm⁻¹.  Faces on the current-collector and separator planes are not counted."""
    cam_se_coverage: float
    """Share of the CAM surface that touches SE (CAM|SE faces / CAM|non-CAM faces; 0..1)."""
    profile: np.ndarray = field(repr=False)
    """(nz, 4) float64 volume fraction of each phase code (columns 0 pore, 1 CAM, 2 SE,
    3 carbon) in each through-plane slice; rows sum to 1."""
    voxel_size_um: float = 0.0
    """Voxel edge, µm."""
    d50_tolerance: float = 0.05
    """Relative tolerance used for ``SizeDistribution.d50_within_tolerance``."""
    warnings: tuple[str, ...] = ()
    """Phases whose d10 is under 2 voxels (poorly resolved); hard contacts finer than half a
    voxel (the electronic τ reads low)."""
    contact_area_per_volume: dict[str, float] = field(default_factory=dict)
    """``pressed``: summed contact area of the contact graph per box volume, µm⁻¹, per pair of
    solid phases (``"cam|cam"``, ``"cam|se"``, ..., ``"carbon|carbon"``; 0 where there is none;
    empty without a graph)."""
    contact_counts: dict[str, int] = field(default_factory=dict)
    """``pressed``: number of contacts in the graph per pair of phases (keys as above)."""
    hard_contact_radius_um: float | None = None
    """``pressed``: median radius of the contact circles between hard particles (CAM–CAM,
    CAM–carbon, carbon–carbon), µm; the electronic τ needs a voxel no larger (README,
    "Voxel size").  None without a graph or such a contact."""
    homogeneity: Homogeneity | None = None
    """How evenly each phase is spread: its volume fraction in cubic windows inside the bulk
    (RSD, see :class:`~microstructure.Homogeneity`)."""

    def to_dict(self) -> dict:
        """JSON-ready dict (the profile as a list of rows)."""
        return {
            "volume_fractions": dict(self.volume_fractions),
            "target_fractions": dict(self.target_fractions),
            "cam_overlap_fraction": self.cam_overlap_fraction,
            "size_distributions": {
                k: {f: getattr(v, f) for f in v.__dataclass_fields__}
                for k, v in self.size_distributions.items()
            },
            "cam_se_contact_area_per_volume_per_um": self.cam_se_contact_area_per_volume,
            "cam_se_contact_faces": self.cam_se_contact_faces,
            "cam_surface_area_per_volume_per_um": self.cam_surface_area_per_volume,
            "cam_se_coverage": self.cam_se_coverage,
            "contact_area_per_volume_per_um": dict(self.contact_area_per_volume),
            "contact_counts": dict(self.contact_counts),
            "hard_contact_radius_um": self.hard_contact_radius_um,
            "homogeneity": None if self.homogeneity is None else self.homogeneity.to_dict(),
            "profile": self.profile.tolist(),
            "voxel_size_um": self.voxel_size_um,
            "d50_tolerance": self.d50_tolerance,
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        frac = ", ".join(
            f"{k}={v:.4f}" + (f" (target {self.target_fractions[k]:.4f})"
                              if k in self.target_fractions else "")
            for k, v in self.volume_fractions.items()
        )
        ov = "n/a" if self.cam_overlap_fraction is None else f"{self.cam_overlap_fraction:.2e}"
        lines = [
            "StructureMetrics(",
            f"  volume_fractions: {frac}",
            f"  cam_overlap_fraction: {ov}",
            *(f"  {sd!r}" for sd in self.size_distributions.values()),
            f"  cam_se_contact_area_per_volume: {self.cam_se_contact_area_per_volume:.4g} 1/um "
            f"(coverage of CAM surface {self.cam_se_coverage:.3f})",
            *([("  contact area / volume (graph): " + ", ".join(
                f"{k} {v:.4g}" for k, v in self.contact_area_per_volume.items()) + " 1/um")]
              if self.contact_area_per_volume else []),
            *([f"  hard_contact_radius_um: {self.hard_contact_radius_um:.3g} (median, CAM and "
               "carbon)"] if self.hard_contact_radius_um is not None else []),
            *([f"  {self.homogeneity!r}"] if self.homogeneity is not None else []),
            f"  profile: {self.profile.shape[0]} slices x 4 phases",
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join([*lines, ")"])   # a line of its own: a warning may end in ")"


def structure_metrics(m: Microstructure, *, d50_tolerance: float = 0.05,
                      homogeneity_window_um: float | None = None,
                      wall_margin_um: float | None = None) -> StructureMetrics:
    """Measure fractions, size distributions, contact areas, homogeneity and profiles of ``m``.

    Parameters
    ----------
    m : Microstructure
        A generated (or opened) structure.
    d50_tolerance : float
        Relative tolerance for the recovered volume d50 against the reference d50
        (default 5 %).
    homogeneity_window_um : float, optional
        Edge of the cubic windows in which the homogeneity is sampled, µm (rounded to whole
        voxels).  Default: three CAM volume d50s (about 20 CAM particles per window).  The
        windows lie inside the bulk (``m.bulk_slice()``) and overlap; where fewer than two
        positions fit, the spread is NaN.
    wall_margin_um : float, optional
        Thickness next to each wall left out of the homogeneity's bulk, µm (``margin_um`` of
        :meth:`~microstructure.Microstructure.bulk_slice`; default one particle diameter).

    Returns
    -------
    StructureMetrics

    Notes
    -----
    CAM sizes come from the voxel volume of each particle id; SE and carbon sizes from the
    placed-particle table because soft particles overlap (see the module docstring).  The
    contact area uses the 2/3 isotropic correction of the voxel face count.  Lateral faces
    wrap when ``m.spec.domain.periodic_lateral`` is true; the through-plane axis never wraps.

    Examples
    --------
    >>> import warnings, microstructure as ms
    >>> spec = ms.load_spec(ms.default_spec_path()).updated({"domain.shape": [64, 48, 48]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")      # carbon under 2 voxels, contacts under one
    ...     m = ms.generate(spec, seed=1)
    >>> sm = ms.structure_metrics(m)
    >>> sm.profile.shape
    (64, 4)
    >>> round(sum(sm.volume_fractions.values()), 6)
    1.0
    >>> hom = ms.structure_metrics(m, homogeneity_window_um=4.0).homogeneity
    >>> hom.window_um, sorted(hom.rsd)                 # the RSD of each phase in 4 um windows
    (4.0, ['cam', 'carbon', 'pore', 'se'])
    """
    if not isinstance(m, Microstructure):
        raise TypeError(f"m must be a Microstructure, got {type(m).__name__}")
    if not (isinstance(d50_tolerance, (int, float)) and 0 < d50_tolerance < 1):
        raise ValueError(f"d50_tolerance must be in (0, 1), got {d50_tolerance!r}")
    phases = np.asarray(m.phases)
    if phases.ndim != 3:
        raise ValueError(f"m.phases must be 3-D, got shape {phases.shape}")
    h = float(m.voxel_size_um)
    window = check_window(homogeneity_window_um, h)
    bulk = wall_bulk_slice(m, wall_margin_um)
    if window is None:
        window = WINDOW_CAM_D50 * m.spec.phases.cam.psd.sampler().volume_quantile(0.5)
    box_volume = float(phases.size) * h**3

    # through-plane profile and fractions: one bincount per slice block, no int64 copy
    counts = np.stack([np.bincount(sl.ravel(), minlength=4)[:4] for sl in phases])
    per_slice = phases.shape[1] * phases.shape[2]
    profile = counts / float(per_slice)
    total = counts.sum(axis=0)
    fractions = {n: float(total[c]) / phases.size for n, c in PHASE_CODES.items()}

    # CAM|SE and CAM surface faces
    periodic = bool(m.spec.domain.periodic_lateral)
    cam = phases == CAM
    se = phases == SE
    cam_se = _shared_faces(cam, se, periodic)
    cam_other = _shared_faces(cam, ~cam, periodic)
    area_factor = ISOTROPIC_SURFACE_FACTOR * h**2 / box_volume
    coverage = cam_se / cam_other if cam_other else float("nan")

    # size distributions
    present = m.spec.present_phases()
    sizes: dict[str, SizeDistribution] = {}
    # pressed: the fine SE's grains and fill bodies (last rows of the table) are not drawn from
    # the PSD above the fill / 2-voxel cuts, the other particles are: compare with that
    topo = {} if m.report is None else m.report.topology
    n_fill = int(topo.get("se_fill_bodies", 0)) + int(topo.get("se_grains", 0))
    n_rows = len(m.particles) - n_fill
    plan = {}
    if m.spec.packing.mode == "pressed" and m.report is not None:  # generated, not imported
        from ._generate_pressed import powder_plan

        plan = powder_plan(m.spec)
    target = m.spec.target_fractions()
    for name, phase in present.items():
        if target.get(name, 0.0) <= 0:  # listed with fraction 0: nothing to measure
            continue
        sampler = phase.psd.sampler()
        ref_d10 = sampler.volume_quantile(0.1)
        spec_d50 = getattr(phase.psd, "d50_um", None)
        if name == "cam":
            ref_d50 = sampler.volume_quantile(0.5)
            vox = np.bincount(np.asarray(m.particle_ids).ravel())[1:]
            d = np.cbrt(6.0 / np.pi * h**3 * vox[vox > 0].astype(np.float64))
            source = "voxels"
        else:
            drawn = plan.get(name, (None, 0.0, 0.0))
            cut = drawn[1] > 0 or drawn[2] > 0
            ref_d50 = (drawn[0] if cut and drawn[0] is not None else sampler).volume_quantile(0.5)
            sel = m.particles.phase[:n_rows] == PHASE_CODES[name]
            d = 2.0 * np.asarray(m.particles.radius_um[:n_rows][sel], dtype=np.float64)
            source = ("particle table (drawn part of the PSD: "
                      f"{100 * (1 - drawn[1] - drawn[2]):.0f} % of its volume)" if cut
                      else "particle table")
        q = _volume_quantiles(d, (0.1, 0.5, 0.9))
        err = (q[1] - ref_d50) / ref_d50
        sizes[name] = SizeDistribution(
            phase=name, source=source, n_particles=int(d.size),
            d10_um=q[0], d50_um=q[1], d90_um=q[2],
            reference_d50_um=ref_d50, spec_d50_um=spec_d50,
            d50_relative_error=float(err),
            d50_within_tolerance=bool(abs(err) <= d50_tolerance),
            # pressed: what is under 2 voxels is either SE fill or drawn larger (lumped)
            resolved=bool(plan[name][1] == 0 if name in plan else ref_d10 >= 2 * h),
        )

    hard_radius = m.particles.hard_contact_radius_um()
    return StructureMetrics(
        volume_fractions=fractions,
        target_fractions=dict(target),
        cam_overlap_fraction=(None if m.report is None
                              else float(m.report.cam_overlap_fraction)),
        size_distributions=sizes,
        cam_se_contact_area_per_volume=float(cam_se * area_factor),
        cam_se_contact_faces=int(cam_se),
        cam_surface_area_per_volume=float(cam_other * area_factor),
        cam_se_coverage=float(coverage),
        **_graph_contacts(m, box_volume),
        profile=profile,
        voxel_size_um=h,
        d50_tolerance=float(d50_tolerance),
        warnings=tuple(resolution_warnings(m.spec) + contact_warnings(hard_radius, h)),
        hard_contact_radius_um=hard_radius,
        homogeneity=homogeneity(phases, voxel_size_um=h, window_um=window, bulk=bulk,
                                present=tuple(n for n, f in fractions.items() if f > 0)),
    )


def _graph_contacts(m: Microstructure, box_volume: float) -> dict[str, dict]:
    """``contact_area_per_volume`` and ``contact_counts`` from ``m``'s contact graph."""
    t = m.particles
    if not t.has_contacts:
        return {"contact_area_per_volume": {}, "contact_counts": {}}
    name = {code: n for n, code in PHASE_CODES.items()}
    ij = t.contact_pairs()
    pi = np.asarray(t.phase)[ij[:, 0]].astype(np.int64)
    pj = np.asarray(t.phase)[ij[:, 1]].astype(np.int64)
    n = len(PHASE_CODES)
    key = np.minimum(pi, pj) * n + np.maximum(pi, pj)  # a bincount slot per (lo, hi) code pair
    area = np.bincount(key, weights=np.asarray(t.contact_area_um2, np.float64), minlength=n * n)
    count = np.bincount(key, minlength=n * n)
    solids = sorted(c for c in name if c)  # every pair of solid phases, 0 where none
    out_a, out_n = {}, {}
    for a_i, a in enumerate(solids):
        for b in solids[a_i:]:
            k = pair_key(name[a], name[b])
            out_a[k] = float(area[a * n + b] / box_volume)
            out_n[k] = int(count[a * n + b])
    return {"contact_area_per_volume": out_a, "contact_counts": out_n}


def _shared_faces(a: np.ndarray, b: np.ndarray, periodic_lateral: bool) -> int:
    """Number of voxel faces with an ``a`` voxel on one side and a ``b`` voxel on the other."""
    n = 0
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        a0, a1 = a[tuple(lo)], a[tuple(hi)]
        b0, b1 = b[tuple(lo)], b[tuple(hi)]
        n += int(np.count_nonzero(a0 & b1)) + int(np.count_nonzero(a1 & b0))
        if axis > 0 and periodic_lateral and a.shape[axis] > 1:
            first = np.take(a, 0, axis=axis), np.take(b, 0, axis=axis)
            last = np.take(a, -1, axis=axis), np.take(b, -1, axis=axis)
            n += int(np.count_nonzero(first[0] & last[1]))
            n += int(np.count_nonzero(last[0] & first[1]))
    return n


def _volume_quantiles(d: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Volume-weighted quantiles of equivalent-sphere diameters ``d`` (weights ``d^3``).

    Same definition as :func:`microstructure._psd.volume_quantile`, one sort for all ``qs``.
    """
    if d.size == 0:
        return [float("nan")] * len(qs)
    d = np.sort(d)
    cum = np.cumsum(d**3)
    cum /= cum[-1]
    return [float(np.interp(q, cum, d)) for q in qs]
