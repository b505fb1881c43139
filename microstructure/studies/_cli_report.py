"""``assb report``: its input checks, the report and the lines it prints (the command's
options are in :mod:`microstructure.studies.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ._cli_checks import REPORT_OPTIONS, as_options, check_report_out, fail
from ._format import format_ranking
from ._kernel_cache import REPORT_KERNELS, compile_notice
from ._text import one_line

__all__ = ["check_results_dir", "run_report"]


def check_results_dir(results_dir: Path) -> None:
    """RESULTS_DIR is a directory holding a sweep's results (checked before anything else)."""
    from ._store import TABLE_FILES, ResultsStore

    what = "RESULTS_DIR must be a sweep results directory (what assb sweep -o wrote)"
    if not results_dir.exists():
        fail(f"no results in {results_dir}: it does not exist; {what}")
    if not results_dir.is_dir():
        hint = (f"; a sweep file runs with assb sweep {results_dir} -o RESULTS_DIR"
                if results_dir.suffix.lower() == ".toml" else "")
        fail(f"no results in {results_dir}: it is a file; {what}{hint}")
    if not ResultsStore(results_dir).is_results_dir() and not any(
            (results_dir / n).is_file() for n in TABLE_FILES):
        fail(f"no results in {results_dir}: {what}, holding manifest.json and rows/ (or a "
             f"{' / '.join(TABLE_FILES)})")


def run_report(results_dir: Path, out: Path | None, **options: Any) -> None:
    """Check the input, write the report, print the ranking's best point and where the page
    is; an incomplete sweep is said first."""
    from .report import report_and_plan

    check_results_dir(results_dir)
    check_report_out(out if out is not None else results_dir / "report")
    compile_notice(quiet=False, only=REPORT_KERNELS)  # the slices: a structure, its θ
    try:
        # an incomplete sweep is said below on stdout (write_report would also log it)
        path, planned = report_and_plan(results_dir, out_dir=out, **options)
    except (FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError,
            ValueError) as exc:
        fail(as_options(one_line(exc), REPORT_OPTIONS))
    except OSError as exc:  # a full disk
        fail(f"cannot write the report: {one_line(exc)}", code=1)
    if planned is not None and not planned.complete:
        typer.echo(f"incomplete sweep: {planned.message()}")
    line = format_ranking(path.parent / "ranking.csv",
                          planned_points=None if planned is None else len(planned.points))
    if line:
        typer.echo(line)
    typer.echo(f"report: {path}")
