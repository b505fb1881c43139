"""The sweep definition: a base spec, seeds, and grid axes or listed points (TOML or Python).

A sweep file (TOML) names a base spec and what to vary by dotted path::

    base = "nmc_lpscl.toml"      # relative to the sweep file, or "default" (the embedded spec)
    seeds = 3                    # realizations per point: seeds 0 .. seeds-1
    mode = "grid"                # "grid": full product of [axes]; "points": the [[points]] listed
    transport = true             # solve ionic/electronic transport (optional, default true)

    [overrides]                  # fixed changes applied to every point (optional)
    "domain.shape" = [64, 64, 64]

    [axes]                       # grid mode: dotted path -> list of values (none: one
    "phases.cam.fraction" = [60, 70, 80]    # point, the base with its overrides, over seeds)
    "phases.se.psd.d50_um" = [0.5, 0.8, 1.5]

    # points mode instead:
    # [[points]]
    # "phases.cam.fraction" = 60
    # "composition.porosity" = 0.1

Dotted paths must be quoted keys (an unquoted ``a.b = 1`` is a nested TOML table).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from microstructure import ElectrodeSpec, SpecError, default_spec_path, load_spec
from microstructure._changes import apply_changes
from microstructure._homogeneity import check_window
from microstructure._spec import read_toml

from ._text import one_line

log = logging.getLogger(__name__)

#: Most seeds per point, and most rows (points x seeds) of one sweep: a sweep lists every row
#: before it runs (a mistyped ``seeds = 100000000`` would fill the memory first).
MAX_SEEDS = 10_000
MAX_ROWS = 1_000_000


class SweepError(ValueError):
    """A sweep definition is invalid; the message names the offending field or path."""


# ---------------------------------------------------------------------------------------------
# the sweep definition


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its parameters and the spec they give (or why they give none)."""

    point_id: str
    """Stable 12-hex-digit id: SHA-1 of the sorted JSON of the resolved spec (:func:`point_id`)."""
    params: dict[str, Any]
    """Dotted path -> value: the overrides and this point's axis values."""
    spec: ElectrodeSpec | None
    """The validated spec, or None when the parameters give an invalid one."""
    error: str = ""
    """Why ``spec`` is None (one line), "" otherwise."""
    spec_data: dict[str, Any] = field(default_factory=dict, repr=False)
    """The (possibly invalid) spec dict the parameters give."""
    notes: tuple[str, ...] = ()
    """What resolving the parameters warned (a box given in voxels at another voxel size: its
    size in µm), for ``assb check`` and the rows' ``warnings``."""


class SweepSpec(BaseModel):
    """A validated sweep: base spec, seeds, and the grid axes or listed points.

    Build it from a TOML file with :func:`load_sweep`, or in Python (``base`` then resolves
    relative to the working directory, or give an :class:`ElectrodeSpec`)::

        SweepSpec(base="default", seeds=2, overrides={"domain.shape": [64, 64, 64]},
                  axes={"phases.cam.fraction": [60, 70]})
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    base: str | ElectrodeSpec = "default"
    """Base spec: a TOML path (relative to the sweep file), "default", or a spec object."""
    seeds: Annotated[int, Field(ge=1, le=MAX_SEEDS, strict=True)] = 1
    """Realizations per point (seeds 0 .. seeds - 1), at most ``MAX_SEEDS``."""
    mode: Literal["grid", "points"] = "grid"
    transport: Annotated[bool, Field(strict=True)] = True
    """Solve ionic and electronic transport for every point."""
    wall_margin_um: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    """Thickness left out next to each wall (transport, homogeneity), µm (``wall_margin_um``
    of :func:`~microstructure.studies.analyze`; default one particle diameter)."""
    homogeneity_window_um: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """Edge of the homogeneity's windows, µm (default three CAM d50s); at least one voxel at
    every point."""
    in_plane: Annotated[bool, Field(strict=True)] | None = None
    """Also solve transport along the electrode's plane (``in_plane`` of
    :func:`~microstructure.studies.analyze`; columns ``*_tau_in_plane``)."""
    name: str = ""
    """Optional title of the study."""
    overrides: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, list[Any]] = Field(default_factory=dict)
    points: list[dict[str, Any]] = Field(default_factory=list)

    _base_spec: ElectrodeSpec = PrivateAttr()
    _source: Path | None = PrivateAttr(default=None)
    _expanded: list[SweepPoint] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self, info: Any) -> SweepSpec:
        ctx = getattr(info, "context", None) or {}
        root = Path(ctx.get("root", "."))
        self._base_spec = _resolve_base(self.base, root)
        self._source = ctx.get("source")
        problems: list[str] = []
        known = known_paths(self._base_spec)
        if self.mode == "grid":
            if self.points:
                problems.append("points: only used with mode = 'points' (this sweep has "
                                "mode = 'grid'; use [axes])")
            for path, values in self.axes.items():
                where = f"axes.{_q(path)}"
                problems += check_path(path, where, known)
                if not values:
                    problems.append(f"{where}: empty list of values")
                elif len({_canon(v) for v in values}) < len(values):
                    problems.append(f"{where}: lists a value twice ({values})")
                if path in self.overrides:
                    problems.append(f"{where}: also set in [overrides]; keep it in one place")
        else:
            if self.axes:
                problems.append("axes: only used with mode = 'grid' (this sweep has "
                                "mode = 'points'; use [[points]])")
            if not self.points:
                problems.append("points: empty; mode = 'points' needs at least one [[points]] "
                                "table")
            seen: dict[str, int] = {}
            for i, pt in enumerate(self.points):
                if not pt:
                    problems.append(f"points[{i}]: empty table")
                for path, value in pt.items():
                    problems += check_path(path, f"points[{i}].{_q(path)}", known, value)
                key = _canon({**self.overrides, **pt})
                if key in seen:
                    problems.append(f"points[{i}]: same parameters as points[{seen[key]}]")
                seen.setdefault(key, i)
        for path, value in self.overrides.items():
            problems += check_path(path, f"overrides.{_q(path)}", known, value)
        n_points = (math.prod(len(v) for v in self.axes.values()) if self.mode == "grid"
                    else len(self.points))
        if n_points * self.seeds > MAX_ROWS:
            problems.append(f"{n_points:,} points x {self.seeds} seeds = "
                            f"{n_points * self.seeds:,} rows; a sweep makes at most "
                            f"{MAX_ROWS:,}: split it into several sweeps")
        if not problems:   # tables written differently that resolve to one spec
            first: dict[str, int] = {}
            points = self.expand()
            for k, p in enumerate(points):
                if p.point_id in first:
                    j = first[p.point_id]
                    what = "points" if self.mode == "points" else "grid point"
                    own = [_params_text(q.params, self.overrides) for q in (p, points[j])]
                    problems.append(f"{what}[{k}] ({own[0]}) is the same spec as {what}[{j}] "
                                    f"({own[1]}) once resolved (point_id {p.point_id}); "
                                    "keep one")
                first.setdefault(p.point_id, k)
            if points and all(p.spec is None for p in points):   # nothing could run
                problems.append(f"no point gives a valid spec (point 1: {points[0].error})")
        if self.homogeneity_window_um is not None and not problems:
            voxels = {p.spec.domain.voxel_size_um for p in self.expand() if p.spec is not None}
            try:                                  # the coarsest point's voxel decides
                check_window(self.homogeneity_window_um, max(voxels, default=0.0))
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- derived --------------------------------------------------------------------------
    @property
    def base_spec(self) -> ElectrodeSpec:
        """The validated base spec."""
        return self._base_spec

    @property
    def source(self) -> Path | None:
        """The sweep file this came from (None when built in Python)."""
        return self._source

    @property
    def param_paths(self) -> list[str]:
        """Every dotted path the sweep sets (overrides first, then axes / point keys)."""
        keys = dict.fromkeys(self.overrides)
        if self.mode == "grid":
            keys.update(dict.fromkeys(self.axes))
        else:
            for pt in self.points:
                keys.update(dict.fromkeys(pt))
        return list(keys)

    def expand(self) -> list[SweepPoint]:
        """The sweep's points in order (grid: the product of the axes, last axis fastest)."""
        if self._expanded is None:
            if self.mode == "grid":
                paths = list(self.axes)
                combos = [dict(zip(paths, vals, strict=True))
                          for vals in itertools.product(*self.axes.values())]
            else:
                combos = [dict(pt) for pt in self.points]
            self._expanded = [self._point({**self.overrides, **c}) for c in combos]
        return list(self._expanded)

    def _point(self, params: dict[str, Any]) -> SweepPoint:
        data = self._base_spec.model_dump(mode="python", exclude_none=True)
        with warnings.catch_warnings(record=True) as caught:   # kept with the point
            warnings.simplefilter("always")
            apply_changes(data, params)  # copies the values: the sweep's dicts stay as they are
        try:
            spec = ElectrodeSpec.from_dict(data, source="spec")
            err = ""
        except SpecError as exc:
            spec, err = None, one_line(exc).removeprefix("invalid spec: ")
        resolved = (spec.model_dump(mode="json", exclude_none=True) if spec is not None
                    else data)
        return SweepPoint(point_id=point_id(resolved), params=copy.deepcopy(params), spec=spec,
                          error=err, spec_data=data,
                          notes=tuple(dict.fromkeys(str(w.message) for w in caught)))

    @property
    def n_rows(self) -> int:
        """Rows the sweep produces (points x seeds)."""
        return len(self.expand()) * self.seeds

    def describe(self) -> dict[str, Any]:
        """JSON-ready definition (what the manifest records)."""
        d = self.model_dump(mode="json", exclude={"base"})
        d["base"] = (self.base.model_dump(mode="json", exclude_none=True)
                     if isinstance(self.base, ElectrodeSpec) else self.base)
        return d


#: How point ids are made (recorded in the manifest; a directory written with another scheme
#: is refused rather than silently re-run under new ids).
POINT_ID_SCHEME = "sha1-resolved-spec/2"


def _params_text(params: dict[str, Any], overrides: dict[str, Any]) -> str:
    """A point's own settings (those [overrides] does not set alike) as ``path = value``."""
    return ", ".join(f"{k} = {v!r}" for k, v in params.items()
                     if k not in overrides or overrides[k] != v)


def point_id(spec: dict[str, Any] | ElectrodeSpec) -> str:
    """Stable short id of a point: the first 12 hex digits of the SHA-1 of the sorted JSON of
    its fully resolved spec.

    A pure function of what the point builds: the same spec gives the same id whatever the
    order of the sweep's axes and values, the base file it came from, or the other points.

    Examples
    --------
    >>> import microstructure as ms
    >>> spec = ms.load_spec(ms.default_spec_path())
    >>> point_id(spec) == point_id(spec.model_dump(mode="json", exclude_none=True))
    True
    """
    if isinstance(spec, ElectrodeSpec):
        spec = spec.model_dump(mode="json", exclude_none=True)
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def _q(path: str) -> str:
    return f'"{path}"' if "." in path else path


def _resolve_base(base: str | ElectrodeSpec, root: Path) -> ElectrodeSpec:
    if isinstance(base, ElectrodeSpec):
        return base
    path = default_spec_path() if base == "default" else (root / base)
    try:
        return load_spec(path)
    except FileNotFoundError:
        raise ValueError(f"base: spec file not found: {path}") from None
    except SpecError as exc:
        raise ValueError(f"base: {one_line(exc)}") from None


def known_paths(spec: ElectrodeSpec) -> dict[str, Any]:
    """Every dotted path of the spec (None-valued optional fields included) -> its value."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        for k, v in node.items():
            p = f"{prefix}{k}"
            out[p] = v
            if isinstance(v, dict):
                walk(v, p + ".")

    walk(spec.model_dump(mode="python"), "")
    return out


def check_path(path: str, where: str, known: dict[str, Any], value: Any = None) -> list[str]:
    if "." not in path and isinstance(value, dict):
        # what TOML makes of an unquoted dotted key: replacing a whole section is never meant
        return [f"{where}: a whole top-level table; write dotted paths as quoted keys "
                "(\"phases.cam.fraction\" = 60): an unquoted a.b.c makes nested TOML tables"]
    if path in known:
        return []
    keys = path.split(".")
    for i in range(len(keys) - 1, 0, -1):
        parent = ".".join(keys[:i])
        if parent in known:
            pv = known[parent]
            if pv is None:
                return [f"{where}: unknown dotted path {path!r}: the base spec has no "
                        f"{parent!r}; set {parent!r} as a whole table instead"]
            if isinstance(pv, dict):
                kind = f" (a {pv['kind']!r} psd)" if "kind" in pv else ""
                return [f"{where}: unknown dotted path {path!r}: {parent!r}{kind} has "
                        f"{', '.join(sorted(pv))}"]
            return [f"{where}: unknown dotted path {path!r}: {parent!r} is a value, "
                    "not a table"]
    tops = sorted(k for k in known if "." not in k)
    return [f"{where}: unknown dotted path {path!r}; top-level fields are {', '.join(tops)}"]


#: The top-level tables of a spec file (how a spec given as a sweep file is recognised).
SPEC_TABLES = tuple(ElectrodeSpec.model_fields)


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (TOML); raise :class:`SweepError` naming bad fields.

    Examples
    --------
    >>> from microstructure.studies import load_sweep
    >>> sweep = load_sweep("examples/demo_sweep.toml")     # from the repository's root
    >>> len(sweep.expand()), sweep.seeds      # 2 CAM contents x 2 SE sizes, 2 seeds each
    (4, 2)
    """
    path = Path(path)
    data = read_toml(path, what="sweep", error=SweepError)
    spec_tables = [k for k in SPEC_TABLES if k in data]
    if spec_tables and not {"base", "axes", "points", "overrides"} & set(data):
        raise SweepError(
            f"{path} looks like a spec file (it has {', '.join(f'[{k}]' for k in spec_tables)})"
            f", not a sweep file: a sweep file names its spec with base = \"default\" or "
            "base = \"SPEC.toml\" and lists [axes] or [[points]] (README, \"Sweeps\"); "
            "a spec file is built by assb generate")
    if isinstance(data.get("base"), dict):
        raise SweepError(f"{path}: base must be a spec file name or \"default\", got a table")
    return _validate(data, root=path.parent, source=path)


def _validate(data: dict[str, Any], *, root: Path, source: Path | None) -> SweepSpec:
    where = f"{source}: " if source is not None else ""
    try:
        return SweepSpec.model_validate(data, context={"root": root, "source": source})
    except ValidationError as exc:
        raise SweepError(where + _format_errors(exc)) from None


def _format_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(_q(str(p)) if isinstance(p, str) else f"[{p}]" for p in err["loc"])
        loc = loc.replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = ("unknown key (allowed: base, seeds, mode, transport, wall_margin_um, "
                   "homogeneity_window_um, in_plane, name, overrides, axes, points)")
        got = ""
        if err["type"] not in ("missing", "value_error", "extra_forbidden") and "input" in err:
            got = f" (got {err['input']!r})"
        parts.append(f"{loc}: {msg}{got}" if loc else f"{msg}{got}")
    return "; ".join(parts)


def as_sweep(sweep: SweepSpec | str | Path | dict[str, Any]) -> SweepSpec:
    """A :class:`SweepSpec` from a spec object, a TOML path or a dict."""
    if isinstance(sweep, SweepSpec):
        return sweep
    if isinstance(sweep, (str, Path)):
        return load_sweep(sweep)
    if isinstance(sweep, dict):
        return _validate(sweep, root=Path("."), source=None)
    raise TypeError(f"sweep must be a SweepSpec, a TOML path or a dict, got {type(sweep).__name__}")


