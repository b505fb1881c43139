"""The steps of cam_utilization, one at a time, on tiny hand-made volumes; the renamed names."""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

import solvers
import solvers.utilization
from solvers.labeling._label import label
from solvers.utilization import RULES, ParticleUtilization
from solvers.utilization._networks import network_masks, network_masks_cpu, network_masks_xp
from solvers.utilization._options import UtilizationOptions, check_utilization_args
from solvers.utilization._particle_sums import ParticleSums, particle_sums
from solvers.utilization._result import utilization_result
from solvers.utilization._rules import cam_relay, cam_relay_xp, ionic_connected

PORE, CAM, SE, C = 0, 1, 2, 3
FLAT = (False, False, False)


def test_check_utilization_args_normalizes():
    v = np.zeros((2, 3, 4), dtype=np.int16)
    opts = check_utilization_args(
        v,
        v,
        axis=np.int64(-1),
        electronic_phases=[np.int8(1)],
        ionic_phases=(2, 0),
        rule="cam_relay",
        connectivity=18,
        periodic_lateral=np.bool_(True),
        separator_contact=np.bool_(False),
        voxel_size_um=1,
    )
    assert opts == UtilizationOptions(
        axis=2,
        electronic_phases=(1,),
        ionic_phases=(2, 0),
        rule="cam_relay",
        connectivity=18,
        periodic_lateral=True,
        separator_contact=False,
        voxel_size_um=1.0,
        device="cpu",
    )
    assert opts.periodic == (True, True, False)
    assert type(opts.periodic_lateral) is bool and type(opts.electronic_phases[0]) is int
    assert check_utilization_args(v, v, periodic_lateral=False).periodic == FLAT


def test_check_utilization_args_refuses_gpu_arrays_on_cpu():
    class FakeDeviceArray:
        ndim, shape, size, dtype = 3, (2, 2, 2), 8, np.dtype(np.int32)

    with pytest.raises(TypeError, match="NumPy array for device='cpu'"):
        check_utilization_args(FakeDeviceArray(), FakeDeviceArray())


def test_network_masks_one_voxel_per_code():
    phases = np.array([PORE, CAM, SE, C], dtype=np.uint8).reshape(1, 1, 4)
    ids = np.array([0, 1, 0, 0], dtype=np.int32).reshape(1, 1, 4)
    for fn in (network_masks_cpu, network_masks_xp):
        m = fn(phases, ids, (1, 3), (2, 0), True)
        assert m.electronic.ravel().tolist() == [False, True, False, True]
        assert m.ionic.ravel().tolist() == [True, False, True, False]
        assert m.cam.ravel().tolist() == [False, True, False, False]
        assert m.max_id == 1
        assert fn(phases, ids, (1, 3), (2,), False).cam is None


def test_network_masks_paths_agree_and_check_values():
    rng = np.random.default_rng(0)
    phases = rng.integers(0, 4, (9, 8, 7)).astype(np.uint8)
    ids = np.where(phases == CAM, rng.integers(1, 50, phases.shape), 0).astype(np.int32)
    a = network_masks_cpu(phases, ids, (1, 3), (2,), True)
    b = network_masks_xp(phases, ids, (1, 3), (2,), True)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    ids[phases == SE] = 3
    for device in ("cpu", "cuda"):  # "cuda" selects the array path; NumPy arrays work there
        with pytest.raises(ValueError, match="straddling several phases"):
            network_masks(
                phases, ids, electronic_phases=(1,), ionic_phases=(2,), want_cam=False,
                device=device,
            )


def sums_of(phases, ids, wrap, device="cpu", axis=0):
    """particle_sums with the networks labelled as cam_utilization does (CPU labels)."""
    per = tuple(wrap and a != axis for a in range(3))
    elab, ne = label(np.isin(phases, (CAM, C)), periodic=per)
    ilab, ni = label(phases == SE, periodic=per)
    ehit = np.zeros(ne + 1, bool)
    ehit[np.unique(np.take(elab, 0, axis=axis))] = True
    ehit[0] = False
    ihit = np.zeros(ni + 1, bool)
    ihit[np.unique(np.take(ilab, -1, axis=axis))] = True
    ihit[0] = False
    return particle_sums(
        ids, elab, ehit, ilab, ihit, axis=axis, wrap=wrap, nid=int(ids.max()) + 1, device=device
    )


@pytest.mark.parametrize("device", ["cpu", "cuda"])  # "cuda": the bincount path, on NumPy
def test_particle_sums_count_faces(device):
    # one CAM voxel in the middle of SE: 6 faces, all with the ionic network
    phases = np.full((3, 3, 3), SE, dtype=np.uint8)
    phases[1, 1, 1] = CAM
    ids = (phases == CAM).astype(np.int32)
    s = sums_of(phases, ids, wrap=False, device=device)
    assert isinstance(s, ParticleSums)
    assert s.volume.tolist() == [0, 1]
    assert s.contact_faces.tolist() == [0, 6] and s.network_faces.tolist() == [0, 6]
    assert s.electronic.tolist() == [False, False]  # not on the collector face
    # the same voxel in a corner of the collector face: 3 faces without wrap, 5 with
    phases = np.full((3, 3, 3), SE, dtype=np.uint8)
    phases[0, 0, 0] = CAM
    ids = (phases == CAM).astype(np.int32)
    off = sums_of(phases, ids, wrap=False, device=device)
    on = sums_of(phases, ids, wrap=True, device=device)
    assert off.contact_faces.tolist() == [0, 3] and on.contact_faces.tolist() == [0, 5]
    assert off.electronic.tolist() == [False, True]
    # SE cut off from the separator: contact, but none with the ionic network
    phases[-1] = PORE
    cut = sums_of(phases, ids, wrap=True, device=device)
    assert cut.contact_faces.tolist() == [0, 5] and cut.network_faces.tolist() == [0, 0]


def chain():
    """Particles 1-2-3 touching in a row along x, only 3 with own contact; particle 4 (no
    contact) touches 3 across an edge and 1 across the periodic x face, nothing by a face."""
    phases = np.full((1, 3, 8), PORE, dtype=np.uint8)
    ids = np.zeros(phases.shape, dtype=np.int32)
    ids[0, 1, 0:2], ids[0, 1, 2:4], ids[0, 1, 4:6] = 1, 2, 3
    ids[0, 0, 6] = ids[0, 1, 7] = 4
    phases[ids > 0] = CAM
    own = np.array([False, False, False, True, False])
    return phases, ids, own


@pytest.mark.parametrize("device", ["cpu", "cuda"])  # "cuda" labels on the CPU in this test
def test_ionic_connected_rules(device):
    phases, ids, own = chain()
    kw = {"connectivity": 6, "periodic": FLAT, "device": "cpu"}
    assert ionic_connected("strict", ids, None, own, **kw) is own
    if device == "cpu":
        relay = ionic_connected("cam_relay", ids, phases == CAM, own, **kw)
    else:
        clab, nc = label(phases == CAM)
        relay = cam_relay_xp(ids, clab, nc, own) | own
    assert relay.tolist() == [False, True, True, True, False]
    # particle 4 joins the cluster across an edge (26) or across the x wrap (6, periodic)
    cam = phases == CAM
    assert cam_relay(ids, cam, own, connectivity=26, periodic=FLAT, device="cpu")[4]
    wrapped = cam_relay(ids, cam, own, connectivity=6, periodic=(True, True, True), device="cpu")
    assert not cam_relay(ids, cam, own, connectivity=6, periodic=FLAT, device="cpu")[4]
    assert wrapped[4] and not wrapped[0]


def test_ionic_connected_without_particles_is_own_contact():
    none = np.zeros((2, 2, 2), dtype=np.int32)
    own = np.zeros(1, dtype=bool)
    kw = {"connectivity": 6, "periodic": FLAT, "device": "cpu"}
    assert ionic_connected("cam_relay", none, none > 0, own, **kw) is own


def result_of(volume, electronic, contact, network, ionic=None, voxel=None):
    v = np.zeros((1, 1, 10), dtype=np.int8)
    sums = ParticleSums(
        np.array(volume), np.array(electronic), np.array(contact), np.array(network)
    )
    return utilization_result(
        sums,
        sums.network_faces > 0 if ionic is None else np.array(ionic),
        electronic_percolates=True,
        ionic_percolates=False,
        n_voxels=10,
        options=check_utilization_args(v, v, voxel_size_um=voxel),
    )


def test_utilization_result_fractions():
    # ids 1..3 (id 2 absent): 1 active (4 voxels), 3 ionic only (1 voxel)
    r = result_of([0, 4, 0, 1], [False, True, False, False], [0, 3, 0, 2], [0, 2, 0, 1])
    assert r.particles.id.tolist() == [1, 3]
    assert r.particles.active.tolist() == [True, False]
    assert (r.static_utilization, r.static_utilization_by_count) == (0.8, 0.5)
    assert (r.electronically_isolated, r.ionically_isolated, r.isolated_both) == (0.2, 0.0, 0.0)
    assert r.active_interface_area_per_volume == 0.2  # 2 faces of active CAM per 10 voxels
    assert r.cam_volume_voxels == 5 and (r.n_particles, r.n_active) == (2, 1)
    assert r.electronic_percolates and not r.ionic_percolates and r.reason == ""
    # the rule's flags are used, not the own contact
    relay = result_of([0, 4, 0, 1], [False, True, False, True], [0, 3, 0, 2], [0, 0, 0, 1],
                      ionic=[False, True, False, True])
    assert relay.particles.ionic_contact.tolist() == [False, True]
    assert relay.static_utilization == 1.0 and relay.active_interface_area_per_volume == 0.1


def test_utilization_result_units_and_no_cam():
    r = result_of([0, 2], [False, True], [0, 3], [0, 3], voxel=0.5)
    assert r.particles.volume_um3.tolist() == [0.25]
    assert r.particles.cam_se_contact_area_um2.tolist() == [0.75]
    assert r.active_interface_area_per_volume == 3 / 10 / 0.5
    empty = result_of([0], [False], [0], [0])
    assert math.isnan(empty.static_utilization) and "no CAM" in empty.reason
    assert len(empty.particles) == 0 and isinstance(empty.particles, ParticleUtilization)


def test_particle_table_is_a_deprecated_alias():
    for module in (solvers, solvers.utilization):
        with pytest.warns(DeprecationWarning, match="use .*ParticleUtilization"):
            assert module.ParticleTable is ParticleUtilization
        assert "ParticleTable" not in module.__all__
        assert "ParticleUtilization" in module.__all__
    with pytest.warns(DeprecationWarning):
        from solvers import ParticleTable  # noqa: F401
    with pytest.raises(AttributeError, match="no attribute 'ParticleTables'"):
        _ = solvers.utilization.ParticleTables


def test_rules_have_one_owner():
    assert RULES == ("strict", "cam_relay") and "RULES" in solvers.utilization.__all__
    root = pathlib.Path(solvers.__file__).parent
    owners = [p for p in root.rglob("*.py") if "RULES = " in p.read_text(encoding="utf-8")]
    assert [p.relative_to(root).as_posix() for p in owners] == ["utilization/_rules.py"]
