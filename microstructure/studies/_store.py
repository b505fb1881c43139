"""The results directory of a sweep: one JSON row per finished (point, seed), tables, manifest.

Layout of ``RESULTS_DIR``::

    rows/<point_id>__s<seed>.json     one flat row per finished point and seed (the unit of truth)
    results.parquet, results.csv      every row, rebuilt from rows/ (derived; safe to delete)
    sweep.toml                        copy of the latest sweep file
    manifest.json                     format, package version, point ids -> parameters, runs
    structures/<point_id>__s<seed>.zarr   optional (``save_structures``)

Every file is written atomically (:mod:`microstructure._atomic`: a temporary file in the same
directory, name starting with ``.`` and ending in ``.tmp``, flushed and fsync'ed, then
``os.replace``'d over the target), so a reader (or a process killed with SIGKILL) sees either
the old or the new file, never a partial one.  Temporary leftovers of a killed run are ignored
by every reader and removed by the next run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microstructure._atomic import TMP_SUFFIX, atomic_path, atomic_write_bytes
from microstructure._store_checks import version_tuple

from ._sweep_spec import SweepError
from .rows import (
    BOOL_COLUMNS,
    COLUMN_KINDS,
    COLUMNS,
    INT_COLUMNS,
    STATUSES,
    TEXT_COLUMNS,
    row_name,
)

if TYPE_CHECKING:
    import pandas as pd

#: ``format`` of manifest.json.
RESULTS_FORMAT = "assb-sweep-results/1"
#: The results table's files, each holding every row (derived from rows/; a directory with
#: only one of them, a copied table, is read too), in the order :func:`load_results` tries.
TABLE_FILES = ("results.parquet", "results.csv")


# ---------------------------------------------------------------------------------------------
# rows as JSON


def dumps_row(row: dict[str, Any]) -> str:
    """JSON text of a row; non-finite floats as ``NaN`` / ``Infinity`` (Python's json)."""
    return json.dumps(row, sort_keys=False, allow_nan=True, default=_default) + "\n"


#: Key of a row file's checksum: the SHA-256 of the row's JSON text without it
#: (:func:`dumps_row`), so that an edited or damaged row is told from a computed one.  Not a
#: column of the table.
CHECKSUM = "row_sha256"
#: Rows carry :data:`CHECKSUM` from this version on.
CHECKSUM_SINCE = (0, 18)


def row_checksum(row: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``row``'s JSON text without its checksum."""
    import hashlib

    body = {k: v for k, v in row.items() if k != CHECKSUM}
    return hashlib.sha256(dumps_row(body).encode()).hexdigest()


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


# ---------------------------------------------------------------------------------------------
# the store


class ResultsStore:
    """Reads and writes one sweep results directory (see the module notes)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.rows_dir = self.root / "rows"
        self.structures_dir = self.root / "structures"
        self.manifest_path = self.root / "manifest.json"
        self._lock_fd: int | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def is_results_dir(self) -> bool:
        return self.manifest_path.is_file() or self.rows_dir.is_dir()

    @property
    def locked(self) -> bool:
        """Whether this process holds the directory's write lock."""
        return self._lock_fd is not None

    def check_usable(self) -> None:
        """Refuse a path that is (or lies under) a file, or a non-empty directory that is not a
        results directory (:class:`SweepError`)."""
        for parent in (self.root, *self.root.parents):
            if parent.exists():
                if not parent.is_dir():
                    where = "" if parent == self.root else f" ({parent} is a file)"
                    raise SweepError(f"results directory {self.root} cannot be made{where}: "
                                     "give a directory path")
                break
        if self.root.is_dir() and not self.is_results_dir() and any(self.root.iterdir()):
            raise SweepError(f"results directory {self.root} is a non-empty directory that "
                             "is not a sweep results directory; choose another -o")

    def open_for_writing(self) -> None:
        """Create the layout, take the directory lock and remove temporary leftovers."""
        self.check_usable()
        self.rows_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        for leftover in self.temporary_leftovers():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _lock(self) -> None:
        import fcntl

        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SweepError(f"another sweep is writing to {self.root}; wait for it or use "
                             "another results directory") from None
        self._lock_fd = fd

    def temporary_leftovers(self) -> list[Path]:
        """Temporary files/directories of interrupted writes (never read as results)."""
        out: list[Path] = []
        for d in (self.root, self.rows_dir, self.structures_dir):
            if d.is_dir():
                out += [p for p in d.iterdir()
                        if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX)]
        return out

    # -- rows -----------------------------------------------------------------------------
    def row_path(self, point_id: str, seed: int) -> Path:
        return self.rows_dir / f"{row_name(point_id, seed)}.json"

    def structure_path(self, point_id: str, seed: int) -> Path:
        return self.structures_dir / f"{row_name(point_id, seed)}.zarr"

    def write_row(self, row: dict[str, Any]) -> Path:
        """Write ``row`` with its checksum (:data:`CHECKSUM`) to its file."""
        path = self.row_path(row["point_id"], row["seed"])
        body = {k: v for k, v in row.items() if k != CHECKSUM}
        atomic_write_bytes(path, dumps_row({**body, CHECKSUM: row_checksum(body)}).encode())
        return path

    def read_rows(self) -> dict[tuple[str, int], dict[str, Any]]:
        """Every finished row, keyed by ``(point_id, seed)``."""
        return {(r["point_id"], int(r["seed"])): r for r in iter_rows(self.root)}

    # -- derived files --------------------------------------------------------------------
    def write_tables(self, rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
        """Rebuild ``results.parquet`` and ``results.csv`` (atomically) from ``rows``."""
        df = rows_to_frame(rows)
        parquet, csv = TABLE_FILES
        with atomic_path(self.root / parquet) as tmp:
            df.to_parquet(tmp, index=False)
        with atomic_path(self.root / csv) as tmp:
            df.to_csv(tmp, index=False)
        return df

    def read_manifest(self) -> dict[str, Any]:
        """The manifest (``{}`` where there is none); a damaged one is a :class:`DamagedFileError`
        naming it."""
        if not self.manifest_path.is_file():
            return {}
        try:
            man = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except ValueError as exc:  # bad JSON or not UTF-8
            man = exc
        if not isinstance(man, dict):
            raise DamagedFileError(
                f"damaged manifest {self.manifest_path} ({_why(man)}): restore it, or delete it "
                "and run the same sweep again to write it anew (the rows are kept, but a changed "
                "sweep is then no longer detected)")
        return man

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, indent=1, allow_nan=True, default=_default) + "\n"
        atomic_write_bytes(self.manifest_path, text.encode())

    def write_text(self, name: str, text: str) -> None:
        atomic_write_bytes(self.root / name, text.encode())


class DamagedFileError(ValueError):
    """A file of a results directory that cannot be read (truncated, edited, not JSON); the
    message names it and what to do.  Never skipped or recomputed silently."""


def iter_rows(results_dir: str | Path) -> Iterator[dict[str, Any]]:
    """The parsed rows of ``results_dir/rows`` (temporary files skipped); a row file that is
    not a row of this sweep is a :class:`DamagedFileError` naming it (:func:`row_problem`)."""
    rows_dir = Path(results_dir) / "rows"
    if not rows_dir.is_dir():
        return
    from microstructure import __version__

    points = ResultsStore(results_dir).read_manifest().get("points")
    known = set(points) if isinstance(points, dict) else None
    for p in sorted(rows_dir.glob("*.json")):
        if p.name.startswith("."):
            continue
        try:
            row = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:  # bad JSON or not UTF-8
            row = exc
        why = row_problem(row, p.stem, known, __version__)
        if why:
            raise DamagedFileError(
                f"damaged row file {p} ({why}): delete it and run the same assb sweep "
                "again to compute that point and seed anew (the other rows are kept)")
        yield row


def row_problem(row: Any, stem: str, known: set[str] | None, version: str) -> str:
    """Why ``row`` (parsed from the file ``stem``.json) is not a row of its sweep, or "".

    A row is named after its point and seed, its point is one of the manifest's (``known``,
    None without a manifest), its ``status`` is "ok" (with no ``error``) or "failed" (with
    one), and each column of the contract (:mod:`.rows`) holds a value of its kind.  A row
    written by this package ``version`` has every column; one of an earlier version (a sweep
    extended with ``--force``) may lack the columns added since."""
    if not isinstance(row, dict):
        return _why(row)
    pid, seed = row.get("point_id"), row.get("seed")
    if not isinstance(pid, str) or not isinstance(seed, int) or isinstance(seed, bool):
        return "no point_id and integer seed"
    if stem != row_name(pid, seed):
        return (f"it holds point_id {pid!r} and seed {seed}, whose file is "
                f"{row_name(pid, seed)}.json")
    if known is not None and pid not in known:
        return f"point_id {pid!r} is not a point of the sweep in manifest.json"
    status, error = row.get("status"), row.get("error")
    if status not in STATUSES:
        return f"status {status!r}, not one of {', '.join(map(repr, STATUSES))}"
    if status == "ok" and error or status == "failed" and not (isinstance(error, str) and error):
        return f"status {status!r} with error {error!r}"
    for name in COLUMNS:
        if name not in row:
            if row.get("package_version") == version:
                return f"no column {name!r}"
            continue
        v = row[name]
        if not _of_kind(v, name):
            return f"column {name!r} holds {v!r}, not {_KIND_TEXT[COLUMN_KINDS[name]]}"
    if CHECKSUM in row:
        if row[CHECKSUM] != row_checksum(row):
            return "its values do not match its checksum: edited or damaged"
    elif (version_tuple(row.get("package_version")) or (0, 0)) >= CHECKSUM_SINCE:
        return f"no checksum ({CHECKSUM}), which every row of version {row['package_version']} has"
    return ""


_KIND_TEXT = {"int": "an integer", "bool": "true, false or null", "text": "a string",
              "float": "a number, NaN or null"}


def _of_kind(v: Any, name: str) -> bool:
    kind = COLUMN_KINDS[name]
    if kind == "bool":
        return v is None or isinstance(v, bool)
    if kind == "text":
        return isinstance(v, str)
    number = isinstance(v, (int, float)) and not isinstance(v, bool)
    return number and (kind == "float" or isinstance(v, int)) or (kind == "float" and v is None)


def _why(parsed: Any) -> str:
    if isinstance(parsed, json.JSONDecodeError):
        return f"not valid JSON: {parsed}"
    if isinstance(parsed, UnicodeDecodeError):
        return f"not UTF-8 text at byte {parsed.start}"
    if isinstance(parsed, ValueError):
        return str(parsed)
    return f"a JSON {type(parsed).__name__}, not an object"


def rows_to_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The results table of ``rows``: contract columns in order, sorted by point id and seed."""
    import pandas as pd

    rows = [{k: v for k, v in r.items() if k != CHECKSUM} for r in rows]
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    params = sorted(k for k in keys if k.startswith("param:"))
    known = [c for c in COLUMNS if c != "spec_json"]
    extra = sorted(k for k in keys if k not in COLUMNS and k not in params)
    order = ["point_id", "seed", "status", "error", *params, "spec_json",
             *known[4:], *extra]
    df = pd.DataFrame.from_records(rows, columns=order) if rows else pd.DataFrame(columns=order)
    for c in df.columns:
        df[c] = _normalize_column(c, df[c])
    if len(df):
        df = df.sort_values(["point_id", "seed"], kind="stable").reset_index(drop=True)
    return df


def _normalize_column(name: str, s: pd.Series) -> pd.Series:
    import pandas as pd

    if name in INT_COLUMNS:
        return s.astype("int64")
    if name in BOOL_COLUMNS:
        return s.astype("boolean")
    if name in TEXT_COLUMNS:
        return s.fillna("").astype(str)
    values = [v for v in s if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return pd.to_numeric(s, errors="coerce").astype("float64")
    if all(isinstance(v, bool) for v in values) and values:
        return s.astype("boolean")
    # mixed or text (e.g. a param axis of strings, or JSON-encoded lists): text, "" when missing
    return s.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v))
                 else (v if isinstance(v, str) else json.dumps(v))).astype(str)


def sweep_plan(store: ResultsStore) -> tuple[tuple[str, ...], int] | None:
    """The point ids and the seeds per point of the sweep last run into ``store`` (its
    manifest's ``current_points`` and ``seeds``); None where there is no manifest.  A manifest
    without them is a :class:`DamagedFileError` naming it."""
    man = store.read_manifest()
    if not man:
        return None
    seeds, points = man.get("seeds"), man.get("current_points")
    bad = []
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        bad.append(f"'seeds' must be a whole number >= 1, got {seeds!r}")
    if not isinstance(points, list) or not all(isinstance(p, str) for p in points):
        bad.append(f"'current_points' must be a list of point ids, got {points!r:.60}")
    if bad:
        raise DamagedFileError(
            f"damaged manifest {store.manifest_path} ({'; '.join(bad)}): restore it, or delete "
            "it and run the same sweep again to write it anew (the rows are kept, but a "
            "changed sweep is then no longer detected)")
    return tuple(dict.fromkeys(points)), seeds


def load_results(results_dir: str | Path, *, earlier: bool = False) -> pd.DataFrame:
    """The results table of a sweep directory, or of a bare results table.

    A sweep directory (``manifest.json`` and ``rows/``) is read from its rows, the unit of
    truth (``results.parquet`` / ``results.csv`` there may lag behind after a kill); a
    directory holding only ``results.parquet`` or ``results.csv`` (e.g. a copied table) is read
    from that file.  The rows are those of the sweep last run into the directory: a directory
    extended with another definition (``--force``: another base spec, fewer seeds, axis values
    dropped) keeps the rows of the earlier one in ``rows/``, left out of the table (their
    number: ``df.attrs["rows_of_earlier_sweeps"]``) unless ``earlier``.

    Parameters
    ----------
    results_dir : path
        A directory written by :func:`microstructure.studies.run_sweep` / ``assb sweep``.
    earlier : bool
        Also the rows of the sweeps run into the directory before the last one (a changed
        definition forced in), which the table of the last one leaves out.

    Returns
    -------
    pandas.DataFrame
        One row per finished (point, seed), ``status`` "ok" or "failed"; columns as
        documented in :mod:`microstructure.studies.rows` (not computed: NaN; blocked: inf).

    Raises
    ------
    FileNotFoundError
        Neither rows nor a results table in ``results_dir``.
    DamagedFileError
        A row file that cannot be read (a ``ValueError`` naming the file and what to do).

    Examples
    --------
    >>> from microstructure import studies
    >>> df = studies.load_results("sweep_out")                       # doctest: +SKIP
    >>> df[df.status == "ok"].groupby("param:phases.cam.fraction").util_strict.mean()
    ...                                                              # doctest: +SKIP
    """
    import pandas as pd

    results_dir = Path(results_dir)
    store = ResultsStore(results_dir)
    if store.is_results_dir():
        plan = sweep_plan(store)
        rows = list(iter_rows(results_dir))
        df = rows_to_frame(r for r in rows if earlier or plan is None
                           or (r["point_id"] in plan[0] and r["seed"] < plan[1]))
        df.attrs["rows_of_earlier_sweeps"] = 0 if earlier else len(rows) - len(df)
        return df
    for name, reader in zip(TABLE_FILES, (pd.read_parquet, pd.read_csv), strict=True):
        p = results_dir / name
        if p.is_file():
            return reader(p)
    raise FileNotFoundError(f"no results in {results_dir}: expected a sweep directory "
                            f"(manifest.json and rows/) or {' / '.join(TABLE_FILES)}")
