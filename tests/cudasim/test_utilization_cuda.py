"""cam_utilization with device="cuda" in the CUDA simulator: equal to the CPU result."""

from __future__ import annotations

import math

import numpy as np
import pytest

from solvers import cam_utilization
from solvers.labeling._percolation import label_face_hits
from solvers.utilization._networks import network_masks
from solvers.utilization._particle_sums import particle_sums
from solvers.utilization._rules import cam_relay

PORE, CAM, SE, C = 0, 1, 2, 3


def composite(n=12, seed=0, phi_cam=0.4, radius=2):
    rng = np.random.default_rng(seed)
    u = rng.random((n, n, n))
    phases = np.where(u < 0.6, SE, np.where(u < 0.7, C, PORE)).astype(np.uint8)
    ids = np.zeros((n, n, n), dtype=np.int32)
    z, y, x = np.indices((n, n, n))
    k = 0
    while (ids > 0).mean() < phi_cam:
        k += 1
        c = rng.integers(0, n, 3)
        m = ((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= radius**2) & (ids == 0)
        ids[m] = k
        phases[m] = CAM
    return phases, ids


def assert_same(g, c):
    for name in (
        "static_utilization",
        "static_utilization_by_count",
        "electronically_isolated",
        "ionically_isolated",
        "isolated_both",
        "active_interface_area_per_volume",
    ):
        a, b = getattr(g, name), getattr(c, name)
        assert a == b or (math.isnan(a) and math.isnan(b)), name
    for name in ("electronic_percolates", "ionic_percolates", "n_particles", "n_active", "reason"):
        assert getattr(g, name) == getattr(c, name), name
    gd, cd = g.particles.as_dict(), c.particles.as_dict()
    assert gd.keys() == cd.keys()
    for k in cd:
        np.testing.assert_array_equal(gd[k], cd[k], err_msg=k)


@pytest.mark.parametrize(
    ("seed", "rule", "connectivity", "periodic_lateral"),
    [
        (0, "strict", 6, True),
        (1, "cam_relay", 6, True),
        (2, "cam_relay", 26, False),
        (3, "strict", 18, False),
    ],
)
def test_cuda_equals_cpu_on_random_composite(seed, rule, connectivity, periodic_lateral):
    phases, ids = composite(seed=seed)
    kw = {"rule": rule, "connectivity": connectivity, "periodic_lateral": periodic_lateral}
    c = cam_utilization(phases, ids, voxel_size_um=0.4, **kw)
    g = cam_utilization(phases, ids, voxel_size_um=0.4, device="cuda", **kw)
    assert c.n_particles > 5
    assert_same(g, c)


def test_cuda_sparse_ids_equal_cpu_dense_ids():
    phases, ids = composite(seed=4)
    sparse = np.where(ids > 0, ids.astype(np.int64) * 10**9 + 3, 0)
    c = cam_utilization(phases, ids)
    g = cam_utilization(phases, sparse, device="cuda")
    assert c.n_particles > 5 and g.static_utilization == c.static_utilization
    np.testing.assert_array_equal(g.particles.id, c.particles.id * 10**9 + 3)
    np.testing.assert_array_equal(g.particles.active, c.particles.active)


def test_cuda_relay_fixture_and_no_cam():
    shape = (10, 6, 6)
    phases = np.full(shape, PORE, dtype=np.uint8)
    phases[6:] = SE
    ids = np.zeros(shape, dtype=np.int32)
    ids[0:4, 2:4, 2:4] = 1
    ids[4:7, 2:4, 2:4] = 2
    phases[ids > 0] = CAM
    strict = cam_utilization(phases, ids, device="cuda")
    relay = cam_utilization(phases, ids, rule="cam_relay", device="cuda")
    assert strict.particles.active.tolist() == [False, True]
    assert relay.particles.active.tolist() == [True, True]
    assert_same(strict, cam_utilization(phases, ids))
    empty = cam_utilization(
        np.full((4, 4, 4), SE, np.uint8), np.zeros((4, 4, 4), np.int32), device="cuda"
    )
    assert math.isnan(empty.static_utilization) and "no CAM" in empty.reason


def test_cuda_bad_input():
    phases, ids = composite(n=6, seed=4)
    ids[phases == SE] = 1
    with pytest.raises(ValueError, match="straddling several phases"):
        cam_utilization(phases, ids, device="cuda")


def test_cuda_steps_equal_cpu_steps():
    phases, ids = composite(n=10, seed=5)
    per = (False, True, True)
    out = {}
    for device in ("cpu", "cuda"):
        m = network_masks(phases, ids, electronic_phases=(1, 3), ionic_phases=(2,),
                          want_cam=True, device=device)
        kw = {"axis": 0, "connectivity": 6, "periodic": per, "device": device}
        e, i = label_face_hits(m.electronic, **kw), label_face_hits(m.ionic, **kw)
        s = particle_sums(ids, e.labels, e.first, i.labels, i.last, axis=0, wrap=True,
                          nid=m.max_id + 1, device=device)
        relay = cam_relay(ids, m.cam, s.network_faces > 0, connectivity=6, periodic=per,
                          device=device)
        # per-voxel flags: labels may differ (raw on the CPU), the components may not
        flags = [np.asarray(h.first[h.labels]) for h in (e, i)]
        flags += [np.asarray(h.last[h.labels]) for h in (e, i)]
        out[device] = (m, flags, (e.spans(), i.spans()), s, relay)
    (mc, fc, pc, sc, rc), (mg, fg, pg, sg, rg) = out["cpu"], out["cuda"]
    for a, b in zip(mc, mg, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fc + list(sc) + [rc], fg + list(sg) + [rg], strict=True):
        np.testing.assert_array_equal(a, b)
    assert pc == pg and rc.sum() > 0
