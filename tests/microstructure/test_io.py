"""zarr v3 storage: exact round trip of arrays, particle table, spec, seed and report."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

import microstructure as ms
from microstructure._microstructure import STORE_FORMAT, store_attrs
from microstructure._spec import ElectrodeSpec


@pytest.fixture(scope="module")
def structure():
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
        "packing": {"max_iter": 5000},
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


def test_repr_of_opened(stored):
    text = repr(ms.open(stored))
    assert text.startswith("Microstructure(shape=(48, 40, 40)") and "seed=11" in text
