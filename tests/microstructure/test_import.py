"""import_tiff: gray values -> phases, CAM watershed, measured spec, errors, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

import microstructure as ms
import solvers
from microstructure.studies.cli import app

GRAY = np.array([0, 128, 200, 255], dtype=np.uint8)  # pore, CAM, SE, carbon
PHASE_MAP = "0:pore,128:cam,200:se,255:carbon"


@pytest.fixture(scope="module")
def generated() -> ms.Microstructure:
    """Hard (RSA) CAM spheres, not wrapped laterally: the true particles are known."""
    spec = ms.load_spec(ms.default_spec_path()).updated({
        "domain.shape": [48, 48, 48], "domain.voxel_size_um": 0.25,
        "domain.periodic_lateral": False, "packing.mode": "rsa",
        "composition.basis": "volume", "composition.porosity": 0.1,
        "phases.cam.fraction": 35, "phases.se.fraction": 60, "phases.carbon.fraction": 5,
        "phases.cam.psd": {"kind": "lognormal", "d50_um": 3.0, "d90_um": 3.6},
        "phases.se.psd": {"kind": "lognormal", "d50_um": 1.0, "d90_um": 1.6},
        "phases.carbon.psd": {"kind": "lognormal", "d50_um": 0.8, "d90_um": 1.0},
    })
    return ms.generate(spec, seed=0)


@pytest.fixture(scope="module")
def stack_path(generated, tmp_path_factory):
    path = tmp_path_factory.mktemp("tif") / "stack.tif"
    tifffile.imwrite(path, GRAY[generated.phases])
    return path


@pytest.fixture(scope="module")
def imported(stack_path) -> ms.Microstructure:
    return ms.import_tiff(stack_path, phase_map=PHASE_MAP, voxel_size_um=0.25)


def test_phases_round_trip_exactly(generated, imported):
    assert imported.phases.dtype == np.uint8
    np.testing.assert_array_equal(imported.phases, generated.phases)
    assert imported.seed == 0 and imported.report is None


def test_every_cam_voxel_has_an_id(imported):
    cam = imported.phases == ms.CAM
    assert (imported.particle_ids[cam] > 0).all()
    assert (imported.particle_ids[~cam] == 0).all()
    ids = np.unique(imported.particle_ids[cam])
    np.testing.assert_array_equal(ids, np.arange(1, ids.size + 1))


def test_watershed_recovers_touching_hard_spheres(generated, imported):
    true_n = np.unique(generated.particle_ids).size - 1
    n = int(imported.particle_ids.max())
    assert abs(n - true_n) <= max(1, round(0.1 * true_n)), (n, true_n)
    # each imported particle lies (almost) inside one true particle
    cam = generated.phases == ms.CAM
    pairs = np.stack([imported.particle_ids[cam], generated.particle_ids[cam]], 1)
    uniq, counts = np.unique(pairs, axis=0, return_counts=True)
    best = np.zeros(n + 1)
    np.maximum.at(best, uniq[:, 0], counts)
    assert best.sum() / cam.sum() > 0.97


def test_two_touching_spheres_split_in_two():
    z, y, x = np.mgrid[:24, :24, :40]
    a = np.full((24, 24, 40), 2, np.uint8)
    s1 = (z - 12) ** 2 + (y - 12) ** 2 + (x - 12) ** 2 <= 7.5**2
    s2 = (z - 12) ** 2 + (y - 12) ** 2 + (x - 26) ** 2 <= 7.5**2   # overlaps s1 by a neck
    a[s1 | s2] = 1
    assert np.count_nonzero(s1 & s2) > 0
    m = ms.import_tiff(a, phase_map={1: "cam", 2: "se"}, voxel_size_um=0.5)
    assert m.particle_ids.max() == 2
    left = np.unique(m.particle_ids[s1 & ~s2])
    right = np.unique(m.particle_ids[s2 & ~s1])
    assert left.size == 1 and right.size == 1 and left[0] != right[0]


def test_spec_describes_the_measured_structure(imported, generated):
    spec = imported.spec
    counts = np.bincount(generated.phases.ravel(), minlength=4) / generated.phases.size
    assert spec.composition.basis == "volume"
    assert spec.composition.porosity == pytest.approx(counts[0])
    target = spec.target_fractions()
    for name, code in ms.PHASE_CODES.items():
        assert target[name] == pytest.approx(counts[code], abs=1e-9)
    assert spec.domain.shape == generated.shape
    assert spec.domain.voxel_size_um == 0.25
    assert spec.domain.periodic_lateral is False
    for phase in spec.present_phases().values():
        assert phase.material == "imported"
    sm = ms.structure_metrics(imported)
    # the fitted CAM PSD has the measured volume d50 as its median
    assert sm.size_distributions["cam"].d50_relative_error == pytest.approx(0, abs=1e-6)
    assert sm.size_distributions["cam"].d50_um == pytest.approx(3.0, rel=0.15)
    assert imported.particles.counts()["cam"] == imported.particle_ids.max()


def test_a_phase_finer_than_two_voxels_is_measured_not_refused(generated, tmp_path):
    """A tomogram's carbon of single voxels: its measured PSD lies under two voxels, which a
    generator could not draw; the imported structure's metrics measure it all the same (the
    spec's packing mode says how to generate, not how this structure was made)."""
    phases = generated.phases.copy()
    phases[phases == ms.CARBON] = ms.PORE
    pore = np.flatnonzero(phases == ms.PORE)
    specks = np.random.default_rng(0).choice(pore, pore.size // 20, replace=False)
    phases.reshape(-1)[specks] = ms.CARBON
    path = tmp_path / "specks.tif"
    tifffile.imwrite(path, GRAY[phases])
    m = ms.import_tiff(path, phase_map=PHASE_MAP, voxel_size_um=0.25)
    assert m.spec.phases.carbon.psd.sampler().d_max < 2 * 0.25
    sm = ms.structure_metrics(m)
    assert sm.volume_fractions["carbon"] == pytest.approx(specks.size / phases.size)
    assert sm.size_distributions["carbon"].d50_um < 2 * 0.25


def test_a_stack_too_large_for_memory_is_refused_before_the_watershed(stack_path, tmp_path,
                                                                      monkeypatch):
    """~96 B per voxel (the distance maps and the watershed); over what is available, the
    import stops before separating particles, naming the stack and the limit (CLI: exit 2)."""
    from microstructure import _import
    from solvers import memory

    monkeypatch.setattr(memory, "available_memory",
                        lambda device="cpu": memory.MemoryLimit(10**6, "test limit"))
    monkeypatch.setattr(_import, "separate_particles",
                        lambda *a, **k: pytest.fail("the watershed ran"))
    with pytest.raises(memory.InsufficientMemoryError,
                       match=r"stack of shape \(48, 48, 48\): import needs about .* \(test "
                             r"limit\); use a smaller stack"):
        ms.import_tiff(stack_path, phase_map=PHASE_MAP, voxel_size_um=0.25)
    res = CliRunner().invoke(app, ["import", str(stack_path), "--phase-map", PHASE_MAP,
                                   "--voxel-size-um", "0.25", "-o", str(tmp_path / "m.zarr")])
    assert res.exit_code == 2 and "import needs about" in res.stderr
    assert not (tmp_path / "m.zarr").exists()


def test_store_round_trip_and_utilization(imported, tmp_path):
    m = ms.open(imported.save(tmp_path / "imp.zarr"))
    np.testing.assert_array_equal(m.particle_ids, imported.particle_ids)
    assert m.spec == imported.spec
    u = solvers.cam_utilization(m.phases, m.particle_ids, voxel_size_um=m.voxel_size_um,
                                periodic_lateral=False)
    assert u.n_particles == imported.particle_ids.max()
    assert 0 <= u.static_utilization <= 1


def test_directory_of_slices_and_axis(generated, tmp_path):
    gray = GRAY[generated.phases]
    for i, sl in enumerate(gray):
        tifffile.imwrite(tmp_path / f"slice_{i:03d}.tif", sl)
    m = ms.import_tiff(tmp_path, phase_map=PHASE_MAP, voxel_size_um=0.25)
    np.testing.assert_array_equal(m.phases, generated.phases)
    # the through-plane axis stored last
    m2 = ms.import_tiff(np.moveaxis(gray, 0, 2), phase_map=PHASE_MAP, voxel_size_um=0.25, axis=2)
    np.testing.assert_array_equal(m2.phases, generated.phases)
    # the collector at the stack's last slice: reversed, so index 0 is its layer again
    m3 = ms.import_tiff(np.moveaxis(gray[::-1], 0, 1), phase_map=PHASE_MAP, voxel_size_um=0.25,
                        axis=1, collector="last")
    np.testing.assert_array_equal(m3.phases, generated.phases)
    np.testing.assert_array_equal(m3.particle_ids > 0, generated.phases == ms.CAM)


def test_unpadded_slice_numbers_stack_in_numeric_order(generated, tmp_path):
    """s_0 ... s_47 were stacked as text (s_0, s_1, s_10, s_11, ..., s_2): 46 slices out of
    place, exit 0; names that number alike are refused."""
    gray = GRAY[generated.phases]
    for i, sl in enumerate(gray):
        tifffile.imwrite(tmp_path / f"s_{i}.tif", sl)
    m = ms.import_tiff(tmp_path, phase_map=PHASE_MAP, voxel_size_um=0.25)
    np.testing.assert_array_equal(m.phases, generated.phases)
    tifffile.imwrite(tmp_path / "s_01.tif", gray[1])
    with pytest.raises(ValueError, match="slices s_01.tif and s_1.tif sort alike"):
        ms.import_tiff(tmp_path, phase_map=PHASE_MAP, voxel_size_um=0.25)


@pytest.mark.parametrize(("phase_map", "match"), [
    ("0:pore,128:cam,200:se", "gray values 255"),                 # unmapped value
    ("0:pore,128:cam,200:se,255:graphite", "unknown phase 'graphite'"),
    ("0=pore,128:cam", "not GRAY:PHASE"),
    ("0:pore,0:cam,200:se,255:carbon", "mapped twice"),
    ("", "empty"),
    ("0:pore,128:pore,200:se,255:carbon", "no cam voxels"),
])
def test_bad_phase_maps(stack_path, phase_map, match):
    with pytest.raises(ValueError, match=match):
        ms.import_tiff(stack_path, phase_map=phase_map, voxel_size_um=0.25)


def test_bad_stacks_and_options(tmp_path):
    with pytest.raises(ValueError, match="must be 3-D, got 2-D"):
        ms.import_tiff(np.zeros((8, 8), np.uint8), phase_map="0:pore", voxel_size_um=1)
    with pytest.raises(TypeError, match="integer gray values"):
        ms.import_tiff(np.zeros((8, 8, 8)), phase_map="0:pore", voxel_size_um=1)
    with pytest.raises(ValueError, match="voxel_size_um must be a positive number, got 0"):
        ms.import_tiff(np.zeros((8, 8, 8), np.uint8), phase_map="0:pore", voxel_size_um=0)
    with pytest.raises(ValueError, match=r"axis must be 0, 1 or 2 \(or -3, -2, -1, counted "
                       r"from the last\), got 3"):
        ms.import_tiff(np.zeros((8, 8, 8), np.uint8), phase_map="0:pore", voxel_size_um=1,
                       axis=3)
    with pytest.raises(ValueError, match="collector must be 'first' or 'last' .*got 'top'"):
        ms.import_tiff(np.zeros((8, 8, 8), np.uint8), phase_map="0:pore", voxel_size_um=1,
                       collector="top")
    with pytest.raises(FileNotFoundError, match="no TIFF stack"):
        ms.import_tiff(tmp_path / "missing.tif", phase_map="0:pore", voxel_size_um=1)
    with pytest.raises(ValueError, match="no .tif/.tiff slices"):
        ms.import_tiff(tmp_path, phase_map="0:pore", voxel_size_um=1)


def test_cli_import_then_analyze(stack_path, tmp_path):
    runner = CliRunner()
    out = tmp_path / "imp.zarr"
    res = runner.invoke(app, ["import", str(stack_path), "--phase-map", PHASE_MAP,
                              "--voxel-size-um", "0.25", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "CAM particles" in res.output
    assert "import:" in res.stderr and "CAM particles (watershed)" in res.stderr  # its steps
    res = runner.invoke(app, ["analyze", str(out), "--no-transport", "--json"])
    assert res.exit_code == 0, res.output
    flipped = tmp_path / "flipped.tif"
    tifffile.imwrite(flipped, tifffile.imread(stack_path)[::-1])
    res = runner.invoke(app, ["import", str(flipped), "--phase-map", PHASE_MAP, "--collector",
                              "last", "--voxel-size-um", "0.25", "-o", str(tmp_path / "f.zarr")])
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(ms.open(tmp_path / "f.zarr").phases, ms.open(out).phases)
    res = runner.invoke(app, ["import", str(stack_path), "--phase-map", PHASE_MAP, "--collector",
                              "top", "--voxel-size-um", "0.25", "-o", str(tmp_path / "t.zarr")])
    assert res.exit_code == 2 and "collector must be 'first' or 'last'" in res.stderr
    res = runner.invoke(app, ["import", str(stack_path), "--phase-map", "0:pore,128:cam",
                              "--voxel-size-um", "0.25", "-o", str(tmp_path / "x.zarr")])
    assert res.exit_code == 2
    assert "not in --phase-map" in res.output


def test_cli_import_keeps_an_existing_store_unless_overwrite(stack_path, tmp_path,
                                                             monkeypatch):
    from microstructure import _import

    out = tmp_path / "imp.zarr"
    args = ["import", str(stack_path), "--phase-map", PHASE_MAP, "--voxel-size-um", "0.25",
            "-o", str(out)]
    assert CliRunner().invoke(app, args).exit_code == 0
    before = (out / "zarr.json").read_bytes()
    monkeypatch.setattr(_import, "separate_particles",
                        lambda *a, **k: pytest.fail("imported again"))
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.stderr == f"error: --out {out} is an assb store; pass --overwrite to replace it\n"
    assert (out / "zarr.json").read_bytes() == before
    monkeypatch.undo()
    res = CliRunner().invoke(app, [*args, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert ms.open(out).shape == (48, 48, 48)


def test_cli_import_checks_the_voxel_size_the_tiff_records(generated, tmp_path):
    """An ImageJ TIFF (assb export, Fiji) records its voxel edge: a different --voxel-size-um
    is refused naming both, none given takes it; --periodic-lateral reaches the spec."""
    exported = tmp_path / "phases.tif"
    ms.export_tiff(generated, exported)                         # ImageJ spacing=0.25 unit=um
    args = ["import", str(exported), "--phase-map", "0:pore,1:cam,2:se,3:carbon"]
    res = CliRunner().invoke(app, [*args, "--voxel-size-um", "0.5", "-o", str(tmp_path / "a")])
    assert res.exit_code == 2, res.output
    assert res.stderr == (f"error: --voxel-size-um 0.5 differs from the 0.25 um that {exported} "
                          "records (ImageJ spacing=0.25 unit=um); give 0.25 or leave it out\n")
    assert not (tmp_path / "a").exists()
    with pytest.raises(ValueError, match="voxel_size_um 0.5 differs from the 0.25 um"):
        ms.import_tiff(exported, phase_map="0:pore,1:cam,2:se,3:carbon", voxel_size_um=0.5)
    res = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "b.zarr")])
    assert res.exit_code == 0, res.output
    assert "at 0.25 um (the TIFF records it);" in res.stdout
    m = ms.open(tmp_path / "b.zarr")
    assert m.voxel_size_um == 0.25 and m.spec.domain.periodic_lateral is False
    np.testing.assert_array_equal(m.phases, generated.phases)
    res = CliRunner().invoke(app, [*args, "--voxel-size-um", "0.25", "--periodic-lateral",
                                   "-o", str(tmp_path / "c.zarr")])
    assert res.exit_code == 0, res.output
    assert ms.open(tmp_path / "c.zarr").spec.domain.periodic_lateral is True
    # a TIFF that records no voxel size: --voxel-size-um is needed
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, generated.phases)
    res = CliRunner().invoke(app, [*args[:1], str(plain), *args[2:], "-o", str(tmp_path / "d")])
    assert res.exit_code == 2, res.output
    assert "--voxel-size-um is not given and" in res.stderr and "records no voxel size" in \
        res.stderr


@pytest.mark.parametrize(("metadata", "want"), [
    ({"spacing": 0.4, "unit": "micron"}, 0.4),
    ({"spacing": 0.4, "unit": "\\u00B5m"}, 0.4),               # how ImageJ escapes µm
    ({"spacing": 0.4, "unit": "pixel"}, None),                 # not a length
    ({"spacing": 400, "unit": "nm"}, 0.4),                     # another length unit
    ({"spacing": 0.0004, "unit": "mm"}, 0.4),
    ({"spacing": 0.4}, None),
    ({"unit": "um"}, None),
])
def test_the_voxel_size_an_imagej_tiff_records(tmp_path, metadata, want):
    from microstructure._tiff_meta import recorded_voxel_size_um

    p = tmp_path / "s.tif"
    tifffile.imwrite(p, np.zeros((8, 8, 8), np.uint8), imagej=True,
                     metadata={"axes": "ZYX", **metadata})
    got = recorded_voxel_size_um(p)
    assert (got[0] if got else None) == pytest.approx(want)
    assert recorded_voxel_size_um(tmp_path) is None            # a directory of slices


@pytest.mark.parametrize(("resolution", "spacing", "said"), [
    ((4, 4), 0.5, "X 0.25 um, Y 0.25 um, Z 0.5 um"),          # was read as 0.5 um cubes
    ((2, 4), 0.25, "X 0.5 um, Y 0.25 um, Z 0.25 um"),         # was read as 0.25 um cubes
])
def test_voxels_that_are_not_cubes_are_refused(tmp_path, resolution, spacing, said):
    p = tmp_path / "s.tif"
    tifffile.imwrite(p, np.zeros((8, 8, 8), np.uint8), imagej=True, resolution=resolution,
                     metadata={"axes": "ZYX", "spacing": spacing, "unit": "um"})
    for given in (None, spacing):
        with pytest.raises(ValueError, match=f"records voxels that are not cubes: {said}"):
            ms.import_tiff(p, phase_map="0:pore", voxel_size_um=given)
    tifffile.imwrite(p, np.zeros((8, 8, 8), np.uint8), imagej=True, resolution=(4, 4),
                     metadata={"axes": "ZYX", "spacing": 0.25, "unit": "um"})
    from microstructure._tiff_meta import recorded_voxel_size_um

    assert recorded_voxel_size_um(p)[0] == 0.25                # cubes: read


def test_a_missing_or_foreign_file_is_named_before_its_voxel_size(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TIFF stack at"):
        ms.import_tiff(tmp_path / "nothere.tif", phase_map="0:pore")
    (tmp_path / "nota.tif").write_bytes(b"nota tiff")
    with pytest.raises(ValueError, match="nota.tif: not a TIFF file"):
        ms.import_tiff(tmp_path / "nota.tif", phase_map="0:pore")


def test_a_damaged_voxel_size_record_is_an_error(tmp_path):
    from microstructure._tiff_meta import recorded_voxel_size_um

    p = tmp_path / "s.tif"
    tifffile.imwrite(p, np.zeros((8, 8, 8), np.uint32), metadata={"voxel_size_um": -1})
    with pytest.raises(ValueError, match="records a voxel size that is not a positive number"):
        recorded_voxel_size_um(p)


def test_inscribed_spheres_of_balls_are_one_each_and_unbiased():
    """Four SE balls (radius 4, 6, 8, 10 voxels): one sphere each, also for a ball centred on a
    voxel corner (a flat maximum of 8 voxels gave 8 rows), radius within half a voxel (it read
    0.4-0.9 voxel low: D - 0.5 where the EDT already peaks 0.4 inside; a ball centred on a
    voxel now reads 0.46 high)."""
    from microstructure._inscribed import inscribed_spheres

    n = 64
    z, y, x = np.indices((n, n, n), dtype=np.float64)
    mask = np.zeros((n, n, n), bool)
    balls = [((12.5, 12.5, 12.5), 4), ((12.2, 40.1, 40.3), 6), ((44.0, 14.0, 44.0), 8),
             ((44.3, 44.6, 15.2), 10)]
    for c, r in balls:
        mask |= (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r
    centres, radii = inscribed_spheres(mask)
    assert len(radii) == 4
    for c, r in balls:
        k = np.argmin(((centres - np.array(c)) ** 2).sum(axis=1))
        assert np.abs(centres[k] - c).max() < 0.75 and abs(radii[k] - r) < 0.5, (c, r, radii[k])
