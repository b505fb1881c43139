"""Memory estimates and the check against available memory (issue 12, case 3)."""

from __future__ import annotations

import numpy as np
import pytest

import solvers
from solvers import memory
from solvers.memory import (
    InsufficientMemoryError,
    MemoryEstimate,
    available_memory,
    check_memory,
    estimate_generate,
    estimate_sweep_point,
    estimate_tortuosity,
    estimate_utilization,
    format_bytes,
)


def test_estimates_follow_the_documented_formulas():
    n = 50**3
    base = 16 * 2**20
    assert estimate_generate((50, 50, 50), expected_particles=1000).host_bytes \
        == base + 24 * n + 60 * 2000
    assert estimate_utilization((50, 50, 50)).host_bytes == 20 * n
    assert estimate_tortuosity((50, 50, 50)).host_bytes == 96 * n
    sp = estimate_sweep_point((50, 50, 50), expected_particles=1000, transport=True)
    assert sp.host_bytes == max(base + 24 * n + 60 * 2000, 5 * n + 20 * 2000 + 96 * n)
    fast = estimate_sweep_point((50, 50, 50), expected_particles=1000, transport=False)
    assert fast.host_bytes == max(base + 24 * n + 60 * 2000, 5 * n + 20 * 2000 + 20 * n)
    gpu = estimate_generate((50, 50, 50), expected_particles=1000, device="cuda")
    assert gpu.device_bytes == base + 24 * n + 60 * 2000 and gpu.host_bytes < gpu.device_bytes


def test_no_overflow_for_absurd_shapes():
    est = estimate_tortuosity((100_000, 100_000, 100_000))
    assert est.host_bytes == 96 * 10**15                      # Python ints, no int64 wrap


@pytest.mark.parametrize(("shape", "expected_particles"), [((0, 4, 4), -1.0),
                                                           ((4, 4, 4), float("nan"))])
def test_bad_estimate_inputs(shape, expected_particles):
    with pytest.raises(ValueError, match="expected_particles must be a finite number"):
        estimate_generate(shape, expected_particles=expected_particles)
    with pytest.raises(ValueError, match="must not have negative sizes"):
        estimate_utilization((4, -1, 4))


def test_check_memory_names_field_estimate_and_limit():
    est = estimate_generate((4000, 4000, 4000), expected_particles=5e9)
    with pytest.raises(InsufficientMemoryError) as info:
        check_memory(est, field="domain.shape", limit_bytes=16 * 10**9)
    msg = str(info.value)
    assert msg.startswith("domain.shape = [4000, 4000, 4000]: generate needs about 2.14 TB")
    assert "16.00 GB are available (limit_bytes)" in msg and "24 B x 6.4e+10 voxels" in msg
    assert isinstance(info.value, MemoryError)
    assert info.value.field == "domain.shape" and info.value.estimate is est
    assert info.value.limit.bytes == 16 * 10**9


def test_check_memory_copies_and_pass_through():
    est = estimate_utilization((100, 100, 100))                # 20 MB
    assert check_memory(est, field="phases", limit_bytes=25 * 10**6) is est
    with pytest.raises(InsufficientMemoryError, match=r"\(2 at once\) needs about 40.00 MB"):
        check_memory(est, field="phases", copies=2, limit_bytes=25 * 10**6)
    with pytest.raises(ValueError, match="copies must be an integer >= 1"):
        check_memory(est, field="phases", copies=0)


def test_available_memory_is_real_and_at_most_memtotal():
    lim = available_memory()
    assert lim.bytes > 0 and lim.source
    total = memory._meminfo("MemTotal")
    if total is not None:
        assert lim.bytes <= total


def test_cgroup_headroom_is_below_memavailable_or_absent():
    head = memory._cgroup_headroom()
    assert head is None or head >= 0
    if head is not None and memory._meminfo("MemAvailable") is not None:
        assert available_memory().bytes <= head


def test_format_bytes():
    assert format_bytes(999) == "999 B"
    assert format_bytes(1.5e9) == "1.50 GB"
    assert format_bytes(250e12) == "250 TB"


def test_repr():
    r = repr(MemoryEstimate("tortuosity", (8, 8, 8), 49152))
    assert r == "MemoryEstimate(tortuosity, shape=(8, 8, 8), host 49.15 kB)"


def test_cam_utilization_checks_memory_before_work(monkeypatch):
    phases = np.full((16, 16, 16), 2, dtype=np.uint8)
    ids = np.zeros(phases.shape, dtype=np.int32)
    monkeypatch.setattr(memory, "available_memory",
                        lambda device="cpu": memory.MemoryLimit(1000, "test limit"))
    with pytest.raises(InsufficientMemoryError) as info:
        solvers.cam_utilization(phases, ids)
    assert str(info.value).startswith("phases of shape (16, 16, 16): cam_utilization needs "
                                      "about 81.92 kB")
    assert "1.00 kB are available (test limit)" in str(info.value)
    monkeypatch.undo()
    assert solvers.cam_utilization(phases, ids).n_particles == 0        # and runs without


def test_cuda_without_cupy_is_a_clear_error_at_every_entry_point(monkeypatch):
    """device="cuda" where CuPy is not installed: every compute entry point says what to
    install (the memory check, which runs first, failed on a bare ``import cupy``); the
    generator's twin is in tests/microstructure/test_generate_memory.py."""
    import sys

    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    monkeypatch.setitem(sys.modules, "cupy", None)          # import cupy -> ImportError
    ph = np.ones((8, 8, 8), np.uint8)
    calls = {
        "tortuosity": lambda: solvers.tortuosity(ph == 1, device="cuda"),
        "transport_properties": lambda: solvers.transport_properties(
            ph, {1: 1.0}, voxel_size_um=0.5, device="cuda"),
        "cam_utilization": lambda: solvers.cam_utilization(
            ph, np.zeros(ph.shape, np.int32), voxel_size_um=0.5, device="cuda"),
        "label": lambda: solvers.label(ph == 1, device="cuda"),
    }
    for call in calls.values():
        with pytest.raises(RuntimeError, match=r"needs CuPy .*\[gpu\]"):
            call()
