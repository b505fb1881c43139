"""The generated structure, its particle table and report, and their zarr v3 storage."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from solvers.phases import CAM, CARBON, PHASE_CODES
from solvers.transport import ContactConductance

from ._spec import ElectrodeSpec

#: Format marker written into every store.
STORE_FORMAT = "assb-microstructure/1"
_TABLE_COLUMNS = ("id", "phase", "center_um", "radius_um", "contact_i", "contact_j",
                  "contact_area_um2", "touches_cc", "touches_separator")


def check_margin(margin_um: object, name: str = "margin_um") -> float:
    """``margin_um`` as a float, or an error naming ``name`` when it is not a finite number
    of µm >= 0 (the wall margin of :meth:`Microstructure.bulk_slice`)."""
    if isinstance(margin_um, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a number of µm, got {margin_um!r}")
    try:
        margin = float(margin_um)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number of µm, got {margin_um!r}") from None
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {margin_um!r}")
    return margin


def default_wall_margin_um(spec: ElectrodeSpec) -> float:
    """The wall margin of a generated structure's bulk by default, µm: the larger volume-based
    d50 of CAM and SE (see :meth:`Microstructure.bulk_slice`)."""
    return max(p.psd.sampler().volume_quantile(0.5)
               for p in (spec.phases.cam, spec.phases.se))


def margin_voxels(margin_um: float, voxel_size_um: float, n0: int) -> int:
    """Whole voxels left out next to each wall for a margin of ``margin_um``: at least the
    margin, at most a quarter of the ``n0`` voxels through the plane."""
    return min(math.ceil(margin_um / voxel_size_um - 1e-9), n0 // 4)


def wall_bulk_slice(m: Microstructure, wall_margin_um: float | None) -> slice:
    """``m.bulk_slice()`` for the option ``wall_margin_um`` of ``analyze`` and
    ``structure_metrics`` (None: the default margin); a bad value is refused naming it."""
    return m.bulk_slice(margin_um=None if wall_margin_um is None
                        else check_margin(wall_margin_um, "wall_margin_um"))


@dataclass(frozen=True, eq=False)
class ParticleTable:
    """Every placed particle: CAM ids are 1..n_cam (as in ``particle_ids``), then SE, carbon.

    ``pressed``: the fine SE (see ``packing.se_fill_ratio``) follows.  First its grains seated
    in the continuum (``report.topology["se_grains"]`` rows: phase SE, the ball that holds the
    grain's volume in the free space), then the bodies of its voxel fill as the last
    ``report.topology["se_fill_bodies"]`` rows (phase SE, centre = mean voxel centre, radius of
    the sphere of equal volume; their contacts are the particles they share a voxel face
    with)."""

    id: np.ndarray
    """(n,) int32 particle id."""
    phase: np.ndarray
    """(n,) uint8 phase code (1 CAM, 2 SE, 3 carbon)."""
    center_um: np.ndarray
    """(n, 3) float32 centre in µm (through-plane, lateral, lateral)."""
    radius_um: np.ndarray
    """(n,) float32 radius in µm (``pressed``: as drawn, the press does not resize particles;
    the voxels draw them scaled by ``report.radius_scale``, which puts back the volume the SE
    gave up to its contacts)."""
    contact_i: np.ndarray | None = None
    """``pressed``: (m,) int32 id of the first particle of each contact (the contact graph)."""
    contact_j: np.ndarray | None = None
    """``pressed``: (m,) int32 id of the second particle of each contact (``contact_i < j``)."""
    contact_area_um2: np.ndarray | None = None
    """``pressed``: (m,) float32 contact area in µm² (the lens circle of the two spheres)."""
    touches_cc: np.ndarray | None = None
    """``pressed``: (n,) bool, the particle touches the current collector (x_0 = 0)."""
    touches_separator: np.ndarray | None = None
    """``pressed``: (n,) bool, the particle touches the separator face (x_0 = L)."""

    @classmethod
    def from_pressed(cls, centers: np.ndarray, radii: np.ndarray, phase: np.ndarray,
                     graph: Any) -> ParticleTable:
        """Table with the contact graph of a pressed packing."""
        n = len(radii)
        return cls(np.arange(1, n + 1, dtype=np.int32), np.asarray(phase, dtype=np.uint8),
                   np.asarray(centers, dtype=np.float32).reshape(-1, 3),
                   np.asarray(radii, dtype=np.float32), graph.i, graph.j, graph.area_um2,
                   np.asarray(graph.touches_cc, bool), np.asarray(graph.touches_separator, bool))

    @property
    def has_contacts(self) -> bool:
        """Whether the table carries a contact graph (``pressed`` mode)."""
        return self.contact_i is not None

    def hard_contact_radius_um(self) -> float | None:
        """Median radius (µm) of the contact circles between hard particles (CAM–CAM,
        CAM–carbon, carbon–carbon): the constrictions the electronic current runs through.

        ``None`` without a contact graph or without such a contact.  The electronic τ of a
        voxel image is resolved once the voxel is no larger than this (README, "Voxel size").
        """
        hard = self.hard_contacts()
        if hard is None or not hard[1].size:
            return None
        return float(np.median(hard[1]))

    def hard_contacts(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The contacts between hard particles (CAM, carbon): ``(m, 2)`` int64 particle ids and
        the ``(m,)`` float64 radius (µm) of the circle of each contact's area; ``None`` without
        a contact graph."""
        if not self.has_contacts:
            return None
        hard = np.isin(self.phase, (CAM, CARBON))
        both = hard[self.contact_i - 1] & hard[self.contact_j - 1]
        ids = np.stack([self.contact_i[both], self.contact_j[both]], axis=1).astype(np.int64)
        return ids, np.sqrt(self.contact_area_um2[both].astype(np.float64) / np.pi)

    def contact_pairs(self) -> np.ndarray:
        """(m, 2) contacts as 0-based row indices (for :func:`solvers.cam_utilization_graph`)."""
        if self.contact_i is None:
            raise ValueError("this particle table has no contact graph (packing.mode != "
                             "'pressed')")
        return np.stack([self.contact_i, self.contact_j], axis=1).astype(np.int64) - 1

    @classmethod
    def build(cls, cam_centers: np.ndarray, cam_radii: np.ndarray, soft: dict[str, Any]
              ) -> ParticleTable:
        """The table of a ``sequential`` or ``rsa`` build: the CAM spheres (centres and radii
        in µm), then each soft phase's in ``soft`` (``"se"``, ``"carbon"``: objects with
        ``centers`` and ``radii``), with ids 1..n in that order and no contact graph."""
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
    """What the generator aimed at, what it achieved, and what each step took.

    ``generate`` returns it as ``Microstructure.report``.  Fields marked *pressed* are filled by
    ``packing.mode = "pressed"`` (the default) and keep their empty defaults otherwise.

    Attributes
    ----------
    target, achieved : dict of str to float
        Volume fraction of the box per phase (``pore``, ``cam``, ``se``, ``carbon``): the
        spec's target and the voxel image's count.
    cam_overlap_fraction : float
        Lens volume of the CAM–CAM pairs / CAM sphere volume (dimensionless); *pressed*: the
        lenses of all hard pairs (CAM, carbon) / their volume at the end of the pressing.
    cam_max_relative_overlap : float
        Deepest CAM–CAM overlap / the smaller radius (dimensionless).
    n_particles : dict of str to int
        Particles per solid phase; *pressed*: the pressed ones (the fine SE's grains and fill
        bodies are counted in ``topology``).
    relax_iterations : int
        FIRE steps of the packing in all (0 for ``rsa``); *pressed*: compaction and hold.
    seconds : dict of str to float
        Wall time per step in s, and ``total``.  ``sequential`` / ``rsa``: ``pack``,
        ``voxelize``, ``fill`` (SE and carbon).  *pressed*: ``press`` (compaction and hold),
        ``se_grains`` (when the fine SE has grains of its own), ``contacts`` (the contact
        graph), ``voxelize`` (the topological voxelization and its radius corrections, on the
        device with ``device="cuda"``), ``se_coat`` and ``se_fill`` (on the host).
    device : str
        Where it was built: ``"cpu"`` or ``"cuda"``.
    rsa_failed : int
        ``rsa``: CAM particles that found no free place (0 otherwise).
    warnings : tuple of str
        The messages ``generate`` also issued as ``UserWarning``: values a lab would not
        have written (a density, a conductivity, a PSD off its lognormal), particles under 2
        voxels and, *pressed*, hard contacts much finer than the voxel.
    compaction_porosity : tuple of float
        *pressed*: porosity of the pressed skeleton, 1 − (volume of the particles pressed) /
        (box volume), after each compaction step.  The skeleton leaves out the fine SE that is
        pressed into its crevices afterwards (``packing.se_fill_ratio``), so with fine SE it
        ends above the electrode's ``composition.porosity``: 0.32 for the example's 15 %
        (``examples/nmc_lpscl.toml``, seed 0).
    compaction_stress : tuple of float
        *pressed*: piston force per area after each compaction step, relative to the last step
        (the model's contacts carry no absolute pressure).
    topology : dict of str to int
        *pressed*: ``contacts`` (edges of the contact graph), ``cam_particles``; the voxels the
        topology-preserving voxelization re-assigned to draw necks (``neck_voxels``), carved to
        pore to keep particles apart (``carved_voxels``), refused to a neck because a hard
        particle holds them (``blocked_neck_voxels``), and adjacent voxels of non-touching
        particles it could not separate (``unresolved_gaps``); the SE voxels of the coat
        (``se_coat_voxels``), of the fine SE's grains (``se_grain_voxels``, in ``se_grains``
        particles) and of the crevice fill (``se_fill_voxels``, in ``se_fill_bodies`` bodies,
        the last rows of the particle table).
    radius_scale : dict of str to float
        *pressed*: median factor by which each phase's pressed radii (those in the particle
        table) were scaled when drawn into voxels, to put the phase on its target fraction.
    se_fill_fraction : float
        *pressed*: volume fraction of the box planned for the fine SE under the fill cut: its
        grains and the crevice fill.  The fill also takes SE that the skeleton and its coat
        could not hold, so what it took is ``topology["se_fill_voxels"]``.
    lumped_fines : dict of str to float
        *pressed*: share (0–1) of each phase's PSD volume under 2 voxels, drawn instead from
        the rest of its PSD (see the warning); a smaller voxel removes it.
    hold_load : float
        *pressed*: the pull of the hold (``packing.se_extrusion``) relative to its full value:
        1 as specified; 0.5, 0.25 or 0.125 where the hard skeleton, pressed close to
        ``packing.max_cam_overlap``, could not carry more; 0 without a hold.
    """

    target: dict[str, float]
    achieved: dict[str, float]
    cam_overlap_fraction: float
    cam_max_relative_overlap: float
    n_particles: dict[str, int]
    relax_iterations: int
    seconds: dict[str, float]
    device: str
    rsa_failed: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)
    compaction_porosity: tuple[float, ...] = ()
    compaction_stress: tuple[float, ...] = ()
    topology: dict[str, int] = field(default_factory=dict)
    radius_scale: dict[str, float] = field(default_factory=dict)
    se_fill_fraction: float = 0.0
    lumped_fines: dict[str, float] = field(default_factory=dict)
    hold_load: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain Python (tuples as lists), for JSON and the zarr store.

        >>> from microstructure import GenerationReport
        >>> r = GenerationReport(target={"cam": 0.5}, achieved={"cam": 0.5},
        ...                      cam_overlap_fraction=0.0, cam_max_relative_overlap=0.0,
        ...                      n_particles={"cam": 1}, relax_iterations=0,
        ...                      seconds={"total": 0.1}, device="cpu",
        ...                      compaction_porosity=(0.4, 0.3))
        >>> r.to_dict()["compaction_porosity"]
        [0.4, 0.3]
        """
        d = asdict(self)
        d["warnings"] = list(self.warnings)
        d["compaction_porosity"] = list(self.compaction_porosity)
        d["compaction_stress"] = list(self.compaction_stress)
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
    carbon_ids: np.ndarray | None = None
    """int32 carbon particle id (its row in ``particles`` + 1) per voxel, 0 elsewhere; with the
    contact graph of a pressed packing that has carbon (else None).  With ``particle_ids`` it
    tells which particle each face of the electronic network belongs to, for the contact
    conductance of :meth:`electronic_contacts`."""

    def __post_init__(self) -> None:
        h = self.voxel_size_um
        if (isinstance(h, (bool, np.bool_)) or not isinstance(h, (int, float, np.number))
                or not math.isfinite(h) or h <= 0):
            raise ValueError(f"voxel_size_um must be a finite number > 0 (µm), got {h!r}")
        if not math.isclose(float(h), self.spec.domain.voxel_size_um, rel_tol=1e-9):
            raise ValueError(f"voxel_size_um is {h} µm but spec.domain.voxel_size_um is "
                             f"{self.spec.domain.voxel_size_um} µm; they must be equal")
        shape = tuple(getattr(self.phases, "shape", ()))
        if len(shape) != 3 or shape != tuple(self.spec.domain.shape):
            raise ValueError(f"phases has shape {shape} but spec.domain.shape is "
                             f"{tuple(self.spec.domain.shape)}; they must be equal")
        for name in ("particle_ids", "carbon_ids"):
            a = getattr(self, name)
            if a is not None and tuple(a.shape) != shape:
                raise ValueError(f"{name} has shape {tuple(a.shape)}, phases {shape}; they "
                                 "must be equal")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.phases.shape)  # type: ignore[return-value]

    def __repr__(self) -> str:
        ach = ""
        if self.report is not None:
            ach = ", " + ", ".join(f"{k}={v:.3f}" for k, v in self.report.achieved.items())
        return (f"Microstructure(shape={self.shape}, voxel_size_um={self.voxel_size_um}, "
                f"seed={self.seed}{ach})")

    def electronic_contacts(self, *, within: slice | None = None) -> ContactConductance | None:
        """The contacts of the electronic network (CAM-CAM, CAM-carbon, carbon-carbon) for the
        sub-voxel contact conductance of :func:`solvers.transport_properties`; ``within`` a
        through-plane slice (:meth:`bulk_slice`): the contacts of that part of the box
        (:meth:`solvers.ContactConductance.subvolume`).

        Labels are the particle ids of the CAM (``particle_ids``) and carbon (``carbon_ids``)
        voxels, the pairs and radii those of the contact graph (radius of the circle of the
        contact's area).  None without a contact graph (packing modes other than ``pressed``,
        imported images) or where the carbon voxels are not labelled (a store written before
        0.9).

        Examples
        --------
        >>> import warnings, microstructure as ms
        >>> spec = ms.load_spec(ms.default_spec_path()).updated(
        ...     {"domain.shape": [48, 40, 40], "domain.voxel_size_um": 0.5})
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # SE, carbon under 2 voxels at 0.5 um
        ...     m = ms.generate(spec, seed=3)
        >>> cc = m.electronic_contacts()
        >>> bool((cc.radius_um >= 0).all()), cc.labels.shape == m.shape   # 0: tangent
        (True, True)
        >>> m.electronic_contacts(within=m.bulk_slice()).labels.shape
        (34, 40, 40)
        """
        hard = self.particles.hard_contacts()
        has_carbon = bool(np.any(np.asarray(self.particles.phase) == CARBON))
        if hard is None or (has_carbon and self.carbon_ids is None):
            return None
        labels = self.particle_ids
        if has_carbon:
            labels = np.where(self.carbon_ids > 0, self.carbon_ids, labels)
        cc = ContactConductance(labels, *hard, float(self.voxel_size_um))
        return cc if within is None else cc.subvolume(within)

    def bulk_slice(self, *, margin_um: float | None = None) -> slice:
        """The through-plane slice (axis 0) of the electrode's bulk, for transport.

        A generated structure is pressed between two flat walls, the current collector and the
        separator.  Next to a wall the packing is not that of the bulk, and a hard particle
        touches the wall at a point: how much of it the first voxel layer holds depends on the
        voxel, and at the separator face (``touches_separator``) on whether one CAM particle
        happens to touch it.  A solve through the whole thickness therefore measures these
        wall contacts and layers along with the material: the electronic τ of the example with
        0.9 µm carbon read 14-19 % lower at 0.25 µm than at 0.0625 µm (the bulk's -0.7 to
        +0.4 %), and in a 16 µm thick box it was infinite for two seeds of four (no CAM on the
        separator face; the bulk's 13-19 for all four); see ``benchmarks/RESULTS.md``, sessions
        19 and 25.
        Effective conductivities and τ are a property of the bulk, as in a cell model;
        :func:`microstructure.studies.analyze` solves on this slice.

        Parameters
        ----------
        margin_um : float, optional
            Thickness left out next to each wall, µm.  Default: the larger volume-based d50
            of CAM and SE for a generated structure (a flat wall orders a packing over about
            one particle diameter: pores in the first half micrometre, and in a pressed 80:20
            NCM : 5 µm SE a quarter of the bulk's SE up to 4.5 µm from the collector), 0 for
            an imported one (a measured volume is already a cut through the bulk).  Rounded up
            to whole voxels, and at most a quarter of the thickness on each side (a larger
            margin given here is reduced to that, with a warning).

        Returns
        -------
        slice
            ``phases[m.bulk_slice()]`` is the bulk; ``slice(0, n0)`` for a margin of 0.

        Examples
        --------
        >>> import warnings, microstructure as ms
        >>> spec = ms.load_spec(ms.default_spec_path()).updated(
        ...     {"domain.shape": [48, 40, 40], "domain.voxel_size_um": 0.5})
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # SE, carbon under 2 voxels at 0.5 um
        ...     m = ms.generate(spec, seed=3)
        >>> m.bulk_slice()                          # NCM82 d50 3.3 um: 7 voxels
        slice(7, 41, None)
        >>> m.bulk_slice(margin_um=0)
        slice(0, 48, None)
        """
        n0 = self.shape[0]
        h = float(self.voxel_size_um)
        given = margin_um is not None
        if margin_um is None:                # imported: no walls of ours
            margin_um = 0.0 if self.report is None else default_wall_margin_um(self.spec)
        margin_um = check_margin(margin_um)
        c = margin_voxels(margin_um, h, n0)
        if given and c * h < margin_um - 1e-9 * h:
            warnings.warn(f"margin_um = {margin_um:g} µm is more than a quarter of the "
                          f"{n0 * h:g} µm thickness; {c * h:g} µm is left out next to each "
                          "wall instead", UserWarning, stacklevel=2)
        return slice(c, n0 - c)

    def save(self, path: str | Path, *, overwrite: bool = True) -> Path:
        """Write to a zarr v3 store (chunked, zstd-compressed) with spec, seed and version.

        The store is written next to ``path`` under a temporary name, flushed to disk and moved
        into place when complete (an existing store is swapped atomically where Linux
        ``renameat2`` allows, else by two renames), so ``path`` never holds a half-written
        store; leftovers of a killed save are removed by the next save to ``path``.  Every chunk is
        written (also all-zero ones) and ``attrs["integrity"]`` records each array's shape, dtype
        and SHA-256, which :func:`open_microstructure` verifies.

        Parameters
        ----------
        path : str or Path
            The store (a directory).  It may be absent, an empty directory or, with
            ``overwrite=True``, an existing assb store, which is replaced -- with it the
            analysis ``assb analyze`` stored in it (``attrs["analysis"]``).  A symbolic link is
            followed: the store it points to is written.
        overwrite : bool
            Replace an existing assb store at ``path`` (True by default, unlike ``assb generate``,
            which asks for ``--overwrite``).

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
        ...     warnings.simplefilter("ignore")  # SE, carbon under 2 voxels at 0.5 um
        ...     m = ms.generate(spec, seed=3)
        >>> p = m.save(tempfile.mkdtemp() + "/m.zarr")
        >>> bool((ms.open(p).phases == m.phases).all())
        True
        """
        from ._zarr_store import write_store

        return write_store(self, path, overwrite=overwrite)
