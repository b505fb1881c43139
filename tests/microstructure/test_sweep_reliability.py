"""Sweeps that must not lose or corrupt results: shared overrides, resumes with another
definition, unguarded scripts, killed and terminated sweep processes (issue 12)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from _sweep_files import PLUMBING

import microstructure as ms
from microstructure import studies

ROOT = Path(__file__).resolve().parents[2]

#: What ``examples/demo_sweep.toml`` does: a whole table in [overrides], a key inside it swept.
TABLE_AND_KEY = PLUMBING + """\
"phases.se.psd" = {{ kind = "lognormal", d50_um = 0.79, d90_um = 1.82 }}
[axes]
"phases.cam.fraction" = {cam}
"phases.se.psd.d50_um" = {se}
"""


def sweep_file(tmp_path: Path, cam="[60, 70]", se="[0.6, 1.2]", name="s.toml") -> Path:
    p = tmp_path / name
    p.write_text(TABLE_AND_KEY.format(cam=cam, se=se))
    return p


def test_swept_key_inside_an_overridden_table_changes_nothing_shared(tmp_path):
    sw = studies.load_sweep(sweep_file(tmp_path))
    points = sw.expand()
    assert sw.overrides["phases.se.psd"]["d50_um"] == 0.79  # the sweep's own dict: untouched
    for p in points:
        # each point's parameters show the override as written and its own axis value
        assert p.params["phases.se.psd"] == {"kind": "lognormal", "d50_um": 0.79,
                                             "d90_um": 1.82}
        assert p.spec.phases.se.psd.d50_um == p.params["phases.se.psd.d50_um"]
    assert len({p.point_id for p in points}) == 4


def test_point_ids_do_not_depend_on_the_order_of_axes_or_values(tmp_path):
    a = studies.load_sweep(sweep_file(tmp_path, name="a.toml")).expand()
    b = studies.load_sweep(sweep_file(tmp_path, cam="[70, 60]", se="[1.2, 0.6]",
                                      name="b.toml")).expand()
    key = lambda p: (p.params["phases.cam.fraction"], p.params["phases.se.psd.d50_um"])  # noqa: E731
    assert {key(p): p.point_id for p in a} == {key(p): p.point_id for p in b}


def test_reversed_axes_into_the_same_directory_run_nothing_twice(tmp_path):
    out = tmp_path / "out"
    df = studies.run_sweep(sweep_file(tmp_path, name="a.toml"), out, workers=1, quiet=True)
    assert len(df) == 4 and (df.status == "ok").all()
    params = set(zip(df["param:phases.cam.fraction"], df["param:phases.se.psd.d50_um"],
                     strict=True))
    assert params == {(60.0, 0.6), (60.0, 1.2), (70.0, 0.6), (70.0, 1.2)}
    manifest = json.loads((out / "manifest.json").read_text())
    assert {json.dumps(v["params"]["phases.se.psd"], sort_keys=True)
            for v in manifest["points"].values()} == {
        json.dumps({"kind": "lognormal", "d50_um": 0.79, "d90_um": 1.82}, sort_keys=True)}
    seen = []
    reversed_file = sweep_file(tmp_path, cam="[70, 60]", se="[1.2, 0.6]", name="b.toml")
    df2 = studies.run_sweep(reversed_file, out, workers=1, quiet=True,  # same sweep: no force
                            on_row=lambda r, p: seen.append(r))
    assert seen == [] and len(df2) == 4
    table = studies.load_results(out)
    assert len(table) == 4 and not table.duplicated(["point_id", "seed"]).any()


@pytest.mark.parametrize(("kwargs", "edit", "named"), [
    ({}, ("transport = false", "transport = true"), "transport: false -> true"),
    ({"save_structures": True}, None, "save_structures: false -> true"),
    ({}, ("seeds = 1", "seeds = 2"), "seeds: 1 -> 2"),
])
def test_changed_definition_on_resume_is_refused_and_named(tmp_path, kwargs, edit, named):
    path = sweep_file(tmp_path, cam="[60]", se="[0.8]")
    out = tmp_path / "out"
    studies.run_sweep(path, out, workers=1, quiet=True)
    rows_before = {p.name: p.read_bytes() for p in (out / "rows").iterdir()}
    if edit is not None:
        path.write_text(path.read_text().replace(*edit))
    with pytest.raises(studies.SweepError, match="holds a different sweep") as info:
        studies.run_sweep(path, out, workers=1, quiet=True, **kwargs)
    assert named in str(info.value) and "--force" in str(info.value)
    assert {p.name: p.read_bytes() for p in (out / "rows").iterdir()} == rows_before


def test_a_directory_written_by_another_version_is_refused_unless_forced(tmp_path):
    path = sweep_file(tmp_path, cam="[60]", se="[0.8]")
    out = tmp_path / "out"
    studies.run_sweep(path, out, workers=1, quiet=True)
    rows_before = {p.name: p.read_bytes() for p in (out / "rows").iterdir()}
    man = json.loads((out / "manifest.json").read_text())
    man["package_version"] = "0.0.1"  # rows computed by code whose results mean otherwise
    (out / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(studies.SweepError, match="holds a different sweep") as info:
        studies.run_sweep(path, out, workers=1, quiet=True)
    assert f"package_version: 0.0.1 -> {ms.__version__}" in str(info.value)
    studies.run_sweep(path, out, workers=1, quiet=True, force=True)  # rows kept, not rerun
    assert {p.name: p.read_bytes() for p in (out / "rows").iterdir()} == rows_before
    man = json.loads((out / "manifest.json").read_text())
    assert man["package_version"] == ms.__version__


def test_a_directory_with_old_point_ids_is_refused(tmp_path):
    path = sweep_file(tmp_path, cam="[60]", se="[0.8]")
    out = tmp_path / "out"
    studies.run_sweep(path, out, workers=1, quiet=True)
    man = json.loads((out / "manifest.json").read_text())
    del man["point_id_scheme"]  # what an older version wrote
    (out / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(studies.SweepError, match="point ids are made differently"):
        studies.run_sweep(path, out, workers=1, quiet=True, force=True)


def test_results_dir_under_a_file_is_a_sweep_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(studies.SweepError, match="is a file"):
        studies.run_sweep(sweep_file(tmp_path), tmp_path / "file" / "sub", workers=1,
                          quiet=True)


def test_tables_are_rebuilt_from_the_rows_on_resume(tmp_path):
    path = sweep_file(tmp_path, cam="[60]", se="[0.8]")
    out = tmp_path / "out"
    studies.run_sweep(path, out, workers=1, quiet=True)
    (out / "results.csv").write_text("point_id\n")  # as stale as after a kill
    studies.run_sweep(path, out, workers=1, quiet=True)
    assert len(pd.read_csv(out / "results.csv")) == 1


# ---------------------------------------------------------------------------------------------
# real processes


def _script(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "run.py"
    p.write_text(textwrap.dedent(body))
    return p


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _children(pid: int) -> list[int]:
    """Pool workers (spawned interpreters) whose parent is ``pid``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmd:
            out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.timeout(120)
def test_unguarded_script_gets_the_fix_not_a_misleading_error(tmp_path):
    path = sweep_file(tmp_path, cam="[60, 70]", se="[0.8]")
    script = _script(tmp_path, f"""
        from microstructure import studies
        studies.run_sweep({str(path)!r}, {str(tmp_path / "out")!r}, workers=2, quiet=True)
    """)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       env=_env(), timeout=110)
    assert r.returncode != 0
    assert 'if __name__ == "__main__":' in r.stderr
    assert "another sweep is writing" not in r.stderr


def _start_sweep(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    path = sweep_file(tmp_path, cam="[55, 60, 65, 70, 75]", se="[0.6, 0.8]")
    script = _script(tmp_path, f"""
        from microstructure import studies
        if __name__ == "__main__":
            studies.run_sweep({str(path)!r}, {str(tmp_path / "out")!r}, workers=2, quiet=True)
    """)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True)
    deadline = time.monotonic() + 90
    workers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None and len(workers) < 2:
        time.sleep(0.1)
        workers = _children(proc.pid)
    assert len(workers) == 2, proc.communicate()
    return proc, workers


def _wait_gone(pids: list[int], seconds: float = 30.0) -> list[int]:
    """The ``pids`` still alive after waiting up to ``seconds`` for them to end.  A worker whose
    sweep process dies while it is still importing (seconds on a loaded machine) learns of it
    only when its initializer runs; 10 s was once too short with another test suite beside it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


@pytest.mark.timeout(150)
def test_killing_the_sweep_process_ends_its_workers(tmp_path):
    proc, workers = _start_sweep(tmp_path)
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert _wait_gone(workers) == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate(timeout=30)


@pytest.mark.timeout(150)
def test_sigterm_stops_workers_and_keeps_finished_rows(tmp_path):
    proc, workers = _start_sweep(tmp_path)
    try:
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert "leaked semaphore" not in err
        assert _wait_gone(workers) == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    out = tmp_path / "out"
    rows = [p for p in (out / "rows").iterdir() if not p.name.startswith(".")]
    assert len(pd.read_csv(out / "results.csv")) == len(rows)
    assert json.loads((out / "manifest.json").read_text())["runs"]


def test_a_sweep_too_big_for_memory_is_refused_before_running(tmp_path):
    from solvers.memory import InsufficientMemoryError

    path = sweep_file(tmp_path, cam="[60]", se="[0.8]")
    path.write_text(path.read_text().replace("[32, 32, 32]", "[4000, 4000, 4000]"))
    out = tmp_path / "out"
    t0 = time.monotonic()
    with pytest.raises(InsufficientMemoryError, match="domain.shape"):
        studies.run_sweep(path, out, workers=1, quiet=True)
    assert time.monotonic() - t0 < 10
    assert not (out / "rows").exists()


def _edit_row(path: Path, change) -> None:
    row = json.loads(path.read_text())
    path.write_text(json.dumps(change(row)))


@pytest.mark.parametrize(("edit", "said"), [
    (lambda p: _edit_row(p, lambda r: {**r, "util_strict": 0.123}),
     "its values do not match its checksum"),
    (lambda p: _edit_row(p, lambda r: {k: v for k, v in r.items() if k != "util_strict"}),
     "no column 'util_strict'"),
    (lambda p: _edit_row(p, lambda r: {**r, "status": "OK"}), "status 'OK', not one of"),
    (lambda p: _edit_row(p, lambda r: {**r, "status": "failed"}),
     "status 'failed' with error ''"),
    (lambda p: _edit_row(p, lambda r: {**r, "ionic_percolates": "maybe"}),
     "column 'ionic_percolates' holds 'maybe', not true, false or null"),
    (lambda p: _edit_row(p, lambda r: {**r, "util_strict": "abc"}),
     "column 'util_strict' holds 'abc', not a number"),
    (lambda p: _edit_row(p, lambda r: {**r, "seed": 3}), "seed 3, whose file is"),
    (lambda p: _edit_row(p, lambda r: {**r, "point_id": "deadbeef0000"}),
     "point_id 'deadbeef0000' and seed 0, whose file is deadbeef0000__s0.json"),
    (lambda p: _edit_row(p.rename(p.with_name("deadbeef0000__s0.json")),
                         lambda r: {**r, "point_id": "deadbeef0000", "row_sha256": "x"}),
     "point_id 'deadbeef0000' is not a point of the sweep in manifest.json"),
    (lambda p: p.with_name(p.stem + " (copy).json").write_bytes(p.read_bytes()),
     "whose file is"),
    (lambda p: _edit_row(p, lambda r: {k: v for k, v in r.items() if k != "row_sha256"}
                         | {"package_version": "0.18.0"}), "no checksum (row_sha256)"),
])
def test_an_edited_or_misplaced_row_file_is_damaged_never_read(tmp_path, edit, said):
    path = sweep_file(tmp_path, cam="[60]", se="[0.8]")
    out = tmp_path / "out"
    studies.run_sweep(path, out, workers=1, quiet=True)
    (row,) = (out / "rows").iterdir()
    edit(row)
    files = {p.name: p.read_bytes() for p in (out / "rows").iterdir()}
    for read in (lambda: studies.load_results(out),
                 lambda: studies.run_sweep(path, out, workers=1, quiet=True)):
        with pytest.raises(studies.DamagedFileError, match="damaged row file") as info:
            read()
        assert said in str(info.value), str(info.value)
    assert {p.name: p.read_bytes() for p in (out / "rows").iterdir()} == files  # untouched


def test_rows_carry_a_checksum_that_stays_out_of_the_table(tmp_path):
    from microstructure.studies._store import CHECKSUM, row_checksum

    out = tmp_path / "out"
    studies.run_sweep(sweep_file(tmp_path, cam="[60]", se="[0.8]"), out, workers=1,
                      quiet=True)
    (row,) = (out / "rows").iterdir()
    data = json.loads(row.read_text())
    assert data[CHECKSUM] == row_checksum(data) and len(data[CHECKSUM]) == 64
    assert CHECKSUM not in studies.load_results(out).columns
    assert CHECKSUM not in pd.read_csv(out / "results.csv").columns
    # a row of a version before checksums (0.17 and earlier) is read without one
    old = {k: v for k, v in data.items() if k != CHECKSUM} | {"package_version": "0.17.0"}
    row.write_text(json.dumps(old))
    assert studies.load_results(out).package_version.tolist() == ["0.17.0"]


def test_a_forced_changed_sweep_tables_its_own_rows_and_keeps_the_earlier_ones(tmp_path):
    path = sweep_file(tmp_path, cam="[60]", se="[0.8, 1.2]")
    out = tmp_path / "out"
    studies.run_sweep(path, out, workers=1, quiet=True)
    before = {p.name: p.read_bytes() for p in (out / "rows").iterdir()}
    # another base spec (porosity): the same parameters, other point ids
    path.write_text(path.read_text().replace('"packing.mode" = "sequential"',
                                             '"packing.mode" = "sequential"\n'
                                             '"composition.porosity" = 0.2'))
    path.write_text(path.read_text().replace("[0.8, 1.2]", "[0.8]"))
    df = studies.run_sweep(path, out, workers=1, quiet=True, force=True)
    assert len(df) == 1 and df.attrs["rows_of_earlier_sweeps"] == 2
    for table in (studies.load_results(out), pd.read_csv(out / "results.csv")):
        assert len(table) == 1 and table.porosity.tolist() == [0.2]
    assert studies.load_results(out).attrs["rows_of_earlier_sweeps"] == 2
    everything = studies.load_results(out, earlier=True)
    assert sorted(everything.porosity) == [0.15, 0.15, 0.2]
    kept = {p.name: p.read_bytes() for p in (out / "rows").iterdir()}
    assert {k: kept[k] for k in before} == before and len(kept) == 3


def test_a_changed_sweep_is_named_down_to_the_changed_key(tmp_path):
    path = sweep_file(tmp_path, cam="[60]", se="[0.8]")
    out = tmp_path / "out"
    studies.run_sweep(path, out, workers=1, quiet=True)
    # written out as its default: the same sweep
    path.write_text(path.read_text().replace("transport = false",
                                             "transport = false\nin_plane = false"))
    assert len(studies.run_sweep(path, out, workers=1, quiet=True)) == 1
    path.write_text(path.read_text().replace("d90_um = 1.82", "d90_um = 1.9"))
    with pytest.raises(studies.SweepError) as info:
        studies.run_sweep(path, out, workers=1, quiet=True)
    assert "overrides.phases.se.psd.d90_um: 1.82 -> 1.9" in str(info.value)
    assert "..." not in str(info.value)


def test_the_sweep_summary_counts_the_rows_left_out_of_the_table(tmp_path):
    from microstructure.studies._format import format_sweep_summary

    df = pd.DataFrame({"status": ["ok"], "error": [""]})
    df.attrs["sweep_run"] = {"ok": 1, "failed": 0, "rows_done_before": 0, "executor": "here"}
    assert "not in the table" not in format_sweep_summary(df, 1, 1.0, tmp_path)
    df.attrs["rows_of_earlier_sweeps"] = 2
    text = format_sweep_summary(df, 1, 1.0, tmp_path)
    assert (f"2 rows of the sweep(s) run into {tmp_path} before this one (another definition, "
            f"forced in) stay in {tmp_path / 'rows'}, not in the table") in text


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupt_dropped_in_a_gc_callback_still_stops_the_sweep(tmp_path):
    """Python prints and drops a KeyboardInterrupt raised inside a garbage-collector callback
    (Dask registers one): Ctrl-C landing there let the sweep run to its end with exit 0.  The
    sweep notes the signal and stops after the row in hand."""
    import gc
    import signal

    armed, fired = [], []

    def callback(phase, info):
        if phase == "start" and armed and not fired:
            fired.append(True)
            signal.raise_signal(signal.SIGINT)  # its KeyboardInterrupt is raised in here

    def on_row(row, progress):
        armed.append(True)
        gc.collect()

    gc.callbacks.append(callback)
    try:
        with pytest.raises(KeyboardInterrupt):
            studies.run_sweep(sweep_file(tmp_path, cam="[60, 70]", se="[0.8]"), tmp_path / "o",
                              workers=1, quiet=True, on_row=on_row)
    finally:
        gc.callbacks.remove(callback)
    assert fired and len(studies.load_results(tmp_path / "o")) == 1


def test_rows_of_an_earlier_sweep_stay_readable_after_the_manifest_is_written_anew(tmp_path):
    """The README's remedy for a damaged manifest is to delete it and run the same sweep:
    rows of a definition forced in before must not then read as points of no sweep."""
    path = sweep_file(tmp_path, cam="[60]", se="[0.8, 1.2]")
    out = tmp_path / "out"
    studies.run_sweep(path, out, workers=1, quiet=True)
    path.write_text(path.read_text().replace("[0.8, 1.2]", "[0.8]"))
    path.write_text(path.read_text().replace('"packing.mode" = "sequential"',
                                             '"packing.mode" = "sequential"\n'
                                             '"composition.porosity" = 0.2'))
    studies.run_sweep(path, out, workers=1, quiet=True, force=True)
    (out / "manifest.json").unlink()
    df = studies.run_sweep(path, out, workers=1, quiet=True)
    assert len(df) == 1 and df.attrs["rows_of_earlier_sweeps"] == 2
    assert len(studies.load_results(out)) == 1
    assert len(studies.load_results(out, earlier=True)) == 3
