"""A local sweep on ``device="cuda"``: one worker per visible GPU, each pinned to its own
(``CUDA_VISIBLE_DEVICES``), and the GPU memory checked per GPU.  No GPU here: the GPU count is
faked, the pinning runs in real spawned processes and a real Dask LocalCluster."""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from types import SimpleNamespace

import pytest

import solvers.device
import solvers.memory
from microstructure.studies._executors import _pin_gpu_plugin, local_workers
from microstructure.studies._point import pin_gpu
from solvers.memory import InsufficientMemoryError, MemoryEstimate, MemoryLimit, check_memory


@pytest.fixture
def two_gpus(monkeypatch):
    """CuPy that reports two GPUs."""
    cupy = SimpleNamespace(cuda=SimpleNamespace(runtime=SimpleNamespace(getDeviceCount=lambda: 2)))
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setattr(solvers.device, "gpu_available", lambda: True)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_visible_gpus_follow_cuda_visible_devices(two_gpus, monkeypatch):
    assert solvers.device.visible_gpus() == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5, 7,9")       # CUDA sees the first two
    assert solvers.device.visible_gpus() == ["5", "7"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f1c,GPU-22aa")
    assert solvers.device.visible_gpus() == ["GPU-8f1c", "GPU-22aa"]


def test_no_gpu_no_pinning(monkeypatch):
    monkeypatch.setattr(solvers.device, "gpu_available", lambda: False)
    assert solvers.device.visible_gpus() == []


def test_one_worker_per_gpu_by_default(two_gpus):
    assert local_workers(None, "cuda", 10) == (2, ["0", "1"])
    assert local_workers(5, "cuda", 10) == (5, ["0", "1"])      # more: round-robin
    assert local_workers(None, "cuda", 1) == (1, ["0", "1"])    # never more than the tasks
    n, gpus = local_workers(None, "cpu", 1000)
    assert gpus == [] and n == len(os.sched_getaffinity(0))
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=r"workers must be an integer >= 1 \(or None: "
                                             rf"the usable cores\), got {bad}"):
            local_workers(bad, "cuda", 10)


def test_pin_gpu_round_robin(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    counter = multiprocessing.Value("i", 0)
    got = [pin_gpu(["3", "5"], counter) for _ in range(3)]
    assert got == ["3", "5", "3"] and os.environ["CUDA_VISIBLE_DEVICES"] == "3"


def test_spawned_workers_see_only_their_gpu():
    ctx = multiprocessing.get_context("spawn")
    counter = ctx.Value("i", 0)
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx, initializer=pin_gpu,
                             initargs=(["3", "5"], counter)) as pool:
        seen = list(pool.map(os.getenv, ["CUDA_VISIBLE_DEVICES"] * 6))
    started = counter.value                                # workers the pool started
    assert 1 <= started <= 2
    assert seen and set(seen) <= set(["3", "5"][:started])   # each worker its own GPU


def test_dask_local_workers_see_only_their_gpu():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.register_plugin(_pin_gpu_plugin(distributed, ["3", "5"]))
        seen = client.run(os.getenv, "CUDA_VISIBLE_DEVICES")
    assert sorted(seen.values()) == ["3", "5"]


def test_gpu_memory_is_checked_per_gpu(monkeypatch):
    gib = 2**30
    monkeypatch.setattr(solvers.memory, "available_memory", lambda device="cpu": MemoryLimit(
        64 * gib if device == "cpu" else 10 * gib, f"fake {device}"))
    est = MemoryEstimate("sweep point", (256, 256, 256), host_bytes=gib, device_bytes=4 * gib,
                         device="cuda")
    with pytest.raises(InsufficientMemoryError, match=r"\(4 at once\).*GPU memory"):
        check_memory(est, field="domain.shape", copies=4)        # four on one GPU: 16 GiB
    assert check_memory(est, field="domain.shape", copies=4, device_copies=2) is est
    with pytest.raises(ValueError, match="device_copies must be an integer >= 1, got 0"):
        check_memory(est, field="domain.shape", copies=4, device_copies=0)


@pytest.mark.gpu
def test_gpu_sweep_in_pinned_workers_equals_cpu(tmp_path):
    """On a real GPU: a pressed sweep in two pinned worker processes gives the CPU's θ and the
    same arrays' transport within solver tolerance."""
    import numpy as np

    from microstructure.studies import SweepSpec, run_sweep

    sw = SweepSpec(base="default", seeds=1, transport=True,   # two tasks: one per worker
                   overrides={"domain.shape": [32, 32, 32], "domain.voxel_size_um": 0.5},
                   axes={"phases.cam.fraction": [70, 80]})
    cpu = run_sweep(sw, tmp_path / "cpu", workers=2, quiet=True).sort_values(
        ["point_id", "seed"])
    gpu = run_sweep(sw, tmp_path / "gpu", workers=2, device="cuda", quiet=True).sort_values(
        ["point_id", "seed"])
    assert (gpu["status"] == "ok").all() and (gpu["device"] == "cuda").all()
    np.testing.assert_array_equal(gpu["util_strict"], cpu["util_strict"])
    np.testing.assert_allclose(gpu["ionic_tau"], cpu["ionic_tau"], rtol=1e-4)
