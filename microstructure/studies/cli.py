"""The ``assb`` command line: check, generate, analyze, resolution, sweep, report, import,
export, demo.

``assb check SPEC.toml`` reads a spec back without building it; ``assb generate SPEC.toml -o
OUT.zarr`` builds a structure (``--set PATH=VALUE`` changes a field first) and prints targets vs
achieved fractions; ``assb analyze OUT.zarr`` measures CAM utilization, structure metrics and
effective transport, stored in the store's attributes (``attrs["analysis"]``); ``assb
resolution`` builds a spec at finer voxels; ``assb sweep SWEEP.toml -o DIR`` runs a composition
sweep into a resumable results directory and ``assb report DIR`` draws it.

Exit codes: 0 done; 2 a user error, found before any heavy work where it can be (a bad spec or
sweep file, an unknown device, an output path that cannot be written, a missing or damaged
store, a box too large for the available memory, a busy results directory), with a one-line
``error: ...`` on stderr; 1 the work itself failed (a packing that cannot reach its targets, a
sweep in which every point failed, a disk that filled up, a crashed worker); 130 Ctrl-C,
with what is on disk named (stores are written whole or not at all).  With
``--json`` the result is one JSON object on stdout and nothing else is written there
(non-finite numbers appear as the strings ``"NaN"`` / ``"Infinity"``, as in zarr v3 metadata).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import typer

from ._cli_checks import (
    SWEEP_OPTIONS,
    as_options,
    check_device,
    check_dir_out,
    check_out,
    check_wall_margin,
    echo_json,
    fail,
    interruptible,
    left_as_is,
    memory_fail,
    read_spec,
    read_sweep,
    rows_kept,
    set_option,
    spec_label,
)
from ._cli_store import analyze_store, generate_and_save
from ._format import (
    format_analysis,
    format_generation,
    format_sweep_summary,
)
from ._kernel_cache import GENERATE_KERNELS, compile_notice
from ._text import distinct_warnings, one_line

app = typer.Typer(
    name="assb",
    help="Virtual composite cathodes for all-solid-state batteries.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

__all__ = ["app"]

#: Shape used by ``assb demo --small``.
SMALL_SHAPE = (64, 64, 64)


def _version(value: bool) -> None:
    if value:
        from microstructure import __version__
        typer.echo(f"assb-microstructure {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Virtual composite cathodes for all-solid-state batteries."""


# ---------------------------------------------------------------------------------------------
# commands


@app.command()
def generate(
    spec: Path = typer.Argument(..., help="Electrode spec (TOML), e.g. examples/nmc_lpscl.toml."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="Output zarr store (directory); an existing assb store is "
                                  "kept unless --overwrite, any other non-empty directory "
                                  "refused."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace an existing assb store at --out (its stored "
                                        "analysis too)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed (same seed, same structure)."),
    device: str = typer.Option("cpu", "--device", help="'cpu' or 'cuda'."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No progress bar, no warnings, print only the store path."),
    sets: list[str] | None = set_option(),
) -> None:
    """Generate a composite cathode from SPEC and save it as a zarr store."""
    device = check_device(device)
    out = check_out(out, overwrite=overwrite)
    spec_obj = read_spec(spec, sets)
    compile_notice(quiet=quiet, only=GENERATE_KERNELS)
    with interruptible(left_as_is(out)):
        summary = generate_and_save(spec_obj, out, seed=seed, device=device,
                                    spec_label=spec_label(spec, sets),
                                    progress=not (json_out or quiet), echo_warnings=not quiet,
                                    overwrite=overwrite)
    if json_out:
        echo_json(summary)
    elif quiet:
        typer.echo(str(out))
    else:
        typer.echo(format_generation(summary))


@app.command()
def check(
    spec: Path = typer.Argument(..., metavar="SPEC.toml|SWEEP.toml",
                                help="Electrode spec (e.g. examples/nmc_lpscl.toml) or sweep "
                                     "file (e.g. examples/demo_sweep.toml)."),
    device: str = typer.Option("cpu", "--device", help="'cpu' or 'cuda' (for the memory)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    sets: list[str] | None = set_option(),
) -> None:
    """Read a spec or a sweep back without building anything: fractions, porosity, particles,
    memory, warnings (a sweep: one line per point)."""
    from ._check import check_file

    check_file(spec, device=check_device(device), json_out=json_out, sets=sets)


@app.command()
def analyze(
    store: Path = typer.Argument(..., help="A store written by 'assb generate'."),
    device: str = typer.Option("cpu", "--device", help="'cpu' or 'cuda'."),
    transport: bool = typer.Option(True, "--transport/--no-transport",
                                   help="Also solve effective ionic/electronic conductivity "
                                        "and tortuosity."),
    wall_margin_um: float = typer.Option(
        None, "--wall-margin-um", min=0.0,
        help="Thickness (um) left out next to the collector and the separator, of the "
             "transport solves and the homogeneity's windows; default: one particle diameter "
             "(the larger d50 of CAM and SE), 0 for an imported store; 0 solves through the "
             "whole thickness."),
    homogeneity_window_um: float = typer.Option(
        None, "--homogeneity-window-um",
        help="Edge (um) of the cubic windows in which the homogeneity (RSD of each phase's "
             "volume fraction) is sampled; default: three CAM d50s."),
    in_plane: bool = typer.Option(False, "--in-plane",
                                  help="Also solve transport along the electrode's plane "
                                       "(axes 1 and 2: two more solves per network)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    stored: bool = typer.Option(False, "--stored",
                                help="Print the analysis stored in STORE; compute nothing "
                                     "(the arrays are neither read nor checked)."),
) -> None:
    """CAM utilization, structure metrics and transport of STORE; stored in its attributes."""
    device = check_device(device)
    check_wall_margin(wall_margin_um)
    if stored:
        from ._cli_store import stored_analysis

        given = [o for o, on in (("--device", device != "cpu"), ("--no-transport", not transport),
                                 ("--wall-margin-um", wall_margin_um is not None),
                                 ("--homogeneity-window-um", homogeneity_window_um is not None),
                                 ("--in-plane", in_plane)) if on]
        if given:
            fail(f"--stored prints the stored analysis as it is, computing nothing; drop "
                 f"--stored to analyze with {', '.join(given)}")
        analysis = stored_analysis(store)
    else:
        with interruptible(f"the analysis stored in {store} left as it was"):
            analysis = analyze_store(store, device=device, transport=transport,
                                     progress=not json_out, notice=True,
                                     wall_margin_um=wall_margin_um,
                                     homogeneity_window_um=homogeneity_window_um,
                                     in_plane=in_plane)
    if json_out:
        echo_json(analysis)
    else:
        typer.echo(format_analysis(analysis))


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out",
                             help="Directory for demo.zarr (the demo's own store: an earlier "
                                  "demo.zarr there is replaced)."),
    shape: tuple[int, int, int] | None = typer.Option(
        None, "--shape", metavar="NZ NY NX",
        help="Voxels, through-plane first (default: the spec's 200 128 128)."),
    small: bool = typer.Option(False, "--small", help=f"Use a small {SMALL_SHAPE} box."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed."),
    device: str = typer.Option("cpu", "--device", help="'cpu' or 'cuda'."),
    transport: bool = typer.Option(True, "--transport/--no-transport",
                                   help="Include effective transport in the analysis."),
) -> None:
    """Generate the embedded NCM82 : Li6PS5Cl : C65 example, save it and analyze it."""
    from microstructure import SpecError, default_spec_path

    device = check_device(device)
    if shape is not None and small:
        fail("give either --shape or --small, not both")
    spec_obj = read_spec(default_spec_path())
    new_shape = list(SMALL_SHAPE) if small else (list(shape) if shape is not None else None)
    if new_shape is not None:
        try:
            spec_obj = spec_obj.updated({"domain.shape": new_shape})
        except SpecError as exc:
            fail(f"--shape {' '.join(map(str, new_shape))}: {one_line(exc)}")
    path = check_out(out / "demo.zarr", overwrite=True)  # the demo's own output
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--out {out}: cannot create the directory: {exc}")
    typer.echo(f"assb demo: {default_spec_path().name} (NCM82 : Li6PS5Cl : Super C65 = "
               "70 : 30 : 1 w/w, 15 % porosity)\n")
    compile_notice(quiet=False)
    with interruptible(left_as_is(path)):
        summary = generate_and_save(spec_obj, path, seed=seed, device=device,
                                    spec_label=f"{default_spec_path()} (embedded)",
                                    progress=True, echo_warnings=True, overwrite=True)
    typer.echo(format_generation(summary))
    typer.echo("")
    with interruptible(f"{path} is saved, not analyzed"):
        analysis = analyze_store(path, device=device, transport=transport)
    typer.echo(format_analysis(analysis, shown_warnings=summary["warnings"]))


@app.command("import")
def import_(
    stack: Path = typer.Argument(..., help="Segmented 3-D TIFF, or a directory of 2-D slices."),
    phase_map: str = typer.Option(..., "--phase-map",
                                  help='Gray value to phase, e.g. "0:pore,1:cam,2:se,3:carbon".'),
    voxel_size_um: float | None = typer.Option(
        None, "--voxel-size-um",
        help="Voxel edge in um; default: the one the TIFF records (ImageJ spacing in um, as "
             "Fiji and 'assb export' write), which a value given must match."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="Output zarr store (directory); an existing assb store is "
                                  "kept unless --overwrite."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace an existing assb store at --out (its stored "
                                        "analysis too)."),
    axis: int = typer.Option(0, "--axis", help="Through-plane axis of the stack (-> axis 0)."),
    collector: str = typer.Option("first", "--collector",
                                  help="End of --axis at the current collector: 'first' "
                                       "slice or 'last' (then reversed)."),
    min_distance_um: float = typer.Option(1.0, "--min-distance-um",
                                          help="Smallest CAM particle centre distance (um)."),
    periodic_lateral: bool = typer.Option(
        False, "--periodic-lateral/--no-periodic-lateral",
        help="Whether the analyses wrap the lateral faces (the stored spec's "
             "domain.periodic_lateral): right for a periodic structure, e.g. one 'assb export' "
             "wrote from a generated store; rarely for a tomography crop."),
) -> None:
    """Import a segmented tomography; CAM split into particles (EDT watershed)."""
    from ._cli_store import import_store

    out = check_out(out, overwrite=overwrite)
    with interruptible(left_as_is(out)):
        line = import_store(stack, out, overwrite=overwrite, phase_map=phase_map,
                            voxel_size_um=voxel_size_um, axis=axis, collector=collector,
                            min_distance_um=min_distance_um, periodic_lateral=periodic_lateral)
    typer.echo(line)


@app.command()
def export(
    store: Path = typer.Argument(..., help="A store written by 'assb generate' or 'import'."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="Output file: .tif / .tiff (.csv for cam_particles)."),
    array: str = typer.Option("phases", "--array",
                              help="phases, particle_ids, carbon_ids, or state: each CAM "
                                   "voxel's state (active / isolated) under --rule (TIFF); "
                                   "cam_particles: one row per CAM particle (CSV)."),
    rule: str = typer.Option("strict", "--rule", help="'strict' or 'cam_relay': the rule of "
                             "--array state (cam_particles has a column per rule)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUT."),
    device: str = typer.Option("cpu", "--device", help="'cpu' or 'cuda': where the CAM "
                               "states of --array state and cam_particles are computed."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Write one voxel array of STORE as a 3-D TIFF stack (Fiji, ParaView, TauFactor, 'assb
    import'), with its voxel size, slice 0 at the current collector; or its CAM particles as
    a CSV table."""
    from ._cli_store import export_store, format_export

    device = check_device(device)
    with interruptible(left_as_is(out)):
        done = export_store(store, out, array=array, rule=rule, overwrite=overwrite,
                            device=device)
    if json_out:
        echo_json(done)
    else:
        typer.echo(format_export(done))


@app.command()
def sweep(
    sweep_file: Path = typer.Argument(..., metavar="SWEEP.toml",
                                      help="Sweep definition, e.g. examples/demo_sweep.toml."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="Results directory (created; rerunning resumes it)."),
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="Parallel workers (default: the CPU cores; "
                                            "with --device cuda one per GPU, each pinned "
                                            "to its own)."),
    scheduler: str | None = typer.Option(
        None, "--scheduler",
        help="'local' (a Dask LocalCluster on this machine) or the address of a Dask "
             "scheduler, tcp://host:8786; default: a pool of worker processes on this "
             "machine, without Dask."),
    device: str = typer.Option("cpu", "--device", help="'cpu' or 'cuda' (on the workers)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    save_structures: bool = typer.Option(False, "--save-structures",
                                         help="Also save every structure (zarr) under "
                                              "OUT/structures."),
    retry_failed: bool = typer.Option(False, "--retry-failed",
                                      help="Run points that failed before again."),
    force: bool = typer.Option(False, "--force",
                               help="Extend a results directory whose recorded sweep differs "
                                    "from SWEEP.toml (finished rows are kept as they are)."),
    scheduler_timeout: float = typer.Option(10.0, "--scheduler-timeout", min=0.1,
                                            help="Seconds to wait for a Dask scheduler."),
) -> None:
    """Run a composition sweep: generate, utilization, transport; one row per point and seed."""
    import logging

    from ._sweep import run_sweep
    from ._sweep_spec import SweepError

    remote = scheduler is not None and scheduler != "local"
    if remote:
        if device not in ("cpu", "cuda"):
            fail(f"--device must be 'cpu' or 'cuda', got {device!r}")
    else:
        device = check_device(device)
    sw = read_sweep(sweep_file)
    check_dir_out(out)
    points = sw.expand()
    n_points = len(points)
    if not quiet:
        typer.echo(f"assb sweep: {sweep_file} -> {out}: {n_points} points x {sw.seeds} seeds"
                   f"{'' if sw.transport else ' (no transport)'}", err=True)
        from ._point import usable_cores

        if workers and device == "cpu" and scheduler is None and workers > usable_cores():
            typer.echo(f"warning: --workers {workers} on {usable_cores()} usable CPU cores: "
                       "the points share them (no faster than one per core, and each holds "
                       "its own memory)", err=True)
    logging.getLogger("microstructure.studies").setLevel(logging.ERROR)  # failures: in summary
    compile_notice(quiet=quiet)
    t0 = time.perf_counter()
    try:
        df = run_sweep(sw, out, workers=workers, scheduler=scheduler, device=device,
                       quiet=quiet, save_structures=save_structures, retry_failed=retry_failed,
                       scheduler_timeout=scheduler_timeout, force=force)
    except SweepError as exc:  # bad input, a busy results directory, a changed sweep file
        fail(as_options(one_line(exc), SWEEP_OPTIONS))
    except MemoryError as exc:  # the memory estimate of a point is over the limit
        memory_fail(exc)
    except (ConnectionError, ImportError, ValueError) as exc:
        fail(as_options(one_line(exc), SWEEP_OPTIONS))
    except RuntimeError as exc:  # a worker process died
        fail(one_line(exc), code=1)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the finished rows are on disk
        fail(f"interrupted: {rows_kept(out, points, sw.seeds)}; run the same command again "
             "to resume", code=130)
    typer.echo(format_sweep_summary(df, n_points * sw.seeds, time.perf_counter() - t0, out))
    run = df.attrs.get("sweep_run", {})
    if run.get("failed", 0) > 0 and run.get("ok", 0) == 0:
        fail(f"every point of this run failed ({run['failed']} rows); the reasons are in "
              f"{out / 'results.csv'} (column 'error')", code=1)


@app.command()
def report(
    results_dir: Path = typer.Argument(..., help="A results directory written by 'assb sweep'."),
    out: Path | None = typer.Option(None, "--out", help="Report directory (default "
                                    "RESULTS_DIR/report): new, empty, or one a report wrote "
                                    "(it holds .assb-report), whose files are replaced."),
    point: str | None = typer.Option(None, "--point", help="point_id shown as slices "
                                     "(default: the first ok point)."),
    capacity: float = typer.Option(200.0, "--capacity-mah-g",
                                   help="Active specific capacity of the CAM, mAh/g."),
    c_rate: float = typer.Option(1.0, "--c-rate", help="Nominal C-rate for the effective "
                                 "C-rate column."),
    min_utilization: float = typer.Option(
        0.95, "--min-utilization", help="Target: lowest acceptable static utilization θ "
        "(0..1) in the ranking of the points (ranking.csv)."),
    rule: str = typer.Option("strict", "--rule", help="θ of the ranking: 'strict' or "
                             "'cam_relay'."),
    max_ionic_tau: float | None = typer.Option(
        None, "--max-ionic-tau", help="Target: highest acceptable ionic τ, a number >= 1 (1: "
        "a straight channel; default: no limit)."),
    objective: str = typer.Option(
        "target_cam", "--objective", help="Numeric column the ranking orders the points that "
        "meet the targets by, highest mean first (default: target_cam, the CAM volume "
        "fraction); --minimize for lowest first."),
    minimize: bool = typer.Option(False, "--minimize", help="Rank by --objective lowest "
                                  "first (e.g. --objective ionic_tau)."),
) -> None:
    """Figures, tables and one self-contained HTML page of a sweep's results.

    It also ranks the points: which one carries the most CAM (--objective) with θ at least
    --min-utilization (and an ionic τ at most --max-ionic-tau); printed and in ranking.csv.
    A sweep with rows still to run is reported as incomplete.
    """
    from ._cli_report import run_report

    run_report(results_dir, out, point=point, specific_capacity_mAh_g=capacity,
               c_rate=c_rate, min_utilization=min_utilization, rule=rule,
               max_ionic_tau=max_ionic_tau, objective=objective, minimize=minimize)


# ---------------------------------------------------------------------------------------------
# steps


@app.command()
def resolution(
    spec: Path = typer.Argument(..., help="Electrode spec (TOML), e.g. examples/nmc_lpscl.toml."),
    levels: int = typer.Option(2, "--levels", min=2, max=4,
                               help="Voxel sizes: the spec's, then halved levels - 1 times "
                                    "(the box in um is kept; each halving: 8x the voxels)."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Seeds 0..N-1 at every voxel size."),
    device: str = typer.Option("cpu", "--device", help="'cpu' or 'cuda'."),
    transport: bool = typer.Option(True, "--transport/--no-transport",
                                   help="Also solve the ionic and electronic tau."),
    wall_margin_um: float = typer.Option(
        None, "--wall-margin-um", min=0.0,
        help="Thickness (um) left out next to the collector and the separator for the tau, "
             "rounded up to whole voxels of the coarsest level: the same slab at every "
             "level; default: one particle diameter (the larger d50 of CAM and SE)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    sets: list[str] | None = set_option(),
) -> None:
    """Build SPEC's box at its voxel and at finer ones: do theta and tau stay put?"""
    from dataclasses import asdict

    from microstructure import PackingError

    from ._resolution import StudyInterrupted, resolution_study

    label = spec_label(spec, sets)

    def _emit(study: Any) -> None:
        if json_out:
            echo_json({"spec": label, "levels": [asdict(lv) for lv in study.levels],
                       "extrapolated_ionic_tau": study.extrapolated_ionic_tau()})
        else:
            typer.echo(study.summary(label))

    device = check_device(device)
    check_wall_margin(wall_margin_um)
    spec_obj = read_spec(spec, sets)
    compile_notice(quiet=json_out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            study = resolution_study(spec_obj, levels=levels, seeds=range(seeds),
                                     device=device, transport=transport,
                                     wall_margin_um=wall_margin_um, progress=not json_out)
        except PackingError as exc:
            fail(str(exc), code=1)
        except MemoryError as exc:  # an estimate over the limit (before any work): exit 2
            memory_fail(exc)
        except (ValueError, RuntimeError) as exc:  # device not usable
            fail(one_line(exc))
        except StudyInterrupted as exc:  # Ctrl-C: what finished, then exit 130
            if exc.study.levels:
                _emit(exc.study)
            fail(f"interrupted: {exc}", code=130)
    for msg in distinct_warnings(str(w.message) for w in caught):  # once each, on stderr
        typer.echo(f"warning: {msg}", err=True)
    _emit(study)


# ---------------------------------------------------------------------------------------------
# checks and helpers


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
