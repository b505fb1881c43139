"""The application: parameter sweeps, analysis of a structure, the report and the ``assb`` CLI.

Built on the generator (:mod:`microstructure`) and the solvers (:mod:`solvers`); nothing below
imports from here.

* :func:`run_sweep` / :func:`load_sweep` -- many specs x seeds through the whole pipeline,
  one flat row per point and seed (columns in :mod:`microstructure.studies.rows`);
* :func:`load_results` -- a results directory as a pandas DataFrame (a row file that is
  not a row of its sweep: :class:`DamagedFileError`);
* :func:`analyze` -- utilization, structure metrics and transport of one structure;
* :func:`cam_particles` -- one row per CAM particle: position, size, SE contact, state;
* :func:`rank_compositions` -- which point carries the most CAM within θ / ionic-τ targets;
* :func:`write_report` -- PNG figures and one self-contained HTML page;
* :func:`resolution_study` -- one composition at its voxel and finer ones: do θ and τ stay put?
"""

from ._analysis import analyze
from ._cam_table import cam_particles
from ._resolution import ResolutionLevel, ResolutionStudy, resolution_study
from ._select import rank_compositions
from ._store import DamagedFileError, load_results
from ._sweep import run_sweep
from ._sweep_spec import SweepError, SweepSpec, load_sweep
from .report import write_report

__all__ = [
    "DamagedFileError",
    "ResolutionLevel",
    "ResolutionStudy",
    "SweepError",
    "SweepSpec",
    "analyze",
    "cam_particles",
    "load_results",
    "load_sweep",
    "rank_compositions",
    "resolution_study",
    "run_sweep",
    "write_report",
]
