"""One row per CAM particle: where it sits, how large it is, what it touches and whether it is
active under each rule -- to see which particles a composition loses (the small ones? those
next to the separator?) in a spreadsheet or with pandas (``assb export STORE -o cam.csv``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CAM_TABLE_COLUMNS", "cam_particles", "state_voxels", "table_states"]

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
    ...     warnings.simplefilter("ignore")  # SE, carbon under 2 voxels at 0.5 um
    ...     m = ms.generate(spec, seed=3)
    >>> t = cam_particles(m)
    >>> theta = (t.volume_um3 * t.active_strict).sum() / t.volume_um3.sum()
    >>> import solvers
    >>> u = solvers.cam_utilization(m.phases, m.particle_ids, voxel_size_um=0.5)
    >>> bool(abs(theta - u.static_utilization) < 1e-12)
    True
    """
    import solvers
    from solvers.utilization import RULES

    periodic = bool(m.spec.domain.periodic_lateral)
    h = float(m.voxel_size_um)
    by_rule = {rule: solvers.cam_utilization(m.phases, m.particle_ids, voxel_size_um=h,
                                             rule=rule, periodic_lateral=periodic,
                                             device=device).particles
               for rule in RULES}
    s = by_rule["strict"]                    # the rule-free columns: the same under both
    ids = np.asarray(s.id, dtype=np.int64)
    table = m.particles                      # centres as built (wrapped into the box)
    order = np.argsort(table.id, kind="stable")
    pos = order[np.searchsorted(table.id, ids, sorter=order)]
    centre = np.asarray(table.center_um, dtype=np.float64)[pos]
    vol = np.asarray(s.volume_um3, dtype=np.float64)
    cols = {
        "id": ids,
        "depth_um": centre[:, 0], "y_um": centre[:, 1], "x_um": centre[:, 2],
        "diameter_um": np.cbrt(6.0 / np.pi * vol),
        "volume_um3": vol,
        "cam_se_contact_area_um2": np.asarray(s.cam_se_contact_area_um2, dtype=np.float64),
        "electronic": np.asarray(s.electronic, dtype=bool),
    }
    for rule, p in by_rule.items():
        cols[f"ionic_{rule}"] = np.asarray(p.ionic, dtype=bool)
        cols[f"active_{rule}"] = np.asarray(p.active, dtype=bool)
    return pd.DataFrame(cols)[list(CAM_TABLE_COLUMNS)]   # a column missing is a KeyError


def state_voxels(particle_ids: np.ndarray, ids: Any, active: Any, electronic: Any,
                 ionic: Any) -> np.ndarray:
    """Per-voxel CAM state from per-particle flags: 0 not CAM, 1 active, 2 electronically
    isolated, 3 ionically isolated, 4 isolated both ways (uint8; the names are
    :data:`~microstructure.studies._plots.STATE_NAMES`)."""
    active, electronic, ionic = (np.asarray(a, dtype=bool) for a in (active, electronic, ionic))
    state = np.where(active, 1, np.where(~electronic & ~ionic, 4,
                                         np.where(~electronic, 2, 3))).astype(np.uint8)
    lut = np.zeros(int(particle_ids.max()) + 1, np.uint8)
    lut[np.asarray(ids, dtype=np.int64)] = state
    return lut[particle_ids]


def table_states(table: pd.DataFrame, particle_ids: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`state_voxels` under each rule, from a :func:`cam_particles` table (no new
    utilization solve)."""
    from solvers.utilization import RULES

    return {rule: state_voxels(particle_ids, table["id"], table[f"active_{rule}"],
                               table["electronic"], table[f"ionic_{rule}"]) for rule in RULES}
