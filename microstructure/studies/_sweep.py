"""Composition sweeps: many specs x seeds -> generate, analyze, one flat row each.

A sweep file (TOML) names a base spec and what to vary by dotted path::

    base = "nmc_lpscl.toml"      # relative to the sweep file, or "default" (the embedded spec)
    seeds = 3                    # realizations per point: seeds 0 .. seeds-1
    mode = "grid"                # "grid": full product of [axes]; "points": the [[points]] listed
    transport = true             # solve ionic/electronic transport (optional, default true)

    [overrides]                  # fixed changes applied to every point (optional)
    "domain.shape" = [64, 64, 64]

    [axes]                       # grid mode: dotted path -> list of values
    "phases.cam.fraction" = [60, 70, 80]
    "phases.se.psd.d50_um" = [0.5, 0.8, 1.5]

    # points mode instead:
    # [[points]]
    # "phases.cam.fraction" = 60
    # "composition.porosity" = 0.1

Dotted paths must be quoted keys (an unquoted ``a.b = 1`` is a nested TOML table).

Results contract (one row per point and seed; see :mod:`microstructure.studies._store` for the
directory): ``point_id`` (first 12 hex digits of the SHA-1 of the sorted JSON of the base spec
and the point's parameters), ``seed``, ``status`` ("ok" | "failed"), ``error`` ("" when ok),
``param:<dotted.path>`` per swept or overridden path (scalars; lists and tables as JSON
text), ``spec_json``, targets ``target_pore/cam/se/carbon`` (box volume fractions),
``cam/se/carbon_wt_frac``, ``cam_d50_um``, ``se_d50_um``, ``thickness_um``, ``voxel_size_um``,
``areal_loading_mg_cm2``; achieved ``frac_pore/cam/se/carbon``, ``cam_overlap``; utilization
``util_strict``, ``util_strict_by_count``, ``util_relay``, ``util_relay_by_count``,
``electronically_isolated``, ``ionically_isolated_strict``, ``ionically_isolated_relay``,
``isolated_both_strict``, ``electronic_percolates``, ``ionic_percolates``,
``active_area_per_volume_per_um``; transport ``ionic_sigma_eff_S_cm``, ``ionic_tau``,
``ionic_converged``, ``electronic_sigma_eff_S_cm``, ``electronic_tau``,
``electronic_converged`` (NaN / missing without transport); timings ``t_generate_s``,
``t_utilization_s``, ``t_transport_s``, ``t_total_s``; ``package_version``, ``device``,
``worker`` (host:pid), ``finished_at`` (ISO 8601, UTC).  More columns may be added, none renamed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import json
import logging
import math
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from microstructure import ElectrodeSpec, SpecError, default_spec_path, load_spec
from microstructure._spec import read_toml, set_dotted

from ._store import COLUMNS, ResultsStore, row_name

log = logging.getLogger(__name__)

#: Failed rows hold NaN in these columns' place... every numeric contract column.
_NON_NUMERIC = {"point_id", "seed", "status", "error", "spec_json", "warnings", "structure",
                "package_version", "device", "worker", "finished_at", "electronic_percolates",
                "ionic_percolates", "ionic_converged", "electronic_converged"}


class SweepError(ValueError):
    """A sweep definition is invalid; the message names the offending field or path."""


# ---------------------------------------------------------------------------------------------
# the sweep definition


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its parameters and the spec they give (or why they give none)."""

    point_id: str
    """Stable 12-hex-digit id (SHA-1 of the sorted JSON of base spec and parameters)."""
    params: dict[str, Any]
    """Dotted path -> value: the overrides and this point's axis values."""
    spec: ElectrodeSpec | None
    """The validated spec, or None when the parameters give an invalid one."""
    error: str = ""
    """Why ``spec`` is None (one line), "" otherwise."""
    spec_data: dict[str, Any] = field(default_factory=dict, repr=False)
    """The (possibly invalid) spec dict the parameters give."""


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
    seeds: Annotated[int, Field(ge=1)] = 1
    """Realizations per point (seeds 0 .. seeds - 1)."""
    mode: Literal["grid", "points"] = "grid"
    transport: bool = True
    """Solve ionic and electronic transport for every point."""
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
        known = _known_paths(self._base_spec)
        if self.mode == "grid":
            if self.points:
                problems.append("points: only used with mode = 'points' (this sweep has "
                                "mode = 'grid'; use [axes])")
            if not self.axes:
                problems.append("axes: empty; mode = 'grid' needs at least one axis "
                                "(e.g. \"phases.cam.fraction\" = [60, 70, 80])")
            for path, values in self.axes.items():
                where = f"axes.{_q(path)}"
                problems += _check_path(path, where, known)
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
                    problems += _check_path(path, f"points[{i}].{_q(path)}", known, value)
                key = _canon({**self.overrides, **pt})
                if key in seen:
                    problems.append(f"points[{i}]: same parameters as points[{seen[key]}]")
                seen.setdefault(key, i)
        for path, value in self.overrides.items():
            problems += _check_path(path, f"overrides.{_q(path)}", known, value)
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
            base_dump = self._base_spec.model_dump(mode="json", exclude_none=True)
            self._expanded = [self._point({**self.overrides, **c}, base_dump) for c in combos]
        return list(self._expanded)

    def _point(self, params: dict[str, Any], base_dump: dict[str, Any]) -> SweepPoint:
        pid = point_id(params, base_dump)
        data = self._base_spec.model_dump(mode="python", exclude_none=True)
        for path, value in params.items():
            set_dotted(data, path, value)
        try:
            spec = ElectrodeSpec.from_dict(data, source="spec")
            err = ""
        except SpecError as exc:
            spec, err = None, _one_line(exc).removeprefix("invalid spec: ")
        return SweepPoint(point_id=pid, params=params, spec=spec, error=err, spec_data=data)

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


def point_id(params: dict[str, Any], base: dict[str, Any] | ElectrodeSpec) -> str:
    """Stable short id of a point: SHA-1 of the sorted JSON of base spec and parameters."""
    if isinstance(base, ElectrodeSpec):
        base = base.model_dump(mode="json", exclude_none=True)
    text = json.dumps({"base": base, "params": params}, sort_keys=True, separators=(",", ":"),
                      default=str)
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
        raise ValueError(f"base: {_one_line(exc)}") from None


def _known_paths(spec: ElectrodeSpec) -> dict[str, Any]:
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


def _check_path(path: str, where: str, known: dict[str, Any], value: Any = None) -> list[str]:
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


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (TOML); raise :class:`SweepError` naming bad fields.

    Examples
    --------
    >>> import microstructure as ms
    >>> sweep = ms.load_sweep("examples/demo_sweep.toml")
    >>> len(sweep.expand()), sweep.seeds
    (6, 2)
    """
    path = Path(path)
    data = read_toml(path, what="sweep", error=SweepError)
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
            msg = ("unknown key (allowed: base, seeds, mode, transport, name, overrides, axes, "
                   "points)")
        got = ""
        if err["type"] not in ("missing", "value_error", "extra_forbidden") and "input" in err:
            got = f" (got {err['input']!r})"
        parts.append(f"{loc}: {msg}{got}" if loc else f"{msg}{got}")
    return "; ".join(parts)


def _one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split())


def as_sweep(sweep: SweepSpec | str | Path | dict[str, Any]) -> SweepSpec:
    """A :class:`SweepSpec` from a spec object, a TOML path or a dict."""
    if isinstance(sweep, SweepSpec):
        return sweep
    if isinstance(sweep, (str, Path)):
        return load_sweep(sweep)
    if isinstance(sweep, dict):
        return _validate(sweep, root=Path("."), source=None)
    raise TypeError(f"sweep must be a SweepSpec, a TOML path or a dict, got {type(sweep).__name__}")


# ---------------------------------------------------------------------------------------------
# one point (runs in a worker process)


def _param_value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return json.dumps(v, sort_keys=True)


def _blank_row(point: dict[str, Any], seed: int) -> dict[str, Any]:
    row: dict[str, Any] = {"point_id": point["point_id"], "seed": int(seed), "status": "failed",
                           "error": ""}
    for path, v in point["params"].items():
        row[f"param:{path}"] = _param_value(v)
    row["spec_json"] = point["spec_json"]
    for c in COLUMNS:
        if c not in row and c not in _NON_NUMERIC:
            row[c] = math.nan
    for c in ("electronic_percolates", "ionic_percolates", "ionic_converged",
              "electronic_converged"):
        row[c] = None
    row.update(warnings="", structure="")
    return row


def _provenance(row: dict[str, Any], device: str) -> dict[str, Any]:
    from microstructure import __version__

    row["package_version"] = __version__
    row["device"] = device
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    row["finished_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return row


def failed_row(point: dict[str, Any], seed: int, error: str, device: str) -> dict[str, Any]:
    """The row of a point that could not run (``status = "failed"``, ``error`` = why)."""
    row = _blank_row(point, seed)
    row["error"] = error
    return _provenance(row, device)


def run_point(task: dict[str, Any]) -> dict[str, Any]:
    """Generate, analyze and flatten one (point, seed); never raises for a failing point.

    ``task`` is a plain dict (picklable, for process pools and Dask): ``point_id``,
    ``params``, ``spec_json``, ``seed``, ``device``, ``transport``, ``threads`` (numba
    threads for this task, or None) and ``structure_path`` (where to save the structure, or
    None).
    """
    from microstructure import PackingError, generate

    from ._analysis import analyze, flat_row

    if task.get("threads"):
        _set_numba_threads(int(task["threads"]))
    seed, device = int(task["seed"]), task["device"]
    row = _blank_row(task, seed)
    t_start = time.perf_counter()
    caught: list[warnings.WarningMessage] = []
    try:
        spec = ElectrodeSpec.from_dict(json.loads(task["spec_json"]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            m = generate(spec, seed=seed, device=device)
            t_gen = time.perf_counter() - t0
            analysis = analyze(m, device=device, transport=bool(task.get("transport", True)))
        row.update(flat_row(analysis, m))
        secs = analysis["seconds"]
        row["t_generate_s"] = t_gen
        row["t_utilization_s"] = secs.get("utilization", math.nan)
        row["t_structure_s"] = secs.get("structure", math.nan)
        row["t_transport_s"] = secs.get("transport", math.nan)
        if task.get("structure_path"):
            _save_structure(m, Path(task["structure_path"]))
            row["structure"] = str(Path("structures") / Path(task["structure_path"]).name)
        row["status"] = "ok"
    except PackingError as exc:
        row["error"] = f"PackingError: {_one_line(exc)}"
    except SpecError as exc:
        row["error"] = f"SpecError: {_one_line(exc)}"
    except Exception as exc:  # noqa: BLE001 - one bad point must not end a long sweep
        log.exception("sweep point %s seed %d failed", task["point_id"], seed)
        row["error"] = f"{type(exc).__name__}: {_one_line(exc)}"
    row["warnings"] = "; ".join(dict.fromkeys(_one_line(w.message) for w in caught))
    row["t_total_s"] = time.perf_counter() - t_start
    return _provenance(row, device)


def _save_structure(m: Any, path: Path) -> None:
    """Save ``m`` to ``path`` atomically: into a temporary directory, then renamed."""
    import shutil
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        m.save(tmp / "s.zarr")
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp / "s.zarr", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _set_numba_threads(n: int) -> None:
    import numba

    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def _init_worker(threads: int) -> None:
    """Process-pool initializer: limit numba threads so workers x threads <= cores."""
    _set_numba_threads(threads)


def usable_cores() -> int:
    """CPU cores this process may use (affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------
# executors


class _Executor:
    """Runs tasks and yields ``(task, row)`` as they finish."""

    description = ""

    def run(self, tasks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _InProcess(_Executor):
    description = "in this process"

    def run(self, tasks):
        for t in tasks:
            yield t, run_point(t)


class _ProcessPool(_Executor):
    def __init__(self, workers: int, threads: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.threads = threads
        self.pool = ProcessPoolExecutor(max_workers=workers,
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker, initargs=(threads,))
        self.description = f"{workers} local processes x {threads} numba threads"

    def run(self, tasks):
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        futures = {self.pool.submit(run_point, t): t for t in tasks}
        try:
            for fut in as_completed(futures):
                try:
                    row = fut.result()
                except BrokenProcessPool:
                    raise RuntimeError(
                        "a sweep worker process died (killed, or out of memory?) while running "
                        f"point {futures[fut]['point_id']} seed {futures[fut]['seed']}; finished "
                        "rows are kept, rerun the sweep to resume") from None
                yield futures[fut], row
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Dask(_Executor):
    def __init__(self, client: Any, cluster: Any = None, threads: int | None = None) -> None:
        self.client, self.cluster, self.threads = client, cluster, threads
        n = len(client.scheduler_info().get("workers", {}))
        where = "a local Dask cluster" if cluster is not None else client.scheduler.address
        self.description = f"{where} ({n} workers)"

    def run(self, tasks):
        from distributed import as_completed

        futures = {}
        for t in tasks:
            key = f"assb-{row_name(t['point_id'], t['seed'])}-{os.urandom(4).hex()}"
            futures[self.client.submit(run_point, t, key=key, pure=False)] = t
        try:
            for fut in as_completed(list(futures)):
                task = futures[fut]
                try:
                    row = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: that point failed
                    row = failed_row(task, task["seed"],
                                     f"{type(exc).__name__}: {_one_line(exc)}", task["device"])
                fut.release()
                yield task, row
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()

    def close(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.client.close()
            finally:
                if self.cluster is not None:
                    self.cluster.close()


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError("scheduler needs dask.distributed: pip install "
                          "'assb-microstructure[dist]'") from None
    return distributed


def _make_executor(scheduler: str | None, workers: int | None, n_tasks: int,
                   scheduler_timeout: float) -> _Executor:
    cores = usable_cores()
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if scheduler is None or scheduler == "processes":
        n = min(int(workers or cores), max(n_tasks, 1))
        if n <= 1:
            return _InProcess()
        return _ProcessPool(n, max(1, cores // n))
    distributed = _import_distributed()
    if scheduler == "local":
        n = int(workers or cores)
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None,
                                           silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
        return _Dask(client, cluster, threads=max(1, cores // n))
    if not scheduler.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
        raise ValueError(f"scheduler must be 'local' or an address like tcp://host:8786, "
                         f"got {scheduler!r}")
    try:
        client = distributed.Client(scheduler, timeout=f"{scheduler_timeout}s")
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {scheduler} within {scheduler_timeout:g} s "
            f"({_one_line(exc) or type(exc).__name__}); start one with 'dask scheduler' and "
            "workers with 'dask worker ADDRESS' (or 'dask cuda worker ADDRESS' on GPU nodes)"
        ) from None
    return _Dask(client, None, threads=None)


# ---------------------------------------------------------------------------------------------
# the runner


@dataclass
class SweepProgress:
    """Counters of a running sweep (passed to ``on_row``)."""

    total: int
    done_before: int
    ok: int = 0
    failed: int = 0


def run_sweep(sweep: SweepSpec | str | Path, results_dir: str | Path, *,
              workers: int | None = None, scheduler: str | None = None, device: str = "cpu",
              quiet: bool = False, save_structures: bool = False, retry_failed: bool = False,
              scheduler_timeout: float = 10.0,
              on_row: Callable[[dict[str, Any], SweepProgress], None] | None = None):
    """Run every (point, seed) of ``sweep`` not yet finished in ``results_dir``.

    Each point: generate -> CAM utilization (strict and CAM relay) -> ionic and electronic
    transport -> one flat row, written atomically to ``results_dir/rows`` the moment it
    finishes; ``results.parquet`` / ``results.csv`` are rebuilt from the rows.  Rows already
    there are skipped (failed ones are retried with ``retry_failed``), so a rerun resumes an
    interrupted sweep and a changed sweep file runs only its new points.

    Parameters
    ----------
    sweep : SweepSpec or path
        The sweep (a TOML path is read with :func:`load_sweep`).
    results_dir : path
        Results directory (created; an unrelated non-empty directory is refused).
    workers : int, optional
        Parallel workers (default: the usable CPU cores).  Local processes get
        ``cores // workers`` numba threads each.  1 runs in this process.
    scheduler : None, "local" or address
        None: local processes (``concurrent.futures``, spawn); ``"local"``: a
        ``dask.distributed.LocalCluster`` of ``workers`` processes; ``"tcp://host:port"``:
        a running Dask scheduler (checked before any work; unreachable -> ConnectionError).
    device : {"cpu", "cuda"}
        Where each point runs (on a Dask cluster: on the workers).
    quiet : bool
        No progress bar.
    save_structures : bool
        Also save each structure to ``results_dir/structures/<point_id>__s<seed>.zarr``
        (on a remote cluster the workers must share the file system).
    retry_failed : bool
        Run failed rows again.
    scheduler_timeout : float
        Seconds to wait for a remote scheduler.
    on_row : callable, optional
        Called as ``on_row(row, progress)`` after each row is written.

    Returns
    -------
    pandas.DataFrame
        The rows of this sweep's points (every seed), finished now or before; the tables in
        ``results_dir`` hold every row of the directory.  ``df.attrs["sweep_run"]`` counts
        this run's new ``ok`` / ``failed`` rows and the rows done before.

    Notes
    -----
    Local worker processes are started with ``spawn``: a script that calls ``run_sweep`` with
    more than one worker needs the usual ``if __name__ == "__main__":`` guard.

    Raises
    ------
    SweepError
        Invalid sweep definition (nothing is run).
    ConnectionError
        Unreachable scheduler (nothing is run or written).
    """
    from solvers.device import DEVICES, cuda_simulated, gpu_available

    from ._store import rows_to_frame

    sweep = as_sweep(sweep)
    if device not in DEVICES:
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    local = scheduler in (None, "processes", "local")
    if device == "cuda" and local and not (gpu_available() or cuda_simulated()):
        # on a remote cluster the workers have the GPUs, not this process
        raise ValueError("device='cuda': no usable CUDA GPU here (needs a GPU and "
                         "pip install 'assb-microstructure[gpu]'); use device='cpu'")
    store = ResultsStore(results_dir)
    store.check_usable()
    points = sweep.expand()
    existing = store.read_rows() if store.rows_dir.is_dir() else {}

    def done(key: tuple[str, int]) -> bool:
        r = existing.get(key)
        return r is not None and (r.get("status") == "ok" or not retry_failed)

    todo: list[dict[str, Any]] = []
    spec_failures: list[dict[str, Any]] = []
    for p in points:
        pt = {"point_id": p.point_id, "params": p.params,
              "spec_json": json.dumps(
                  p.spec.model_dump(mode="json", exclude_none=True) if p.spec is not None
                  else p.spec_data, sort_keys=True, default=str)}
        for seed in range(sweep.seeds):
            if done((p.point_id, seed)):
                continue
            if p.spec is None:
                spec_failures.append(failed_row(pt, seed, f"SpecError: {p.error}", device))
                continue
            task = {**pt, "seed": seed, "device": device, "transport": sweep.transport,
                    "threads": None, "structure_path": None}
            if save_structures:
                task["structure_path"] = str(store.structure_path(p.point_id, seed).resolve())
            todo.append(task)
    keys = {(p.point_id, s) for p in points for s in range(sweep.seeds)}
    progress = SweepProgress(total=len(keys), done_before=sum(done(k) for k in keys))

    executor = _make_executor(scheduler, workers, len(todo), scheduler_timeout) if todo else None
    started = _now()
    try:
        store.open_for_writing()
        _write_definition(store, sweep, points, started)
        if executor is not None and getattr(executor, "threads", None):
            for t in todo:
                t["threads"] = executor.threads
        rows = dict(existing)
        bar = _bar(progress, quiet, executor)
        last_tables = 0.0
        try:
            for row in spec_failures:
                last_tables = _record(store, rows, row, progress, bar, on_row, last_tables)
            if executor is not None:
                for _task, row in executor.run(todo):
                    last_tables = _record(store, rows, row, progress, bar, on_row, last_tables)
        finally:
            bar.close()
            store.write_tables(rows.values())
            _write_run(store, sweep, started, progress, executor, device)
    finally:
        if executor is not None:
            executor.close()
        store.close()
    df = rows_to_frame(r for k, r in rows.items() if k in keys)
    df.attrs["sweep_run"] = {"rows_total": progress.total,
                             "rows_done_before": progress.done_before,
                             "ok": progress.ok, "failed": progress.failed,
                             "executor": "nothing to run" if executor is None
                             else executor.description}
    return df


def _record(store: ResultsStore, rows: dict, row: dict[str, Any], progress: SweepProgress,
            bar: Any, on_row: Callable | None, last_tables: float) -> float:
    store.write_row(row)
    rows[(row["point_id"], int(row["seed"]))] = row
    if row["status"] == "ok":
        progress.ok += 1
    else:
        progress.failed += 1
        log.warning("point %s seed %s failed: %s", row["point_id"], row["seed"], row["error"])
    bar.update(1)
    bar.set_postfix(ok=progress.ok, failed=progress.failed, refresh=False)
    if on_row is not None:
        on_row(row, progress)
    now = time.monotonic()
    if now - last_tables >= 5.0:  # the tables are derived: rebuilt at most every 5 s + at end
        store.write_tables(rows.values())
        return now
    return last_tables


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def set_postfix(self, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(progress: SweepProgress, quiet: bool, executor: _Executor | None) -> Any:
    if quiet:
        return _NoBar()
    import sys

    from tqdm.auto import tqdm

    desc = "sweep"
    if executor is not None:
        log.info("running on %s", executor.description)
    return tqdm(total=progress.total, initial=progress.done_before, desc=desc, unit="pt",
                file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_definition(store: ResultsStore, sweep: SweepSpec, points: list[SweepPoint],
                      started: str) -> None:
    from microstructure import __version__

    from ._store import RESULTS_FORMAT

    if sweep.source is not None:
        store.write_text("sweep.toml", Path(sweep.source).read_text())
    man = store.read_manifest()
    known = man.get("points", {})
    for p in points:
        known[p.point_id] = {"params": p.params, "spec_error": p.error}
    man.update({
        "format": RESULTS_FORMAT,
        "package_version": __version__,
        "created": man.get("created", started),
        "updated": started,
        "sweep": sweep.describe(),
        "sweep_file": None if sweep.source is None else str(Path(sweep.source).resolve()),
        "base_spec": sweep.base_spec.model_dump(mode="json", exclude_none=True),
        "param_paths": sorted(set(man.get("param_paths", [])) | set(sweep.param_paths)),
        "seeds": sweep.seeds,
        "current_points": [p.point_id for p in points],
        "points": known,
        "runs": man.get("runs", []),
    })
    store.write_manifest(man)


def _write_run(store: ResultsStore, sweep: SweepSpec, started: str, progress: SweepProgress,
               executor: _Executor | None, device: str) -> None:
    man = store.read_manifest()
    man.setdefault("runs", []).append({
        "started": started, "finished": _now(), "rows_total": progress.total,
        "rows_done_before": progress.done_before, "ok": progress.ok, "failed": progress.failed,
        "executor": "nothing to run" if executor is None else executor.description,
        "device": device, "host": socket.gethostname(),
    })
    store.write_manifest(man)
