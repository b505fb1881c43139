"""What ``assb generate`` / ``analyze`` / ``demo`` / ``import`` / ``export`` do with a structure:
build it and write its store, analyze a store into its attributes, or write one of its arrays
as a TIFF, with the command line's errors."""

from __future__ import annotations

import functools
import time
import warnings
from pathlib import Path
from typing import Any

import typer

from ._cli_checks import IMPORT_OPTIONS, as_options, fail, memory_fail
from ._format import format_analysis, generation_summary
from ._kernel_cache import compile_notice
from ._text import one_line

__all__ = ["EXPORT_CHOICES", "analyze_store", "export_store", "format_export",
           "generate_and_save", "import_store", "open_store", "save_store", "stored_analysis"]

#: What ``assb export --array`` takes: the store's arrays, or the CAM state under ``--rule``
#: (TIFF), or the CAM particles' table (CSV).
EXPORT_CHOICES = ("phases", "particle_ids", "carbon_ids", "state", "cam_particles")


def generate_and_save(spec: Any, out: Path, *, seed: int, device: str, spec_label: str,
                      progress: bool, echo_warnings: bool, overwrite: bool) -> dict[str, Any]:
    """Generate ``spec`` and write it to ``out`` (an existing store only with ``overwrite``);
    the summary ``assb generate`` prints."""
    from microstructure import PackingError
    from microstructure import generate as _generate

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            m = _generate(spec, seed=seed, device=device, progress=progress)
        except PackingError as exc:
            fail(str(exc), code=1)
        except MemoryError as exc:  # an estimate over the limit (before any work): exit 2
            memory_fail(exc)
        except (ValueError, RuntimeError) as exc:  # device not usable, bad seed
            fail(one_line(exc))
    if echo_warnings:
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
    t0 = time.perf_counter()
    save_store(m, out, overwrite=overwrite)
    t_save = time.perf_counter() - t0
    return generation_summary(m, store=out, spec_label=spec_label, save_seconds=t_save)


def save_store(m: Any, out: Path, *, overwrite: bool) -> None:
    """Write ``m`` to ``out`` (an existing store only with ``overwrite``), or exit with the
    reason (nothing is replaced on failure)."""
    try:
        m.save(out, overwrite=overwrite)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        fail(f"--out {out}: {as_options(one_line(exc), {'overwrite': '--overwrite'})}")
    except OSError as exc:  # a full disk: the temporary store is removed, out is unchanged
        fail(f"cannot write {out} (nothing was replaced): {one_line(exc)}", code=1)


def import_store(stack: Path, out: Path, *, overwrite: bool, voxel_size_um: float | None,
                 periodic_lateral: bool, **options: Any) -> str:
    """Import the segmented ``stack`` and write it to ``out`` (``assb import``); the line it
    prints.  ``options`` go to :func:`microstructure.import_tiff`."""
    from microstructure import import_tiff

    try:
        m = import_tiff(stack, voxel_size_um=voxel_size_um, periodic_lateral=periodic_lateral,
                        progress=True, **options)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        fail(as_options(one_line(exc), IMPORT_OPTIONS))
    except MemoryError as exc:  # an estimate over the limit (before the heavy work): exit 2
        memory_fail(exc)
    save_store(m, out, overwrite=overwrite)
    fr = ", ".join(f"{k} {100 * v:.2f}" for k, v in m.spec.target_fractions().items())
    how = (" (the TIFF records it)" if voxel_size_um is None else "") + (
        ", periodic sides" if periodic_lateral else "")
    return (f"imported {stack}: {' x '.join(map(str, m.shape))} voxels at "
            f"{m.voxel_size_um:g} um{how}; vol% {fr}; {m.particles.counts()['cam']} CAM "
            f"particles -> {out}")


def open_store(store: Path) -> Any:
    """The structure in ``store``; a missing, foreign or damaged store is an error naming it
    (exit 2)."""
    from microstructure import open as open_microstructure

    try:
        return open_microstructure(store)
    except (FileNotFoundError, ValueError) as exc:
        msg = one_line(exc)
        fail(msg if str(store) in msg else f"cannot open {store}: {msg}")
    except Exception as exc:  # noqa: BLE001 - anything zarr raises on a non-store
        fail(f"cannot open {store} as a microstructure store: {one_line(exc)}")


def stored_analysis(store: Path) -> dict[str, Any]:
    """The analysis ``assb analyze`` stored in ``store`` (``assb analyze --stored``), naming
    ``store`` as its store; a store without one, or with one that lacks an entry the table
    prints, is an error, one made by another package version a warning on stderr."""
    from microstructure import __version__
    from microstructure._zarr_store import is_store, store_attrs

    if not is_store(store):  # its metadata only: the arrays are not read, nor their checksums
        fail(f"no microstructure store at {store}" if not store.exists()
             else f"{store} is not an assb-microstructure store")
    analysis = store_attrs(store).get("analysis")
    again = f"'assb analyze {store}' makes it again"
    if analysis is None:
        fail(f"{store} holds no stored analysis; run 'assb analyze {store}' to make one")
    if not isinstance(analysis, dict):
        fail(f"damaged store {store}: its stored analysis is a {type(analysis).__name__}, "
             f"not a mapping; {again}")
    # the store read, not the one it was analyzed as (a copied store carries its analysis)
    analysis = {**analysis, "store": str(store)}
    try:  # every entry the printed table reads is there and of its kind
        format_analysis(analysis)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        what = f"lacks {exc}" if isinstance(exc, KeyError) else f"is unreadable ({one_line(exc)})"
        fail(f"damaged store {store}: its stored analysis {what}; {again}")
    made_by = analysis.get("package_version")
    if made_by != __version__:
        typer.echo(f"warning: the stored analysis was made by assb-microstructure {made_by}, "
                   f"this is {__version__}: 'assb analyze {store}' makes it again", err=True)
    return analysis


def analyze_store(store: Path, *, device: str, transport: bool,
                  progress: bool = False, notice: bool = False,
                  wall_margin_um: float | None = None,
                  homogeneity_window_um: float | None = None,
                  in_plane: bool = False) -> dict[str, Any]:
    """Open ``store``, analyze it (``assb analyze``) and write the analysis into its
    attributes; a store that cannot be opened or written is an error naming it."""
    import solvers
    from microstructure._homogeneity import check_window
    from microstructure._zarr_store import update_store_attrs

    from ._analysis import analyze
    from ._text import jsonable

    m = open_store(store)
    try:
        check_window(homogeneity_window_um, float(m.voxel_size_um), "--homogeneity-window-um")
    except ValueError as exc:
        fail(str(exc))
    fn = solvers.transport_properties if transport else None
    if fn is not None and progress:
        fn = functools.partial(fn, progress=True)  # tqdm bars on stderr for the long solves
    if notice:
        compile_notice(quiet=False)
    try:
        analysis = {"store": str(store), **analyze(
            m, device=device, transport=fn or False, wall_margin_um=wall_margin_um,
            homogeneity_window_um=homogeneity_window_um, in_plane=in_plane)}
    except MemoryError as exc:  # an estimate over the limit (before any work): exit 2
        memory_fail(exc)
    try:
        update_store_attrs(store, {"analysis": jsonable(analysis)})
    except PermissionError as exc:
        fail(f"cannot write the analysis into {store} (read-only?): {one_line(exc)}")
    except OSError as exc:
        fail(f"cannot write the analysis into {store} (the store is unchanged): "
              f"{one_line(exc)}", code=1)
    return analysis


def export_store(store: Path, out: Path, *, array: str, rule: str, overwrite: bool,
                 device: str = "cpu") -> dict[str, Any]:
    """Write ``array`` of ``store`` (or its CAM state under ``rule``) to the TIFF ``out``, or
    its CAM particle table (``cam_particles``) to the CSV ``out`` (``assb export``); what was
    written, JSON-ready (:func:`format_export` makes the line).  Every argument is checked
    before the store is read."""
    from microstructure._export import check_file_target, check_tiff_target, export_tiff
    from solvers.phases import PHASE_CODES
    from solvers.utilization import RULES

    from ._plots import STATE_NAMES
    from .report import particle_states

    if array not in EXPORT_CHOICES:
        fail(f"--array must be one of {', '.join(EXPORT_CHOICES)}, got {array!r}")
    if rule not in RULES:
        fail(f"--rule must be one of {', '.join(RULES)}, got {rule!r}")
    table = array == "cam_particles"
    try:
        if table:
            check_file_target(out, suffixes=(".csv",), what="the CAM particle table's",
                              overwrite=overwrite)
        else:
            check_tiff_target(out, overwrite=overwrite)
    except (ValueError, OSError) as exc:
        msg = as_options(one_line(exc), {"overwrite": "--overwrite"}) + (
            "; --array cam_particles writes a CSV"
                               if out.suffix.lower() == ".csv" and not table else "")
        fail(f"--out {msg}" if msg.startswith(str(out)) else f"--out {out}: {msg}")
    m = open_store(store)
    if table:
        return _export_cam_table(m, store, out, device=device)
    data: Any = array
    if array == "state":
        data = particle_states(m, rules=(rule,), device=device)[rule]
        values = dict(enumerate(STATE_NAMES))
    elif array == "phases":
        values = {code: name for name, code in PHASE_CODES.items()}
    else:
        values = {0: "none", 1: "and above: the particle's id (the store's particle table)"}
    try:
        r = export_tiff(m, out, array=data, overwrite=overwrite)
    except ValueError as exc:  # no carbon ids in this store
        fail(one_line(exc))
    except OSError as exc:  # a full disk: the temporary file is removed
        fail(f"cannot write {out}: {one_line(exc)}", code=1)
    return {"store": str(store), "out": str(out), "array": array,
            "rule": rule if array == "state" else None, "shape": list(r.shape),
            "dtype": r.dtype, "imagej": r.imagej, "voxel_size_um": r.voxel_size_um,
            "size_bytes": r.size_bytes, "values": values}


def _export_cam_table(m: Any, store: Path, out: Path, *, device: str) -> dict[str, Any]:
    from microstructure._atomic import atomic_path

    from ._cam_table import cam_particles

    df = cam_particles(m, device=device)
    try:
        with atomic_path(out) as tmp:
            df.to_csv(tmp, index=False)
    except OSError as exc:  # a full disk: the temporary file is removed
        fail(f"cannot write {out}: {one_line(exc)}", code=1)
    return {"store": str(store), "out": str(out), "array": "cam_particles", "rule": None,
            "rows": len(df), "columns": list(df.columns),
            "size_bytes": out.stat().st_size}


def format_export(d: dict[str, Any]) -> str:
    """The line ``assb export`` prints for :func:`export_store`'s account."""
    if d["array"] == "cam_particles":
        return (f"exported the CAM particles of {d['store']} -> {d['out']}: {d['rows']} rows, "
                f"columns {', '.join(d['columns'])} (README, 'Export')")
    what = f"CAM state ({d['rule']})" if d["rule"] else d["array"]
    kind = "ImageJ hyperstack" if d["imagej"] else "TIFF"
    values = ", ".join(f"{k} {v}" for k, v in d["values"].items())
    return (f"exported {what} of {d['store']} -> {d['out']}: "
            f"{' x '.join(map(str, d['shape']))} {d['dtype']} at {d['voxel_size_um']:g} um "
            f"({kind}, {d['size_bytes'] / 2**20:.1f} MiB; slice 0 at the current collector); "
            f"values: {values}")
