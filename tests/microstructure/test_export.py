"""``export_tiff`` / ``assb export``: a structure's arrays as TIFF stacks that keep their values,
orientation and voxel size, read back by ``import_tiff``; bad targets refused before any work."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

import microstructure as ms
import solvers
from microstructure.studies import _cli_store
from microstructure.studies.cli import app
from solvers.utilization import RULES

runner = CliRunner()


@pytest.fixture(scope="module")
def m():
    spec = ms.load_spec(ms.default_spec_path()).updated(
        {"domain.shape": [48, 40, 40], "domain.voxel_size_um": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                # SE, carbon under 2 voxels at 0.5 um
        return ms.generate(spec, seed=3)


@pytest.fixture(scope="module")
def store(m, tmp_path_factory):
    return m.save(tmp_path_factory.mktemp("export") / "m.zarr")


def test_phases_round_trip_through_import(m, tmp_path):
    r = ms.export_tiff(m, tmp_path / "p.tif")
    assert (r.array, r.shape, r.dtype, r.imagej) == ("phases", m.shape, "uint8", True)
    assert r.size_bytes == (tmp_path / "p.tif").stat().st_size >= m.phases.size
    with tifffile.TiffFile(r.path) as tif:                 # Fiji's scale: µm, z spacing
        meta = tif.imagej_metadata
        assert meta["unit"] == "um" and meta["spacing"] == 0.5
        assert tif.series[0].axes == "ZYX"
        assert tif.pages[0].resolution == (2.0, 2.0)       # pixels per µm
        np.testing.assert_array_equal(tif.asarray(), m.phases)   # slice 0 = collector layer
    back = ms.import_tiff(r.path, phase_map="0:pore,1:cam,2:se,3:carbon", voxel_size_um=0.5)
    np.testing.assert_array_equal(back.phases, m.phases)


def test_labels_keep_their_values(m, tmp_path):
    r = ms.export_tiff(m, tmp_path / "ids.tiff", array="particle_ids")
    assert r.dtype == "uint16" and r.imagej
    np.testing.assert_array_equal(tifffile.imread(r.path), m.particle_ids)
    big = m.particle_ids.astype(np.int64) * 1000 + 70_000      # beyond 16 bits
    r = ms.export_tiff(m, tmp_path / "big.tif", array=big)
    assert (r.array, r.dtype, r.imagej) == ("array", "uint32", False)
    with tifffile.TiffFile(r.path) as tif:
        np.testing.assert_array_equal(tif.asarray(), big)
        assert tif.shaped_metadata[0]["voxel_size_um"] == 0.5
        assert tif.pages[0].resolution == (2e4, 2e4)           # pixels per cm
    mask = ms.export_tiff(m, tmp_path / "cam.tif", array=m.phases == ms.CAM)
    assert mask.dtype == "uint8"
    np.testing.assert_array_equal(tifffile.imread(mask.path), m.phases == ms.CAM)


def test_an_existing_file_is_kept_unless_overwrite(m, tmp_path):
    p = tmp_path / "p.tif"
    p.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ms.export_tiff(m, p)
    assert p.read_bytes() == b"keep"
    ms.export_tiff(m, p, overwrite=True)
    np.testing.assert_array_equal(tifffile.imread(p), m.phases)


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"path": "x.zarr"}, ValueError, r"must end in \.tif or \.tiff, got '.*x\.zarr'"),
    ({"array": "pores"}, ValueError, r"array must be one of 'phases'.*got 'pores'"),
    ({"array": np.zeros((4, 4, 4), np.uint8)}, ValueError,
     r"shape \(48, 40, 40\), got \(4, 4, 4\)"),
    ({"array": -np.ones((48, 40, 40), np.int32)}, ValueError, r"negative values \(min -1\)"),
    ({"array": np.full((48, 40, 40), np.nan)}, ValueError, "non-finite"),
    ({"array": np.zeros((48, 40, 40), complex)}, ValueError, "dtype complex128"),
])
def test_bad_input_names_the_argument(m, tmp_path, kwargs, exc, match):
    path = tmp_path / kwargs.pop("path", "ok.tif")
    with pytest.raises(exc, match=match):
        ms.export_tiff(m, path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_or_missing_parent_is_refused(m, tmp_path):
    (tmp_path / "d.tif").mkdir()
    with pytest.raises(FileExistsError, match="is a directory"):
        ms.export_tiff(m, tmp_path / "d.tif")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ms.export_tiff(m, tmp_path / "no" / "p.tif")


def test_no_carbon_ids_is_an_error(m, tmp_path):
    spec = m.spec.updated({"phases.carbon.fraction": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bare = ms.generate(spec, seed=0)
    assert bare.carbon_ids is None
    with pytest.raises(ValueError, match="'carbon_ids': this structure has none"):
        ms.export_tiff(bare, tmp_path / "c.tif", array="carbon_ids")


def test_interrupted_write_leaves_nothing(m, tmp_path, monkeypatch):
    p = tmp_path / "p.tif"
    p.write_bytes(b"old")
    real = tifffile.imwrite

    def half_then_ctrl_c(path, data, **kw):
        real(path, data[:2], **kw)                             # part of the file, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(tifffile, "imwrite", half_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        ms.export_tiff(m, p, overwrite=True)
    assert [q.name for q in tmp_path.iterdir()] == ["p.tif"] and p.read_bytes() == b"old"


# ---------------------------------------------------------------------------------------------
# assb export


def test_cli_state_matches_the_utilization(m, store, tmp_path):
    for rule in RULES:
        out = tmp_path / f"{rule}.tif"
        res = runner.invoke(app, ["export", str(store), "-o", str(out), "--array", "state",
                                  "--rule", rule])
        assert res.exit_code == 0, res.output
        assert f"CAM state ({rule})" in res.stdout and "1 active" in res.stdout
        state = tifffile.imread(out)
        u = solvers.cam_utilization(m.phases, m.particle_ids, voxel_size_um=m.voxel_size_um,
                                    rule=rule, periodic_lateral=True)
        cam = m.phases == ms.CAM
        np.testing.assert_array_equal(state > 0, cam)
        assert np.isclose((state == 1).sum() / cam.sum(), u.static_utilization, atol=1e-12)


def test_cli_phases_and_its_legend(m, store, tmp_path):
    out = tmp_path / "p.tif"
    res = runner.invoke(app, ["export", str(store), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "48 x 40 x 40 uint8 at 0.5 um" in res.stdout
    assert "values: 0 pore, 1 cam, 2 se, 3 carbon" in res.stdout
    np.testing.assert_array_equal(tifffile.imread(out), m.phases)
    js = runner.invoke(app, ["export", str(store), "-o", str(tmp_path / "j.tif"), "--array",
                             "particle_ids", "--json"])
    d = json.loads(js.stdout)                              # one object, nothing else on stdout
    assert (d["array"], d["dtype"], d["shape"], d["imagej"]) == ("particle_ids", "uint16",
                                                                 [48, 40, 40], True)
    assert d["size_bytes"] == (tmp_path / "j.tif").stat().st_size and d["rule"] is None
    again = runner.invoke(app, ["export", str(store), "-o", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr


def test_cli_cam_particles_table(m, store, tmp_path):
    import pandas as pd

    out = tmp_path / "cam.csv"
    res = runner.invoke(app, ["export", str(store), "-o", str(out), "--array", "cam_particles"])
    assert res.exit_code == 0, res.output
    t = pd.read_csv(out)
    cam_ids = np.unique(m.particle_ids[m.phases == ms.CAM])
    assert f"{len(cam_ids)} rows" in res.stdout
    np.testing.assert_array_equal(np.sort(t["id"]), cam_ids)
    for rule in RULES:
        u = solvers.cam_utilization(m.phases, m.particle_ids, voxel_size_um=m.voxel_size_um,
                                    rule=rule, periodic_lateral=True)
        theta = (t.volume_um3 * t[f"active_{rule}"]).sum() / t.volume_um3.sum()
        assert theta == pytest.approx(u.static_utilization, abs=1e-12)
    assert (t.active_strict <= t.active_cam_relay).all()      # relay never loses a particle
    assert t.depth_um.between(0, m.shape[0] * m.voxel_size_um).all()
    assert np.allclose(t.volume_um3, np.pi / 6 * t.diameter_um ** 3)
    for bad, hint in ((["-o", str(tmp_path / "cam.tif"), "--array", "cam_particles"],
                       "table's path must end in .csv"),
                      (["-o", str(tmp_path / "p.csv")], "--array cam_particles writes a CSV")):
        res = runner.invoke(app, ["export", str(store), *bad])
        assert res.exit_code == 2 and hint in res.stderr, res.output


@pytest.mark.parametrize(("args", "match"), [
    (["--array", "pores"], "--array must be one of phases, particle_ids, carbon_ids, state"),
    (["--rule", "loose"], "--rule must be one of strict, cam_relay, got 'loose'"),
    (["-o", "x.zarr"], "--out x.zarr: a TIFF path must end in .tif or .tiff"),
])
def test_cli_bad_options_exit_2_before_reading_the_store(store, tmp_path, monkeypatch, args,
                                                          match):
    monkeypatch.setattr(_cli_store, "open_store", lambda s: pytest.fail("the store was read"))
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["export", str(store), "-o", "ok.tif", *args])
    assert res.exit_code == 2 and match in res.stderr, res.output
    assert "Traceback" not in res.output and list(tmp_path.iterdir()) == []


def test_cli_missing_store_exits_2(tmp_path):
    res = runner.invoke(app, ["export", str(tmp_path / "no.zarr"), "-o", str(tmp_path / "a.tif")])
    assert res.exit_code == 2 and "no microstructure store" in res.stderr
    assert not (tmp_path / "a.tif").exists()

