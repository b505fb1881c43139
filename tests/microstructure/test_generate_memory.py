"""The generator checks its memory estimate before any allocation (issue 12, case 3): a 4000³
box was OOM-killed after 71 s with no message, a 100000³ one raised a MemoryError traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

import microstructure as ms
from microstructure._memory import estimate_generate, expected_particles
from microstructure.studies.cli import app
from solvers import memory
from solvers.memory import InsufficientMemoryError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "nmc_lpscl.toml"


def _spec_file(tmp_path: Path, shape: str) -> Path:
    p = tmp_path / "big.toml"
    p.write_text(EXAMPLE.read_text().replace("shape = [200, 128, 128]", f"shape = {shape}"))
    return p


@pytest.mark.parametrize("n", [4000, 100_000])
def test_generate_refuses_a_box_too_large_before_any_work(n):
    spec = ms.load_spec(EXAMPLE).updated({"domain.shape": [n, n, n]})
    t0 = time.perf_counter()
    with pytest.raises(InsufficientMemoryError) as info:
        ms.generate(spec, seed=0)
    assert time.perf_counter() - t0 < 10                      # no packing, no allocation
    msg = str(info.value)
    assert msg.startswith(f"domain.shape = [{n}, {n}, {n}]: generate needs about ")
    assert "are available (" in msg and "use a smaller domain.shape" in msg


def test_generate_uses_the_limit(monkeypatch):
    monkeypatch.setattr(memory, "available_memory",
                        lambda device="cpu": memory.MemoryLimit(10**6, "test limit"))
    spec = ms.load_spec(EXAMPLE).updated({"domain.shape": [32, 32, 32],
                                          "domain.voxel_size_um": 1.0})
    with pytest.raises(InsufficientMemoryError, match=r"1.00 MB are available \(test limit\)"):
        ms.generate(spec, seed=0)


def test_generate_on_cuda_without_cupy_says_what_to_install(monkeypatch):
    """The memory check runs first; on "cuda" without CuPy it failed on a bare import."""
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    monkeypatch.setitem(sys.modules, "cupy", None)          # import cupy -> ImportError
    spec = ms.load_spec(ms.default_spec_path()).updated({"domain.shape": [48, 48, 48]})
    with pytest.raises(RuntimeError, match=r"needs CuPy .*\[gpu\]"):
        ms.generate(spec, device="cuda")


def test_expected_particles_scales_with_the_box():
    spec = ms.load_spec(EXAMPLE)
    a = expected_particles(spec.updated({"domain.shape": [64, 64, 64]}))
    b = expected_particles(spec.updated({"domain.shape": [128, 128, 128]}))
    assert b == pytest.approx(8 * a, rel=1e-9)
    c = expected_particles(spec.updated({"domain.shape": [64, 64, 64],
                                         "domain.voxel_size_um": 0.5}))
    assert c == pytest.approx(8 * a, rel=1e-9)                # same voxels, 8x the volume


_MEASURE = """
import json, sys, warnings
sys.path.insert(0, {bench!r})
warnings.simplefilter("ignore")
import microstructure as ms
from _mem import timed_peak
spec = ms.load_spec({example!r}).updated({{"packing.mode": {mode!r}}})
ms.generate(spec.updated({{"domain.shape": [{w}, {w}, {w}], "domain.voxel_size_um": {wh}}}),
            seed=0)                                   # warm-up: compile the kernels of the mode
spec = spec.updated({{"domain.shape": [{n}, {n}, {n}], "domain.voxel_size_um": {h}}})
m, s, mib = timed_peak(lambda: ms.generate(spec, seed=0))
print(json.dumps({{"peak": None if mib is None else mib * 2**20, "n": len(m.particles)}}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux VmHWM")
@pytest.mark.parametrize(("n", "h", "mode", "warmup"), [
    (128, 0.25, "pressed", (48, 0.25)),        # the default model (needs fine voxels)
    (96, 0.5, "sequential", (24, 1.0)),
])
def test_estimate_bounds_the_measured_peak(n, h, mode, warmup):
    """Calibration check in a fresh process: measured peak <= estimate <= 3 x peak + 64 MB."""
    code = _MEASURE.format(bench=str(ROOT / "benchmarks"), example=str(EXAMPLE), n=n, h=h,
                           mode=mode, w=warmup[0], wh=warmup[1])
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    if out["peak"] is None:
        pytest.skip("VmHWM cannot be reset here")
    spec = ms.load_spec(EXAMPLE).updated({"domain.shape": [n, n, n], "domain.voxel_size_um": h,
                                          "packing.mode": mode})
    est = estimate_generate(spec).host_bytes
    assert out["peak"] <= est <= 3 * out["peak"] + 64 * 2**20, (out, est)
    assert out["n"] <= 2 * expected_particles(spec)             # the overlap factor


def test_cli_generate_too_large_exits_2_with_estimate_and_limit(tmp_path):
    result = CliRunner().invoke(app, ["generate", str(_spec_file(tmp_path, "[4000, 4000, 4000]")),
                                      "-o", str(tmp_path / "x.zarr")])
    assert result.exit_code == 2, result.output
    assert "domain.shape = [4000, 4000, 4000]: generate needs about" in result.stderr
    assert "are available" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "x.zarr").exists()


def test_python_m_generate_100000_cubed_exits_2(tmp_path):
    """The real entry point: was a MemoryError traceback."""
    proc = subprocess.run([sys.executable, "-m", "microstructure", "generate",
                           str(_spec_file(tmp_path, "[100000, 100000, 100000]")), "-o",
                           str(tmp_path / "x.zarr")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert "domain.shape = [100000, 100000, 100000]" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_analyze_over_the_limit_exits_2_and_writes_nothing(tmp_path, monkeypatch):
    # plumbing test: the fast sequential model at coarse voxels; the pressed default is tested
    # in test_pressing.py
    spec = ms.load_spec(EXAMPLE).updated({"domain.shape": [24, 24, 24],
                                          "domain.voxel_size_um": 1.0,
                                          "packing.mode": "sequential"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = ms.generate(spec, seed=0).save(tmp_path / "m.zarr")
    before = (store / "zarr.json").read_bytes()
    monkeypatch.setattr(memory, "available_memory",
                        lambda device="cpu": memory.MemoryLimit(1000, "test limit"))
    result = CliRunner().invoke(app, ["analyze", str(store), "--no-transport"])
    assert result.exit_code == 2, result.output
    assert "phases of shape (24, 24, 24): cam_utilization needs about" in result.stderr
    assert (store / "zarr.json").read_bytes() == before
