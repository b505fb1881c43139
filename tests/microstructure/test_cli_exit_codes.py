"""Exit codes the README promises (issue 12, case 8): 2 for user errors found before any work,
1 when the work itself failed; never a traceback.  Real CliRunner invocations."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _sweep_files import PLUMBING
from typer.testing import CliRunner

from microstructure import studies
from microstructure.studies import _kernel_cache
from microstructure.studies.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

SWEEP = PLUMBING + """[axes]
"phases.cam.fraction" = {cam}
"""


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def failing_builds(monkeypatch):
    """Every point's build fails at once (as a PackingError would): failed rows, no work."""
    from microstructure.studies import _executors
    from microstructure.studies._point import failed_row

    monkeypatch.setattr(_executors, "run_point", lambda task: failed_row(
        task, task["seed"], "PackingError: no room", "cpu"))


def _sweep_file(tmp_path: Path, cam: str = "[60, 75]") -> Path:
    p = tmp_path / "s.toml"
    p.write_text(SWEEP.format(cam=cam))
    return p


def test_sweep_out_below_a_file_exits_2_before_running(tmp_path, monkeypatch):
    monkeypatch.setattr(studies._sweep, "run_sweep",
                        lambda *a, **k: pytest.fail("the sweep started"))
    (tmp_path / "afile").write_text("x")
    result = _invoke("sweep", _sweep_file(tmp_path), "-o", tmp_path / "afile" / "sub",
                     "--workers", "1", "--quiet")
    assert result.exit_code == 2, result.output
    assert "afile is a file, not a directory" in result.stderr
    assert "Traceback" not in result.output
    result = _invoke("sweep", _sweep_file(tmp_path), "-o", tmp_path / "afile", "--quiet")
    assert result.exit_code == 2 and "exists and is not a directory" in result.stderr
    assert (tmp_path / "afile").read_text() == "x"


def test_binary_garbage_sweep_file_exits_2(tmp_path):
    p = tmp_path / "s.toml"
    p.write_bytes(b"\xff\xfe\x00garbage\x9c" * 20)
    result = _invoke("sweep", p, "-o", tmp_path / "out", "--quiet")
    assert result.exit_code == 2, result.output
    assert "is not a TOML text file" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_sweep_in_which_every_point_failed_exits_1(tmp_path, failing_builds):
    out = tmp_path / "out"
    result = _invoke("sweep", _sweep_file(tmp_path, cam="[60, 70]"), "-o", out,
                     "--workers", "1", "--quiet")
    assert result.exit_code == 1, result.output
    assert "every point of this run failed (2 rows)" in result.stderr
    assert "Traceback" not in result.output
    assert len(studies.load_results(out)) == 2               # the failed rows are recorded


def test_sweep_in_which_no_point_is_a_valid_spec_is_refused_before_writing(tmp_path):
    # CAM = 1000 parts of the solids, or a negative porosity: nothing could run
    out = tmp_path / "out"
    result = _invoke("sweep", _sweep_file(tmp_path, cam="[1000, 2000]"), "-o", out,
                     "--workers", "1", "--quiet")
    assert result.exit_code == 2, result.output
    assert "no point gives a valid spec (point 1: " in result.stderr
    assert "Traceback" not in result.output and not out.exists()


def test_sweep_error_from_the_sweep_layer_exits_2(tmp_path, monkeypatch):
    def busy(*args, **kwargs):
        raise studies.SweepError(f"results directory busy: another sweep is writing to "
                                 f"{tmp_path / 'out'}")

    monkeypatch.setattr(studies._sweep, "run_sweep", busy)
    result = _invoke("sweep", _sweep_file(tmp_path), "-o", tmp_path / "out", "--quiet")
    assert result.exit_code == 2, result.output
    assert "results directory busy" in result.stderr and "Traceback" not in result.output


def test_busy_results_directory_exits_2(tmp_path, failing_builds):
    out = tmp_path / "out"
    path = _sweep_file(tmp_path, cam="[60]")
    first = _invoke("sweep", path, "-o", out, "--workers", "1", "--quiet")
    assert first.exit_code == 1 and (out / ".lock").exists()    # a results directory now
    fd = os.open(out / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)      # "another sweep" holds the lock
        result = _invoke("sweep", path, "-o", out, "--workers", "1", "--quiet",
                         "--retry-failed")
    finally:
        os.close(fd)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_report_out_an_existing_file_exits_2(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "results.csv").write_text("point_id,seed,status\n")
    (tmp_path / "report.html").write_text("an old report")
    result = _invoke("report", tmp_path / "results", "--out", tmp_path / "report.html")
    assert result.exit_code == 2, result.output
    assert "exists and is not a directory" in result.stderr
    assert "Traceback" not in result.output
    assert (tmp_path / "report.html").read_text() == "an old report"


def test_write_report_refuses_a_file_before_reading(tmp_path):
    from microstructure.studies.report import write_report

    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="out_dir .* exists and is not a directory"):
        write_report(tmp_path / "no-results-here", out_dir=tmp_path / "f")


def test_a_directory_for_a_toml_file_is_named(tmp_path):
    (tmp_path / "adir").mkdir()
    for args, words in ((("check",), "expected a spec or sweep TOML file"),
                        (("generate", "-o", tmp_path / "x.zarr"), "expected a spec TOML file"),
                        (("sweep", "-o", tmp_path / "x"), "expected a sweep TOML file")):
        result = _invoke(args[0], tmp_path / "adir", *args[1:])
        assert result.exit_code == 2, result.output
        assert result.stderr == f"error: {tmp_path / 'adir'} is a directory; {words}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]


def test_a_spec_given_to_sweep_and_a_sweep_given_to_generate_are_named(tmp_path):
    spec = ROOT / "examples" / "nmc_lpscl.toml"
    result = _invoke("sweep", spec, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "looks like a spec file (it has [domain], [composition], [phases])" in result.stderr
    assert "unknown key" not in result.stderr and "base = " in result.stderr
    sweep = _sweep_file(tmp_path)
    for cmd in ("generate", "resolution"):
        args = ("-o", tmp_path / "x.zarr") if cmd == "generate" else ()
        result = _invoke(cmd, sweep, *args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: {sweep} looks like a sweep file")
        assert "unknown key" not in result.stderr and "assb sweep" in result.stderr
    # the normal errors otherwise: a sweep file with a typo, a spec with a bad table
    typo = tmp_path / "typo.toml"
    typo.write_text(_sweep_file(tmp_path).read_text().replace("[axes]", "[axis]"))
    result = _invoke("sweep", typo, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "axis: unknown key" in result.stderr, result.output
    bad = tmp_path / "bad.toml"
    bad.write_text("domain = 3\n")
    result = _invoke("generate", bad, "-o", tmp_path / "x.zarr")
    assert result.exit_code == 2 and "composition: Field required" in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.zarr").exists()


def test_errors_name_the_command_line_options_not_python_arguments(tmp_path, failing_builds):
    out = tmp_path / "out"
    first = _invoke("sweep", _sweep_file(tmp_path, cam="[60]"), "-o", out, "--workers", "1",
                    "--quiet")
    assert first.exit_code == 1, first.output                   # failed rows, a results dir
    changed = _invoke("sweep", _sweep_file(tmp_path, cam="[65]"), "-o", out, "--quiet")
    assert changed.exit_code == 2, changed.output
    assert "or --force to extend this one" in changed.stderr
    for opt, value, words in (("--capacity-mah-g", "-100", "must be a positive number"),
                              ("--c-rate", "0", "must be a positive number"),
                              ("--min-utilization", "2", "must be a number in [0, 1]"),
                              ("--max-ionic-tau", "0.5", "must be a finite number >= 1"),
                              ("--rule", "x", "must be one of")):
        result = _invoke("report", out, "--out", tmp_path / "rep", opt, value)
        assert result.exit_code == 2, result.output
        assert f"error: {opt} {words}" in result.stderr, result.stderr
    (tmp_path / "x.tif").write_text("mine")
    result = _invoke("export", tmp_path / "none.zarr", "-o", tmp_path / "x.tif")
    assert result.exit_code == 2 and "pass --overwrite to replace it" in result.stderr
    result = _invoke("import", tmp_path / "x.tif", "--phase-map", "0:pore,1:cam,2:se",
                     "--voxel-size-um", "-1", "-o", tmp_path / "i.zarr")
    assert result.exit_code == 2, result.output
    assert "error: --voxel-size-um must be a positive number, got -1.0" in result.stderr
    for r in (changed, result):
        assert not re.search(r"\w=True|[a-z]_[a-z]+ must", r.stderr), r.stderr
    assert (tmp_path / "x.tif").read_text() == "mine" and not (tmp_path / "rep").exists()


def test_garbage_spec_through_python_m_exits_2(tmp_path):
    """The real entry point, in a subprocess: message on stderr, exit 2, no traceback."""
    p = tmp_path / "spec.toml"
    p.write_bytes(os.urandom(512).replace(b"\n", b"\x80"))
    proc = subprocess.run([sys.executable, "-m", "microstructure", "generate", str(p), "-o",
                           str(tmp_path / "x.zarr")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "is not a TOML text file" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# the compile notice (issue 12, case 11)


def test_compile_notice_on_a_cold_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(_kernel_cache, "_noticed", False)
    monkeypatch.setattr(_kernel_cache, "kernels_cold", lambda modules=None: True)
    spec = ROOT / "examples" / "nmc_lpscl.toml"
    text = spec.read_text().replace("shape = [200, 128, 128]", "shape = [32, 32, 32]")
    assert "[packing]" not in text
    # plumbing test: the fast sequential model at coarse voxels; the pressed default is tested
    # in test_pressing.py
    (tmp_path / "s.toml").write_text(text.replace("voxel_size_um = 0.25", "voxel_size_um = 1.0")
                                     + '\n[packing]\nmode = "sequential"\n')
    result = _invoke("generate", tmp_path / "s.toml", "-o", tmp_path / "m.zarr", "--json")
    assert result.exit_code == 0, result.output
    assert "compiling kernels (first run only" in result.stderr
    assert "compiling" not in result.stdout                 # stdout: the JSON object only
    again = _invoke("generate", tmp_path / "s.toml", "-o", tmp_path / "m.zarr", "--json",
                    "--overwrite")
    assert again.exit_code == 0, again.output
    assert "compiling" not in again.stderr                   # once per process


def test_compile_notice_silent_with_a_warm_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(_kernel_cache, "_noticed", False)
    monkeypatch.setattr(_kernel_cache, "kernels_cold", lambda modules=None: False)
    result = _invoke("sweep", _sweep_file(tmp_path, cam="[1000]"), "-o", tmp_path / "o",
                     "--workers", "1")
    assert "compiling" not in result.stderr


def test_each_command_asks_only_for_the_kernels_it_runs(tmp_path, monkeypatch):
    """generate never runs the transport or utilization solvers: their cold cache must not
    announce a compile there; analyze runs them all."""
    asked = []

    def cold(modules=None):
        asked.append(tuple(modules) if modules is not None else None)
        return False

    monkeypatch.setattr(_kernel_cache, "kernels_cold", cold)
    text = (ROOT / "examples" / "nmc_lpscl.toml").read_text()
    (tmp_path / "s.toml").write_text(
        text.replace("shape = [200, 128, 128]", "shape = [32, 32, 32]")
        .replace("voxel_size_um = 0.25", "voxel_size_um = 1.0")
        + '\n[packing]\nmode = "sequential"\n')   # plumbing: the fast model
    for args in (("generate", tmp_path / "s.toml", "-o", tmp_path / "m.zarr", "--json"),
                 ("analyze", tmp_path / "m.zarr", "--json", "--no-transport")):
        monkeypatch.setattr(_kernel_cache, "_noticed", False)
        assert _invoke(*args).exit_code == 0
    generate, analyze = asked
    assert generate and all(m.startswith(("microstructure.", "solvers.labeling."))
                            for m in generate)
    assert {"microstructure._pressing_cpu", "solvers.labeling._label_runs"} <= set(generate)
    assert set(analyze) == set(_kernel_cache.cached_kernel_modules())


def test_kernels_cold_reads_numba_s_cache(tmp_path):
    """A fresh NUMBA_CACHE_DIR is cold; nothing is compiled to find that out."""
    code = "from microstructure.studies._kernel_cache import kernels_cold; print(kernels_cold())"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT),
                               "NUMBA_CACHE_DIR": str(tmp_path / "nb")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


def test_the_notice_watches_every_module_with_cached_kernels():
    """Every module listed exists and has cached kernels, and every module of the tree that
    caches kernels is listed (a rename would otherwise silence the notice)."""
    import importlib

    from numba.core.registry import CPUDispatcher

    for name in _kernel_cache.cached_kernel_modules():
        mod = importlib.import_module(name)
        assert any(isinstance(v, CPUDispatcher) for v in vars(mod).values()), name
    cached = {".".join(p.relative_to(ROOT).with_suffix("").parts)
              for pkg in ("microstructure", "solvers") for p in (ROOT / pkg).rglob("*.py")
              if re.search(_kernel_cache._CACHE_PATTERN, p.read_text(encoding="utf-8"))}
    assert cached == set(_kernel_cache.cached_kernel_modules())
    assert {"microstructure._packing", "solvers.labeling._label_runs",
            "solvers.transport._stencil", "solvers.transport._amg"} <= cached
