"""benchmarks/gpu_session.sh, the one prepared run for a lent GPU machine, does not rot."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_session.sh"


def test_runs_every_test_file_with_real_gpu_tests():
    text = SCRIPT.read_text()
    gpu_files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")
                       if re.search(r"^@pytest\.mark\.gpu", p.read_text(), re.M)
                       and "cudasim" not in p.parts)
    assert gpu_files, "no real-GPU tests found"
    missing = [f for f in gpu_files if f not in text]
    assert not missing, f"gpu_session.sh does not run {missing}"
    assert "ASSB_CUDA_TESTS=real" in text and "tests/cudasim" in text


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_is_valid_bash():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_benchmark_flags_it_passes_exist():
    """A renamed flag would waste a lent GPU's minutes: each benchmark the script runs knows
    every ``--flag`` it is given (read from the script's own ``--help``)."""
    import sys

    text = SCRIPT.read_text().replace("\\\n", " ")
    calls = re.findall(r"(benchmarks/\w+\.py)([^\n]*)", text)
    assert {c[0] for c in calls} >= {"benchmarks/bench_generate.py", "benchmarks/bench_label.py"}
    for script, args in calls:
        helptext = subprocess.run([sys.executable, str(ROOT / script), "--help"], cwd=ROOT,
                                  capture_output=True, text=True, check=True,
                                  env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout
        known = set(re.findall(r"--[\w-]+", helptext))
        flags = set(re.findall(r"(?<!\S)--[\w-]+", args))
        assert flags and flags <= known, f"{script}: {sorted(flags - known)} unknown"
