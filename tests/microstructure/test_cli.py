"""The ``assb`` command line: generate, analyze, demo; JSON output and user errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import microstructure as ms
import solvers
from microstructure._zarr_store import store_attrs
from microstructure.studies.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nmc_lpscl.toml"
runner = CliRunner()


def _write_spec(tmp_path: Path, *, shape="[48, 48, 48]", voxel="0.5", extra="",
                replace: tuple[str, str] | None = None) -> Path:
    text = EXAMPLE.read_text()
    text = text.replace("shape = [200, 128, 128]", f"shape = {shape}")
    text = text.replace("voxel_size_um = 0.25", f"voxel_size_um = {voxel}")
    if replace is not None:
        assert replace[0] in text
        text = text.replace(*replace)
    assert "[packing]" not in text + extra
    # plumbing test: the fast sequential model at coarse voxels; the pressed default is tested
    # in test_pressing.py
    p = tmp_path / "spec.toml"
    p.write_text(text + extra + '\n[packing]\nmode = "sequential"\n')
    return p


def _invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """``assb generate --json`` once for the module: (store path, parsed JSON, result)."""
    tmp = tmp_path_factory.mktemp("cli")
    spec = _write_spec(tmp)
    out = tmp / "m.zarr"
    result = _invoke("generate", spec, "-o", out, "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout), result


# ---------------------------------------------------------------------------------------------
# generate


def test_generate_json_is_one_object(generated):
    out, summary, result = generated
    assert result.stdout.count("\n") == 1          # one line: the JSON object
    for key in ("target", "achieved", "particles", "seconds"):
        assert key in summary
    assert set(summary["target"]) == {"pore", "cam", "se", "carbon"}
    for name, target in summary["target"].items():
        assert abs(summary["achieved"][name] - target) <= 0.005
    assert summary["particles"]["cam"] > 0 and summary["particles"]["se"] > 0
    assert summary["seconds"]["total"] > 0 and "save" in summary["seconds"]
    assert summary["seed"] == 3 and summary["device"] == "cpu"
    assert summary["shape"] == [48, 48, 48] and summary["store"] == str(out)
    assert summary["cam_overlap_fraction"] <= 0.01
    assert isinstance(summary["relax_iterations"], int)
    assert summary["se_build"] is None    # sequential: no coat or fill (pressed: test_se_fill)


def test_generate_json_warnings_go_to_stderr(generated):
    _, summary, result = generated
    # SE and carbon d10 are under 2 voxels of 0.5 um: reported, never on stdout
    assert any("phases.se" in w for w in summary["warnings"])
    assert "warning: phases.se" in result.stderr
    assert "generate:" not in result.stderr           # no progress bar with --json


def test_generate_store_matches_json(generated):
    out, summary, _ = generated
    m = ms.open(out)
    assert m.seed == 3
    assert m.report.achieved == summary["achieved"]
    assert m.particles.counts() == summary["particles"]


def test_generate_table(tmp_path):
    spec = _write_spec(tmp_path)
    out = tmp_path / "t.zarr"
    result = _invoke("generate", spec, "-o", out)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "target vol%" in text and "achieved vol%" in text and "particles" in text
    for name in ("pore", "cam", "se", "carbon"):
        assert any(line.split()[:1] == [name] for line in text.splitlines())
    assert "CAM overlap" in text and "relax iterations" in text and "time" in text
    assert "SE of the box" not in text
    assert str(out) in text
    assert (out / "zarr.json").is_file()


def test_generate_from_a_weighed_pellet(tmp_path):
    """A spec that gives the pellet (mass, die, thickness) instead of the porosity: the box's
    pore target is derived from it and the summary names the source."""
    spec = _write_spec(tmp_path, replace=(
        "porosity = 0.15", "pellet = { mass_mg = 12.0, diameter_mm = 10, thickness_um = 60 }"))
    rho_bulk = 12e-3 / (math.pi * 0.25 * 60e-4)
    rho_mix = 101 / (70 / 4.75 + 30 / 1.64 + 1 / 1.96)
    result = _invoke("generate", spec, "-o", tmp_path / "p.zarr", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert math.isclose(summary["target"]["pore"], 1 - rho_bulk / rho_mix, rel_tol=1e-9)
    assert abs(summary["achieved"]["pore"] - summary["target"]["pore"]) <= 0.005
    assert summary["porosity_from"] == "pellet"
    assert math.isclose(summary["bulk_density_g_cm3"], rho_bulk, rel_tol=1e-9)
    table = _invoke("generate", spec, "-o", tmp_path / "q.zarr")
    assert f"bulk density      {rho_bulk:.4g} g/cm³ (porosity from the pellet" in table.stdout


def test_generate_quiet_prints_only_the_path(tmp_path):
    out = tmp_path / "q.zarr"
    result = _invoke("generate", _write_spec(tmp_path), "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    assert result.stderr == ""


def test_same_seed_same_structure(generated, tmp_path):
    import numpy as np

    out, _, _ = generated
    again = tmp_path / "again.zarr"
    result = _invoke("generate", _write_spec(tmp_path), "-o", again, "--seed", "3", "--quiet")
    assert result.exit_code == 0
    np.testing.assert_array_equal(ms.open(again).phases, ms.open(out).phases)


def _interrupt(*_args, **_kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_in_generate_leaves_the_store_as_it_was(generated, tmp_path, monkeypatch):
    import shutil

    import numpy as np

    from microstructure import _zarr_store

    src, _, _ = generated
    out = tmp_path / "kept.zarr"
    shutil.copytree(src, out)
    before = ms.open(out).phases
    monkeypatch.setattr(_zarr_store, "_fsync_tree", _interrupt)   # Ctrl-C while it saves
    result = _invoke("generate", _write_spec(tmp_path), "-o", out, "--seed", "4", "--quiet",
                     "--overwrite")
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().endswith(f"error: interrupted: {out} left as it was")
    assert "Traceback" not in result.output
    np.testing.assert_array_equal(ms.open(out).phases, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.zarr", "spec.toml"]  # no tmp
    fresh = tmp_path / "fresh.zarr"
    result = _invoke("generate", _write_spec(tmp_path), "-o", fresh, "--quiet")
    assert result.exit_code == 130
    assert f"error: interrupted: nothing written to {fresh}" in result.stderr
    assert not fresh.exists()


def test_generate_keeps_an_existing_store_unless_overwrite(generated, tmp_path, monkeypatch):
    import shutil

    from microstructure._zarr_store import update_store_attrs

    src, _, _ = generated
    out = tmp_path / "kept.zarr"
    shutil.copytree(src, out)
    update_store_attrs(out, {"analysis": {"note": "an earlier analysis"}})
    monkeypatch.setattr(ms, "generate", lambda *a, **k: pytest.fail("generated"))
    result = _invoke("generate", _write_spec(tmp_path), "-o", out, "--seed", "4", "--quiet")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: --out {out} is an assb store; pass --overwrite to " \
                            "replace it\n"
    assert ms.open(out).seed == 3 and store_attrs(out)["analysis"]["note"]
    monkeypatch.undo()
    result = _invoke("generate", _write_spec(tmp_path), "-o", out, "--seed", "4", "--quiet",
                     "--overwrite")
    assert result.exit_code == 0, result.output
    assert ms.open(out).seed == 4 and "analysis" not in store_attrs(out)


def test_ctrl_c_in_analyze_leaves_its_analysis(generated, tmp_path, monkeypatch):
    import shutil

    src, _, _ = generated
    out = tmp_path / "a.zarr"
    shutil.copytree(src, out)
    before = store_attrs(out).get("analysis")
    monkeypatch.setattr(solvers, "transport_properties", _interrupt)
    result = _invoke("analyze", out, "--json")
    assert result.exit_code == 130, result.output
    assert result.stdout == ""
    assert f"error: interrupted: the analysis stored in {out} left as it was" in result.stderr
    assert store_attrs(out).get("analysis") == before


# ---------------------------------------------------------------------------------------------
# check


def test_check_reads_the_spec_back_without_building(tmp_path, monkeypatch):
    """``assb check`` prints what the spec asks for, the numbers the generator will use: the
    same fractions, the generator's memory estimate, its warnings; nothing is generated."""
    from microstructure._memory import estimate_generate

    monkeypatch.setattr(ms, "generate", lambda *a, **k: pytest.fail("check generated"))
    path = _write_spec(tmp_path, replace=(
        "porosity = 0.15", "pellet = { mass_mg = 12.0, diameter_mm = 10, thickness_um = 60 }"))
    spec = ms.load_spec(path)
    result = _invoke("check", path, "--json")
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout)
    assert s["porosity"] == spec.composition.porosity and s["porosity_from"] == "pellet"
    assert math.isclose(s["bulk_density_g_cm3"], 12e-3 / (math.pi * 0.25 * 60e-4))
    assert math.isclose(s["solids_density_g_cm3"], 101 / (70 / 4.75 + 30 / 1.64 + 1 / 1.96))
    assert s["shape"] == [48, 48, 48] and s["box_um"] == [24.0, 24.0, 24.0]
    target = spec.target_fractions()
    for name, p in s["phases"].items():
        assert p["box_fraction"] == target[name] and p["particles"] > 0
    assert math.isclose(sum(p["vol_frac_solids"] for p in s["phases"].values()), 1.0)
    assert math.isclose(s["phases"]["cam"]["wt_frac_solids"], 70 / 101)
    cam = s["phases"]["cam"]                      # 24³ um of CAM at its PSD's mean volume
    sampler = spec.phases.cam.psd.sampler()
    assert math.isclose(cam["particles"], target["cam"] * 24.0**3 / sampler.mean_volume())
    assert s["memory"]["generate_bytes"] == estimate_generate(spec).host_bytes
    assert any("phases.se" in w for w in s["warnings"])   # sequential: SE d10 under 2 voxels
    table = _invoke("check", path)
    assert table.exit_code == 0
    assert f"porosity          {s['porosity']:.4f} (from the pellet's mass and size)" in (
        table.stdout)
    assert "cam" in table.stdout and "memory            generate ~" in table.stdout
    assert "the pellet is 60 um thick, the box 24 um" in table.stdout
    assert "warning: phases.se" in table.stderr
    bad = _invoke("check", _write_spec(tmp_path, replace=("fraction = 30", "fraction = -30")))
    assert bad.exit_code == 2 and "phases.se.fraction" in bad.stderr and bad.stdout == ""


def test_check_on_the_gpu_gives_host_and_gpu_memory_apart(tmp_path, monkeypatch):
    """``assb check --device cuda`` compares the host estimate with the host's memory and the
    GPU estimate with the GPU's free memory; it used to print the host estimate beside the
    GPU's free memory."""
    import solvers.device
    import solvers.memory
    from microstructure._memory import estimate_generate, estimate_sweep_point

    real = solvers.memory.available_memory
    fake = solvers.memory.MemoryLimit(1000, "fake GPU")
    monkeypatch.setattr(solvers.memory, "available_memory",
                        lambda device="cpu": fake if device == "cuda" else real("cpu"))
    monkeypatch.setattr(solvers.device, "gpu_available", lambda: True)
    path = _write_spec(tmp_path)
    spec = ms.load_spec(path)
    s = json.loads(_invoke("check", path, "--json", "--device", "cuda").stdout)["memory"]
    gen = estimate_generate(spec, device="cuda")
    assert s["generate_bytes"] == gen.host_bytes and s["device_bytes"] == gen.device_bytes > 0
    assert s["available_bytes"] == real("cpu").bytes or s["available_source"] != "fake GPU"
    assert s["device_available_bytes"] == 1000 and s["device_available_source"] == "fake GPU"
    assert s["sweep_point_device_bytes"] == estimate_sweep_point(spec, device="cuda").device_bytes
    table = _invoke("check", path, "--device", "cuda").stdout
    assert "GPU memory        generate ~" in table and "(1.00 kB free)" in table
    assert "generate --device cuda would refuse this box" in table
    cpu = json.loads(_invoke("check", path, "--json").stdout)["memory"]
    assert "device_available_bytes" not in cpu and cpu["device_bytes"] == 0
    sweep = _invoke("check", EXAMPLE.parent / "demo_sweep.toml", "--device", "cuda").stdout
    assert "GPU memory: ~" in sweep and "free now on this GPU" in sweep


def test_set_changes_fields_of_the_spec_by_dotted_path(tmp_path):
    """``--set PATH=VALUE`` (generate, check, resolution) changes the spec as a sweep's
    overrides do: values read as TOML, a bare word as a string; the store keeps the changed
    spec; a bad path, value or item exits 2 naming it, before any work."""
    path = _write_spec(tmp_path)
    sets = ["--set", "phases.cam.fraction=60", "--set", "packing.mode=sequential",
            "--set", "domain.size_um=[12, 12, 12]", "--set", 'phases.cam.material="NCM83"']
    s = json.loads(_invoke("check", path, "--json", *sets).stdout)
    assert s["box_um"] == [12.0, 12.0, 12.0] and s["packing_mode"] == "sequential"
    assert math.isclose(s["phases"]["cam"]["wt_frac_solids"], 60 / 91)
    assert "--set phases.cam.fraction=60" in s["spec"]
    out = tmp_path / "s.zarr"
    gen = _invoke("generate", path, "-o", out, "--quiet", *sets)
    assert gen.exit_code == 0, gen.output
    spec = ms.open(out).spec
    assert spec.phases.cam.fraction == 60 and spec.phases.cam.material == "NCM83"
    assert spec.packing.mode == "sequential" and spec.box_um() == (12.0, 12.0, 12.0)
    for item, named in (("phases.cam.fractoin=60", "unknown dotted path 'phases.cam.fractoin'"),
                        ("phases.cam.fraction=-5", "after --set:\n  phases.cam.fraction"),
                        ("phases.cam.fraction=[1,", "is not a TOML value"),
                        ("phases.cam.fraction", "give PATH=VALUE")):
        for cmd in ("check", "generate", "resolution"):
            args = (cmd, path, "--set", item) + (("-o", tmp_path / "x.zarr") if cmd == "generate"
                                                 else ())
            bad = _invoke(*args)
            assert bad.exit_code == 2 and named in bad.stderr, (cmd, item, bad.output)
    assert not (tmp_path / "x.zarr").exists()
    sweep = _invoke("check", EXAMPLE.parent / "demo_sweep.toml", "--set", "seeds=1")
    assert sweep.exit_code == 2 and "[overrides]" in sweep.stderr


def test_a_warning_of_set_is_one_warning_line_like_the_others(tmp_path):
    """A new voxel under a box given in voxels warns that the box changed size: printed as
    assb's other warnings are ("warning: ..." on stderr), not as Python's warning with its
    file, line and source line; --json stays one JSON object on stdout."""
    path = _write_spec(tmp_path)
    for fmt in ((), ("--json",)):
        res = _invoke("check", path, *fmt, "--set", "domain.voxel_size_um=0.25")
        assert res.exit_code == 0, res.output
        assert "warning: domain.voxel_size_um = 0.25 with the box given in voxels" in res.stderr
        assert "UserWarning" not in res.stderr and "_spec.py" not in res.stderr
    assert json.loads(res.stdout)["voxel_size_um"] == 0.25


def test_check_refuses_psds_that_cannot_be_drawn_at_the_voxel(tmp_path):
    """Every SE particle under two voxels of 4 um: the pressed generator could not draw them,
    and check says so (exit 2) as generate would, before any work."""
    path = tmp_path / "coarse.toml"
    path.write_text(EXAMPLE.read_text().replace("shape = [200, 128, 128]", "shape = [16, 16, 16]")
                    .replace("voxel_size_um = 0.25", "voxel_size_um = 4.0"))
    result = _invoke("check", path)
    assert result.exit_code == 2
    assert "phases.se: every particle of its PSD" in result.stderr
    se = ms.load_spec(path).phases.se.psd.sampler()      # what would draw it, what resolves it
    assert (f"a domain.voxel_size_um under {se.d_max / 2:.3g} um draws its largest particles"
            in " ".join(result.stderr.split()))
    assert f"one of at most {se.volume_quantile(0.5) / 4:.3g} um gives its d50" in result.stderr


def test_check_a_sweep_file_marks_points_over_the_memory(tmp_path):
    sweep = tmp_path / "s.toml"
    sweep.write_text('''base = "default"
[overrides]
"packing.mode" = "sequential"
[axes]
"domain.shape" = [[64, 64, 64], [4000, 4000, 4000]]
''')
    result = _invoke("check", sweep)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("2 can be built; 1 of them need more memory than is available "
                             "now (assb sweep refuses the sweep while they are in it)")
    (small,) = [x for x in lines if x.startswith("1 ")]
    (big,) = [x for x in lines if x.startswith("2 ")]
    assert "over the memory available" in big and "over the memory" not in small
    # the particle count (billions) keeps a space from the porosity
    assert re.search(r"0\.1500 +6,\d{3},\d{3},\d{3} ", big), big


def test_check_a_sweep_file_one_line_per_point(tmp_path):
    """A sweep file: one line per point with the swept values, porosity, particles and memory;
    a point whose spec is invalid, or whose PSDs cannot be drawn, shows its error instead."""
    sweep = tmp_path / "s.toml"
    sweep.write_text('''base = "default"
seeds = 2
[overrides]
"domain.shape" = [32, 32, 32]
[axes]
"phases.cam.fraction" = [60, 70, 500]
"domain.voxel_size_um" = [0.5, 4.0]
''')
    result = _invoke("check", sweep, "--json")
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout)
    assert s["seeds"] == 2 and len(s["points"]) == 6
    assert s["swept"] == ["phases.cam.fraction", "domain.voxel_size_um"]
    by = {(r["params"]["phases.cam.fraction"], r["params"]["domain.voxel_size_um"]): r
          for r in s["points"]}
    assert by[(60, 0.5)]["porosity"] == 0.15 and by[(60, 0.5)]["particles"] > 0
    assert by[(70, 0.5)]["memory"]["sweep_point_bytes"] > 0
    assert "phases.cam.fraction = 500" in by[(500, 0.5)]["error"]      # invalid spec
    assert "every particle of its PSD" in by[(60, 4.0)]["error"]       # cannot be drawn
    table = _invoke("check", sweep)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert "6 points x 2 seeds; 2 can be built" in lines[0]
    assert "cam.fraction" in lines[2] and "domain.voxel_size_um" in lines[2]
    assert sum("error:" in x for x in lines) == 4
    # each warning once, naming the points it belongs to (1 and 3: 60 and 70 at 0.5 um; the
    # SE share under 2 voxels differs between them, the carbon's does not)
    warned = [x.split("): ")[0] for x in lines if x.startswith("warning (")]
    assert sorted(warned) == ["warning (point 1", "warning (point 3",
                              "warning (points 1, 3"], warned
    bad = tmp_path / "bad.toml"
    bad.write_text('base = "default"\nseeds = 0\n')
    assert _invoke("check", bad).exit_code == 2


def test_check_a_sweep_keeps_long_values_apart(tmp_path):
    """A swept PSD table is wider than a column: the column widens, values never run together."""
    sweep = tmp_path / "s.toml"
    sweep.write_text('''base = "default"
seeds = 1
[overrides]
"domain.size_um" = [24, 16, 16]
"domain.voxel_size_um" = 0.5
[axes]
"packing.mode" = ["pressed", "sequential"]
"phases.se.psd" = [{ kind = "lognormal", d50_um = 1.5, d90_um = 2.8 },
                   { kind = "lognormal", d50_um = 2.0, d90_um = 3.6 }]
''')
    table = _invoke("check", sweep)
    assert table.exit_code == 0, table.output
    rows = [x for x in table.stdout.splitlines() if x[:1].isdigit()]
    assert len(rows) == 4
    for row, mode, d in zip(rows, ("pressed",) * 2 + ("sequential",) * 2,
                            ("1.5, d90_um: 2.8", "2, d90_um: 3.6") * 2, strict=True):
        assert re.search(rf"{mode} {{2,}}\{{kind: lognormal, d50_um: {d}\}}", row), row
        assert "error" not in row


# ---------------------------------------------------------------------------------------------
# user errors: exit 2, one message naming the field, no traceback


@pytest.mark.parametrize(("replace", "field"), [
    (("porosity = 0.15", "porosity = 1.5"), "composition.porosity"),
    (("fraction = 30", "fraction = -30"), "phases.se.fraction"),
    (("d10_um = 1.7", "d10_um = 4.0"), "phases.cam.psd"),
    (("density_g_cm3 = 1.64", "densty_g_cm3 = 1.64"), "phases.se.densty_g_cm3"),
    (('basis = "weight"', 'basis = "mass"'), "composition.basis"),
])
def test_bad_spec_exits_2_naming_the_field(tmp_path, replace, field):
    out = tmp_path / "x.zarr"
    result = _invoke("generate", _write_spec(tmp_path, replace=replace), "-o", out)
    assert result.exit_code == 2
    assert field in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert not out.exists()


def test_particle_larger_than_box(tmp_path):
    result = _invoke("generate", _write_spec(tmp_path, shape="[16, 16, 16]", voxel="0.25"),
                     "-o", tmp_path / "x.zarr")
    assert result.exit_code == 2 and "does not fit the box" in result.stderr


def test_malformed_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[domain\nshape = 3")
    result = _invoke("generate", p, "-o", tmp_path / "x.zarr")
    assert result.exit_code == 2 and "invalid TOML" in result.stderr
    assert "Traceback" not in result.output


def test_missing_spec_file(tmp_path):
    result = _invoke("generate", tmp_path / "nope.toml", "-o", tmp_path / "x.zarr")
    assert result.exit_code == 2 and "nope.toml" in result.stderr


@pytest.mark.parametrize("device", ["nvidia", "CPU", "tpu"])
def test_unknown_device_exits_2(tmp_path, device):
    result = _invoke("generate", _write_spec(tmp_path), "-o", tmp_path / "x.zarr",
                     "--device", device)
    assert result.exit_code == 2
    assert "--device must be 'cpu' or 'cuda'" in result.stderr and repr(device) in result.stderr
    assert not (tmp_path / "x.zarr").exists()


def test_cuda_without_gpu_exits_2_before_work(tmp_path, monkeypatch):
    import solvers.device as backend

    monkeypatch.setattr(backend, "gpu_available", lambda: False)
    monkeypatch.setattr(backend, "cuda_simulated", lambda: False)
    result = _invoke("generate", _write_spec(tmp_path), "-o", tmp_path / "x.zarr",
                     "--device", "cuda")
    assert result.exit_code == 2 and "--device cuda" in result.stderr


def test_negative_seed_exits_2(tmp_path):
    result = _invoke("generate", _write_spec(tmp_path), "-o", tmp_path / "x.zarr",
                     "--seed", "-1")
    assert result.exit_code == 2 and "--seed" in result.output


def test_refuses_to_overwrite_a_non_store_directory(tmp_path):
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "thesis.tex").write_text("do not delete")
    result = _invoke("generate", _write_spec(tmp_path), "-o", keep)
    assert result.exit_code == 2 and "refusing to overwrite" in result.stderr
    assert (keep / "thesis.tex").read_text() == "do not delete"


def test_packing_error_exits_1_with_its_message(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise ms.PackingError("packing could not reach the target volume fractions "
                                     "(cam: target 0.6600, achieved 0.6310)")

    monkeypatch.setattr(ms, "generate", fail)
    result = _invoke("generate", _write_spec(tmp_path), "-o", tmp_path / "x.zarr", "--json")
    assert result.exit_code == 1
    assert "target 0.6600, achieved 0.6310" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output


# ---------------------------------------------------------------------------------------------
# analyze


@pytest.fixture(scope="module")
def analyzed(generated):
    out, _, _ = generated
    result = _invoke("analyze", out, "--json", "--no-transport")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_analyze_json(analyzed):
    _, a = analyzed
    assert "transport" not in a                       # --no-transport
    assert set(a["utilization"]) == {"strict", "cam_relay"}
    for rule in ("strict", "cam_relay"):
        u = a["utilization"][rule]
        assert 0 <= u["static_utilization"] <= 1
        assert 0 <= u["static_utilization_by_count"] <= 1
        assert isinstance(u["electronic_percolates"], bool)
        assert u["n_active"] <= u["n_particles"]
        assert u["active_interface_area_per_volume_per_um"] >= 0
    # CAM relay can only add ionic access
    assert (a["utilization"]["cam_relay"]["static_utilization"]
            >= a["utilization"]["strict"]["static_utilization"])
    st = a["structure"]
    assert st["cam_se_contact_area_per_volume_per_um"] > 0
    assert len(st["profile"]) == 48
    assert "transport" not in a


def test_analysis_is_stored_in_the_store(analyzed):
    out, a = analyzed
    assert store_attrs(out)["analysis"] == a
    # and the store still opens
    assert ms.open(out).phases.shape == (48, 48, 48)


def test_analysis_matches_the_library(analyzed):
    out, a = analyzed
    m = ms.open(out)
    r = solvers.cam_utilization(m.phases, m.particle_ids, voxel_size_um=m.voxel_size_um,
                                rule="strict", periodic_lateral=True)
    assert a["utilization"]["strict"]["static_utilization"] == r.static_utilization
    sm = ms.structure_metrics(m)
    assert a["structure"]["volume_fractions"] == sm.volume_fractions


def test_analyze_table(generated):
    out, _, _ = generated
    result = _invoke("analyze", out, "--no-transport")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for words in ("static utilization (volume)", "static utilization (count)",
                  "electronically isolated", "ionically isolated", "percolates",
                  "strict", "cam_relay", "CAM|SE contact area", "attrs['analysis']"):
        assert words in text


class _FakeNet(SimpleNamespace):
    pass


def _fake_transport(calls):
    def transport_properties(phases, conductivities, **kw):
        calls.append((conductivities, {**kw, "shape": phases.shape}))
        net = {"tau": 2.5, "effective_conductivity": 1e-4, "relative_conductivity": 0.2,
               "volume_fraction": 0.45, "percolating_fraction": 0.99, "converged": True,
               "iterations": 12, "seconds": 0.1, "convention": "tau"}
        return SimpleNamespace(ionic=_FakeNet(**net),
                               electronic=_FakeNet(**{**net, "tau": float("inf"),
                                                      "effective_conductivity": 0.0}),
                               axis=0, thickness_um=24.0, ionic_resistance_ohm_cm2=24.0,
                               electronic_resistance_ohm_cm2=float("inf"))
    return transport_properties


def test_analyze_passes_the_store_to_the_transport_solver(generated, monkeypatch):
    out, _, _ = generated
    calls = []
    monkeypatch.setattr(solvers, "transport_properties", _fake_transport(calls))
    result = _invoke("analyze", out, "--json")
    assert result.exit_code == 0, result.output
    a = json.loads(result.stdout)                     # strict JSON: inf written as "Infinity"
    (cond, kw), = calls
    spec = ms.open(out).spec
    assert cond == {ms.SE: spec.conductivities("ionic")[ms.SE],
                    ms.CAM: spec.conductivities("electronic")[ms.CAM],
                    ms.CARBON: spec.conductivities("electronic")[ms.CARBON]}
    assert kw["ionic_phases"] == (ms.SE,) and kw["electronic_phases"] == (ms.CAM, ms.CARBON)
    assert kw["voxel_size_um"] == 0.5 and kw["axis"] == 0
    m = ms.open(out)
    bulk = m.bulk_slice()                             # the bulk: the walls' layers left out
    assert 0 < bulk.start and kw["shape"] == (bulk.stop - bulk.start, *m.shape[1:])
    cc = kw["electronic_contacts"]                    # the store's CAM/carbon contacts
    assert (cc is None) == (m.electronic_contacts() is None)
    assert cc is None or cc.labels.shape == kw["shape"]
    t = a["transport"]
    assert t["ionic"]["tau"] == 2.5 and t["ionic"]["effective_conductivity_S_cm"] == 1e-4
    assert t["electronic"]["tau"] == "Infinity"
    assert store_attrs(out)["analysis"]["transport"] == t
    table = _invoke("analyze", out)
    assert "Transport through-plane" in table.stdout and "inf" in table.stdout
    assert f"of the bulk: {bulk.start * m.voxel_size_um:.3g} um next to each wall" in table.stdout
    assert t["thickness_um"] == m.shape[0] * m.voxel_size_um == 24.0
    assert "contacts    electronic: " in table.stdout


def test_analyze_stored_prints_without_computing(generated, tmp_path, monkeypatch):
    import shutil

    from microstructure._zarr_store import update_store_attrs
    from microstructure.studies import _analysis

    out = tmp_path / "s.zarr"
    shutil.copytree(generated[0], out)
    update_store_attrs(out, {"analysis": None})
    none = _invoke("analyze", out, "--stored")
    assert none.exit_code == 2 and "holds no stored analysis" in none.stderr
    made = _invoke("analyze", out, "--no-transport", "--json")
    assert made.exit_code == 0, made.output
    monkeypatch.setattr(_analysis, "analyze", lambda *a, **k: pytest.fail("it computed"))
    again = _invoke("analyze", out, "--stored", "--json")
    assert again.exit_code == 0 and again.stderr == ""
    assert json.loads(again.stdout) == json.loads(made.stdout)
    table = _invoke("analyze", out, "--stored")
    assert table.stdout.startswith(f"CAM utilization of {out}")
    old = {**store_attrs(out)["analysis"], "package_version": "0.1.0"}
    update_store_attrs(out, {"analysis": old})
    warned = _invoke("analyze", out, "--stored")
    assert warned.exit_code == 0
    assert "made by assb-microstructure 0.1.0, this is" in warned.stderr
    assert _invoke("analyze", tmp_path / "no.zarr", "--stored").exit_code == 2
    foreign = _invoke("analyze", tmp_path, "--stored")
    assert foreign.exit_code == 2 and "is not an assb-microstructure store" in foreign.stderr
    both = _invoke("analyze", out, "--stored", "--in-plane")
    assert both.exit_code == 2 and "drop --stored to analyze with --in-plane" in both.stderr


def test_analyze_stored_refuses_a_damaged_analysis(generated, tmp_path):
    import shutil

    from microstructure._zarr_store import update_store_attrs

    out = tmp_path / "s.zarr"
    shutil.copytree(generated[0], out)
    assert _invoke("analyze", out, "--no-transport").exit_code == 0
    good = store_attrs(out)["analysis"]
    copy = tmp_path / "copy.zarr"  # a copied store names the store it is read from
    shutil.copytree(out, copy)
    assert _invoke("analyze", copy, "--stored").stdout.startswith(f"CAM utilization of {copy}")
    assert f"stored in                         {copy}" in _invoke("analyze", copy,
                                                                  "--stored").stdout
    damaged = {"lacks 'utilization'": {k: v for k, v in good.items() if k != "utilization"},
               "lacks 'seconds'": {k: v for k, v in good.items() if k != "seconds"},
               "is unreadable": {**good, "structure": "lost"},
               "is a str, not a mapping": "garbage"}
    for said, analysis in damaged.items():
        update_store_attrs(out, {"analysis": analysis})
        for extra in ((), ("--json",)):
            r = _invoke("analyze", out, "--stored", *extra)
            assert r.exit_code == 2 and r.stdout == "", (said, r.output)
            assert f"damaged store {out}: its stored analysis {said}" in r.stderr, r.stderr
            assert "Traceback" not in r.output


def test_analyze_with_the_real_transport_solver(generated):
    out, _, _ = generated
    result = _invoke("analyze", out, "--json")
    assert result.exit_code == 0, result.output
    t = json.loads(result.stdout)["transport"]
    assert t["ionic"]["effective_conductivity_S_cm"] > 0
    m = ms.open(out)
    if m.particles.has_contacts:            # pressed: CAM/carbon contacts carry their conductance
        assert t["contact_conductance"] is True
        n = len(m.electronic_contacts().pairs)
        assert 0 < t["electronic"]["contacts_weighted"] <= n
    else:
        assert t["contact_conductance"] is False and t["electronic"]["contacts_weighted"] == 0


def test_analyze_missing_store(tmp_path):
    result = _invoke("analyze", tmp_path / "none.zarr")
    assert result.exit_code == 2 and "no microstructure store" in result.stderr
    assert "Traceback" not in result.output


def test_analyze_non_store(tmp_path):
    (tmp_path / "d").mkdir()
    result = _invoke("analyze", tmp_path / "d")
    assert result.exit_code == 2 and str(tmp_path / "d") in result.stderr
    assert "Traceback" not in result.output


# ---------------------------------------------------------------------------------------------
# demo


def test_demo_small(tmp_path):
    result = _invoke("demo", "--small", "--out", tmp_path / "demo", "--no-transport")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "target vol%" in text and "static utilization (volume)" in text
    store = tmp_path / "demo" / "demo.zarr"
    m = ms.open(store)
    assert m.shape == (64, 64, 64)
    assert m.spec.phases.cam.material == "NCM82"
    assert "analysis" in store_attrs(store)
    # the example's hard contacts are finer than its 0.25 um voxel: warned once by the
    # generation (stderr), not again under the analysis that follows it ...
    coarse = "more than twice the median radius of the contacts between hard particles"
    assert result.stderr.count(coarse) == 1 and coarse not in text
    # ... while 'assb analyze' of the stored structure prints it with the structure's table
    again = _invoke("analyze", store, "--no-transport")
    assert again.exit_code == 0, again.output
    assert again.stdout.count(coarse) == 1
    assert again.stdout.index("CAM/carbon contact radius") < again.stdout.index(coarse)


def test_demo_bad_shape(tmp_path):
    result = _invoke("demo", "--shape", "4", "64", "64", "--out", tmp_path)
    assert result.exit_code == 2
    assert "domain.shape" in result.stderr and "Traceback" not in result.output


def test_demo_shape_and_small_exclusive(tmp_path):
    result = _invoke("demo", "--shape", "64", "64", "64", "--small", "--out", tmp_path)
    assert result.exit_code == 2 and "either --shape or --small" in result.stderr


def test_demo_help_shows_the_shape_as_typed():
    # three integers separated by spaces (--shape 48 48 48), not "<int,int,int>..."
    result = runner.invoke(app, ["demo", "--help"], terminal_width=120)
    assert result.exit_code == 0
    assert re.search(r"--shape\s+NZ NY NX", result.stdout)
    assert "<int,int,int>" not in result.stdout


def test_help_lists_the_commands():
    result = _invoke("--help")
    assert result.exit_code == 0
    for cmd in ("generate", "analyze", "demo"):
        assert cmd in result.stdout


# ---------------------------------------------------------------------------------------------
# reliability (issue 12): damaged stores, unwritable outputs, non-text specs


def _small_store(tmp_path: Path, name: str = "s.zarr") -> Path:
    import warnings

    from microstructure import _zarr_store

    spec = ms.load_spec(_write_spec(tmp_path, shape="[32, 32, 32]"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sequential: d10 under 2 voxels
        m = ms.generate(spec, seed=0)
    old = _zarr_store._CHUNKS
    _zarr_store._CHUNKS = 16
    try:
        return m.save(tmp_path / name)
    finally:
        _zarr_store._CHUNKS = old


def test_analyze_store_with_a_missing_chunk_exits_2_and_writes_nothing(tmp_path):
    store = _small_store(tmp_path)
    (store / "phases" / "c" / "1" / "0" / "1").unlink()
    before = (store / "zarr.json").read_bytes()
    result = _invoke("analyze", store, "--no-transport")
    assert result.exit_code == 2, result.output
    assert f"damaged store {store}" in result.stderr and "'phases'" in result.stderr
    assert "c/1/0/1" in result.stderr
    assert "static utilization" not in result.stdout and "Traceback" not in result.output
    assert (store / "zarr.json").read_bytes() == before         # nothing written
    assert not [p for p in store.iterdir() if p.name.startswith(".")]


def test_analyze_store_with_garbage_metadata_exits_2(tmp_path):
    store = _small_store(tmp_path)
    (store / "particle_ids" / "zarr.json").write_bytes(b"\x89PNG\x00\x01")
    result = _invoke("analyze", store, "--no-transport")
    assert result.exit_code == 2 and "'particle_ids' is missing or its zarr.json" in result.stderr
    assert "Traceback" not in result.output


def test_analysis_written_atomically_keeps_the_store_valid(tmp_path):
    store = _small_store(tmp_path)
    result = _invoke("analyze", store, "--no-transport", "--json")
    assert result.exit_code == 0, result.output
    assert store_attrs(store)["analysis"] == json.loads(result.stdout)
    assert "integrity" in store_attrs(store)
    ms.open(store)                                   # still passes the integrity check
    assert sorted(p.name for p in store.iterdir()) == ["particle_ids", "particles", "phases",
                                                      "zarr.json"]


def test_binary_garbage_spec_exits_2(tmp_path):
    p = tmp_path / "garbage.toml"
    p.write_bytes(bytes(range(256)) * 4)
    result = _invoke("generate", p, "-o", tmp_path / "x.zarr")
    assert result.exit_code == 2, result.output
    assert f"{p} is not a TOML text file" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "x.zarr").exists()


def test_generate_checks_the_output_path_before_generating(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("generate ran although the output path cannot be written")

    monkeypatch.setattr(ms, "generate", never)
    (tmp_path / "afile").write_text("x")
    result = _invoke("generate", _write_spec(tmp_path), "-o", tmp_path / "afile" / "sub.zarr")
    assert result.exit_code == 2, result.output
    assert "afile is not a directory" in result.stderr and "Traceback" not in result.output
    result = _invoke("generate", _write_spec(tmp_path), "-o", tmp_path / "afile")
    assert result.exit_code == 2 and "exists and is not a directory" in result.stderr


@pytest.mark.skipif(hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0,
                    reason="root may write anywhere")
def test_generate_refuses_an_unwritable_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(ms, "generate", lambda *a, **k: pytest.fail("generated"))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        result = _invoke("generate", _write_spec(tmp_path), "-o", ro / "m.zarr")
    finally:
        ro.chmod(0o700)
    assert result.exit_code == 2 and "is not writable" in result.stderr


def test_demo_out_below_a_file_exits_2(tmp_path):
    (tmp_path / "afile").write_text("x")
    result = _invoke("demo", "--small", "--out", tmp_path / "afile")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "afile" in result.stderr


def test_full_disk_on_save_exits_1_and_keeps_the_old_store(generated, tmp_path, monkeypatch):
    import errno
    import shutil

    out, _, _ = generated
    keep = tmp_path / "m.zarr"
    shutil.copytree(out, keep)
    before = (keep / "zarr.json").read_bytes()

    def full(self, path, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ms.Microstructure, "save", full)
    result = _invoke("generate", _write_spec(tmp_path), "-o", keep, "--quiet", "--overwrite")
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.stderr and "nothing was replaced" in result.stderr
    assert "Traceback" not in result.output
    assert (keep / "zarr.json").read_bytes() == before


def test_version():
    from microstructure import __version__

    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"assb-microstructure {__version__}"
