"""``assb sweep``: the command, user errors, SIGKILL of a real run, a real Dask LocalCluster."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _sweep_files import PLUMBING
from typer.testing import CliRunner

from microstructure import studies
from microstructure.studies._store import ResultsStore
from microstructure.studies.cli import app

runner = CliRunner()

SWEEP = PLUMBING + """[axes]
"phases.cam.fraction" = {cam}
"phases.se.psd.d50_um" = {se}
"""


def sweep_file(tmp_path: Path, cam="[60, 75]", se="[0.8]", name="s.toml", **edits) -> Path:
    text = SWEEP.format(cam=cam, se=se)
    for old, new in edits.values():
        assert old in text
        text = text.replace(old, new)
    p = tmp_path / name
    p.write_text(text)
    return p


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_sweep_command_and_resume(tmp_path):
    path = sweep_file(tmp_path, se="[0.8, 3.0]")
    out = tmp_path / "out"
    result = invoke("sweep", path, "-o", out, "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    assert "4 rows of 4: 2 ok, 2 failed" in result.stdout
    assert "failed x2: SpecError: phases.se.psd" in result.stdout
    assert f"results: {out / 'results.parquet'}" in result.stdout
    assert "sweep:" not in result.stderr  # no progress bar with --quiet
    assert re.search(r"done before \(\d+\.\d s, in this process\)", result.stdout)
    assert len(studies.load_results(out)) == 4
    again = invoke("sweep", path, "-o", out, "--workers", "1")
    assert again.exit_code == 0, again.output
    assert "this run 0 ok + 0 failed new, 4 done before" in again.stdout
    assert re.search(r"done before \(\d+\.\d s, nothing to run\)", again.stdout)
    retry = invoke("sweep", path, "-o", out, "--workers", "1", "--quiet", "--retry-failed")
    assert "this run 0 ok + 2 failed new, 2 done before" in retry.stdout


@pytest.mark.parametrize(("edits", "words"), [
    ({"e": ('"phases.cam.fraction"', '"phases.cam.fractoin"')}, ["phases.cam.fractoin"]),
    ({"e": ("seeds = 1", "seeds = 0")}, ["seeds"]),
    ({"e": ("[60, 75]", "[]")}, ['axes."phases.cam.fraction"', "empty"]),
    ({"e": ('base = "default"', 'base = "nope.toml"')}, ["base", "nope.toml"]),
])
def test_bad_sweep_exits_2_with_one_line(tmp_path, edits, words):
    out = tmp_path / "out"
    result = invoke("sweep", sweep_file(tmp_path, **edits), "-o", out)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    for w in words:
        assert w in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_cli_user_errors(tmp_path):
    path = sweep_file(tmp_path)
    r = invoke("sweep", tmp_path / "missing.toml", "-o", tmp_path / "o")
    assert r.exit_code == 2 and "sweep file not found" in r.stderr
    r = invoke("sweep", path, "-o", tmp_path / "o", "--device", "tpu")
    assert r.exit_code == 2 and "--device must be 'cpu' or 'cuda'" in r.stderr
    r = invoke("sweep", path, "-o", tmp_path / "o", "--workers", "0")
    assert r.exit_code == 2 and "--workers" in r.output
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    r = invoke("sweep", path, "-o", foreign)
    assert r.exit_code == 2 and "not a sweep results directory" in r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = invoke("sweep", path, "-o", tmp_path / "o", "--scheduler", f"tcp://127.0.0.1:{port}",
               "--scheduler-timeout", "2")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[-1].startswith("error: cannot reach the Dask scheduler at "
                                                f"tcp://127.0.0.1:{port} within 2 s")
    assert not (tmp_path / "o").exists()


def test_a_damaged_row_or_manifest_is_named_not_skipped(tmp_path):
    """A truncated row file stops report and resume with its name and the remedy (exit 2);
    nothing is skipped or recomputed until the user deletes it."""
    path = sweep_file(tmp_path, cam="[60, 1000]")            # one invalid spec: a failed row
    out = tmp_path / "out"
    assert invoke("sweep", path, "-o", out, "--workers", "1", "--quiet").exit_code == 0
    (row,) = [p for p in (out / "rows").glob("*.json")
              if json.loads(p.read_text())["status"] == "failed"]
    row.write_bytes(row.read_bytes()[:60])
    damaged = row.read_bytes()
    for args in (("report", out), ("sweep", path, "-o", out, "--workers", "1", "--quiet")):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: damaged row file {row} (not valid JSON: ")
        assert "delete it and run the same assb sweep again" in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert row.read_bytes() == damaged and not (out / "report").exists()
    with pytest.raises(ValueError, match="damaged row file"):
        studies.load_results(out)
    row.unlink()                                             # as the message says
    again = invoke("sweep", path, "-o", out, "--workers", "1", "--quiet")
    assert "this run 0 ok + 1 failed new, 1 done before" in again.stdout
    (out / "manifest.json").write_text('{"format": ')
    result = invoke("sweep", path, "-o", out, "--workers", "1", "--quiet")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: damaged manifest {out / 'manifest.json'}")


def test_ctrl_c_says_how_many_rows_are_kept_and_how_to_resume(tmp_path, monkeypatch):
    from microstructure.studies import _sweep

    record = _sweep._record

    def ctrl_c_after_one(*args, **kwargs):
        record(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(_sweep, "_record", ctrl_c_after_one)
    path = sweep_file(tmp_path, cam="[60, 1000]")  # the invalid spec's row is recorded first
    out = tmp_path / "out"
    result = invoke("sweep", path, "-o", out, "--workers", "1", "--quiet")
    assert result.exit_code == 130, result.output
    assert result.stderr == (f"error: interrupted: 1 of 2 rows of this sweep are kept in {out}; "
                             "run the same command again to resume\n")
    assert len(studies.load_results(out)) == 1
    monkeypatch.undo()
    again = invoke("sweep", path, "-o", out, "--workers", "1", "--quiet")
    assert "this run 1 ok + 0 failed new, 1 done before" in again.stdout


def _assb() -> list[str]:
    exe = Path(sys.executable).with_name("assb")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "microstructure"]


@pytest.mark.timeout(180)
def test_sigkill_loses_only_points_in_flight(tmp_path):
    """Kill a real ``assb sweep`` (2 worker processes) with SIGKILL once rows exist."""
    path = sweep_file(tmp_path, cam="[55, 60, 65, 70]", se="[0.7, 0.8]")
    out = tmp_path / "out"
    proc = subprocess.Popen([*_assb(), "sweep", str(path), "-o", str(out), "--workers", "2",
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    rows_dir = out / "rows"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if rows_dir.is_dir() and len(list(rows_dir.glob("*.json"))) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        # the orphaned pool workers of the killed run (its own session / process group)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    survivors = {}
    for p in sorted(rows_dir.iterdir()):
        if p.name.startswith("."):
            continue  # a temp file of an interrupted write: never read
        row = json.loads(p.read_text())  # every row file parses
        assert p.name == f"{row['point_id']}__s{row['seed']}.json"
        assert row["status"] == "ok"
        survivors[p.name] = p.read_bytes()
    assert 2 <= len(survivors) < 8, "the sweep should be killed mid-way"
    assert len(studies.load_results(out)) == len(survivors)

    # resume: only the lost points run, the table ends with one row per (point, seed)
    seen = []
    df = studies.run_sweep(path, out, workers=1, quiet=True, on_row=lambda r, p: seen.append(r))
    assert len(seen) == 8 - len(survivors)
    assert len(df) == 8 and (df.status == "ok").all()
    table = studies.load_results(out)
    assert len(table) == 8 and not table.duplicated(["point_id", "seed"]).any()
    assert {p.name: p.read_bytes() for p in rows_dir.iterdir() if p.name in survivors} \
        == survivors
    assert not ResultsStore(out).temporary_leftovers()
    import pandas as pd

    assert len(pd.read_parquet(out / "results.parquet")) == 8
    assert len(pd.read_csv(out / "results.csv")) == 8


@pytest.mark.timeout(180)
def test_ctrl_c_on_a_local_dask_cluster_prints_one_line_not_worker_tracebacks(tmp_path):
    """Ctrl-C reaches every process of the terminal's group: the sweep process closes the
    cluster and says what it kept; the Dask worker processes print nothing."""
    path = sweep_file(tmp_path, cam="[55, 60, 65, 70]", se="[0.7, 0.8]")
    out = tmp_path / "out"
    proc = subprocess.Popen([*_assb(), "sweep", str(path), "-o", str(out), "--scheduler",
                             "local", "--workers", "1", "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "rows").is_dir() and any((out / "rows").glob("*.json")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGINT)                  # what Ctrl-C in a terminal does
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted: ")


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore:.*(Port|port|shutdown|close|Closing|leaked).*:UserWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_dask_local_cluster_two_workers(tmp_path):
    path = sweep_file(tmp_path, cam="[60, 75]", se="[0.8, 3.0]")
    out = tmp_path / "out"
    t0 = time.monotonic()
    df = studies.run_sweep(path, out, scheduler="local", workers=2, quiet=True)
    assert time.monotonic() - t0 < 90
    assert df.attrs["sweep_run"]["executor"] == "a local Dask cluster (2 workers)"
    assert sorted(df.status) == ["failed", "failed", "ok", "ok"]
    ok = df[df.status == "ok"]
    assert not ok.worker.str.endswith(f":{os.getpid()}").any()  # ran in the worker processes
    assert len(studies.load_results(out)) == 4


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore:.*(Port|port|shutdown|close|Closing|leaked).*:UserWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_dask_scheduler_address(tmp_path):
    """A running scheduler reached by its tcp:// address (what GPU nodes use)."""
    import logging

    import distributed  # in the test extra: a missing install fails, it does not skip

    path = sweep_file(tmp_path, cam="[60]", se="[0.8]")
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        df = studies.run_sweep(path, out, scheduler=address, quiet=True)
    assert df.attrs["sweep_run"]["executor"] == f"{address} (1 worker)"
    assert list(df.status) == ["ok"]
    assert not df.worker.str.endswith(f":{os.getpid()}").any()
