"""The electrode spec: what an engineer writes on a mixing sheet, validated.

The TOML shape (``examples/nmc_lpscl.toml``) is a contract other tools rely on::

    [domain]       shape = [nz, ny, nx] or size_um = [z, y, x], voxel_size_um,
                   periodic_lateral
    [composition]  basis = "weight" | "volume", porosity (or bulk_density_g_cm3, or
                   pellet = {mass_mg, diameter_mm, thickness_um}: see ``_density``)
    [phases.cam]   material, density_g_cm3, fraction, psd = {...}   (required)
    [phases.se]    ...                                               (required)
    [phases.carbon] ...                                              (optional)
    [packing]      mode, se_cam_overlap, ...                         (optional)

Fractions are relative parts of the *solids* (they need not sum to 100).  With
``basis = "weight"`` they are converted to volume with the densities:
``v_i = (w_i / rho_i) / sum_j (w_j / rho_j)``.  The pore fraction of the box is ``porosity``;
a solid phase occupies ``v_i * (1 - porosity)`` of the box.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from solvers.phases import PHASE_CODES

from ._changes import apply_changes
from ._density import derive_porosity, solids_density, volume_fractions
from ._psd_spec import PSD
from ._spec_model import SpecModel

#: Phase codes used in every voxel array of the project.
SOLID_PHASES = ("cam", "se", "carbon")

#: Highest CAM box fraction the dense packing is asked to reach (polydisperse jamming ~0.68).
MAX_CAM_BOX_FRACTION = 0.68

#: Default conductivities (S/cm, 25 °C) from the domain brief, used when a phase gives none.
DEFAULT_CONDUCTIVITY = {
    "cam": {"ionic": 0.0, "electronic": 1e-2},
    "se": {"ionic": 3e-3, "electronic": 1e-8},
    "carbon": {"ionic": 0.0, "electronic": 5.0},
}


class SpecError(ValueError):
    """An electrode spec is invalid; the message names each offending field."""


#: Conductivities a phase may give: the transport solves use the SE's ionic one and CAM's and
#: carbon's electronic ones (``transport_conductivities``).
USED_CONDUCTIVITIES = {"cam": "electronic", "se": "ionic", "carbon": "electronic"}


class PhaseSpec(SpecModel):
    """One solid phase of the mix."""

    material: str = ""
    density_g_cm3: Annotated[float, Field(gt=0)] | None = None
    fraction: Annotated[float, Field(ge=0)]
    """Relative part (weight or volume, by ``composition.basis``) of the solids."""
    psd: PSD
    ionic_conductivity_S_cm: Annotated[float, Field(ge=0)] | None = None
    """S/cm; the SE's only (the ionic network is the SE)."""
    electronic_conductivity_S_cm: Annotated[float, Field(ge=0)] | None = None
    """S/cm; CAM's and carbon's only (the electronic network)."""


class PhasesSpec(SpecModel):
    cam: PhaseSpec
    se: PhaseSpec
    carbon: PhaseSpec | None = None


class DomainSpec(SpecModel):
    shape: tuple[Annotated[int, Field(ge=8)], Annotated[int, Field(ge=8)],
                 Annotated[int, Field(ge=8)]]
    """Voxels (nz, ny, nx); axis 0 is through-plane, index 0 touches the current collector."""
    voxel_size_um: Annotated[float, Field(gt=0)]
    periodic_lateral: bool = True
    size_um: tuple[float, float, float] | None = None
    """Box edges in µm (electrode thickness, then the two lateral edges), instead of
    ``shape``: the shape is then ``size_um / voxel_size_um`` rounded to whole voxels, and stays
    so when the voxel size changes (:meth:`ElectrodeSpec.updated`, sweeps)."""

    @model_validator(mode="before")
    @classmethod
    def _shape_from_size(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("shape") is None and data.get("size_um") is None:
            raise ValueError("give shape (voxels) or size_um (um)")
        if not isinstance(data, dict) or data.get("size_um") is None:
            return data
        size, h = data["size_um"], data.get("voxel_size_um")
        ok = (isinstance(size, (list, tuple)) and len(size) == 3
              and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                      and math.isfinite(v) and v > 0 for v in size))
        if not ok:
            raise ValueError("size_um must be three lengths > 0 in um (thickness, then the "
                             f"lateral edges), got {size!r}")
        if (isinstance(h, bool) or not isinstance(h, (int, float)) or not h > 0
                or not math.isfinite(h)):
            # the field's own check names voxel_size_um; a stand-in shape keeps a second,
            # misleading "shape: Field required" out of the message
            return {**data, "shape": data.get("shape") or (8, 8, 8)}
        shape = [round(v / h) for v in size]
        if min(shape) < 8:
            raise ValueError(f"size_um {list(size)} at voxel_size_um {h} is {shape} voxels; "
                             "at least 8 per axis")
        given = data.get("shape")
        if given is not None and list(given) != shape:
            raise ValueError(f"shape {list(given)} and size_um {list(size)} disagree at "
                             f"voxel_size_um {h} (size_um gives {shape}); give one of them")
        return {**data, "shape": shape}


class PelletSpec(SpecModel):
    """A pressed pellet as weighed and measured: its geometric density gives the porosity."""

    mass_mg: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    diameter_mm: Annotated[float, Field(gt=0, allow_inf_nan=False)]  # of the die
    thickness_um: Annotated[float, Field(gt=0, allow_inf_nan=False)]  # domain sets the box


class CompositionSpec(SpecModel):
    basis: Literal["weight", "volume"] = "weight"
    porosity: Annotated[float, Field(ge=0, lt=1)] | None = None
    """Pore volume fraction of the whole box, in [0, 1); derived from ``bulk_density_g_cm3``
    or ``pellet`` when one of them is given instead."""
    bulk_density_g_cm3: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """Measured geometric density of the pressed composite (mass / volume): the porosity is
    ``1 - bulk / solids`` with the solids' density from the phases' densities."""
    pellet: PelletSpec | None = None
    """A weighed pellet (mass, die diameter, thickness), for its bulk density."""

    @model_validator(mode="after")
    def _one_given(self) -> CompositionSpec:
        if self.porosity is None and self.bulk_density_g_cm3 is None and self.pellet is None:
            raise ValueError("composition.porosity missing: give it, or bulk_density_g_cm3 "
                             "(g/cm³), or pellet = { mass_mg, diameter_mm, thickness_um }")
        return self


class PackingSpec(SpecModel):
    """How the structure is built (all optional)."""

    mode: Literal["pressed", "sequential", "dense", "rsa"] = "pressed"
    """``pressed`` (the default): CAM, SE and carbon particles placed as a loose powder and
    pressed uniaxially along axis 0 to the target porosity (see ``se_ductility``), the finest SE
    filling the crevices afterwards (``se_fill_ratio``); contacts are those of the packing and
    the voxelization keeps them, so θ does not depend on the voxel size or the connectivity.
    ``sequential`` (the model before; ``dense`` is its old name):
    CAM spheres packed alone by force-biased relaxation, then SE and carbon poured into the
    remaining space as freely overlapping spheres.  ``rsa``: plain random sequential addition
    of hard CAM spheres, no densification (jams near 0.38 for equal spheres; a validation mode).
    """
    se_ductility: Annotated[float, Field(ge=1, le=1000)] = 10.0
    """``pressed``: how much more an SE contact flattens than a CAM contact under the same load
    (ratio of contact stiffnesses; Young's moduli of Ni-rich NCM ~200 GPa and of sulfide SE
    ~20-25 GPa, plus plastic flow).  1 = SE as hard as CAM."""
    carbon_adhesion: Annotated[float, Field(ge=0, le=1)] = 0.05
    """``pressed``: adhesion of carbon to whatever it touches, as the resting overlap of a
    carbon contact relative to its reduced radius (0: no adhesion)."""
    se_fill_ratio: Annotated[float, Field(ge=0, le=1)] = 0.25
    """``pressed``: SE particles finer than this fraction of the CAM d50 (by volume) are not
    pressed one by one: fine powder pressed with a coarse one ends up in the narrowest gaps of
    the coarse skeleton, so they are pressed in grain by grain where the gap between two
    particle surfaces is narrowest (necks around contacts, crevices).  0: every SE particle is
    pressed.  The fill takes at most the volume beyond a skeleton solid fraction of 0.68, so
    raising the ratio cannot loosen the pressed skeleton below that (a looser, barely jammed
    skeleton without carbon lost its CAM contacts: θ 0.01 at 70:30 NCM 5 µm : LPSCl 1.5 µm)."""
    se_extrusion: Annotated[float, Field(ge=0, le=2)] = 1.5
    """``pressed``: how thick an SE film between two CAM particles the pressing load squeezes
    out: the reach of the hold's pull, relative to the pair's reduced radius
    ``r_i r_j / (r_i + r_j)`` (1.5: ~1.9 µm between two 5 µm particles; the pull falls
    linearly to zero there, so a lone SE grain between them gives way up to about half the
    reach: ~0.9 µm, ~1.7 µm between two 8 µm particles, measured; 0.7 left 1.5 µm SE 0.2 %
    below 3 µm SE at 70:30 without carbon).  After the last piston step the
    press holds its load: it concentrates on near-contacts of the hard CAM and pulls such
    pairs together; the SE between them gives way if it is fine (its contact force grows with
    its own, smaller reduced radius), a coarse grain holds them apart.  Without it a fine SE
    (1.5 µm around 5 µm NCM, 70:30, no carbon) left 0.6x the CAM–CAM contacts of a 3 µm SE
    and 3x the CAM pairs within 0.1 µm of each other: θ 0.89 against 0.99; with it both give
    0.99.  0: no hold."""
    compaction_steps: Annotated[int, Field(ge=1, le=200)] = 8
    """``pressed``: piston steps from the loose powder (2.6 x the thickness) to the thickness."""
    compaction_iter: Annotated[int, Field(ge=10, le=100000)] = 250
    """``pressed``: relaxation (FIRE) steps at most per compaction step (the last gets 2 x)."""
    se_cam_overlap: Annotated[float, Field(ge=0, le=1)] = 0.25
    """``sequential``: how far an SE or carbon particle may reach into a CAM particle, as a
    fraction of its own radius (0: touching only).  SE particles overlap each other freely
    (soft, pressed)."""
    max_cam_overlap: Annotated[float, Field(gt=0, le=0.05)] = 0.01
    """Largest accepted CAM–CAM overlap volume, as a fraction of CAM volume (``pressed``: of
    all hard CAM/carbon pairs, the sign that the porosity is below what pressing reaches)."""
    fraction_tolerance: Annotated[float, Field(gt=0, le=0.05)] = 0.005
    """Largest accepted |achieved - target| volume fraction of the box, per phase."""
    max_iter: Annotated[int, Field(ge=10)] = 20000
    """``sequential``: relaxation step limit."""


class ElectrodeSpec(SpecModel):
    """A validated composite-cathode spec.

    Build it in Python or read it from TOML with :func:`load_spec`.

    Examples
    --------
    >>> from microstructure import ElectrodeSpec
    >>> spec = ElectrodeSpec.model_validate({
    ...     "domain": {"shape": [64, 64, 64], "voxel_size_um": 0.5},
    ...     "composition": {"basis": "weight", "porosity": 0.1},
    ...     "phases": {
    ...         "cam": {"density_g_cm3": 4.75, "fraction": 80,
    ...                 "psd": {"kind": "lognormal", "d50_um": 5, "d90_um": 8}},
    ...         "se": {"density_g_cm3": 2.59, "fraction": 20,
    ...                "psd": {"kind": "lognormal", "d50_um": 1, "d90_um": 2}},
    ...         "carbon": {"density_g_cm3": 1.96, "fraction": 3,
    ...                    "psd": {"kind": "lognormal", "d50_um": 0.5, "d90_um": 0.8}}}})
    >>> {k: round(v, 3) for k, v in spec.solid_volume_fractions().items()}
    {'cam': 0.645, 'se': 0.296, 'carbon': 0.059}
    """

    domain: DomainSpec
    composition: CompositionSpec
    phases: PhasesSpec
    packing: PackingSpec = PackingSpec()

    @model_validator(mode="before")
    @classmethod
    def _porosity_from_density(cls, data: Any) -> Any:
        return derive_porosity(data)

    @model_validator(mode="after")
    def _check(self) -> ElectrodeSpec:
        phases = self.present_phases()
        if self.composition.basis == "weight":
            missing = [f"phases.{n}.density_g_cm3" for n, p in phases.items()
                       if p.density_g_cm3 is None]
            if missing:
                raise ValueError(
                    f"{', '.join(missing)} required when composition.basis = 'weight'"
                )
        for name, p in phases.items():
            for kind in ("ionic", "electronic"):
                if kind != USED_CONDUCTIVITIES[name] and (
                        getattr(p, f"{kind}_conductivity_S_cm") is not None):
                    raise ValueError(
                        f"phases.{name}.{kind}_conductivity_S_cm is not used: the transport "
                        "solves take the SE's ionic conductivity and CAM's and carbon's "
                        "electronic one (Li through touching CAM is cam_utilization's "
                        "'cam_relay' rule); remove it")
        total = sum(p.fraction for p in phases.values())
        if total <= 0:
            raise ValueError("phases.*.fraction: all solid fractions are 0; nothing to build")
        for name in ("cam", "se"):
            if phases[name].fraction <= 0:
                raise ValueError(f"phases.{name}.fraction must be > 0, got {phases[name].fraction}")
        if self.composition.porosity is None:   # (derived from a density when valid)
            raise ValueError("composition.porosity could not be derived; give porosity")
        box = self.target_fractions()
        if self.packing.mode != "rsa" and box["cam"] > MAX_CAM_BOX_FRACTION:
            vol = self.solid_volume_fractions()
            how = ", ".join(f"{n} {vol[n]:.3f}" + ("" if p.density_g_cm3 is None else
                                                   f" ({p.density_g_cm3:g} g/cm³)")
                            for n, p in phases.items())
            raise ValueError(
                f"phases.cam.fraction = {phases['cam'].fraction} with porosity "
                f"{self.composition.porosity} asks for CAM = {box['cam']:.3f} of the box; random "
                f"packing of spheres cannot exceed {MAX_CAM_BOX_FRACTION}: lower the CAM fraction "
                f"or raise the porosity (the solids by volume: {how}; check the densities, and "
                "that the fractions are parts on one scale, 70 and 30, not 70 and 0.3)"
            )
        if self.packing.mode == "rsa" and box["cam"] > 0.40:
            raise ValueError(
                f"packing.mode = 'rsa' jams near 0.38 CAM box fraction, but the spec asks for "
                f"{box['cam']:.3f}: use packing.mode = 'pressed' or 'sequential'"
            )
        lengths = self.box_um()
        grow = ("domain.size_um" if self.domain.size_um is not None
                else "domain.shape or domain.voxel_size_um")
        for name, p in phases.items():
            d_max = p.psd.sampler().d_max
            limit = lengths[0] if self.domain.periodic_lateral else min(lengths)
            limit = min(limit, min(lengths[1:]))
            if d_max >= limit:
                raise ValueError(
                    f"phases.{name}.psd: largest particle ({d_max:.3g} um) does not fit the box "
                    f"({lengths[0]:.3g} x {lengths[1]:.3g} x {lengths[2]:.3g} um); enlarge "
                    f"{grow}"
                )
        return self

    # -- derived quantities -------------------------------------------------------------
    def present_phases(self) -> dict[str, PhaseSpec]:
        """The solid phases in the spec, by name (``cam``, ``se`` and maybe ``carbon``)."""
        out = {"cam": self.phases.cam, "se": self.phases.se}
        if self.phases.carbon is not None:
            out["carbon"] = self.phases.carbon
        return out

    def solid_volume_fractions(self) -> dict[str, float]:
        """Volume fraction of each solid phase among the solids (sums to 1)."""
        phases = self.present_phases()
        return volume_fractions({n: p.fraction for n, p in phases.items()},
                                {n: p.density_g_cm3 for n, p in phases.items()},
                                self.composition.basis)

    def solid_weight_fractions(self) -> dict[str, float]:
        """Weight fraction of each solid phase (needs densities with a volume basis)."""
        phases = self.present_phases()
        if self.composition.basis == "weight":
            total = sum(p.fraction for p in phases.values())
            return {n: p.fraction / total for n, p in phases.items()}
        if any(p.density_g_cm3 is None for p in phases.values()):
            raise ValueError("weight fractions need phases.*.density_g_cm3")
        parts = {n: p.fraction * p.density_g_cm3 for n, p in phases.items()}
        total = sum(parts.values())
        return {n: v / total for n, v in parts.items()}

    def bulk_density_g_cm3(self) -> float | None:
        """Geometric density of the composite at the target porosity, g/cm³
        (``(1 - porosity) sum_i v_i rho_i``), or None without every phase's density."""
        solids = {n: p for n, p in self.present_phases().items() if p.fraction > 0}
        dens = {n: p.density_g_cm3 for n, p in solids.items()}
        if any(d is None for d in dens.values()):
            return None
        parts = {n: p.fraction for n, p in solids.items()}
        rho_mix = solids_density(parts, dens, self.composition.basis)  # type: ignore[arg-type]
        return (1.0 - float(self.composition.porosity or 0.0)) * rho_mix

    def target_fractions(self) -> dict[str, float]:
        """Target volume fraction of the box for ``pore``, ``cam``, ``se`` and ``carbon``."""
        eps = float(self.composition.porosity or 0.0)   # never None once validated
        out = {"pore": eps}
        for n in SOLID_PHASES:
            out[n] = 0.0
        for n, v in self.solid_volume_fractions().items():
            out[n] = v * (1 - eps)
        return out

    def box_um(self) -> tuple[float, float, float]:
        """Box edge lengths in µm."""
        h = self.domain.voxel_size_um
        return tuple(float(s * h) for s in self.domain.shape)  # type: ignore[return-value]

    def conductivities(self, kind: Literal["ionic", "electronic"]) -> dict[int, float]:
        """``{phase_code: S/cm}`` for ``kind``, from the spec or the domain-brief defaults."""
        if kind not in ("ionic", "electronic"):
            raise ValueError(f"kind must be 'ionic' or 'electronic', got {kind!r}")
        out: dict[int, float] = {}
        for n, p in self.present_phases().items():
            value = getattr(p, f"{kind}_conductivity_S_cm")
            out[PHASE_CODES[n]] = DEFAULT_CONDUCTIVITY[n][kind] if value is None else value
        return out

    def transport_conductivities(self) -> dict[int, float]:
        """``{phase_code: S/cm}`` for :func:`solvers.transport_properties`, as ``analyze``
        solves: the SE's ionic conductivity, CAM's and carbon's electronic one (those present).

        >>> import microstructure as ms
        >>> sorted(ms.load_spec(ms.default_spec_path()).transport_conductivities())
        [1, 2, 3]
        """
        present = self.present_phases()
        return {PHASE_CODES[n]: self.conductivities(kind)[PHASE_CODES[n]]
                for n, kind in USED_CONDUCTIVITIES.items() if n in present}

    def areal_loading_mg_cm2(self) -> float | None:
        """CAM mass per electrode area (mg/cm²), or None without a CAM density."""
        rho = self.phases.cam.density_g_cm3
        if rho is None:
            return None
        thickness_cm = self.box_um()[0] * 1e-4
        return self.target_fractions()["cam"] * rho * thickness_cm * 1e3

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "spec") -> ElectrodeSpec:
        """Validate ``data``; raise :class:`SpecError` naming every bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(_format_errors(exc, source)) from None

    def updated(self, changes: dict[str, Any]) -> ElectrodeSpec:
        """A copy with fields replaced by dotted path, e.g. ``{"phases.cam.fraction": 60}``.

        A box given in µm (``domain.size_um``) keeps its size when ``domain.voxel_size_um``
        changes; setting ``domain.shape`` gives the box in voxels instead.  A whole table is
        set before the keys inside it, whatever their order in ``changes`` (as in a sweep), and
        the values are copied.
        """
        data = self.model_dump(mode="python", exclude_none=True)
        try:
            apply_changes(data, changes)
        except KeyError as exc:   # a path with an unknown table in it
            raise SpecError(f"invalid updated spec:\n  {exc.args[0]}") from None
        return ElectrodeSpec.from_dict(data, source="updated spec")


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("lognormal", "table")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here; check the spelling)"
        elif err["type"] == "union_tag_not_found":   # a psd without its kind
            msg = ('needs kind = "lognormal" (two or three of d10_um, d50_um, d90_um) or '
                   'kind = "table" (diameters_um, cumulative)')
        where = f"{loc}: " if loc else ""
        got = ""
        if err["type"] not in ("missing", "value_error") and "input" in err:
            got = f" (got {err['input']!r})"
        lines.append(f"  {where}{msg}{got}")
    return f"invalid {source}:\n" + "\n".join(lines)


def load_spec(path: str | Path) -> ElectrodeSpec:
    """Read and validate an electrode spec from a TOML file.

    Examples
    --------
    >>> from microstructure import load_spec, default_spec_path
    >>> spec = load_spec(default_spec_path())
    >>> spec.domain.shape
    (200, 128, 128)
    """
    path = Path(path)
    return ElectrodeSpec.from_dict(read_toml(path, what="spec", error=SpecError),
                                   source=str(path))


def read_toml(path: Path, *, what: str, error: type[Exception]) -> dict[str, Any]:
    """Parse a TOML file; a missing file or bad TOML raises with the path in the message."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"invalid TOML in {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not a TOML text file (byte {exc.start} is not UTF-8)"
                    ) from None


def default_spec_path() -> Path:
    """Path of the embedded default spec (NCM82 : Li6PS5Cl : C65 = 70 : 30 : 1 w/w)."""
    return Path(__file__).parent / "data" / "nmc_lpscl.toml"
