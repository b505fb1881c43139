"""Benchmark: tortuosity factor by matrix-free PCG (issues 4 and 10) against TauFactor 2 and pyamg.

All on the CPU; numba kernels are compiled before timing.  Times are wall seconds of the solve
call (labeling of the percolating network, multigrid set-up and iterations, no compilation);
"peak MB" is the rise of VmHWM over VmRSS before the call (``_mem.timed_peak``).  The load
average is printed next to every figure: the project VM is shared, so ours and the reference
are timed *interleaved* (ours, theirs, ours, theirs, ...) and the best of ``--repeat`` is kept.

Three parts (each optional):

``--blobs 200 [--porosities 0.4 0.25]``
    ``porespy.generators.blobs(shape=[n]*3, porosity=p, blobiness=1, seed=1)``, pore phase
    conducting, axis 0, sealed sides.  ``ours``: ``solvers.tortuosity`` at default settings
    (``dtype="auto"`` = float32 here, ``accuracy=3e-5``); ``taufactor``:
    ``taufactor.Solver(...).solve()`` at its default ``conv_crit=1e-2``.  Error against
    ``solvers.tortuosity`` in float64 at ``rtol=1e-10``.
``--composite 64 128 192``
    The example composite (``examples/nmc_lpscl.toml`` at n³, seed 0), through-plane, periodic
    sides: electronic network (CAM 1e-2 S/cm + carbon 5 S/cm) and ionic (SE 3e-3 S/cm).  Ours
    at default settings and with the residual rule ``rtol=1e-5``; pyamg's smoothed aggregation
    (``pyamg.smoothed_aggregation_solver(A)``, CG acceleration, zero guess, ``tol=1e-5``) on
    the same assembled operator, its σ from the Dirichlet energy of its solution.
``--sweep 128``
    The transport part of a sweep point: ``solvers.transport_properties`` on the n³ composite
    as ``microstructure.studies`` calls it (both networks, defaults).

Run:  PYTHONPATH=. python benchmarks/bench_transport.py --blobs 200 --composite 64 128 192 \
          --sweep 128
(``PYTHONPATH=.``: a script run by path has ``benchmarks/`` first on ``sys.path``, not the
checkout, so without it ``solvers`` comes from wherever the package is installed.)
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
from _mem import timed_peak  # benchmarks/ is on sys.path when run as a script


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def ref_solve(im, **kw):
    from solvers import tortuosity

    return tortuosity(im, rtol=1e-10, dtype="float64", max_iter=20000, **kw)


def run_ours(im, **kw):
    from solvers import tortuosity

    res, dt, mb = timed_peak(lambda: tortuosity(im, **kw))
    return res, dt, mb


def run_taufactor(im):
    import taufactor as tf

    def go():
        s = tf.Solver(im.astype(np.uint8), device="cpu")
        tau = s.solve(verbose=False, conv_crit=1e-2, iter_limit=100000)
        return float(np.asarray(tau).ravel()[0]), s.iter

    (tau, it), dt, mb = timed_peak(go)
    return tau, it, dt, mb


def blobs(sizes, porosities, repeat):
    import porespy as ps

    print("\n| size | porosity | method | tau | rel. error | times s (load) | best s | iterations "
          "| peak MB | TauFactor best / ours best |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        for por in porosities:
            im = ps.generators.blobs(shape=[n, n, n], porosity=por, blobiness=1, seed=1)
            ref = ref_solve(im)
            ours, theirs = [], []
            for _ in range(repeat):
                la = load()
                res, dt, mb = run_ours(im)
                ours.append((dt, la, res, mb))
                la = load()
                tau, it, dt2, mb2 = run_taufactor(im)
                theirs.append((dt2, la, tau, it, mb2))
            bo, bt = min(o[0] for o in ours), min(t[0] for t in theirs)
            res = ours[0][2]
            print(f"| {n}³ | {por} | ours (default) | {res.tau:.5f} | "
                  f"{abs(res.tau / ref.tau - 1):.1e} | "
                  f"{', '.join(f'{o[0]:.2f} ({o[1]})' for o in ours)} | {bo:.2f} | "
                  f"{res.iterations} | {max(o[3] or 0 for o in ours):.0f} | {bt / bo:.1f}x |")
            tau, it = theirs[0][2], theirs[0][3]
            print(f"| {n}³ | {por} | TauFactor 2 (conv_crit 1e-2) | {tau:.5f} | "
                  f"{abs(tau / ref.tau - 1):.1e} | "
                  f"{', '.join(f'{t[0]:.2f} ({t[1]})' for t in theirs)} | {bt:.2f} | {it} | "
                  f"{max(t[4] or 0 for t in theirs):.0f} | 1.0x |", flush=True)
            print(f"  (reference tau {ref.tau:.8f}; ours estimated error "
                  f"{res.estimated_error:.1e})", flush=True)


def _composite(n):
    import microstructure as ms

    spec = ms.load_spec(
        os.path.join(os.path.dirname(__file__), "..", "examples", "nmc_lpscl.toml")
    ).updated({"domain.shape": [n, n, n]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # d10 under 2 voxels at 0.25 µm
        phases = ms.generate(spec, seed=0).phases
    el, io = spec.conductivities("electronic"), spec.conductivities("ionic")
    return phases, {"electronic": {1: el[1], 3: el[3]}, "ionic": {2: io[2]}}


def _pyamg(phases, cond):
    """pyamg SA on our assembled operator: (set-up s, iterations, solve s, sigma rel. to ours)."""
    import pyamg
    import scipy.sparse as sp

    from solvers.transport import _stencil
    from solvers.transport._steps import (
        build_operator,
        classes,
        conductance_tables,
        percolating_mask,
    )

    cls, sig, _, _ = classes(phases, cond, np)
    perc = percolating_mask(cls > 0, 0, True, "cpu")
    phase = np.where(perc, cls, 0).astype(np.uint8)
    gtab, gdir, scale = conductance_tables(sig)
    op = build_operator(phase, gtab, gdir, True, np.dtype(np.float64), "cpu")
    gx, gy, gz = op.faces
    idx = np.arange(gy.size).reshape(gy.shape)
    rows, cols, vals = [], [], []
    for a, b, g in ((idx[:-1], idx[1:], gx[1:-1]), (idx, np.roll(idx, -1, 1), gy),
                    (idx, np.roll(idx, -1, 2), gz)):
        k = (g != 0) & (a != b)
        rows += [a[k], b[k]]
        cols += [b[k], a[k]]
        vals += [-g[k], -g[k]]
    diag = gx[:-1] + gx[1:] + gy + np.roll(gy, 1, 1) + gz + np.roll(gz, 1, 2)
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(idx.size,) * 2) + sp.diags(diag.ravel())
    act = np.flatnonzero(diag.ravel() > 0)
    A = A.tocsr()[act][:, act].tocsr()
    b = np.zeros(gy.shape)
    b[-1] = gdir[phase[-1]]
    t0 = time.perf_counter()
    ml = pyamg.smoothed_aggregation_solver(A, max_coarse=500)
    t1 = time.perf_counter()
    res: list[float] = []
    xa = ml.solve(b.ravel()[act], tol=1e-5, accel="cg", residuals=res, maxiter=1000)
    t2 = time.perf_counter()
    x = np.zeros(gy.size)
    x[act] = xa
    G = _stencil.energy(gx, gy, gz, x.reshape(gy.shape))
    n0, n1, n2 = gy.shape
    return t1 - t0, len(res) - 1, t2 - t1, G * n0 / (n1 * n2) * scale


def composite(sizes, repeat):
    from solvers import tortuosity

    print("\n| size | network | solver | iterations | best s (load) | peak MB | σ_eff S/cm "
          "| rel. error | estimated |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        phases, nets = _composite(n)
        for name, cond in nets.items():
            kw = dict(conductivity=cond, periodic_lateral=True)
            ref = ref_solve(phases, **kw)
            for label, extra in (("ours (default)", {}), ("ours rtol=1e-5", {"rtol": 1e-5})):
                best = None
                for _ in range(repeat):
                    la = load()
                    res, dt, mb = timed_peak(
                        lambda e=extra, p=phases, k=kw: tortuosity(p, **k, **e)
                    )
                    if best is None or dt < best[1]:
                        best = (res, dt, mb, la)
                res, dt, mb, la = best
                err = abs(res.effective_conductivity / ref.effective_conductivity - 1)
                print(f"| {n}³ | {name} | {label} | {res.iterations} | {dt:.2f} ({la}) | "
                      f"{mb or 0:.0f} | {res.effective_conductivity:.6e} | {err:.1e} | "
                      f"{res.estimated_error:.1e} |", flush=True)
            la = load()
            ts, it, tsol, sigma = _pyamg(phases, cond)
            err = abs(sigma / ref.effective_conductivity - 1)
            print(f"| {n}³ | {name} | pyamg SA (set-up {ts:.2f} s + solve {tsol:.2f} s) | {it} | "
                  f"{ts + tsol:.2f} ({la}) | - | {sigma:.6e} | {err:.1e} | - |", flush=True)


def sweep(sizes, repeat):
    from solvers import transport_properties

    print("\n| size | transport_properties best s (load) | ionic it / s | electronic it / s |")
    print("|---|---|---|---|")
    for n in sizes:
        phases, nets = _composite(n)
        cond = {**nets["ionic"], **nets["electronic"]}
        best = None
        for _ in range(repeat):
            la = load()
            t0 = time.perf_counter()
            tp = transport_properties(phases, cond, axis=0, ionic_phases=(2,),
                                      electronic_phases=(1, 3), voxel_size_um=0.25,
                                      periodic_lateral=True)
            dt = time.perf_counter() - t0
            if best is None or dt < best[0]:
                best = (dt, la, tp)
        dt, la, tp = best
        print(f"| {n}³ | {dt:.2f} ({la}) | {tp.ionic.iterations} / {tp.ionic.seconds:.2f} | "
              f"{tp.electronic.iterations} / {tp.electronic.seconds:.2f} |", flush=True)


def bandwidth():
    """Copy bandwidth of this machine (numpy, one thread), GB/s counting read + write."""
    a = np.ones(64 * 2**20 // 8)
    b = np.empty_like(a)
    best = min((lambda t0: (np.copyto(b, a), time.perf_counter() - t0)[1])(time.perf_counter())
               for _ in range(10))
    return 2 * a.nbytes / best / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--blobs", type=int, nargs="*", default=[])
    ap.add_argument("--porosities", type=float, nargs="+", default=[0.4, 0.25])
    ap.add_argument("--composite", type=int, nargs="*", default=[])
    ap.add_argument("--sweep", type=int, nargs="*", default=[])
    ap.add_argument("--repeat", type=int, default=2, help="best of this many, interleaved")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    import numba

    from solvers import tortuosity

    if args.threads:
        numba.set_num_threads(args.threads)
        import torch

        torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"numba threads {numba.get_num_threads()}, load avg {os.getloadavg()}, "
          f"copy bandwidth {bandwidth():.1f} GB/s (one thread)")
    # compile the kernels (both dtypes, both multigrids, serial and parallel) before timing
    rng = np.random.default_rng(0)
    for n in (12, 72):
        warm = (rng.random((n, n, n)) < 0.7).astype(np.uint8) * rng.integers(1, 3, (n, n, n))
        for dt in ("float32", "float64"):
            tortuosity(warm > 0, dtype=dt)
            tortuosity(warm, conductivity={1: 1.0, 2: 1e-3}, dtype=dt)
    if args.blobs:
        blobs(args.blobs, args.porosities, args.repeat)
    if args.composite:
        composite(args.composite, args.repeat)
    if args.sweep:
        sweep(args.sweep, args.repeat)


if __name__ == "__main__":
    main()
