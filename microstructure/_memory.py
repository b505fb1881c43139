"""Memory estimates of the generator and of a sweep point from an electrode spec.

The byte counts and their calibration live in :mod:`solvers.memory`; this module turns a spec
into the numbers they need: the voxel shape and the expected particle count.
"""

from __future__ import annotations

import dataclasses
import math

from solvers.memory import MemoryEstimate
from solvers.memory import estimate_generate as _estimate_generate
from solvers.memory import estimate_sweep_point as _estimate_sweep_point

from ._spec import ElectrodeSpec

__all__ = ["estimate_generate", "estimate_import", "estimate_sweep_point", "expected_particles"]


def expected_particles(spec: ElectrodeSpec) -> float:
    """``sum_i V_i / E[v_i]``: each solid phase's target volume (µm³) over the number-mean
    volume of its particles (from its PSD) -- the particles a packing without overlap needs.

    Examples
    --------
    >>> import microstructure as ms
    >>> spec = ms.load_spec(ms.default_spec_path()).updated({"domain.shape": [64, 64, 64]})
    >>> f"{expected_particles(spec):.2g}"
    '2.6e+04'
    """
    box = math.prod(float(v) for v in spec.box_um())
    target = spec.target_fractions()
    return float(sum(target[name] * box / phase.psd.sampler().mean_volume()
                     for name, phase in spec.present_phases().items()))


#: ``packing.mode = "pressed"``: bytes per voxel on top of the generator's estimate for the
#: topological voxelization and the crevice fill (gap widths, the gaps between particles that a
#: grain can bridge, fill labels, the SE coat's mask).  Calibrated on the example composition:
#: 128³ peaked at 76.5 MiB against 82.8 MiB estimated without it; 256³ at 831 MB
#: (``bench_generate``, version 0.5.0: the fill's gap search pads its pair rows) against
#: 806 MiB with 16 B, so 24 B (934 MiB, 1.18 x; 130.8 MiB at 128³, 1.7 x).
PRESSED_BYTES_PER_VOXEL = 24


def _pressed(est: MemoryEstimate, spec: ElectrodeSpec) -> MemoryEstimate:
    if spec.packing.mode != "pressed":
        return est
    extra = PRESSED_BYTES_PER_VOXEL * math.prod(int(s) for s in spec.domain.shape)
    return dataclasses.replace(est, host_bytes=est.host_bytes + extra,
                               formula=f"{est.formula} + {PRESSED_BYTES_PER_VOXEL} B x voxels "
                               "(pressed: topology and crevice fill, on the host)")


#: Peak bytes per voxel of ``import_tiff`` once the stack is read: the phases, the CAM ids, the
#: CAM's distance map, markers and watershed, and the SE's and carbon's inscribed spheres (a
#: distance map each).  Measured on the example composition's 200 x 128 x 128 structure as a
#: stack: 87 B at 3.3 million voxels, 70 B at 13.1 million (tiled 2 x 2), so 96 B.
IMPORT_BYTES_PER_VOXEL = 96


def estimate_import(shape: tuple[int, ...]) -> MemoryEstimate:
    """Peak memory of ``import_tiff`` on a stack of ``shape`` (on the host).

    Examples
    --------
    >>> estimate_import((512, 512, 512))
    MemoryEstimate(import, shape=(512, 512, 512), host 12.88 GB)
    """
    nvox = math.prod(int(s) for s in shape)
    return MemoryEstimate("import", tuple(int(s) for s in shape), IMPORT_BYTES_PER_VOXEL * nvox,
                          formula=f"{IMPORT_BYTES_PER_VOXEL} B x {nvox:.3g} voxels")


def estimate_generate(spec: ElectrodeSpec, *, device: str = "cpu") -> MemoryEstimate:
    """Peak memory of ``generate(spec, device=device)`` (see :mod:`solvers.memory`)."""
    return _pressed(_estimate_generate(spec.domain.shape,
                                       expected_particles=expected_particles(spec),
                                       device=device), spec)


def estimate_sweep_point(spec: ElectrodeSpec, *, transport: bool = True,
                         device: str = "cpu") -> MemoryEstimate:
    """Peak memory of one sweep point of ``spec`` (generate, utilization, transport)."""
    return _pressed(_estimate_sweep_point(spec.domain.shape,
                                          expected_particles=expected_particles(spec),
                                          transport=transport, device=device), spec)
