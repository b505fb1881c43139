"""The head of the plumbing tests' sweep files: the fast sequential model at coarse voxels (the
pressed default is tested in test_pressing.py), one seed, no transport.  A test file appends
its own overrides and ``[axes]``."""

PLUMBING = """
base = "default"
seeds = 1
transport = false
[overrides]
"domain.shape" = [32, 32, 32]
"domain.voxel_size_um" = 1.0
"packing.mode" = "sequential"
"""
