"""Calibration of the sub-voxel contact conductance: the lattice constriction of an aperture.

Two half-spaces of the 7-point cubic lattice (unit face conductance, unit voxel) joined by a
disc-shaped aperture of ``n`` faces: a ``2m x W x W`` column with fixed potentials on its two
ends, every face conducting except those of the middle plane outside the aperture.  The
constriction resistance is the column's resistance minus that of the open column
(``2m / W^2``), divided by the finite-cylinder factor of Roess (per side ``(1 / (4 a)) psi(a /
b)``, ``b`` the radius of a circle of the cross-section's area) to get the half-space value.
Independent of the project's solver: SciPy sparse matrix, pyamg + CG.

Prints ``n``, ``R_lat(n)`` and ``delta(n) = sqrt(n / pi) - 1 / (2 R_lat)``: the table
``LATTICE_N`` / ``LATTICE_DELTA`` of ``solvers/transport/_contacts.py``.

    python benchmarks/calibrate_contact_lattice.py            # W = 128 (~3 min on 2 cores)
    python benchmarks/calibrate_contact_lattice.py --width 64
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pyamg
import scipy.sparse as sp

SIZES = (1, 2, 4, 5, 9, 12, 21, 32, 37, 52, 69, 97, 145, 193)


def _psi(eps: float) -> float:
    """Roess: constriction of a disc of radius a at the end of a cylinder of radius b, / 1/(4a)."""
    return 1 - 1.40925 * eps + 0.29591 * eps**3 + 0.05254 * eps**5 + 0.02105 * eps**7


def column_resistance(width: int, aperture: np.ndarray) -> float:
    """Resistance of the ``width x width x width`` column with ``aperture`` (W, W bool) open in
    its middle plane."""
    n0 = width
    shape = (n0, width, width)
    idx = np.arange(np.prod(shape)).reshape(shape)
    rows, cols, vals = [], [], []
    diag = np.zeros(idx.size)
    for ax in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[ax], b[ax] = slice(None, -1), slice(1, None)
        g = np.ones(idx[tuple(a)].shape)
        if ax == 0:
            g[n0 // 2 - 1] = aperture
        i, j, g = idx[tuple(a)].ravel(), idx[tuple(b)].ravel(), g.ravel()
        rows += [i, j]
        cols += [j, i]
        vals += [-g, -g]
        np.add.at(diag, i, g)
        np.add.at(diag, j, g)
    diag[idx[0].ravel()] += 2.0          # fixed potential 0 half a voxel before cell 0
    diag[idx[-1].ravel()] += 2.0         # fixed potential 1 half a voxel after the last cell
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(idx.size, idx.size)) + sp.diags(diag)
    rhs = np.zeros(idx.size)
    rhs[idx[-1].ravel()] = 2.0
    ml = pyamg.smoothed_aggregation_solver(A.tocsr())
    x = ml.solve(rhs, tol=1e-12, accel="cg", maxiter=500)
    current = float(np.sum(2.0 * x[idx[0].ravel()]))   # through the face at potential 0
    return 1.0 / current


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=128)
    w = ap.parse_args().width
    c = (w - 1) / 2
    yy, zz = np.meshgrid(np.arange(w) - c, np.arange(w) - c, indexing="ij")
    order = np.argsort((yy**2 + zz**2).ravel(), kind="stable")
    r_open = w / (w * w)
    b = w / math.sqrt(math.pi)
    print(f"| n | R_lat (1/(s h)) | disc of the same area | delta (voxels) |   (W = {w})")
    print("|---|---|---|---|")
    for n in SIZES:
        t = time.perf_counter()
        ap_mask = np.zeros(w * w)
        ap_mask[order[:n]] = 1.0
        rc = column_resistance(w, ap_mask.reshape(w, w)) - r_open
        a_n = math.sqrt(n / math.pi)
        r_lat = rc / _psi(a_n / b)
        delta = a_n - 1 / (2 * r_lat)
        print(f"| {n} | {r_lat:.4f} | {1 / (2 * a_n):.4f} | {delta:.4f} |"
              f"  ({time.perf_counter() - t:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
