"""Checks of the ``assb`` command line's input, made before any heavy work, and its one-line
errors: ``error: ...`` on stderr and exit code 2 (a user error) or 1 (the work failed)."""

from __future__ import annotations

import math
import os
import re
import tomllib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer

from ._text import one_line

__all__ = ["IMPORT_OPTIONS", "REPORT_OPTIONS", "SWEEP_OPTIONS", "as_options", "check_device",
           "check_dir_out", "check_out", "check_report_out", "check_wall_margin", "echo_json",
           "fail", "interruptible", "left_as_is", "memory_fail", "not_text", "read_spec",
           "read_sweep", "rows_kept", "set_option", "spec_changes", "spec_label"]

#: The options of the Python arguments the commands' errors may name (see :func:`as_options`).
SWEEP_OPTIONS = {"force": "--force", "retry_failed": "--retry-failed", "workers": "--workers",
                 "scheduler_timeout": "--scheduler-timeout", "device": "--device",
                 "scheduler": "--scheduler", "save_structures": "--save-structures"}
REPORT_OPTIONS = {"specific_capacity_mAh_g": "--capacity-mah-g", "c_rate": "--c-rate",
                  "min_utilization": "--min-utilization", "max_ionic_tau": "--max-ionic-tau",
                  "rule": "--rule", "objective": "--objective", "out_dir": "--out",
                  "minimize": "--minimize"}
IMPORT_OPTIONS = {"voxel_size_um": "--voxel-size-um", "phase_map": "--phase-map",
                  "min_distance_um": "--min-distance-um", "axis": "--axis",
                  "collector": "--collector"}


def fail(msg: str, code: int = 2) -> NoReturn:
    """``error: msg`` on stderr, then exit with ``code``."""
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def as_options(msg: str, options: dict[str, str]) -> str:
    """``msg`` of the Python API as the command line says it: each argument name of
    ``options`` (``{"overwrite": "--overwrite"}``) becomes its option, ``name=True`` and
    ``name=True (assb CMD --option)`` become ``--option``.  Names with an underscore are
    replaced wherever they stand but in ``name=VALUE`` (a record quoted), plain words
    (``rule``) only before " must"."""
    for name, option in options.items():
        msg = re.sub(rf"(?<![\w.-]){name}=True( \(assb [a-z]+ {re.escape(option)}\))?",
                     option, msg)
        after = r"(?![\w=-])" if "_" in name else r"(?= must\b)"  # not name=VALUE
        msg = re.sub(rf"(?<![\w.-]){name}{after}", option, msg)
    return msg


def check_wall_margin(wall_margin_um: float | None) -> None:
    """``--wall-margin-um``: typer refuses a negative one, this an infinite or NaN one."""
    if wall_margin_um is not None and not math.isfinite(wall_margin_um):
        fail(f"--wall-margin-um must be a finite thickness in um (>= 0), got {wall_margin_um}")


def echo_json(obj: Any) -> None:
    """``obj`` as one strict JSON object on stdout (non-finite numbers as strings)."""
    import json

    from ._text import jsonable

    typer.echo(json.dumps(jsonable(obj), allow_nan=False))


@contextmanager
def interruptible(kept: str) -> Iterator[None]:
    """Ctrl-C inside the block ends the command with ``error: interrupted: <kept>`` and exit
    code 130 (128 + SIGINT), where ``kept`` says what is on disk; without this, typer ends it
    with 130 and no word."""
    try:
        yield
    except KeyboardInterrupt:
        fail(f"interrupted: {kept}", code=130)


def left_as_is(out: Path) -> str:
    """What an interrupted write leaves at ``out`` (stores are written whole or not at all)."""
    return f"{out} left as it was" if out.exists() else f"nothing written to {out}"


def rows_kept(out: Path, points: list[Any], seeds: int) -> str:
    """How many rows of a sweep's ``points`` x ``seeds`` the results directory ``out`` holds
    (what an interrupted ``assb sweep`` says)."""
    from ._store import ResultsStore

    store = ResultsStore(out)
    n = sum(store.row_path(p.point_id, s).is_file() for p in points for s in range(seeds))
    return f"{n} of {len(points) * seeds} rows of this sweep are kept in {out}"


def check_device(device: str) -> str:
    from solvers.device import DEVICES, cuda_simulated, gpu_available

    if device not in DEVICES:
        fail(f"--device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not (cuda_simulated() or gpu_available()):
        fail("--device cuda: no usable CUDA GPU (needs a GPU and "
              "pip install 'assb-microstructure[gpu]'); use --device cpu")
    return device


def check_out(out: Path, *, overwrite: bool) -> Path:
    """A store can be written at ``out`` (checked before any work): not a file, not below a
    file, not a non-empty directory that is not an assb store, not an assb store unless
    ``overwrite`` (``--overwrite``), in a writable directory."""
    from microstructure._zarr_store import check_store_target

    try:
        check_store_target(out, overwrite=overwrite)
    except OSError as exc:
        msg = as_options(one_line(exc), {"overwrite": "--overwrite"})
        fail(f"--out {msg}" if msg.startswith(str(out)) else f"--out {out}: {msg}")
    return out


def check_dir_out(out: Path) -> Path:
    """``out`` is, or can be created as, a directory (checked before any work)."""
    if out.exists() and not out.is_dir():
        fail(f"--out {out} exists and is not a directory")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        fail(f"--out {out}: cannot create it, {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        fail(f"--out {out}: {parent} is not writable")
    return out


def check_report_out(out: Path) -> Path:
    """``out`` is, or can be created as, a report directory: not someone else's non-empty
    directory (``write_report`` checks it again; here before the compile notice)."""
    from ._report_dir import check_report_dir

    check_dir_out(out)
    try:
        check_report_dir(out)
    except OSError as exc:
        fail(as_options(one_line(exc), REPORT_OPTIONS))
    return out


def memory_fail(exc: MemoryError) -> NoReturn:
    """An estimate over the limit is a user error (2); a real allocation failure is not (1)."""
    from solvers.memory import InsufficientMemoryError

    if isinstance(exc, InsufficientMemoryError):
        fail(one_line(exc))
    fail(f"out of memory: {one_line(exc) or type(exc).__name__}", code=1)


def not_text(path: Path, exc: UnicodeDecodeError) -> str:
    return (f"{path} is not a TOML text file: byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start} is not UTF-8")


def set_option() -> Any:
    """The ``--set PATH=VALUE`` option of the commands that read one spec."""
    return typer.Option(
        None, "--set", metavar="PATH=VALUE",
        help="Change a field of SPEC by its dotted path, as a sweep does (repeatable): "
             "--set phases.se.psd.d50_um=1.5 --set packing.mode=sequential; the value is read "
             "as TOML (a bare word as a string).")


def spec_changes(sets: list[str] | None) -> dict[str, Any]:
    """``--set`` items as ``{dotted path: value}`` (values read as TOML; a bare word that is
    not TOML is a string), in order; a malformed item is an error naming it."""
    changes: dict[str, Any] = {}
    for item in sets or []:
        path, eq, raw = item.partition("=")
        path, raw = path.strip(), raw.strip()
        if not eq or not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", path) or not raw:
            fail(f"--set {item!r}: give PATH=VALUE with a dotted path, e.g. "
                 "--set phases.cam.fraction=60")
        try:
            changes[path] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            if not re.fullmatch(r"[A-Za-z_][\w.-]*", raw):
                fail(f"--set {item!r}: {raw!r} is not a TOML value (numbers, true / false, "
                     "\"strings\", [lists], {{ key = value }} tables)")
            changes[path] = raw
    return changes


def spec_label(path: Path, sets: list[str] | None) -> str:
    """How the reports name a spec read with ``--set`` changes."""
    return " ".join([str(path), *(f"--set {s}" for s in sets or [])])


def read_spec(path: Path, sets: list[str] | None = None) -> Any:
    """The spec at ``path`` with the ``--set`` changes applied; a bad file, path or value exits
    with code 2 and names it."""
    from microstructure import SpecError, load_spec

    from ._sweep_spec import check_path, known_paths

    changes = spec_changes(sets)  # malformed items before the file is read
    try:
        # what reading says (a voxel changed under a box given in voxels) as the other
        # warnings of assb are printed: one "warning:" line each on stderr
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spec = load_spec(path)
            known = known_paths(spec)
            bad = [m for p, v in changes.items() for m in check_path(p, f"--set {p}", known, v)]
            if bad:
                fail("; ".join(bad))
            spec = spec.updated(changes) if changes else spec
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
        return spec
    except SpecError as exc:  # one line per bad field
        if _is_sweep_file(path):
            fail(f"{path} looks like a sweep file (base, [axes] or [[points]]), not a spec "
                 "file: this command takes a spec file with [domain], [composition] and "
                 f"[phases]; a sweep file runs with assb sweep {path} -o RESULTS_DIR")
        msg = str(exc).replace("invalid updated spec", f"invalid spec {path} after --set", 1)
        typer.echo(f"error: {msg}", err=True)
        raise typer.Exit(2) from None
    except IsADirectoryError:
        fail(f"{path} is a directory; expected a spec TOML file")
    except (FileNotFoundError, PermissionError) as exc:
        fail(one_line(exc))
    except UnicodeDecodeError as exc:
        fail(not_text(path, exc))


def _is_sweep_file(path: Path) -> bool:
    from ._check import is_sweep_file

    return is_sweep_file(path)


def read_sweep(path: Path) -> Any:
    from ._sweep_spec import SweepError, load_sweep

    try:
        return load_sweep(path)
    except IsADirectoryError:
        fail(f"{path} is a directory; expected a sweep TOML file")
    except (SweepError, FileNotFoundError, PermissionError) as exc:
        fail(one_line(exc))
    except UnicodeDecodeError as exc:
        fail(not_text(path, exc))
