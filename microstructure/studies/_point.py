"""One sweep point: generate -> analyze -> one flat row (runs in a worker process)."""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from microstructure import ElectrodeSpec, SpecError

from ._text import one_line, utc_now
from .rows import blank_row, flat_row

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# one point (runs in a worker process)


def _provenance(row: dict[str, Any], device: str) -> dict[str, Any]:
    from microstructure import __version__

    row["package_version"] = __version__
    row["device"] = device
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    row["finished_at"] = utc_now()
    return row


def failed_row(point: dict[str, Any], seed: int, error: str, device: str) -> dict[str, Any]:
    """The row of a point that could not run (``status = "failed"``, ``error`` = why)."""
    row = blank_row(point, seed)
    row["error"] = error
    return _provenance(row, device)


def run_point(task: dict[str, Any]) -> dict[str, Any]:
    """Generate, analyze and flatten one (point, seed); never raises for a failing point.

    ``task`` is a plain dict (picklable, for process pools and Dask): ``point_id``,
    ``params``, ``spec_json``, ``seed``, ``device``, ``transport``, ``wall_margin_um``,
    ``homogeneity_window_um`` (None: the defaults of ``analyze``), ``in_plane``, ``threads``
    (numba threads for this task, or None) and ``structure_path`` (where to save the
    structure, or None).
    """
    from microstructure import PackingError, generate

    from ._analysis import analyze

    if task.get("threads"):
        _set_numba_threads(int(task["threads"]))
    seed, device = int(task["seed"]), task["device"]
    row = blank_row(task, seed)
    t_start = time.perf_counter()
    caught: list[warnings.WarningMessage] = []
    try:
        spec = ElectrodeSpec.from_dict(json.loads(task["spec_json"]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            m = generate(spec, seed=seed, device=device)
            t_gen = time.perf_counter() - t0
            analysis = analyze(m, device=device, transport=bool(task.get("transport", True)),
                               wall_margin_um=task.get("wall_margin_um"),
                               homogeneity_window_um=task.get("homogeneity_window_um"),
                               in_plane=bool(task.get("in_plane", False)))
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
        row["error"] = f"PackingError: {one_line(exc)}"
    except SpecError as exc:
        row["error"] = f"SpecError: {one_line(exc)}"
    except Exception as exc:  # noqa: BLE001 - one bad point must not end a long sweep
        log.exception("sweep point %s seed %d failed", task["point_id"], seed)
        row["error"] = f"{type(exc).__name__}: {one_line(exc)}"
    row["warnings"] = "; ".join(dict.fromkeys([*map(one_line, task.get("notes", ())),
                                               *(one_line(w.message) for w in caught)]))
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


def init_worker(threads: int, parent: int, gpus: list[str] | None = None,
                counter: Any = None) -> None:
    """Process-pool initializer: limit numba threads so workers x threads <= cores, give the
    worker one of ``gpus`` (:func:`pin_gpu`), and end this worker when the sweep process dies
    (even by SIGKILL), so no orphan keeps running."""
    _set_numba_threads(threads)
    if gpus:
        pin_gpu(gpus, counter)
    _exit_with_parent(parent)


def pin_gpu(gpus: list[str], counter: Any) -> str:
    """Before CUDA starts in this process, let it see only the next of ``gpus`` (round-robin
    over the workers by the shared ``counter``, a ``multiprocessing.Value``); the GPU's
    ``CUDA_VISIBLE_DEVICES`` entry."""
    with counter.get_lock():
        k = counter.value
        counter.value += 1
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus[k % len(gpus)]
    return gpus[k % len(gpus)]


def _exit_with_parent(parent: int) -> None:
    import signal
    import threading

    try:  # Linux: the kernel sends SIGTERM the moment the parent exits
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - other platforms: the watchdog
        pass
    if os.getppid() != parent:  # the sweep process died while this worker was starting
        os._exit(1)

    def watchdog() -> None:  # portable fallback: re-parented -> the sweep process is gone
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watchdog, name="assb-parent-watchdog", daemon=True).start()


def usable_cores() -> int:
    """CPU cores this process may use (affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


