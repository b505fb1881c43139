"""The SE coat: SE volume the voxel skeleton could not hold, put back without new contacts."""

from __future__ import annotations

import numpy as np
import pytest

from microstructure._se_coat import coat_se
from solvers.phases import CAM, SE

NOPER = np.array([0, 0, 0], dtype=np.int8)
NONE = np.zeros((0, 2), dtype=np.int64)


def _balls(centres, r, n=(30, 30, 30), h=0.1):
    z, y, x = np.meshgrid(*[(np.arange(k) + 0.5) * h for k in n], indexing="ij")
    owner = np.zeros(n, dtype=np.int32)
    for k, c in enumerate(centres):
        owner[(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r] = k + 1
    return owner


def _near(owner, a, b, faces_only):
    """Whether a voxel of particle ``a`` is next to one of ``b`` (faces, or all 26; no wrap)."""
    owner = np.pad(owner, 1)
    pa = owner == a
    offs = [(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)
            if (i, j, k) != (0, 0, 0) and (not faces_only or abs(i) + abs(j) + abs(k) == 1)]
    return any(np.any(pa & (np.roll(owner, o, axis=(0, 1, 2)) == b)) for o in offs)


def test_the_coat_never_brings_two_se_particles_together():
    # two SE balls 0.25 um apart: a coat of either would close the gap within a few layers
    owner = _balls([(1.5, 1.5, 0.9), (1.5, 1.5, 2.15)], 0.5)
    before = owner.copy()
    got = coat_se(owner, np.array([SE, SE]), NONE, 30000, NOPER, np.random.default_rng(0))
    assert 0 < got < 30000                                  # it runs out of room, and says so
    assert np.count_nonzero(owner != before) == got
    assert np.all(before[owner != before] == 0)             # only pore voxels were taken
    assert not _near(owner, 1, 2, faces_only=False)
    assert not np.any(owner[0]) and not np.any(owner[-1])   # no new wall contact


def test_the_coat_keeps_off_a_cam_particle_it_does_not_touch_but_not_one_it_does():
    owner = _balls([(1.5, 1.5, 0.9), (1.5, 1.5, 2.15)], 0.5)
    phase = np.array([SE, CAM])
    apart = owner.copy()
    coat_se(apart, phase, NONE, 3000, NOPER, np.random.default_rng(1))
    assert not _near(apart, 1, 2, faces_only=True)          # no ionic contact drawn
    touching = owner.copy()
    coat_se(touching, phase, np.array([[1, 2]]), 3000, NOPER, np.random.default_rng(1))
    assert _near(touching, 1, 2, faces_only=True)           # the contact may thicken


@pytest.mark.parametrize("want", [1, 40, 400])
def test_the_coat_takes_what_is_asked_when_there_is_room(want):
    owner = _balls([(1.5, 1.5, 1.5)], 0.6)
    before = np.count_nonzero(owner)
    assert coat_se(owner, np.array([SE]), NONE, want, NOPER, np.random.default_rng(2)) == want
    assert np.count_nonzero(owner) == before + want
