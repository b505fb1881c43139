"""Shared pytest configuration."""

import pytest


def pytest_collection_modifyitems(config, items):
    from solvers.device import gpu_available

    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a real CUDA GPU")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture
def crowded_packing():
    """``make(seed, periodic)``: 40 random CAM/SE/carbon spheres in a 10 µm box and their contact
    graph, as ``(centers, radii, phase, graph, periodic)`` -- contacts, gaps and walls for the
    topological voxelization to resolve (CPU tests and their CUDA-simulator twins)."""

    def make(seed, periodic):
        import numpy as np

        from microstructure._contacts import contact_graph
        from microstructure._pressing import contact_pairs
        from microstructure._pressing_cpu import CpuPressKernels

        rng = np.random.default_rng(seed)
        box, per = np.array([10.0, 10.0, 10.0]), np.array(periodic)
        c = rng.uniform(0, 10, (40, 3))
        r = rng.uniform(0.8, 1.6, 40)
        ph = rng.choice(np.array([1, 2, 3], dtype=np.uint8), 40)
        pairs = contact_pairs(CpuPressKernels(), c, r, box, per)
        return c, r, ph, contact_graph(c, r, ph, pairs, box, per), per

    return make
