"""The whole GPU generator pipeline (glue + numba-cuda kernels) in the CUDA simulator vs CPU."""

import warnings

import numpy as np
import pytest

import microstructure as ms
from microstructure._contacts import voxelize_topological
from microstructure._packing import CpuKernels, pack_dense
from microstructure._packing_cuda import CudaKernels
from microstructure._voxelize import clearance, stamp_hard, stamp_soft


def _small_spec(**changes):
    spec = ms.load_spec(ms.default_spec_path()).updated({
        "domain.shape": [24, 20, 20], "domain.voxel_size_um": 1.0,
        "phases.cam.psd": {"kind": "lognormal", "d50_um": 5.0, "d90_um": 7.0},
        "phases.se.psd": {"kind": "lognormal", "d50_um": 2.0, "d90_um": 3.0},
        "phases.carbon.psd": {"kind": "lognormal", "d50_um": 1.5, "d90_um": 2.0},
    })
    return spec.updated(changes) if changes else spec


def _generate(spec, device):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ms.generate(spec, seed=4, device=device)


def test_generate_cuda_simulated_equals_cpu():
    # the sequential pipeline (the pressed one: test_pressed_generate_cuda_simulated_equals_cpu)
    spec = _small_spec(**{"packing.mode": "sequential"})
    cpu = _generate(spec, "cpu")
    gpu = _generate(spec, "cuda")
    assert gpu.report.device == "cuda"
    np.testing.assert_allclose(gpu.particles.center_um, cpu.particles.center_um, atol=1e-5)
    assert np.array_equal(gpu.particle_ids, cpu.particle_ids)
    assert np.array_equal(gpu.phases, cpu.phases)
    for phase, target in gpu.report.target.items():
        assert abs(gpu.report.achieved[phase] - target) <= 0.005


def test_relaxation_kernels_match_cpu():
    rng = np.random.default_rng(0)
    radii = rng.uniform(1.0, 2.0, 40)
    box = np.array([12.0, 12.0, 12.0])
    periodic = np.array([0, 1, 1])
    a = pack_dense(radii, box, periodic, rng=np.random.default_rng(1), overlap_target=1e-3,
                   max_iter=400, kern=CpuKernels())
    b = pack_dense(radii, box, periodic, rng=np.random.default_rng(1), overlap_target=1e-3,
                   max_iter=400, kern=CudaKernels())
    assert a.iterations == b.iterations
    np.testing.assert_allclose(b.centers, a.centers, atol=1e-9)
    assert b.overlap_fraction == pytest.approx(a.overlap_fraction, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("periodic", [(0, 1, 1), (0, 0, 0)])
def test_voxel_kernels_match_cpu(periodic):
    rng = np.random.default_rng(2)
    shape = (14, 12, 12)
    centers = rng.uniform(0, 12, (12, 3))
    radii = rng.uniform(1.0, 3.0, 12)
    per = np.array(periodic)
    cpu, gpu = CpuKernels(), CudaKernels()
    ids_c = stamp_hard(cpu, centers, radii, shape, 1.0, per)
    ids_g = stamp_hard(gpu, centers, radii, shape, 1.0, per)
    assert np.array_equal(ids_c, ids_g)
    assert set(np.unique(ids_c)) <= set(range(13))
    cl_c = clearance(cpu, centers, radii, shape, 1.0, per, 2.0)
    cl_g = clearance(gpu, centers, radii, shape, 1.0, per, 2.0)
    np.testing.assert_array_equal(cl_c, cl_g)
    ph_c = np.where(ids_c > 0, 1, 0).astype(np.uint8)
    ph_g = ph_c.copy()
    soft_c = rng.uniform(0, 12, (20, 3))
    soft_r = rng.uniform(0.5, 1.5, 20)
    stamp_soft(cpu, ph_c, soft_c, soft_r, 1.0, per, 2)
    stamp_soft(gpu, ph_g, soft_c, soft_r, 1.0, per, 2)
    assert np.array_equal(ph_c, ph_g)
    assert (ph_c == 2).any() and ((ph_c == 1) == (ids_c > 0)).all()


@pytest.mark.parametrize("periodic", [(0, 1, 1), (0, 0, 0)])
def test_topological_voxelization_matches_cpu(periodic, crowded_packing):
    # stamp, necks (contacts and walls) and carve on the device give the CPU's owners and counts
    c, r, ph, g, per = crowded_packing(5, periodic)
    cpu, topo_c = voxelize_topological(c, r, ph, g, (20, 20, 20), 0.5, per)
    gpu, topo_g = voxelize_topological(c, r, ph, g, (20, 20, 20), 0.5, per, kern=CudaKernels())
    assert np.array_equal(gpu, cpu)
    assert topo_g == topo_c
    assert topo_c.neck_voxels > 0 and topo_c.carved_voxels > 0 and g.touches_cc.any()


def test_se_grain_between_two_hard_particles_matches_cpu():
    # the necks' stranger rule (spot voxel and the voxels after it left to the grain) on the
    # device: two CAM spheres 0.05 um apart, a grain in the gap (tests/microstructure:
    # test_an_se_grain_in_a_gap_under_a_voxel_keeps_two_hard_particles_apart)
    from microstructure._contacts import contact_graph
    from microstructure._pressing import contact_pairs
    from microstructure._pressing_cpu import CpuPressKernels

    box, per = np.array([6.0, 6.0, 10.0]), np.array([0, 1, 1])
    c = np.array([[3.0, 3.0, 2.975], [3.0, 3.0, 7.025], [3.0, 3.06, 5.0]])
    r = np.array([2.0, 2.0, 0.6])
    ph = np.array([1, 1, 2], dtype=np.uint8)
    g = contact_graph(c, r, ph, contact_pairs(CpuPressKernels(), c, r, box, per), box, per)
    cpu, topo_c = voxelize_topological(c, r, ph, g, (24, 24, 40), 0.25, per)
    gpu, topo_g = voxelize_topological(c, r, ph, g, (24, 24, 40), 0.25, per, kern=CudaKernels())
    assert np.array_equal(gpu, cpu)
    assert topo_g == topo_c and topo_c.unresolved_gaps == 0
    assert len(g) == 2 and (cpu == 3).any()


def test_pressed_grains_cuda_simulated_equals_cpu():
    # the fine SE's resolved grains (under 2.5 um, at least 1.5 um = 3 voxels) seated on the
    # host join the packing the device voxelizes: the same arrays on both
    spec = _small_spec(**{"packing.mode": "pressed", "packing.compaction_steps": 2,
                          "packing.compaction_iter": 40, "packing.max_cam_overlap": 0.05,
                          "packing.se_fill_ratio": 0.5, "phases.carbon.fraction": 0,
                          "domain.shape": [24, 20, 20], "domain.voxel_size_um": 0.5,
                          "composition.porosity": 0.25,
                          "phases.se.psd": {"kind": "lognormal", "d50_um": 3.0, "d90_um": 5.0}})
    cpu = _generate(spec, "cpu")
    gpu = _generate(spec, "cuda")
    assert cpu.report.topology["se_grains"] > 0
    assert gpu.report.topology == cpu.report.topology
    np.testing.assert_allclose(gpu.particles.center_um, cpu.particles.center_um, atol=1e-5)
    np.testing.assert_array_equal(gpu.particles.contact_pairs(), cpu.particles.contact_pairs())
    assert np.array_equal(gpu.phases, cpu.phases)


def test_pressed_generate_cuda_simulated_equals_cpu():
    # 50 particles (4 CAM, 36 SE, 10 carbon) with every kind of contact, CAM-CAM included, and
    # the hold: the simulator runs each kernel thread in Python, so the box is kept small
    spec = _small_spec(**{"packing.mode": "pressed", "packing.compaction_steps": 2,
                          "packing.compaction_iter": 40, "packing.max_cam_overlap": 0.05,
                          "domain.shape": [24, 20, 20], "domain.voxel_size_um": 0.5,
                          "phases.carbon.fraction": 3,
                          "composition.porosity": 0.3,
                          "phases.se.psd": {"kind": "lognormal", "d50_um": 3.0, "d90_um": 4.0},
                          "phases.carbon.psd": {"kind": "lognormal", "d50_um": 2.0,
                                                "d90_um": 2.5}})
    cpu = _generate(spec, "cpu")
    gpu = _generate(spec, "cuda")
    assert gpu.report.device == "cuda"
    np.testing.assert_allclose(gpu.particles.center_um, cpu.particles.center_um, atol=1e-5)
    assert np.array_equal(gpu.particles.contact_i, cpu.particles.contact_i)
    assert np.array_equal(gpu.particles.contact_j, cpu.particles.contact_j)
    assert np.array_equal(gpu.phases, cpu.phases)
    assert np.array_equal(gpu.particle_ids, cpu.particle_ids)
    assert cpu.carbon_ids is not None and np.array_equal(gpu.carbon_ids, cpu.carbon_ids)
    assert gpu.report.compaction_porosity == cpu.report.compaction_porosity
    assert gpu.report.hold_load == cpu.report.hold_load == 1.0  # the hold ran on both
    p = cpu.particles
    pair_phases = np.sort(p.phase[p.contact_pairs()], axis=1)
    assert {(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)} <= set(map(tuple, pair_phases.tolist()))
