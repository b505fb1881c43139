"""Where ``assb report`` may write: a new or empty directory, or one a report wrote before
(it holds the marker file :data:`MARKER`), never a directory of someone else's files."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["MARKER", "check_report_dir", "is_report_dir", "mark_report_dir"]

#: The file every report directory holds (JSON: format, results directory, package version).
MARKER = ".assb-report"
#: ``format`` of the marker.
REPORT_FORMAT = "assb-sweep-report/1"
#: What the page of a report written before the marker existed starts with.
_LEGACY_TITLE = "<title>assb sweep report:"


def is_report_dir(out: Path) -> bool:
    """Whether ``out`` is a directory a report wrote: its marker, or (a report written before
    the marker) a ``report.html`` with a report's title."""
    if (out / MARKER).is_file():
        return True
    try:
        with (out / "report.html").open(encoding="utf-8", errors="replace") as fh:
            return _LEGACY_TITLE in fh.read(4096)
    except OSError:
        return False


def check_report_dir(out: Path) -> None:
    """Refuse ``out`` where a report would replace files it did not write: an existing file
    (``NotADirectoryError``) or a non-empty directory that is not a report directory
    (``FileExistsError``); both name it and what is allowed."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir {out} exists and is not a directory; give a "
                                 "directory for the report")
    if out.is_dir() and any(out.iterdir()) and not is_report_dir(out):
        raise FileExistsError(
            f"out_dir {out} is a non-empty directory that no report wrote (it has no {MARKER} "
            "file), whose files a report would replace; give a new or empty directory")


def mark_report_dir(out: Path, results_dir: Path) -> None:
    """Write the marker into ``out`` (before the report's files: an interrupted report leaves a
    directory the next one may write again)."""
    from microstructure import __version__
    from microstructure._atomic import atomic_write_bytes

    text = json.dumps({"format": REPORT_FORMAT, "results_dir": str(results_dir.resolve()),
                       "package_version": __version__}, indent=1) + "\n"
    atomic_write_bytes(out / MARKER, text.encode())
