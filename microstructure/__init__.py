"""Virtual composite cathodes: specs, packing, voxelization, storage and import.

The generator side of the project: ``load_spec`` -> ``generate`` -> ``Microstructure`` (zarr
store via ``save`` / ``open``), ``structure_metrics``, ``import_tiff`` and ``export_tiff``.
The application (sweeps, analysis, report, the ``assb`` CLI) lives one floor up in
:mod:`microstructure.studies`; the numerics on voxel arrays in :mod:`solvers`.
"""

from solvers.phases import CAM, CARBON, PHASE_CODES, PORE, SE

from ._export import TiffExport, export_tiff
from ._generate import PackingError, generate
from ._homogeneity import Homogeneity
from ._import import import_tiff
from ._metrics import SizeDistribution, StructureMetrics, structure_metrics
from ._microstructure import STORE_FORMAT, GenerationReport, Microstructure, ParticleTable
from ._spec import (
    ElectrodeSpec,
    SpecError,
    default_spec_path,
    load_spec,
)
from ._zarr_store import StoreIntegrityError
from ._zarr_store import open_microstructure as open  # noqa: A001 - public name by design

#: The one place the version lives (pyproject.toml reads it).  Raised whenever a result changes
#: meaning -- 0.2.0: the pressed generator's hold step and CAM on the separator face counting
#: as ionically connected; 0.3.0: the fine-SE fill pressed in as grains, and SE giving way to
#: CAM where the voxelization separates them; 0.4.0: the pressed SE keeps its drawn size (its
#: volume is put back in the voxels, without new contacts), and the hold reaches films up to
#: 1.5 R_ij (``packing.se_extrusion``); 0.5.0: the fine-SE fill's grains go to crevice sites
#: of the continuum (contact rings, gaps), not to voxels picked by the grid, and SE the voxel
#: skeleton cannot hold is a coat on its own particles instead of part of the fill; 0.6.0: the
#: topological voxelization decides crossing necks and carved gaps by keys, not by visiting
#: order (a voxel gives way only to a neighbour that stays), and FIRE's step is a fused kernel
#: (same statistics, other arrays for a seed); 0.7.0: the hold's CAM–CAM pull reaches every pair
#: within ``se_extrusion R_ij`` (its own neighbour list; before, only pairs within the press
#: list's skin, under 1 µm with fine SE); 0.8.0: touching CAM/carbon share voxel faces only
#: on their contact circle (the electronic tau converges with the voxel; other arrays, the same
#: theta); 0.9.0: the electronic tau gives the faces of each CAM/carbon contact the
#: conductance of its contact circle (sub-voxel contact conductance; same arrays, carbon ids
#: stored); 0.10.0: the analysis solves transport on the bulk (``Microstructure.bulk_slice``:
#: the layers next to the collector and separator walls left out); 0.11.0: a pressed build
#: whose fraction correction does not converge keeps the attempt whose CAM and carbon are
#: closest (other arrays for those specs, mostly at coarse voxels; converged builds are
#: unchanged); 0.12.0: a phase whose radius growth gains no voxel stops growing (fine SE
#: around coarse CAM: other arrays, same fractions; converged builds are unchanged); 0.13.0:
#: the sub-voxel contact conductance weighs all the faces of a tilted contact's staircase (the
#: electronic tau; same arrays); 0.14.0: the fine SE's grains of 3 voxels and more are seated
#: in the crevices in the continuum and join the packing as SE particles (which pairs the fine
#: SE links no longer depends on the voxel; other arrays wherever such grains are drawn);
#: 0.15.0: the voxel of a hard–SE contact's spot goes to the SE particle unless the stamp gave
#: it to a hard one, and to the SE one next to a hard particle the hard one does not touch (two
#: hard necks to one grain no longer meet across a gap under a voxel, where 18- and
#: 26-connectivity joined what does not touch; other arrays); 0.16.0: the crevice fill's
#: contact areas carry the 2/3 staircase correction (as every area from voxel faces; the same
#: arrays, other areas in the particle table), and an import's SE / carbon inscribed spheres
#: are one per flat maximum with the EDT's 0.4-voxel bias put back (other imported PSDs);
#: 0.17.0: a lognormal PSD given by d10, d50 and d90 has the written d50 as its median (a
#: least-squares fit before: LPSCl 0.44/0.79/1.82 was drawn at d50 0.858, and a d50 changed
#: alone moved the PSD by a third), and a table whose cumulative starts above 0 keeps that
#: share at its first diameter (it was dropped) -- other arrays for such specs, the example's
#: among them -- so stored rows, stores and resumed sweeps can tell them apart.
__version__ = "0.17.0"

__all__ = [
    "CAM",
    "CARBON",
    "PHASE_CODES",
    "PORE",
    "STORE_FORMAT",
    "SE",
    "ElectrodeSpec",
    "GenerationReport",
    "Homogeneity",
    "Microstructure",
    "PackingError",
    "ParticleTable",
    "SizeDistribution",
    "SpecError",
    "StoreIntegrityError",
    "StructureMetrics",
    "TiffExport",
    "__version__",
    "default_spec_path",
    "export_tiff",
    "generate",
    "import_tiff",
    "load_spec",
    "open",
    "structure_metrics",
]


# Sweeps moved to ``microstructure.studies``; the old names keep working (with a
# DeprecationWarning) without making the generator import the application at start-up.
_MOVED = {"SweepError", "SweepSpec", "load_results", "load_sweep", "run_sweep"}


def __getattr__(name: str):
    if name in _MOVED:
        import warnings

        from . import studies

        warnings.warn(f"microstructure.{name} moved to microstructure.studies.{name}",
                      DeprecationWarning, stacklevel=2)
        return getattr(studies, name)
    raise AttributeError(f"module 'microstructure' has no attribute {name!r}")
