"""Benchmark: tortuosity factor by matrix-free PCG (issue 4) against TauFactor 2 and PoreSpy.

Structures: ``porespy.generators.blobs`` (blobiness 1, seed 1) at porosity 0.4 and 0.25, the
pore phase conducting, transport along axis 0, sealed sides.  Methods, all on the CPU:

* ``ours-mg`` / ``ours-jacobi``: ``solvers.tortuosity`` with the multigrid or Jacobi
  preconditioner (``--dtype``, ``--rtol``; numba kernels compiled before timing);
* ``taufactor`` / ``taufactor-tight``: ``taufactor.Solver(...).solve()`` with the default
  ``conv_crit=1e-2`` and with ``conv_crit=--tight-crit`` (float32, TauFactor's default);
* ``porespy``: ``porespy.simulations.tortuosity_fd`` (assembled matrix via OpenPNM; reported
  as unavailable when ``openpnm`` is not installed);
* reference: ``solvers.tortuosity`` in float64 at ``rtol=1e-10`` (checked against
  TauFactor in ``tests/solvers/test_transport.py`` to 1e-3 and against a sparse direct solve
  to 1e-7 on small volumes); ``err`` is ``|tau / tau_ref - 1|``.

Reported per run: tau, relative error, wall seconds of the solve call, iterations, peak extra
resident memory during the call (Linux VmHWM reset before the call, minus VmRSS before it),
and the speed ratio ``t(taufactor default) / t(method)``.  Also the multigrid iteration count
at 100³ and 200³.

Run:  python benchmarks/bench_transport.py [--sizes 128 200] [--porosities 0.4 0.25]
          [--skip taufactor-tight porespy] [--threads 2]

Electronic (high-contrast) solve, ``--composite 96 128 160 [--repeat 3]``: the example
composite (``examples/nmc_lpscl.toml``, seed 0) at n³ and 0.25 µm voxels, through-plane,
periodic sides, default float64 and ``rtol=1e-5`` -- the solves ``assb analyze`` runs: the
electronic network (CAM 1e-2, carbon 5 S/cm: 500:1) and the ionic one (SE 3e-3 S/cm).  Best
wall time of ``--repeat`` calls, iterations, peak extra memory, sigma_eff and its relative
difference to a reference solve at ``rtol=1e-10``.  Run it once per version of the solver
(e.g. ``PYTHONPATH=<old checkout>``) to compare; numba kernels are compiled before timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import warnings

import numpy as np
from _mem import timed_peak  # benchmarks/ is on sys.path when run as a script


def run_ours(im, preconditioner, dtype, rtol):
    from solvers import tortuosity

    res, dt, mb = timed_peak(
        lambda: tortuosity(
            im, preconditioner=preconditioner, dtype=dtype, rtol=rtol, max_iter=20000
        )
    )
    return res.tau, dt, res.iterations, mb


def run_taufactor(im, conv_crit):
    import taufactor as tf

    def go():
        s = tf.Solver(im.astype(np.uint8), device="cpu")
        tau = s.solve(verbose=False, conv_crit=conv_crit, iter_limit=100000)
        return float(np.asarray(tau).ravel()[0]), s.iter

    (tau, it), dt, mb = timed_peak(go)
    return tau, dt, it, mb


def run_porespy(im):
    import porespy as ps

    def go():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ps.simulations.tortuosity_fd(im, axis=0)

    res, dt, mb = timed_peak(go)
    return float(res.tortuosity), dt, None, mb


def composite(sizes, repeat):
    """Electronic and ionic solves of the example composite (see the module docstring)."""
    import microstructure as ms
    from solvers import tortuosity

    spec0 = ms.load_spec(
        os.path.join(os.path.dirname(__file__), "..", "examples", "nmc_lpscl.toml")
    )
    warm = None
    for n in sizes:
        spec = spec0.updated({"domain.shape": [n, n, n]})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # d10 under 2 voxels at 0.25 µm
            phases = ms.generate(spec, seed=0).phases
        nets = {
            "electronic": spec.conductivities("electronic"),
            "ionic": spec.conductivities("ionic"),
        }
        nets["electronic"] = {c: nets["electronic"][c] for c in (1, 3)}
        nets["ionic"] = {2: nets["ionic"][2]}
        if warm is None:  # parallel kernels (above the serial threshold) compiled before timing
            warm = tortuosity(phases[:64, :64, :64], conductivity=nets["electronic"])
        for name, cond in nets.items():
            kw = dict(conductivity=cond, periodic_lateral=True)
            ref = tortuosity(phases, rtol=1e-10, max_iter=20000, **kw)
            best = None
            for _ in range(repeat):
                res, dt, mb = timed_peak(lambda kw=kw, ph=phases: tortuosity(ph, **kw))
                if best is None or dt < best[1]:
                    best = (res, dt, mb)
            res, dt, mb = best
            err = abs(res.effective_conductivity / ref.effective_conductivity - 1)
            print(
                f"| {n}³ | {name} | {res.iterations} | {dt:.2f} | {mb:.0f} | "
                f"{res.effective_conductivity:.9e} | {err:.1e} | {ref.effective_conductivity:.9e} |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 200])
    ap.add_argument("--porosities", type=float, nargs="+", default=[0.4, 0.25])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--tight-crit", type=float, default=1e-4)
    ap.add_argument("--skip", nargs="*", default=[], help="methods to leave out")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--composite",
        type=int,
        nargs="*",
        default=None,
        help="sizes n of the example composite: electronic/ionic solves only",
    )
    ap.add_argument("--repeat", type=int, default=3, help="best of this many (--composite)")
    args = ap.parse_args()
    if args.composite:
        import numba

        if args.threads:
            numba.set_num_threads(args.threads)
        print(f"numba threads {numba.get_num_threads()}, load avg {os.getloadavg()}")
        print(
            "| size | network | iterations | best s | peak MB | sigma_eff S/cm | rel. diff to ref | ref |"
        )
        print("|---|---|---|---|---|---|---|---|")
        composite(args.composite, args.repeat)
        return

    import numba
    import porespy as ps

    from solvers import tortuosity

    if args.threads:
        numba.set_num_threads(args.threads)
        import torch

        torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"numba threads {numba.get_num_threads()}, load avg {os.getloadavg()}"
    )
    # compile the kernels (both dtypes) before timing
    warm = np.ones((12, 12, 12), dtype=bool)
    for dt in ("float32", "float64"):
        tortuosity(warm, dtype=dt)
        tortuosity(warm, dtype=dt, preconditioner="jacobi")

    rows = []
    for n in args.sizes:
        for por in args.porosities:
            im = ps.generators.blobs(shape=[n, n, n], porosity=por, blobiness=1, seed=1)
            ref = tortuosity(im, dtype="float64", rtol=1e-10, max_iter=20000)
            methods = {
                "ours-mg": lambda im=im: run_ours(im, "multigrid", args.dtype, args.rtol),
                "ours-mg-f64": lambda im=im: run_ours(im, "multigrid", "float64", args.rtol),
                "ours-jacobi": lambda im=im: run_ours(im, "jacobi", args.dtype, args.rtol),
                "taufactor": lambda im=im: run_taufactor(im, 1e-2),
                "taufactor-tight": lambda im=im: run_taufactor(im, args.tight_crit),
                "porespy": lambda im=im: run_porespy(im),
            }
            t_tf = None
            for name, fn in methods.items():
                if name in args.skip:
                    continue
                try:
                    tau, dt, it, mb = fn()
                except ImportError as exc:  # porespy.tortuosity_fd needs openpnm
                    print(f"{n}^3 por={por} {name}: unavailable ({exc})", flush=True)
                    continue
                if name == "taufactor":
                    t_tf = dt
                err = abs(tau / ref.tau - 1)
                rows.append((n, por, name, tau, err, dt, it, mb))
                print(
                    f"{n}^3 por={por} {name:16s} tau={tau:.6f} err={err:.1e} t={dt:7.2f}s "
                    f"it={it} peak={mb if mb is None else round(mb)}MB",
                    flush=True,
                )
            for r in rows:
                if r[0] == n and r[1] == por:
                    rows[rows.index(r)] = r + ((t_tf / r[5]) if t_tf else None,)
            print(
                f"{n}^3 por={por} reference tau={ref.tau:.8f} ({ref.iterations} it, {ref.seconds:.1f}s)"
            )

    print(
        "\n| size | porosity | method | tau | rel. error | seconds | iterations | peak MB | TauFactor time / time |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n, por, name, tau, err, dt, it, mb, sp in rows:
        print(
            f"| {n}³ | {por} | {name} | {tau:.5f} | {err:.1e} | {dt:.2f} | {it if it is not None else '-'} | "
            f"{'-' if mb is None else round(mb)} | {'-' if sp is None else f'{sp:.1f}x'} |"
        )

    print("\nmultigrid iterations vs size (porosity 0.4 and 0.25, float64, rtol 1e-5):")
    for por in args.porosities:
        its = {}
        for n in (100, 200):
            im = ps.generators.blobs(shape=[n, n, n], porosity=por, blobiness=1, seed=1)
            its[n] = tortuosity(im, rtol=1e-5).iterations
        print(
            f"  porosity {por}: 100³ {its[100]} it, 200³ {its[200]} it, ratio {its[200] / its[100]:.2f}"
        )


if __name__ == "__main__":
    main()
