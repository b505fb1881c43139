"""θ on a generated structure's contact graph, shared by the pressed-mode tests."""

from __future__ import annotations

import numpy as np

from solvers import cam_utilization_graph


def theta_graph(m, rule: str = "strict") -> float:
    """Static utilization of ``m`` on its particle table's contact graph (sphere volumes)."""
    t = m.particles
    vol = 4 / 3 * np.pi * t.radius_um.astype(np.float64) ** 3
    return cam_utilization_graph(t.phase, t.contact_pairs(), touches_cc=t.touches_cc,
                                 touches_separator=t.touches_separator, volume=vol,
                                 rule=rule).static_utilization
