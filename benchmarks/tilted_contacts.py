"""Check of the sub-voxel contact conductance on flat and tilted apertures.

A ``length x width x width`` column with fixed potentials on its two ends is cut by a plane
through its middle with normal ``u``: every face across the plane insulates (a listed contact of
radius 0) but those within ``rho`` voxels of the column's axis, the aperture (its own pair of
labels).  For each orientation and aperture the script prints

* the aperture's faces per axis, ``n = |(n0, n1, n2)|`` and ``N = n0 + n1 + n2``;
* ``R(1)``: the aperture's resistance with unit faces (above the open column's), beside the
  half-space value ``R_lat(n)`` of a flat disc of ``n`` faces (the finite column takes a few %
  off);
* ``R(w)``: the same aperture weighted as a contact of radius ``a`` voxels by
  :class:`solvers.ContactConductance`, beside the prediction ``R(1) + (1/w - 1)/N`` (the faces
  side by side), which the weight sets to ``R(1) + 1/(2a) - R_lat(n)``: Holm's ``1/(2a)`` less
  what the finite column takes off the aperture.  Weights made for ``n`` faces, as before
  version 0.13, would add ``(1/w - 1)/N`` with ``N / n`` times too little.

Units: resistance in ``1 / (sigma h)``.  Our solver only (it equals SciPy + pyamg to 4 digits on
the flat case, ``benchmarks/calibrate_contact_lattice.py``).

    python benchmarks/tilted_contacts.py                 # width 48, ~1 min on 2 cores
    python benchmarks/tilted_contacts.py --width 24 --radius 0.2
"""

from __future__ import annotations

import argparse

import numpy as np

from solvers import ContactConductance, tortuosity
from solvers.transport._contacts import contact_weights, lattice_constriction

NORMALS = ((1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 1, 0))
APERTURES = (1.2, 1.8, 2.6)


def column(normal, rho: float, width: int, radius: float | None,
           length: int | None = None) -> tuple[float, np.ndarray]:
    """Resistance above the open column's and the aperture's faces per axis (``length``:
    default 2.3 ``width``, room for a body-diagonal plane; ``tests/solvers/test_contacts.py``
    uses this too)."""
    length = round(2.3 * width) if length is None else length
    u = np.asarray(normal, dtype=float) / np.linalg.norm(normal)
    grid = np.meshgrid(*(np.arange(k) + 0.5 for k in (length, width, width)), indexing="ij")
    x = np.stack(grid, axis=-1) - np.array([length, width, width]) / 2
    along = x @ u
    inside = ((x - along[..., None] * u) ** 2).sum(-1) <= rho * rho
    labels = (np.where(along >= 0, 2, 1) + 2 * inside).astype(np.int32)   # 3 | 4: aperture
    pairs, radii = [[1, 2], [1, 4], [2, 3]], [0.0, 0.0, 0.0]
    if radius is not None:
        pairs.append([3, 4])
        radii.append(radius)
    cc = ContactConductance(labels, np.array(pairs), np.array(radii), 1.0)
    res = tortuosity(np.ones(labels.shape, dtype=bool), contacts=cc, rtol=1e-10)
    counts = []
    for ax in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(None, -1), slice(1, None)
        a, b = labels[tuple(lo)], labels[tuple(hi)]
        counts.append(int((((a == 3) & (b == 4)) | ((a == 4) & (b == 3))).sum()))
    r = length / (res.effective_conductivity * width * width) - length / width**2
    return r, np.array(counts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=48, help="column cross-section, voxels")
    ap.add_argument("--radius", type=float, default=0.3, help="contact radius a, voxels")
    args = ap.parse_args()
    a = args.radius
    print(f"column {round(2.3 * args.width)} x {args.width} x {args.width}, contact radius "
          f"{a} voxel (Holm 1/(2a) = {1 / (2 * a):.4f})")
    print("| normal | rho | faces per axis | n | N | R(1) | R_lat(n) | w | R(w) | "
          "R(1) + (1/w - 1)/N | R(w) vs it |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for normal in NORMALS:
        for rho in APERTURES:
            r1, counts = column(normal, rho, args.width, None)
            rw, _ = column(normal, rho, args.width, a)
            n = float(np.sqrt((counts.astype(float) ** 2).sum()))
            big_n = int(counts.sum())
            w = float(contact_weights(counts[None, :], np.array([a]))[0])
            lat = float(lattice_constriction(max(n, 1.0)))
            pred = r1 + (1 / w - 1) / big_n
            print(f"| {normal} | {rho} | {counts.tolist()} | {n:.2f} | {big_n} | {r1:.4f} | "
                  f"{lat:.4f} | {w:.4f} | {rw:.4f} | {pred:.4f} | {rw / pred - 1:+.1%} |",
                  flush=True)


if __name__ == "__main__":
    main()
