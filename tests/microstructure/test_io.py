"""zarr v3 storage: exact round trip of arrays, particle table, spec, seed and report."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

import microstructure as ms
from microstructure import STORE_FORMAT
from microstructure._spec import ElectrodeSpec
from microstructure._zarr_store import AXIS_CONVENTION, store_attrs


@pytest.fixture(scope="module")
def structure():
    # plumbing test: the fast sequential model at coarse voxels; the pressed default is tested
    # in test_pressing.py
    spec = ElectrodeSpec.from_dict({
        "domain": {"shape": [48, 40, 40], "voxel_size_um": 0.5},
        "composition": {"basis": "weight", "porosity": 0.15},
        "phases": {
            "cam": {"material": "NCM82", "density_g_cm3": 4.75, "fraction": 70,
                    "psd": {"kind": "lognormal", "d10_um": 1.7, "d50_um": 3.3, "d90_um": 6.1}},
            "se": {"material": "Li6PS5Cl", "density_g_cm3": 1.64, "fraction": 30,
                   "psd": {"kind": "lognormal", "d50_um": 2.0, "d90_um": 3.0},
                   "ionic_conductivity_S_cm": 4e-3},
            "carbon": {"material": "C65", "density_g_cm3": 1.96, "fraction": 1,
                       "psd": {"kind": "table", "diameters_um": [1.0, 1.4, 2.0],
                               "cumulative": [0.0, 0.6, 1.0]}},
        },
        "packing": {"max_iter": 5000, "mode": "sequential"},
    })
    return ms.generate(spec, seed=11)


@pytest.fixture(scope="module")
def stored(structure, tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "m.zarr"
    structure.save(path)
    return path


def test_round_trip_arrays_exact(structure, stored):
    back = ms.open(stored)
    for name in ("phases", "particle_ids"):
        a, b = getattr(structure, name), getattr(back, name)
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(b, a)
    assert back.phases.dtype == np.uint8 and back.particle_ids.dtype == np.int32


def test_round_trip_particle_table_exact(structure, stored):
    back = ms.open(stored).particles
    for name in ("id", "phase", "center_um", "radius_um"):
        a, b = getattr(structure.particles, name), getattr(back, name)
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(b, a)
    assert back.counts() == structure.particles.counts()
    assert back.counts()["carbon"] > 0


def test_round_trip_spec_seed_report(structure, stored):
    back = ms.open(stored)
    assert back.spec == structure.spec
    assert back.spec.phases.carbon.psd.kind == "table"
    assert back.spec.phases.se.ionic_conductivity_S_cm == 4e-3
    assert back.seed == 11 and isinstance(back.seed, int)
    assert back.voxel_size_um == structure.voxel_size_um
    assert asdict(back.report) == asdict(structure.report)
    assert back.report.warnings == structure.report.warnings


def test_metadata_in_attrs(structure, stored):
    attrs = store_attrs(stored)
    assert attrs["format"] == STORE_FORMAT
    assert attrs["package_version"] == ms.__version__
    assert attrs["seed"] == 11
    assert attrs["phase_codes"] == {"pore": 0, "cam": 1, "se": 2, "carbon": 3}
    assert ElectrodeSpec.from_dict(attrs["spec"]) == structure.spec
    json.dumps(attrs)  # plain JSON


def test_store_is_zarr_v3_chunked_and_compressed(stored):
    import zarr

    root = zarr.open_group(str(stored), mode="r")
    assert root.metadata.zarr_format == 3
    arr = root["phases"]
    assert arr.chunks == (48, 40, 40) or all(c <= 64 for c in arr.chunks)
    assert len(arr.compressors) >= 1
    meta = json.loads((stored / "phases" / "zarr.json").read_text())
    assert meta["dimension_names"] == ["z", "y", "x"]


def test_overwrite_and_refuse(structure, tmp_path):
    path = tmp_path / "m.zarr"
    structure.save(path)
    structure.save(path)  # overwrite=True by default
    np.testing.assert_array_equal(ms.open(path).phases, structure.phases)
    with pytest.raises(Exception):  # noqa: B017 - zarr's own "already exists" error
        structure.save(path, overwrite=False)


def test_save_through_a_symbolic_link_writes_the_store_it_points_to(structure, tmp_path):
    """Saving to a link used to put a new directory in place of the link (the real store kept
    its old contents) and leave a temporary link no one could remove."""
    import dataclasses
    import os

    real, link = tmp_path / "real.zarr", tmp_path / "link.zarr"
    structure.save(real)
    os.symlink(real, link)
    other = dataclasses.replace(structure, seed=99)
    other.save(link)
    assert link.is_symlink() and ms.open(real).seed == 99
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.zarr", "real.zarr"]


def test_open_missing_store(tmp_path):
    with pytest.raises(FileNotFoundError, match="no microstructure store"):
        ms.open(tmp_path / "nothing.zarr")


def test_open_non_store_directory(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("not zarr")
    with pytest.raises(FileNotFoundError):
        ms.open(tmp_path / "plain")


def test_open_foreign_zarr_group(tmp_path):
    import zarr

    path = tmp_path / "other.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    root.attrs["format"] = "someone-else/1"
    with pytest.raises(ValueError, match="not an assb-microstructure store"):
        ms.open(path)
    # one of ours in a format this version does not read: named as such, with its writer
    root.attrs.update({"format": "assb-microstructure/2", "package_version": "9.0.0"})
    with pytest.raises(ValueError, match=r"an assb-microstructure store of another format "
                       r"\('assb-microstructure/2', written by version '9.0.0'\)"):
        ms.open(path)


def test_repr_of_opened(stored):
    text = repr(ms.open(stored))
    assert text.startswith("Microstructure(shape=(48, 40, 40)") and "seed=11" in text


# ---------------------------------------------------------------------------------------------
# save never empties a directory it did not write (issue 12, case 4)


def test_save_refuses_a_directory_holding_other_files(structure, tmp_path):
    target = tmp_path / "results"
    target.mkdir()
    (target / "thesis.txt").write_text("four years of work")
    for overwrite in (True, False):
        with pytest.raises(FileExistsError, match="not an assb store; refusing"):
            structure.save(target, overwrite=overwrite)
    assert (target / "thesis.txt").read_text() == "four years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]   # no temporary left


def test_save_refuses_a_file_and_a_path_below_a_file(structure, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileExistsError, match="not a directory"):
        structure.save(tmp_path / "f")
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        structure.save(tmp_path / "f" / "m.zarr")
    assert (tmp_path / "f").read_text() == "x"


def test_save_into_an_empty_directory_and_replace_leaves_nothing_behind(structure, tmp_path):
    target = tmp_path / "m.zarr"
    target.mkdir()
    structure.save(target)
    structure.save(target)                       # replaces the store
    np.testing.assert_array_equal(ms.open(target).phases, structure.phases)
    assert [p.name for p in tmp_path.iterdir()] == ["m.zarr"]


def test_save_removes_the_leftovers_of_a_killed_save(structure, tmp_path):
    dead = tmp_path / ".m.zarr.tmp-999999999-abcd0123"     # no such process
    (dead / "phases").mkdir(parents=True)
    structure.save(tmp_path / "m.zarr")
    assert not dead.exists()


# ---------------------------------------------------------------------------------------------
# integrity on open (issue 12, case 2): missing or damaged data is an error, never pore


@pytest.fixture
def chunked(structure, tmp_path, monkeypatch):
    """The structure saved with 16-voxel chunks (3 x 3 x 3 chunks per voxel array)."""
    from microstructure import _zarr_store

    monkeypatch.setattr(_zarr_store, "_CHUNKS", 16)
    return structure.save(tmp_path / "m.zarr")


def test_integrity_record_written_on_save(structure, chunked):
    rec = store_attrs(chunked)["integrity"]
    assert rec["algorithm"] == "sha256"
    assert rec["arrays"]["phases"]["shape"] == [48, 40, 40]
    assert np.dtype(rec["arrays"]["particle_ids"]["dtype"]) == np.int32
    assert set(rec["arrays"]) == {"phases", "particle_ids", "particles/id", "particles/phase",
                                  "particles/center_um", "particles/radius_um"}
    # every chunk is written, also the all-zero ones
    assert len(list((chunked / "particle_ids" / "c").rglob("*"))) >= 27


def test_missing_phases_chunk_is_an_error_not_pore(chunked):
    (chunked / "phases" / "c" / "1" / "1" / "1").unlink()
    with pytest.raises(ms.StoreIntegrityError) as info:
        ms.open(chunked)
    msg = str(info.value)
    assert str(chunked) in msg and "'phases'" in msg and "missing 1 of 27 chunks" in msg
    assert "c/1/1/1" in msg


def test_corrupt_chunk_is_an_error(chunked):
    chunk = chunked / "particle_ids" / "c" / "0" / "0" / "0"
    chunk.write_bytes(b"\x00garbage" * 8)
    with pytest.raises(ms.StoreIntegrityError, match="'particle_ids' has an unreadable chunk"):
        ms.open(chunked)


def test_changed_data_fails_the_checksum(chunked):
    import zarr

    arr = zarr.open_array(str(chunked / "phases"), mode="r+")
    block = arr[0:16, 0:16, 0:16]
    arr[0:16, 0:16, 0:16] = np.where(block == 2, 0, block)     # SE -> pore in one chunk
    with pytest.raises(ms.StoreIntegrityError, match="'phases' differs from the checksum"):
        ms.open(chunked)


def test_missing_array_and_changed_shape_are_errors(structure, tmp_path):
    import shutil

    a = structure.save(tmp_path / "a.zarr")
    shutil.rmtree(a / "particles" / "radius_um")
    with pytest.raises(ms.StoreIntegrityError, match="'particles/radius_um' is missing"):
        ms.open(a)
    b = structure.save(tmp_path / "b.zarr")
    meta = json.loads((b / "particle_ids" / "zarr.json").read_text())
    meta["shape"] = [48, 40, 39]
    (b / "particle_ids" / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(ms.StoreIntegrityError, match=r"recorded on save: \[48, 40, 40\]"):
        ms.open(b)


def test_truncated_metadata_is_an_error(structure, tmp_path):
    p = structure.save(tmp_path / "m.zarr")
    text = (p / "zarr.json").read_text()
    (p / "zarr.json").write_text(text[: len(text) // 2])
    with pytest.raises(ms.StoreIntegrityError, match="cannot read its metadata"):
        ms.open(p)


def _edit_attrs(structure, path, redigest=True, **changes):
    """Save, then edit the store's attributes; ``redigest``: and its metadata digest, as a
    writer would that made the edit on purpose (so the checks behind the digest are hit)."""
    from microstructure._store_checks import attributes_digest

    p = structure.save(path)
    meta = json.loads((p / "zarr.json").read_text())
    for key, value in changes.items():
        if value is None:
            del meta["attributes"][key]
        else:
            meta["attributes"][key] = value
    if redigest and meta["attributes"].get("integrity") is not None:
        meta["attributes"]["integrity"]["attributes"] = attributes_digest(meta["attributes"])
    (p / "zarr.json").write_text(json.dumps(meta))
    return p


@pytest.mark.parametrize("changes", [
    {"seed": 7}, {"voxel_size_um": 0.25}, {"package_version": "0.1.3"},
    {"spec": None}, {"generation": None},
])
def test_edited_metadata_does_not_match_its_digest(structure, tmp_path, changes):
    """The seed, the spec or the voxel size (with the spec's) edited in zarr.json opened without
    a word: the arrays' checksums did not cover what gives them their meaning."""
    p = _edit_attrs(structure, tmp_path / "m.zarr", redigest=False, **changes)
    if "voxel_size_um" in changes:   # both voxel records, so that they agree
        meta = json.loads((p / "zarr.json").read_text())
        meta["attributes"]["spec"]["domain"]["voxel_size_um"] = 0.25
        (p / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(ms.StoreIntegrityError, match="its metadata in zarr.json .* is not the "
                       "one written with its arrays"):
        ms.open(p)
    q = _edit_attrs(structure, tmp_path / "q.zarr", redigest=False)
    meta = json.loads((q / "zarr.json").read_text())
    del meta["attributes"]["integrity"]["attributes"]  # a 0.18 store without its digest
    meta["attributes"]["package_version"] = "0.18.0"
    (q / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(ms.StoreIntegrityError, match="has no digest of its metadata"):
        ms.open(q)
    meta["attributes"]["package_version"] = "0.17.0"  # written before the digest: read
    (q / "zarr.json").write_text(json.dumps(meta))
    assert ms.open(q).seed == structure.seed


@pytest.mark.parametrize("changes, match", [
    ({"voxel_size_um": 0.0}, "voxel_size_um must be a finite number > 0"),
    ({"voxel_size_um": 0.25}, "voxel_size_um is 0.25 µm but spec.domain.voxel_size_um is 0.5"),
    ({"phase_codes": {"pore": 0, "cam": 2, "se": 1, "carbon": 3}}, "phase_codes"),
    ({"phase_codes": None}, "phase_codes None"),
    ({"axis_convention": "axis 0 through-plane; index 0 = separator"}, "axis_convention"),
    ({"integrity": None}, "no integrity record"),
])
def test_damaged_metadata_is_an_error_not_a_value(structure, tmp_path, changes, match):
    # the checksums cover the arrays; what the attributes say is checked against the spec and
    # the package's conventions, never taken as it stands
    p = _edit_attrs(structure, tmp_path / "m.zarr", **changes)
    with pytest.raises(ms.StoreIntegrityError, match=match):
        ms.open(p)


def test_a_microstructure_refuses_a_voxel_or_shape_its_spec_does_not_have(structure):
    from dataclasses import replace

    with pytest.raises(ValueError, match="voxel_size_um is 0.25 µm but spec"):
        replace(structure, voxel_size_um=0.25)
    with pytest.raises(ValueError, match="must be a finite number > 0"):
        replace(structure, voxel_size_um=float("nan"))
    with pytest.raises(ValueError, match=r"phases has shape \(47, 40, 40\) but spec"):
        replace(structure, phases=structure.phases[1:], particle_ids=structure.particle_ids[1:])
    with pytest.raises(ValueError, match=r"particle_ids has shape \(47, 40, 40\)"):
        replace(structure, particle_ids=structure.particle_ids[1:])


def _save_old_format(m, path):
    """A store as the writer before integrity records wrote it: no checksum, and zarr's
    default of not writing chunks that are all zero."""
    import zarr

    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    for name in ("phases", "particle_ids"):
        root.create_array(name, data=getattr(m, name), chunks=(16, 16, 16))
    p = root.create_group("particles")
    for name in ("id", "phase", "center_um", "radius_um"):
        a = getattr(m.particles, name)
        p.create_array(name, data=a, chunks=a.shape)
    root.attrs.update({"format": STORE_FORMAT, "spec": m.spec.model_dump(mode="json",
                                                                          exclude_none=True),
                       "seed": m.seed, "voxel_size_um": m.voxel_size_um,
                       "package_version": "0.1.0", "phase_codes": dict(ms.PHASE_CODES),
                       "axis_convention": AXIS_CONVENTION,
                       "generation": m.report.to_dict()})
    return path


def test_old_store_without_checksum_still_opens(structure, tmp_path):
    # a block with no CAM: the old writer left its particle_ids chunk out
    ph = structure.phases.copy()
    ids = structure.particle_ids.copy()
    ph[32:, 32:, 32:] = np.where(ph[32:, 32:, 32:] == ms.CAM, ms.SE, ph[32:, 32:, 32:])
    ids[32:, 32:, 32:] = 0
    from dataclasses import replace

    old = _save_old_format(replace(structure, phases=ph, particle_ids=ids), tmp_path / "o.zarr")
    assert not (old / "particle_ids" / "c" / "2" / "2" / "2").exists()
    back = ms.open(old)
    np.testing.assert_array_equal(back.particle_ids, ids)
    assert "integrity" not in store_attrs(old)


def test_old_store_with_a_lost_chunk_is_an_error(structure, tmp_path):
    old = _save_old_format(structure, tmp_path / "o.zarr")
    (old / "phases" / "c" / "1" / "0" / "1").unlink()
    with pytest.raises(ms.StoreIntegrityError, match="no checksum"):
        ms.open(old)
    old2 = _save_old_format(structure, tmp_path / "o2.zarr")
    cam_chunk = next(k for k in np.ndindex(3, 3, 3)
                     if (structure.particle_ids[tuple(slice(16 * i, 16 * i + 16)
                                                      for i in k)] > 0).any())
    (old2 / "particle_ids" / "c" / "/".join(map(str, cam_chunk))).unlink()
    with pytest.raises(ms.StoreIntegrityError, match="'particle_ids' is missing 1 of 27"):
        ms.open(old2)


# ---------------------------------------------------------------------------------------------
# crash safety of save: a full disk, a SIGKILL


def test_full_disk_during_save_leaves_the_old_store(structure, tmp_path, monkeypatch):
    import errno

    from microstructure import _zarr_store

    path = structure.save(tmp_path / "m.zarr")
    before = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}

    def full(root):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_zarr_store, "_fsync_tree", full)
    with pytest.raises(OSError, match="No space left"):
        structure.save(path)
    after = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.zarr"]      # temporary removed
    monkeypatch.undo()
    ms.open(path)


_SAVER = """
import sys, warnings
warnings.simplefilter("ignore")
import microstructure as ms
# plumbing test: the fast sequential model at coarse voxels (pressed is tested in test_pressing.py)
spec = ms.load_spec(ms.default_spec_path()).updated(
    {"domain.shape": [32, 32, 32], "domain.voxel_size_um": 1.0, "packing.mode": "sequential"})
m = ms.generate(spec, seed=0)
m.save(sys.argv[1])
print("ready", flush=True)
while True:
    m.save(sys.argv[1])
"""


@pytest.mark.slow
def test_sigkill_during_save_leaves_a_valid_store(tmp_path):
    """Kill a process that replaces a store in a loop: the store always opens whole."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    path = tmp_path / "m.zarr"
    for delay in (0.05, 0.21, 0.43):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], cwd=root,
                                stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(root)})
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proc.stdout.close()
        m = ms.open(path)                                  # integrity checked
        assert m.shape == (32, 32, 32)
    # the next save clears what the killed ones left
    m.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.zarr"]
