"""The manifest of a results directory: the sweep definition, its points and every run."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._store import ResultsStore
from ._sweep_spec import POINT_ID_SCHEME, SweepError
from ._text import utc_now

if TYPE_CHECKING:
    from ._executors import Executor
    from ._sweep_spec import SweepPoint, SweepSpec

__all__ = ["SweepProgress", "definition", "definition_changes", "write_definition", "write_run"]


@dataclass
class SweepProgress:
    """Counters of a running sweep (passed to ``on_row``)."""

    total: int
    done_before: int
    ok: int = 0
    failed: int = 0


def definition(sweep: SweepSpec, *, save_structures: bool) -> dict[str, Any]:
    """What a results directory's rows depend on: the sweep (title aside) and the options that
    change a row (``save_structures``)."""
    d = sweep.describe()
    d.pop("name", None)
    # the order of axes, values and points changes no row: compare them as sets
    canon = lambda v: json.dumps(v, sort_keys=True, default=str)  # noqa: E731
    d["axes"] = {k: sorted(v, key=canon) for k, v in d.get("axes", {}).items()}
    d["points"] = sorted(d.get("points", []), key=canon)
    d["base"] = sweep.base_spec.model_dump(mode="json", exclude_none=True)
    d["save_structures"] = bool(save_structures)
    d["in_plane"] = bool(d.get("in_plane"))  # not written and false are one sweep
    return d


def definition_changes(store: ResultsStore, sweep: SweepSpec, *,
                       save_structures: bool) -> list[str]:
    """How ``sweep`` differs from the definition recorded in ``store`` (``[]`` when equal or
    when the directory is new), the package version that wrote it included.  Raises
    :class:`SweepError` for a directory whose point ids were made another way (an older
    version), where a resume would silently run everything again under new ids."""
    man = store.read_manifest()
    if not man:
        return []
    if man.get("point_id_scheme") != POINT_ID_SCHEME:
        raise SweepError(
            f"results directory {store.root} was written by assb-microstructure "
            f"{man.get('package_version', '?')}, whose point ids are made differently "
            f"(scheme {man.get('point_id_scheme', 'sha1-base+params/1')!r}, now "
            f"{POINT_ID_SCHEME!r}); resuming would run every point again beside the old "
            "rows. Use a new results directory")
    from microstructure import __version__

    changes = []
    if man.get("package_version", __version__) != __version__:
        changes.append(f"package_version: {man['package_version']} -> {__version__} (the "
                       "finished rows were computed by that version and may mean otherwise)")
    old = man.get("definition")
    if old is None:
        return changes
    new = json.loads(json.dumps(definition(sweep, save_structures=save_structures),
                                default=str))
    old = {**old, "in_plane": bool(old.get("in_plane"))}  # null where the file did not say
    return changes + _differences(old, new)


def _differences(old: Any, new: Any, path: str = "") -> list[str]:
    """``"path: old -> new"`` for each leaf where two definitions differ (tables compared key
    by key, so the message shows the change, not the start of a long table)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            out += _differences(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
        return out
    if old == new:
        return []
    return [f"{path}: {_short(old)} -> {_short(new)}"]


def _short(v: Any, n: int = 80) -> str:
    text = json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= n else text[: n - 3] + "..."


def write_definition(store: ResultsStore, sweep: SweepSpec, points: list[SweepPoint],
                     started: str, *, save_structures: bool, found: Iterable[str] = ()) -> None:
    """Record the sweep, its points and the run options in ``manifest.json``; ``found``: the
    point ids of the rows already there, recorded (parameters unknown) where the manifest does
    not know them (one deleted and written anew), so that their rows stay readable."""
    from microstructure import __version__

    from ._store import RESULTS_FORMAT

    if sweep.source is not None:
        store.write_text("sweep.toml", Path(sweep.source).read_text())
    man = store.read_manifest()
    known = man.get("points", {})
    for p in points:
        known[p.point_id] = {"params": p.params, "spec_error": p.error}
    for pid in found:
        known.setdefault(pid, {"params": None, "spec_error": None})
    man.update({
        "format": RESULTS_FORMAT,
        "package_version": __version__,
        "created": man.get("created", started),
        "updated": started,
        "sweep": sweep.describe(),
        "definition": definition(sweep, save_structures=save_structures),
        "point_id_scheme": POINT_ID_SCHEME,
        "sweep_file": None if sweep.source is None else str(Path(sweep.source).resolve()),
        "base_spec": sweep.base_spec.model_dump(mode="json", exclude_none=True),
        "param_paths": sorted(set(man.get("param_paths", [])) | set(sweep.param_paths)),
        "seeds": sweep.seeds,
        "current_points": [p.point_id for p in points],
        "points": known,
        "runs": man.get("runs", []),
    })
    store.write_manifest(man)


def write_run(store: ResultsStore, sweep: SweepSpec, started: str, progress: SweepProgress,
              executor: Executor | None, device: str) -> None:
    """Append this run (counts, executor, device, host, times) to ``manifest.json``."""
    man = store.read_manifest()
    man.setdefault("runs", []).append({
        "started": started, "finished": utc_now(), "rows_total": progress.total,
        "rows_done_before": progress.done_before, "ok": progress.ok, "failed": progress.failed,
        "executor": "nothing to run" if executor is None else executor.description,
        "device": device, "host": socket.gethostname(),
    })
    store.write_manifest(man)

