"""One row per CAM particle: where it sits, how large it is, what it touches and whether it is
active under each rule -- to see which particles a composition loses (the small ones? those
next to the separator?) in a spreadsheet or with pandas (``assb export STORE -o cam.csv``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CAM_TABLE_COLUMNS", "cam_particles"]

#: Columns of :func:`cam_particles`, with their units.
CAM_TABLE_COLUMNS = {
    "id": "particle id (the store's particle table and particle_ids array)",
    "depth_um": "centre's distance from the current collector (axis 0), µm (the particle "
                "table's centre: as pressed for a generated structure, the voxels' centroid "
                "for an import)",
    "y_um": "centre along axis 1, µm",
    "x_um": "centre along axis 2, µm",
    "diameter_um": "diameter of the sphere of the particle's voxel volume, µm",
    "volume_um3": "voxel volume, µm³",
    "cam_se_contact_area_um2": "CAM|SE contact area (voxel faces), µm²",
    "electronic": "electronically connected to the current collector",
    "ionic_strict": "own SE contact joined to the separator (strict rule)",
    "active_strict": "active under the strict rule",
    "ionic_cam_relay": "SE access, touching CAM counted (CAM-relay rule)",
    "active_cam_relay": "active under the CAM-relay rule",
}


def cam_particles(m: Any, *, device: str = "cpu") -> pd.DataFrame:
    """The CAM particles of ``m`` with their position, size, CAM|SE contact and state under
    both utilization rules (:data:`CAM_TABLE_COLUMNS`); the volume-weighted mean of
    ``active_strict`` is the strict θ.

    Examples
    --------
    >>> import warnings, microstructure as ms
    >>> from microstructure.studies import cam_particles
    >>> spec = ms.load_spec(ms.default_spec_path()).updated(
    ...     {"domain.shape": [48, 40, 40], "domain.voxel_size_um": 0.5})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")         # d10 under 2 voxels
    ...     m = ms.generate(spec, seed=3)
    >>> t = cam_particles(m)
    >>> theta = (t.volume_um3 * t.active_strict).sum() / t.volume_um3.sum()
    >>> import solvers
    >>> u = solvers.cam_utilization(m.phases, m.particle_ids, voxel_size_um=0.5)
    >>> bool(abs(theta - u.static_utilization) < 1e-12)
    True
    """
    import solvers

    periodic = bool(m.spec.domain.periodic_lateral)
    h = float(m.voxel_size_um)
    by_rule = {rule: solvers.cam_utilization(m.phases, m.particle_ids, voxel_size_um=h,
                                             rule=rule, periodic_lateral=periodic,
                                             device=device).particles
               for rule in ("strict", "cam_relay")}
    s, r = by_rule["strict"], by_rule["cam_relay"]
    ids = np.asarray(s.id, dtype=np.int64)
    table = m.particles                      # centres as built (wrapped into the box)
    order = np.argsort(table.id, kind="stable")
    pos = order[np.searchsorted(table.id, ids, sorter=order)]
    centre = np.asarray(table.center_um, dtype=np.float64)[pos]
    vol = np.asarray(s.volume_um3, dtype=np.float64)
    return pd.DataFrame({
        "id": ids,
        "depth_um": centre[:, 0], "y_um": centre[:, 1], "x_um": centre[:, 2],
        "diameter_um": np.cbrt(6.0 / np.pi * vol),
        "volume_um3": vol,
        "cam_se_contact_area_um2": np.asarray(s.cam_se_contact_area_um2, dtype=np.float64),
        "electronic": np.asarray(s.electronic, dtype=bool),
        "ionic_strict": np.asarray(s.ionic, dtype=bool),
        "active_strict": np.asarray(s.active, dtype=bool),
        "ionic_cam_relay": np.asarray(r.ionic, dtype=bool),
        "active_cam_relay": np.asarray(r.active, dtype=bool),
    }, columns=list(CAM_TABLE_COLUMNS))

