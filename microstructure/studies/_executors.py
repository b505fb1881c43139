"""Where sweep points run: in this process, local worker processes, or a Dask cluster."""

from __future__ import annotations

import contextlib
import logging
import numbers
import os
import warnings
from collections.abc import Iterator
from typing import Any

from ._point import failed_row, init_worker, run_point, usable_cores
from ._text import one_line
from .rows import row_name

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# executors


class Executor:
    """Runs tasks and yields ``(task, row)`` as they finish."""

    description = ""

    def run(self, tasks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        raise NotImplementedError

    def close(self, *, abort: bool = False) -> None:
        """Release the workers; ``abort`` stops running points instead of waiting for them."""


class _InProcess(Executor):
    description = "in this process"

    def run(self, tasks):
        for t in tasks:
            yield t, run_point(t)


class _ProcessPool(Executor):
    def __init__(self, workers: int, threads: int, gpus: list[str] | None = None) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        self.threads = threads
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                        initializer=init_worker,
                                        initargs=(threads, os.getpid(), gpus or None,
                                                  ctx.Value("i", 0) if gpus else None))
        self.description = (f"{workers} local processes x {threads} numba "
                            f"thread{'s' if threads != 1 else ''}"
                            + (f", {len(gpus)} GPU(s)" if gpus else ""))

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
                        "rows are kept, rerun the sweep to resume.  From a script: is "
                        "run_sweep under `if __name__ == \"__main__\":`?") from None
                yield futures[fut], row
        finally:
            for fut in futures:
                fut.cancel()

    def close(self, *, abort: bool = False) -> None:
        if abort:
            # interrupted: the running points are abandoned (their rows are not written), so
            # stop the worker processes now rather than wait for them to finish
            for proc in list(getattr(self.pool, "_processes", {}).values()):
                proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Dask(Executor):
    def __init__(self, client: Any, cluster: Any = None, threads: int | None = None) -> None:
        self.client, self.cluster, self.threads = client, cluster, threads
        n = len(client.scheduler_info().get("workers", {}))
        where = "a local Dask cluster" if cluster is not None else client.scheduler.address
        self.description = f"{where} ({n} worker{'s' if n != 1 else ''})"

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
                                     f"{type(exc).__name__}: {one_line(exc)}", task["device"])
                fut.release()
                yield task, row
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()

    def close(self, *, abort: bool = False) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.client.close()
            finally:
                if self.cluster is not None:
                    self.cluster.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored in this process (main thread only) while the block starts processes."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError("scheduler needs dask.distributed: pip install "
                          "'assb-microstructure[dist]'") from None
    return distributed


def local_workers(workers: int | None, device: str, n_tasks: int | None = None,
                  ) -> tuple[int, list[str]]:
    """Worker processes of a sweep on this machine, and the GPUs they are spread over: on
    ``"cpu"`` one per core, on ``"cuda"`` one per visible GPU (:func:`~solvers.device.
    visible_gpus`; more with ``workers``, round-robin), never more than ``n_tasks``."""
    from solvers.device import visible_gpus

    _check_workers(workers)
    gpus = visible_gpus() if device == "cuda" else []
    n = int(workers or len(gpus) or usable_cores())
    return (min(n, max(n_tasks, 1)) if n_tasks is not None else n), gpus


def _check_workers(workers: int | None) -> None:
    if workers is not None and (isinstance(workers, bool)
                                or not isinstance(workers, numbers.Integral) or workers < 1):
        raise ValueError(f"workers must be an integer >= 1 (or None: the usable cores), got "
                         f"{workers!r}")


def _pin_gpu_plugin(distributed: Any, gpus: list[str]) -> Any:
    """A Dask worker plugin: worker ``k`` of a local cluster sees only GPU ``gpus[k % n]``
    (set before its first task starts CUDA)."""

    class PinGPU(distributed.WorkerPlugin):
        name = "assb-pin-gpu"

        def setup(self, worker: Any) -> None:
            k = int(worker.name) if str(worker.name).isdigit() else 0
            os.environ["CUDA_VISIBLE_DEVICES"] = gpus[k % len(gpus)]

    return PinGPU()


def make_executor(scheduler: str | None, workers: int | None, n_tasks: int,
                   scheduler_timeout: float, device: str = "cpu") -> Executor:
    cores = usable_cores()
    _check_workers(workers)
    if scheduler is None or scheduler == "processes":
        n, gpus = local_workers(workers, device, n_tasks)
        if n <= 1:
            return _InProcess()
        return _ProcessPool(n, max(1, cores // n), gpus)
    distributed = _import_distributed()
    if scheduler == "local":
        n, gpus = local_workers(workers, device)
        with _sigint_ignored():  # Ctrl-C is the sweep process's to handle: it closes the
            # cluster; its worker processes (which inherit the ignore) would each print a
            # traceback of their own
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1,
                                               processes=True, host="127.0.0.1",
                                               dashboard_address=None,
                                               silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
        if gpus:
            client.register_plugin(_pin_gpu_plugin(distributed, gpus))
        return _Dask(client, cluster, threads=max(1, cores // n))
    if not scheduler.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
        raise ValueError(f"scheduler must be 'local' or an address like tcp://host:8786, "
                         f"got {scheduler!r}")
    try:
        client = distributed.Client(scheduler, timeout=f"{scheduler_timeout}s")
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {scheduler} within {scheduler_timeout:g} s "
            f"({one_line(exc) or type(exc).__name__}); start one with 'dask scheduler' and "
            "workers with 'dask worker ADDRESS' (or 'dask cuda worker ADDRESS' on GPU nodes)"
        ) from None
    return _Dask(client, None, threads=None)


