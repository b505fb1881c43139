"""Run a sweep: every (point, seed) not yet finished, one row each, resumable.

The definition is in :mod:`._sweep_spec`, one point in :mod:`._point`, where points run in
:mod:`._executors`, the results directory in :mod:`._store` and its manifest in
:mod:`._manifest`; the columns of a row are owned by :mod:`microstructure.studies.rows`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ._executors import Executor, make_executor
from ._manifest import SweepProgress, definition_changes, write_definition, write_run
from ._point import failed_row
from ._store import ResultsStore
from ._sweep_spec import SweepError, SweepSpec, as_sweep
from ._text import utc_now

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# the runner


def run_sweep(sweep: SweepSpec | str | Path, results_dir: str | Path, *,
              workers: int | None = None, scheduler: str | None = None, device: str = "cpu",
              quiet: bool = False, save_structures: bool = False, retry_failed: bool = False,
              scheduler_timeout: float = 10.0, force: bool = False,
              on_row: Callable[[dict[str, Any], SweepProgress], None] | None = None):
    """Run every (point, seed) of ``sweep`` not yet finished in ``results_dir``.

    Each point: generate -> CAM utilization (strict and CAM relay) -> ionic and electronic
    transport -> one flat row, written atomically to ``results_dir/rows`` the moment it
    finishes; ``results.parquet`` / ``results.csv`` are rebuilt from the rows.  Rows already
    there are skipped (failed ones are retried with ``retry_failed``), so a rerun resumes an
    interrupted sweep.  A point's id is a content hash of its resolved spec, so the order of
    axes and values never matters.  A results directory remembers its sweep definition: a
    changed definition (axes, seeds, base spec, ``transport``, ``save_structures``) is refused
    with a message naming what changed, unless ``force=True`` extends the directory (finished
    rows are kept as they are; only rows not there yet run).  The tables hold the rows of this
    sweep; rows of an earlier definition that it no longer holds stay in ``rows/``
    (``df.attrs["rows_of_earlier_sweeps"]`` counts them; ``load_results(earlier=True)``).

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
    force : bool
        Accept a sweep definition that differs from the one recorded in ``results_dir``.
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

    Interrupting (Ctrl-C, SIGTERM) stops the workers and keeps every finished row; the tables
    are rebuilt from the rows before returning.  After a SIGKILL the rows are complete but
    ``results.csv`` / ``results.parquet`` may lag behind until the next run (which rewrites
    them first) or :func:`load_results` (which reads the rows).

    Raises
    ------
    solvers.memory.InsufficientMemoryError
        The largest point, times the points running at once, does not fit in the memory
        available (checked before anything runs on this machine).
    SweepError
        Invalid sweep definition, a results directory that is busy, foreign, or recorded with
        another definition (nothing is run).
    ConnectionError
        Unreachable scheduler (nothing is run or written).
    """
    from solvers.device import DEVICES, cuda_simulated, gpu_available

    from ._store import rows_to_frame

    _refuse_spawned_child()
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
    changes = definition_changes(store, sweep, save_structures=save_structures)
    if changes and not force:
        raise SweepError(
            f"results directory {store.root} holds a different sweep: " + "; ".join(changes)
            + ". Use a new results directory, or force=True (assb sweep --force) to extend "
            "this one (finished rows are kept as they are, not recomputed)")
    points = sweep.expand()
    existing = store.read_rows() if store.rows_dir.is_dir() else {}

    def done(key: tuple[str, int]) -> bool:
        r = existing.get(key)
        return r is not None and (r.get("status") == "ok" or not retry_failed)

    todo: list[dict[str, Any]] = []
    spec_failures: list[dict[str, Any]] = []
    for p in points:
        pt = {"point_id": p.point_id, "params": p.params, "notes": list(p.notes),
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
                    "wall_margin_um": sweep.wall_margin_um,
                    "homogeneity_window_um": sweep.homogeneity_window_um,
                    "in_plane": bool(sweep.in_plane),
                    "threads": None, "structure_path": None}
            if save_structures:
                task["structure_path"] = str(store.structure_path(p.point_id, seed).resolve())
            todo.append(task)
    if todo and local:
        _check_memory(points, todo, sweep, workers, device)
    keys = {(p.point_id, s) for p in points for s in range(sweep.seeds)}
    progress = SweepProgress(total=len(keys), done_before=sum(done(k) for k in keys))

    executor = (make_executor(scheduler, workers, len(todo), scheduler_timeout, device)
                if todo else None)
    started = utc_now()
    # the table is this sweep's; rows of an earlier definition (forced in) stay in rows/
    rows = {k: r for k, r in existing.items() if k in keys}
    finished = False
    try:
        with _sigterm_as_interrupt() as signalled:
            store.open_for_writing()
            store.write_tables(rows.values())  # the tables may lag the rows after a kill
            write_definition(store, sweep, points, started, save_structures=save_structures,
                             found={pid for pid, _ in existing})
            if executor is not None and getattr(executor, "threads", None):
                for t in todo:
                    t["threads"] = executor.threads
            bar = _bar(progress, quiet, executor)
            last_tables = 0.0
            try:
                for row in spec_failures:
                    last_tables = _record(store, rows, row, progress, bar, on_row, last_tables)
                if executor is not None:
                    for _task, row in executor.run(todo):
                        last_tables = _record(store, rows, row, progress, bar, on_row,
                                              last_tables)
                        if signalled:  # an interrupt swallowed where it landed (a gc
                            raise KeyboardInterrupt(f"signal {signalled[0]}")  # callback)
                finished = True
            finally:
                bar.close()
                if store.locked:
                    store.write_tables(rows.values())
                    write_run(store, sweep, started, progress, executor, device)
    finally:
        if executor is not None:
            # interrupted: stop the running points now rather than wait for them
            executor.close(abort=not finished)
        store.close()
    df = rows_to_frame(rows.values())
    df.attrs["rows_of_earlier_sweeps"] = len(existing.keys() - keys)
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
    bar.set_postfix(ok=progress.ok, failed=progress.failed, refresh=False)
    bar.update(1)  # draws the counts just set
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


def _bar(progress: SweepProgress, quiet: bool, executor: Executor | None) -> Any:
    if quiet:
        return _NoBar()
    import sys

    from solvers.progress import progress_bar

    desc = "sweep"
    if executor is not None:
        log.info("running on %s", executor.description)
    return progress_bar(total=progress.total, initial=progress.done_before, desc=desc,
                        unit="pt", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def _refuse_spawned_child() -> None:
    """A script that calls ``run_sweep`` at top level is imported again by every spawned
    worker process (as ``__mp_main__``); stop there with the fix instead of a misleading error
    ("another sweep is writing", "a worker process died") in the parent."""
    import multiprocessing

    # a spawned child runs the parent's script as "__mp_main__" while it bootstraps; the flag
    # is the one multiprocessing itself checks before refusing to start processes then
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(
            "run_sweep was called while a sweep worker process imported your script: local "
            "workers are started with 'spawn', so put the call under "
            "`if __name__ == \"__main__\":` (see the README's Sweeps section)")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[list[int]]:
    """Turn SIGTERM into KeyboardInterrupt while the sweep runs (main thread only), so that
    the workers are stopped and the tables and manifest written, as for Ctrl-C.  Yields the
    signals received (SIGINT too): a KeyboardInterrupt raised inside a garbage-collector
    callback (Dask's) is printed and dropped by Python, so the sweep checks the list after
    each row as well."""
    import signal
    import threading

    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def handler(signum: int, frame: Any) -> None:
        got.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield got
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def _check_memory(points: list, todo: list[dict[str, Any]], sweep: SweepSpec,
                  workers: int | None, device: str) -> None:
    """Refuse, before any work, a sweep whose largest point does not fit in memory as many
    times as points run at once on this machine (:class:`~solvers.memory.InsufficientMemoryError`
    naming ``domain.shape``, the estimate and the limit)."""
    from microstructure._memory import estimate_sweep_point
    from solvers.memory import check_memory

    from ._executors import local_workers

    ids = {t["point_id"] for t in todo}
    estimates = [estimate_sweep_point(p.spec, transport=sweep.transport, device=device)
                 for p in points if p.point_id in ids and p.spec is not None]
    if not estimates:
        return
    biggest = max(estimates, key=lambda e: e.host_bytes)
    copies, gpus = local_workers(workers, device, len(todo))
    # the workers share the host; on the GPU each holds its own share of them
    check_memory(biggest, field="domain.shape", copies=copies,
                 device_copies=-(-copies // len(gpus)) if gpus else None)
