"""Voxel convergence of one composition: the same box built at h, h/2, ... and compared.

θ must not depend on the voxel (the pressed generator keeps the contact graph at every voxel),
but the transport does, a little: the ionic τ converges at first order (each halving of the
voxel removes about half of what is left), so two levels also give its limit,
``(r τ(h/r) - τ(h)) / (r - 1)`` with ``r`` the ratio of the two finest voxels (README, "Voxel
size").  :func:`resolution_study` is what ``assb resolution SPEC`` runs.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from microstructure import ElectrodeSpec, generate
from microstructure._generate_pressed import voxel_fill_share
from microstructure._microstructure import check_margin, default_wall_margin_um, margin_voxels
from microstructure._se_grains import GRAIN_VOXELS

from ._analysis import analyze
from .rows import flat_row

#: The most voxel halvings a study takes (each multiplies the voxels by 8).
MAX_LEVELS = 4


@dataclass(frozen=True)
class ResolutionLevel:
    """One build of a :func:`resolution_study`: one voxel size and one seed."""

    voxel_size_um: float
    """Edge of a voxel, µm."""
    shape: tuple[int, int, int]
    """Voxels along axes 0 (through-plane), 1, 2."""
    seed: int
    theta_strict: float
    """Static CAM utilization, strict rule (fraction of the CAM volume)."""
    theta_relay: float
    """Static CAM utilization, CAM-relay rule (fraction of the CAM volume)."""
    ionic_tau: float
    """Tortuosity factor of the SE network through the plane (bulk; NaN without transport)."""
    electronic_tau: float
    """Tortuosity factor of the CAM + carbon network through the plane (bulk; NaN without
    transport)."""
    seconds: float
    """Wall time of the build and its analysis, s."""
    lumped_fines: dict[str, float]
    """Volume share of each phase's PSD under 2 voxels, drawn from the rest of its PSD instead
    (0-1; ``GenerationReport.lumped_fines``): where it differs between levels, so does the
    powder."""
    wall_margin_um: float
    """Thickness left out next to each wall for the τ, µm (the bulk's margin; NaN without
    transport).  The same at every level: the coarsest voxel's whole voxels."""
    voxel_fill_share: float = 0.0
    """Share of the SE volume in fine-SE grains under 3 voxels, pressed in as a voxel fill
    whose links depend on the voxel (0-1; the grains of 3 voxels and more are particles)."""


@dataclass(frozen=True)
class ResolutionStudy:
    """The builds of a :func:`resolution_study`, coarsest voxel first."""

    levels: tuple[ResolutionLevel, ...]

    def voxel_sizes(self) -> list[float]:
        """The voxel sizes studied, µm, coarsest first."""
        return sorted({lv.voxel_size_um for lv in self.levels}, reverse=True)

    def values(self, name: str, voxel_size_um: float) -> np.ndarray:
        """Field ``name`` (e.g. ``"ionic_tau"``) of the builds at ``voxel_size_um``, one per
        seed."""
        return np.array([getattr(lv, name) for lv in self.levels
                         if lv.voxel_size_um == voxel_size_um], dtype=np.float64)

    def mean(self, name: str, voxel_size_um: float) -> float:
        """Mean of field ``name`` (e.g. ``"ionic_tau"``) over the seeds at ``voxel_size_um``."""
        vals = self.values(name, voxel_size_um)
        return float(vals.mean()) if vals.size else math.nan

    def extrapolated_ionic_tau(self) -> float:
        """First-order limit of the ionic τ from the two finest voxels (means over seeds):
        ``(r τ_fine - τ_coarse) / (r - 1)``, ``r`` their ratio; NaN with one voxel size."""
        sizes = self.voxel_sizes()
        if len(sizes) < 2:
            return math.nan
        coarse, fine = sizes[-2], sizes[-1]
        r = coarse / fine
        return (r * self.mean("ionic_tau", fine) - self.mean("ionic_tau", coarse)) / (r - 1)

    def summary(self, label: str = "") -> str:
        """The table ``assb resolution`` prints (:func:`format_resolution`)."""
        return format_resolution(self, label=label)


class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C during a :func:`resolution_study`: ``study`` holds the builds that finished."""

    def __init__(self, study: ResolutionStudy) -> None:
        super().__init__(f"interrupted after {len(study.levels)} build(s)")
        self.study = study


def resolution_study(spec: ElectrodeSpec, *, levels: int = 2, seeds: Sequence[int] = (0,),
                     device: str = "cpu", transport: bool = True,
                     wall_margin_um: float | None = None,
                     progress: bool = False) -> ResolutionStudy:
    """Build ``spec``'s box at its voxel and ``levels - 1`` halvings of it, for every seed, and
    measure θ (both rules) and the through-plane τ of both networks on each.

    The τ are those of the bulk (as :func:`~microstructure.studies.analyze` solves them), cut
    as the same slab at every level: the margin next to each wall is rounded up to whole
    voxels of the coarsest level, which are whole voxels of every finer one.  (Rounded at each
    level on its own, a 3.3 µm margin would leave out 3.5 µm at 0.7 µm and 3.325 µm at
    0.175 µm, and the change between levels would include that of the slab.)

    Parameters
    ----------
    spec : ElectrodeSpec
        The composition and the coarsest voxel; the box (µm) is kept at every level.
    levels : int
        Voxel sizes: ``h, h/2, ..., h / 2**(levels - 1)`` (2 to ``MAX_LEVELS``; each halving
        multiplies the voxels by 8).
    seeds : sequence of int
        Seeds built at every level (the spread between seeds is the scale against which a
        change with the voxel is judged).
    device : {"cpu", "cuda"}
        Where the builds and solves run.
    transport : bool
        Also solve the ionic and electronic τ (NaN otherwise).
    wall_margin_um : float, optional
        Thickness left out next to each wall, µm, before the rounding above (default: one
        particle diameter, as :meth:`~microstructure.Microstructure.bulk_slice`; 0 solves
        through the whole thickness).
    progress : bool
        A tqdm bar over the builds, on stderr.

    Returns
    -------
    ResolutionStudy

    Raises
    ------
    ValueError
        ``levels``, ``seeds`` or ``wall_margin_um`` out of range (before any build).
    solvers.memory.InsufficientMemoryError
        The finest level would not fit in memory (before any build).
    StudyInterrupted
        Ctrl-C (a ``KeyboardInterrupt``); its ``study`` holds the builds that finished.

    Examples
    --------
    >>> import warnings
    >>> import microstructure as ms
    >>> from microstructure.studies import resolution_study
    >>> spec = ms.load_spec(ms.default_spec_path()).updated(
    ...     {"domain.size_um": [12, 12, 12], "domain.voxel_size_um": 0.5})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")     # the example's fines under 2 voxels at 0.5 um
    ...     study = resolution_study(spec, transport=False)
    >>> study.voxel_sizes()
    [0.5, 0.25]
    >>> abs(study.mean("theta_strict", 0.5) - study.mean("theta_strict", 0.25)) < 0.05
    True
    """
    from microstructure._memory import estimate_sweep_point
    from solvers.memory import InsufficientMemoryError, check_memory

    if isinstance(levels, bool) or not isinstance(levels, int) or not 2 <= levels <= MAX_LEVELS:
        raise ValueError(f"levels must be an integer from 2 to {MAX_LEVELS} (voxel sizes h, "
                         f"h/2, ...), got {levels!r}")
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0
                        for s in seeds):
        raise ValueError(f"seeds must be one or more integers >= 0, got {seeds!r}")
    margin = (default_wall_margin_um(spec) if wall_margin_um is None
              else check_margin(wall_margin_um, "wall_margin_um"))
    box = list(spec.box_um())
    h = float(spec.domain.voxel_size_um)
    asked, margin = margin, h * margin_voxels(margin, h, spec.domain.shape[0])  # whole voxels
    if wall_margin_um is not None and margin < asked - 1e-9 * h:                 # at every level
        warnings.warn(f"wall_margin_um = {asked:g} µm is more than a quarter of the "
                      f"{box[0]:g} µm thickness; {margin:g} µm is left out next to each wall "
                      "instead", UserWarning, stacklevel=2)
    specs = [spec.updated({"domain.voxel_size_um": h / 2**k, "domain.size_um": box})
             for k in range(levels)]
    finest = specs[-1]
    try:
        check_memory(estimate_sweep_point(finest, transport=transport, device=device),
                     field="domain.shape")
    except InsufficientMemoryError as exc:
        raise InsufficientMemoryError(
            f"levels = {levels}: the finest voxel, {finest.domain.voxel_size_um:g} um, makes "
            f"the box {' x '.join(map(str, finest.domain.shape))} voxels -- {exc}; use fewer "
            "levels or a smaller box", estimate=exc.estimate, limit=exc.limit,
            field="levels") from None
    jobs = [(s, seed) for s in specs for seed in seeds]
    if progress:
        from solvers.progress import progress_bar
        jobs = progress_bar(jobs, desc="resolution", unit="build")
    out: list[ResolutionLevel] = []
    try:
        for s, seed in jobs:
            out.append(_build(s, int(seed), device, transport, margin))
    except KeyboardInterrupt:
        raise StudyInterrupted(ResolutionStudy(tuple(out))) from None
    return ResolutionStudy(tuple(out))


def _build(s: ElectrodeSpec, seed: int, device: str, transport: bool,
           margin_um: float) -> ResolutionLevel:
    t0 = time.perf_counter()
    m = generate(s, seed=seed, device=device)
    row = flat_row(analyze(m, device=device, transport=transport, structure=False,
                           wall_margin_um=margin_um), m)
    return ResolutionLevel(
        voxel_size_um=float(s.domain.voxel_size_um), shape=tuple(s.domain.shape), seed=seed,
        theta_strict=row["util_strict"], theta_relay=row["util_relay"],
        ionic_tau=row["ionic_tau"], electronic_tau=row["electronic_tau"],
        seconds=time.perf_counter() - t0,
        lumped_fines=dict(m.report.lumped_fines) if m.report is not None else {},
        wall_margin_um=row["transport_wall_margin_um"], voxel_fill_share=voxel_fill_share(s))


#: A last change of the ionic τ above this (relative) is flagged: the coarser voxel is then
#: outside the first-order regime and the limit is not to be trusted.
FIRST_ORDER_CHANGE = 0.10

_NAMES = {"cam": "CAM", "se": "SE"}
#: Printed columns: field, title, format of the mean and of the seeds' standard deviation.
_COLUMNS = (("theta_strict", "theta strict", "{:.3f}", "{:.3f}"),
            ("theta_relay", "theta relay", "{:.3f}", "{:.3f}"),
            ("ionic_tau", "ionic tau", "{:#.3g}", "{:.2g}"),
            ("electronic_tau", "electronic tau", "{:#.4g}", "{:.2g}"))


def _cell(study: ResolutionStudy, name: str, h: float, fmt: str, fmt_sd: str) -> str:
    vals = study.values(name, h)
    text = fmt.format(float(vals.mean()))
    if vals.size > 1 and np.all(np.isfinite(vals)):
        text += " ± " + fmt_sd.format(float(vals.std(ddof=1)))
    return text


def _lumped(study: ResolutionStudy, h: float) -> dict[str, float]:
    """The lumped shares of the builds at ``h`` (the same for every seed: they follow the
    spec)."""
    return next((dict(lv.lumped_fines) for lv in study.levels if lv.voxel_size_um == h), {})


def format_resolution(study: ResolutionStudy, *, label: str = "") -> str:
    """The table ``assb resolution`` prints: per voxel size the means (± the standard deviation
    over the seeds), the changes between the two finest voxels and the ionic τ's limit."""
    sizes = study.voxel_sizes()
    seeds = sorted({lv.seed for lv in study.levels})
    shape = {lv.voxel_size_um: lv.shape for lv in study.levels}
    lines = [f"resolution of {label or 'the spec'}: seeds {', '.join(map(str, seeds))}", "",
             f"{'voxel um':<10}{'voxels':<18}" + "".join(f"{c[1]:>18}" for c in _COLUMNS)
             + f"{'seconds':>10}"]
    for h in sizes:
        secs = sum(lv.seconds for lv in study.levels if lv.voxel_size_um == h)
        lines.append(f"{h:<10g}{' x '.join(map(str, shape[h])):<18}"
                     + "".join(f"{_cell(study, n, h, f, sd):>18}" for n, _, f, sd in _COLUMNS)
                     + f"{secs:>10.1f}")
    margins = {lv.wall_margin_um for lv in study.levels if math.isfinite(lv.wall_margin_um)}
    if margins:  # one slab for every level (resolution_study); several: say so
        lines += ["", "tau of the bulk: " + " / ".join(f"{v:g}" for v in sorted(margins))
                  + " um next to each wall left out"
                  + (" at every voxel" if len(margins) == 1 else "")]
    if len(sizes) < 2:  # an interrupted study: nothing to compare yet
        return "\n".join(lines)
    coarse, fine = sizes[-2], sizes[-1]
    d_theta = study.mean("theta_strict", fine) - study.mean("theta_strict", coarse)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = {n: float(np.float64(study.mean(n, fine)) / study.mean(n, coarse) - 1)
               for n in ("ionic_tau", "electronic_tau")}
    change = f"{coarse:g} -> {fine:g} um: theta strict {d_theta:+.3f}"
    for n in rel:
        if math.isfinite(rel[n]):
            change += f", {n.replace('_', ' ')} {100 * rel[n]:+.1f} %"
    lines += ["", change]
    limit = study.extrapolated_ionic_tau()
    if math.isfinite(limit):
        note = ""
        if abs(rel["ionic_tau"]) > FIRST_ORDER_CHANGE:
            note = (f" -- the last change is {100 * abs(rel['ionic_tau']):.0f} %: the coarser "
                    "voxel is outside the first-order regime, add a level before trusting it")
        lines.append(f"ionic tau, first-order limit (voxel -> 0): {limit:.3g}{note}")
    finest = _lumped(study, fine)
    for h in sizes:
        lumped = _lumped(study, h)
        if lumped and lumped != finest:
            shares = ", ".join(f"{100 * v:.2g} % of the {_NAMES.get(n, n)}"
                               for n, v in lumped.items())
            lines.append(f"note: at {h:g} um the PSD under 2 voxels ({shares} volume) is drawn "
                         "from the rest of the PSD, so each seed presses another powder there "
                         f"than at {fine:g} um: the change from it includes the seeds' scatter")
    fill_fine = _voxel_fill(study, fine)
    for h in sizes:
        share = _voxel_fill(study, h)
        if share > fill_fine + 1e-9:
            lines.append(f"note: at {h:g} um {100 * share:.2g} % of the SE (fine grains under "
                         f"{GRAIN_VOXELS:g} voxels) is a voxel fill of the crevices, whose links "
                         f"depend on the voxel ({100 * fill_fine:.2g} % at {fine:g} um; the rest "
                         "are particles)")
    return "\n".join(lines)


def _voxel_fill(study: ResolutionStudy, h: float) -> float:
    """The SE share in the voxel fill of the builds at ``h`` (it follows the spec)."""
    return next((lv.voxel_fill_share for lv in study.levels if lv.voxel_size_um == h), 0.0)
