"""Virtual composite cathodes: specs, packing, voxelization, storage, sweeps."""

from ._generate import PackingError, generate
from ._import import import_tiff
from ._metrics import SizeDistribution, StructureMetrics, structure_metrics
from ._microstructure import GenerationReport, Microstructure, ParticleTable
from ._microstructure import open_microstructure as open  # noqa: A001 - public name by design
from ._spec import (
    CAM,
    CARBON,
    PHASE_CODES,
    PORE,
    SE,
    ElectrodeSpec,
    SpecError,
    default_spec_path,
    load_spec,
)
from ._sweep import SweepError, SweepSpec, load_sweep, run_sweep
from ._sweep_store import load_results

__version__ = "0.1.0"

__all__ = [
    "CAM",
    "CARBON",
    "PHASE_CODES",
    "PORE",
    "SE",
    "ElectrodeSpec",
    "GenerationReport",
    "Microstructure",
    "PackingError",
    "ParticleTable",
    "SizeDistribution",
    "SpecError",
    "StructureMetrics",
    "SweepError",
    "SweepSpec",
    "__version__",
    "default_spec_path",
    "generate",
    "import_tiff",
    "load_results",
    "load_spec",
    "load_sweep",
    "open",
    "run_sweep",
    "structure_metrics",
]
