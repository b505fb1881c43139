"""Static CAM utilization: which cathode-active-material particles can store charge.

Definitions (axis 0 by default; index 0 touches the current collector, the last index the
separator)
---------------------------------------------------------------------------------------------
* electronic network: voxels of ``electronic_phases`` whose component (``connectivity``, wrap
  on the lateral axes if ``periodic_lateral``) touches the current-collector face;
* ionic network: voxels of ``ionic_phases`` whose component touches the separator face;
* a particle is *electronically connected* when its voxels belong to the electronic network
  (any voxel: a particle is one conductor);
* it has *own ionic contact* when one of its voxels shares a face with the ionic network, or
  (``separator_contact``, the default) lies on the separator face: the separator is a pure
  SE layer, so CAM pressed against it touches SE there, as CAM on the collector face touches
  the collector;
* ``rule="strict"``: ionically connected = own ionic contact.  ``rule="cam_relay"``: also
  when it lies in the same CAM cluster (CAM voxels joined with ``connectivity``) as a particle
  with own ionic contact, since Li can diffuse through touching CAM;
* active = electronically and ionically connected.

Steps (each a function of its own module, reusable and tested on its own)
-------------------------------------------------------------------------
1. :func:`~._options.check_utilization_args` -- argument checks (``solvers._validate``);
2. :func:`~._networks.network_masks` -- electronic / ionic / CAM masks from the phase codes,
   with the checks on the codes and ids in the same pass;
3. :func:`solvers.labeling._percolation.label_face_hits` -- label each network once and flag
   the components touching the collector / separator faces;
4. :func:`~._particle_sums.particle_sums` -- volume, electronic flag and contact faces per
   particle in one pass (numba on the CPU, ``bincount`` on the GPU), plus
   :func:`~._particle_sums.separator_faces` (faces on the separator);
5. :func:`~._rules.ionic_connected` -- the rule, ``"strict"`` or ``"cam_relay"``;
6. :func:`~._result.utilization_result` -- the per-particle table and the volume fractions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..device import array_module, get_xp, to_host
from ..labeling._percolation import label_face_hits
from ..memory import check_memory, estimate_utilization
from ._networks import network_masks
from ._options import check_utilization_args
from ._particle_sums import particle_sums, separator_faces
from ._result import UtilizationResult, utilization_result
from ._rules import ionic_connected

__all__ = ["cam_utilization"]


def cam_utilization(
    phases: Any,
    particle_ids: Any,
    *,
    axis: int = 0,
    electronic_phases: tuple[int, ...] = (1, 3),
    ionic_phases: tuple[int, ...] = (2,),
    rule: str = "strict",
    connectivity: int = 6,
    periodic_lateral: bool = True,
    separator_contact: bool = True,
    voxel_size_um: float | None = None,
    device: str = "cpu",
) -> UtilizationResult:
    """Static CAM utilization with per-particle electronic / ionic classification.

    Parameters
    ----------
    phases : (nz, ny, nx) integer array
        Phase codes: 0 pore, 1 CAM, 2 SE, 3 carbon.
    particle_ids : (nz, ny, nx) integer array
        Particle id (> 0) on every CAM voxel, 0 elsewhere.  A particle is one conductor: the
        voxels of an id count as one body even where they are not adjacent (give two pieces
        two ids; generated and imported structures have connected particles).  Ids may be
        sparse (the labels of a crop of a segmented tomogram): ids above the number of voxels
        are numbered densely for the computation and reported as given.
    axis : int
        Through-plane axis: index 0 touches the current collector, the last index the separator.
    electronic_phases : tuple of int
        Phases that conduct electrons (default CAM and carbon).  A particle is electronically
        connected only through its own voxels, so without CAM (1) here none is.
    ionic_phases : tuple of int
        Phases that conduct Li ions (default SE); must not contain CAM (see ``rule``).
    rule : {"strict", "cam_relay"}
        ``"strict"``: a particle needs its own face contact with the ionic network (or the
        separator, see ``separator_contact``).
        ``"cam_relay"``: contact of any particle in the same CAM cluster is enough (Li
        diffusion through touching CAM, as the Giessen group counts static losses).
    connectivity : {6, 18, 26}
        Neighbourhood for the networks and CAM clusters.  Ionic contact is always face sharing.
    periodic_lateral : bool
        Wrap the two axes other than ``axis`` (never ``axis`` itself).  True by default, as
        the generated structures are laterally periodic; pass False for a crop of a
        tomogram, whose sides do not meet (``tortuosity`` and ``transport_properties``
        default to False).
    separator_contact : bool
        CAM voxels on the separator face (the last index along ``axis``) touch the separator,
        a pure SE layer: those faces count as contact with the ionic network (and as CAM–SE
        contact area), as CAM on the collector face is electronically connected.  False for a
        volume whose last layer is a cut through the electrode rather than its separator side
        (a sub-volume of a tomogram).
    voxel_size_um : float, optional
        Voxel edge in µm; gives µm³ / µm² columns and ``active_interface_area_per_volume`` in
        µm⁻¹.  Without it areas and volumes are in voxel units.
    device : {"cpu", "cuda"}
        Backend for labeling and per-particle sums; results are on the host either way.

    Returns
    -------
    UtilizationResult
        Volume fractions and percolation flags, with the per-particle table in ``particles``
        (:class:`ParticleUtilization`).  With no CAM voxels, NaN utilization and fractions and
        a ``reason``.

    Raises
    ------
    TypeError, ValueError
        Non-3-D or non-integer arrays, shape mismatch, unknown phase codes, particle ids on
        non-CAM voxels (particles straddling several phases) or CAM voxels without an id,
        bad options.
    solvers.memory.InsufficientMemoryError
        Before any work, when the memory estimate for ``phases.shape`` is above the memory
        available.

    Notes
    -----
    The body runs the named steps of this subpackage in order: ``check_utilization_args`` ->
    ``network_masks`` -> ``label_face_hits`` (electronic and ionic networks) ->
    ``particle_sums`` -> ``ionic_connected`` (the rule) -> ``utilization_result``.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import cam_utilization
    >>> phases = np.full((6, 4, 4), 2)              # SE everywhere
    >>> phases[0:3, 1:3, 1:3] = 1                    # particle 1 touches the current collector
    >>> phases[4, 1:3, 1:3] = 1                      # particle 2 sits in SE, no electron path
    >>> ids = np.zeros(phases.shape, dtype=np.int32)
    >>> ids[0:3, 1:3, 1:3] = 1
    >>> ids[4, 1:3, 1:3] = 2
    >>> r = cam_utilization(phases, ids)
    >>> r.static_utilization, r.particles.active.tolist()
    (0.75, [True, False])
    """
    opts = check_utilization_args(
        phases,
        particle_ids,
        axis=axis,
        electronic_phases=electronic_phases,
        ionic_phases=ionic_phases,
        rule=rule,
        connectivity=connectivity,
        periodic_lateral=periodic_lateral,
        separator_contact=separator_contact,
        voxel_size_um=voxel_size_um,
        device=device,
    )
    check_memory(estimate_utilization(phases.shape, device=opts.device), field="phases")
    if opts.device == "cuda":  # one copy to the GPU when given NumPy arrays
        xp = get_xp(opts.device)
        phases = xp.ascontiguousarray(xp.asarray(phases))
        particle_ids = xp.ascontiguousarray(xp.asarray(particle_ids))
    codes = None
    if particle_ids.size and int(particle_ids.min()) >= 0 \
            and int(particle_ids.max()) > particle_ids.size:  # sparse labels: number densely
        codes, particle_ids = dense_ids(particle_ids)
    emask, imask, cmask, max_id = network_masks(
        phases,
        particle_ids,
        electronic_phases=opts.electronic_phases,
        ionic_phases=opts.ionic_phases,
        want_cam=opts.rule == "cam_relay",
        device=opts.device,
    )
    labeling = {
        "axis": opts.axis,
        "connectivity": opts.connectivity,
        "periodic": opts.periodic,
        "device": opts.device,
    }
    electronic = label_face_hits(emask, **labeling)  # network: touches the collector (first)
    ionic = label_face_hits(imask, **labeling)  # network: touches the separator (last)
    del emask, imask
    sums = particle_sums(
        particle_ids,
        electronic.labels,
        electronic.first,
        ionic.labels,
        ionic.last,
        axis=opts.axis,
        wrap=opts.periodic_lateral,
        nid=max_id + 1,
        device=opts.device,
    )
    if opts.separator_contact:
        sep = separator_faces(particle_ids, axis=opts.axis, nid=max_id + 1)
        sums = sums._replace(
            contact_faces=sums.contact_faces + sep, network_faces=sums.network_faces + sep
        )
    ionic_ok = ionic_connected(
        opts.rule,
        particle_ids,
        cmask,
        sums.network_faces > 0,
        connectivity=opts.connectivity,
        periodic=opts.periodic,
        device=opts.device,
    )
    result = utilization_result(
        sums,
        ionic_ok,
        electronic_percolates=electronic.spans(),  # device sync points
        ionic_percolates=ionic.spans(),
        n_voxels=int(phases.size),
        options=opts,
    )
    if codes is None:
        return result
    table = dataclasses.replace(result.particles, id=codes[result.particles.id])
    return dataclasses.replace(result, particles=table)


def dense_ids(particle_ids: Any) -> tuple[np.ndarray, Any]:
    """``(codes, dense)``: the ids present in increasing order, ``codes[0] = 0``, and the array
    of their positions (``codes[dense]`` is ``particle_ids``), on its device."""
    xp = array_module(particle_ids)
    codes, dense = xp.unique(particle_ids, return_inverse=True)
    dense = dense.reshape(particle_ids.shape)
    codes = to_host(codes).astype(np.int64)
    if codes[0] != 0:  # no voxel without a particle: 0 stays "none"
        codes = np.concatenate([[0], codes])
        dense = dense + 1
    return codes, dense.astype(np.int32 if codes.size < 2**31 else np.int64)
