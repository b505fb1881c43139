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
