"""Generator benchmark: the example composition at 128³ and 256³, beside PoreSpy's generators.

Rows: the full four-phase composite (``assb generate``, sequential and pressed modes), our dense
packing alone with PoreSpy's sphere size (the fair comparison of packing density), and PoreSpy's
generators.

Each case runs in its own child process so that its peak memory (max RSS) is its own; numba
kernels are compiled (or loaded from cache) on a tiny warm-up structure first, and the import +
warm-up RSS is reported as the baseline.  PoreSpy gets the same box and CAM-sized equal spheres
and is asked for as dense a packing as it can make: ``random_spheres`` (voxel RSA) and
``pseudo_gravity_packing`` (its densest generator).

    python benchmarks/bench_generate.py            # 128³ and 256³
    python benchmarks/bench_generate.py --sizes 128
    python benchmarks/bench_generate.py --sizes 128 256 --pressed-only --resolved
    python benchmarks/bench_generate.py --sizes 128 --pressed-only --fine-se --seed 1
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: ``--resolved``: PSDs whose smallest particles are >= 2 voxels at 0.25 um (the pressed mode's
#: topology needs it; the example's LPSCl d10 = 0.44 um is not), 70:30:3 w/w.
RESOLVED = {
    "phases.cam.psd": {"kind": "lognormal", "d50_um": 5.0, "d90_um": 7.0},
    "phases.se.psd": {"kind": "lognormal", "d50_um": 2.5, "d90_um": 3.5},
    "phases.carbon.psd": {"kind": "lognormal", "d50_um": 1.0, "d90_um": 1.4},
    "phases.carbon.fraction": 3,
}
#: ``--fine-se``: fine SE around coarse CAM (lambda 10), the generator's slow case: 50:50:1 w/w
#: CAM d50 8 um, SE d50 0.8 um (~1000 SE particles per CAM particle), 25 % pores.
FINE_SE = {
    "phases.cam.fraction": 50, "phases.se.fraction": 50, "composition.porosity": 0.25,
    "phases.cam.psd": {"kind": "lognormal", "d50_um": 8.0, "d90_um": 14.8},
    "phases.se.psd": {"kind": "lognormal", "d50_um": 0.8, "d90_um": 1.48},
}
PRESETS = {"resolved": RESOLVED, "fine_se": FINE_SE}


def _ours(n: int, seed: int, device: str, mode: str = "sequential",
          preset: str | None = None) -> dict:
    import microstructure as ms

    warnings.simplefilter("ignore", UserWarning)
    spec = ms.load_spec(ms.default_spec_path()).updated({"packing.mode": mode})
    # warm-up: JIT compile / load cache (pressed: a small box, its cost is per particle) on the
    # example's powders, which fit the small box (the fine-SE preset's 8 um CAM does not)
    warm = ({"domain.shape": [48, 48, 48]} if mode == "pressed" else
            {"domain.shape": [32, 32, 32], "domain.voxel_size_um": 1.0})
    try:
        ms.generate(spec.updated(warm), seed=0, device=device)
    except ms.PackingError:
        pass  # only the compilation matters here
    if preset:
        spec = spec.updated(PRESETS[preset])
    base = _rss_mb()
    spec = spec.updated({"domain.shape": [n, n, n]})
    t = time.perf_counter()
    m = ms.generate(spec, seed=seed, device=device)
    sec = time.perf_counter() - t
    r = m.report
    worst = max(abs(r.achieved[p] - r.target[p]) for p in r.target)
    name = f"assb generate {mode}{' ' + preset.replace('_', '-') if preset else ''} ({device})"
    return {"tool": name, "n": n, "seconds": sec, "peak_mb": _rss_mb(),
            "base_mb": base, "cam_fraction": r.achieved["cam"], "cam_target": r.target["cam"],
            "worst_abs_error": worst, "overlap": r.cam_overlap_fraction,
            "particles": sum(r.n_particles.values()), "steps": r.seconds}


def _ours_equal(n: int, seed: int, device: str) -> dict:
    """Dense packing alone: PoreSpy's sphere size, as dense as random close packing allows."""
    import math

    import numpy as np

    import microstructure as ms
    from microstructure._generate import get_kernels
    from microstructure._packing import pack_dense
    from microstructure._voxelize import stamp_hard

    spec = ms.load_spec(ms.default_spec_path())
    h = spec.domain.voxel_size_um
    r = round(spec.phases.cam.psd.d50_um / 2 / h) * h
    box = np.array([n * h] * 3)
    periodic = np.array([0, 1, 1])
    kern = get_kernels(device)
    pack_dense(np.full(20, r), box / 4, periodic, rng=np.random.default_rng(0),
               overlap_target=0.0025, max_iter=50, kern=kern)  # warm-up
    base = _rss_mb()
    target = 0.63
    count = int(target * box.prod() / (4 / 3 * math.pi * r**3))
    t = time.perf_counter()
    res = pack_dense(np.full(count, r), box, periodic, rng=np.random.default_rng(seed),
                     overlap_target=0.0025, max_iter=20000, kern=kern)
    ids = stamp_hard(kern, kern.xp.asarray(res.centers), kern.xp.asarray(res.radii), (n, n, n),
                     h, periodic)
    sec = time.perf_counter() - t
    frac = float(kern.xp.count_nonzero(ids)) / n**3
    return {"tool": f"assb dense packing only (r={round(r / h)} vox)", "n": n, "seconds": sec,
            "peak_mb": _rss_mb(), "base_mb": base, "cam_fraction": frac, "cam_target": target,
            "worst_abs_error": abs(frac - target), "overlap": res.overlap_fraction,
            "particles": count, "steps": {}}


def _porespy(n: int, seed: int, which: str) -> dict:
    import numpy as np
    import porespy as ps

    import microstructure as ms

    spec = ms.load_spec(ms.default_spec_path())
    r = int(round(spec.phases.cam.psd.d50_um / 2 / spec.domain.voxel_size_um))
    ps.settings.tqdm["disable"] = True
    base = _rss_mb()
    t = time.perf_counter()
    if which == "random_spheres":
        im = ps.generators.random_spheres(shape=[n, n, n], r=r, phi=0.7, clearance=0,
                                          seed=seed, maxiter=10**6)
    else:
        im = ps.generators.pseudo_gravity_packing(shape=[n, n, n], r=r, clearance=0,
                                                  seed=seed, maxiter=10**6)
    sec = time.perf_counter() - t
    frac = float(np.count_nonzero(im) / im.size)
    if which == "pseudo_gravity_packing":  # it marks the spheres False (void True)
        frac = min(frac, 1 - frac) if frac > 0.5 else frac
    return {"tool": f"porespy {which} (r={r} vox)", "n": n, "seconds": sec, "peak_mb": _rss_mb(),
            "base_mb": base, "cam_fraction": frac, "cam_target": float("nan"),
            "worst_abs_error": float("nan"), "overlap": 0.0, "particles": -1, "steps": {}}


def _child(args: argparse.Namespace) -> None:
    if args.tool == "ours":
        out = _ours(args.n, args.seed, args.device)
    elif args.tool == "ours_pressed":
        out = _ours(args.n, args.seed, args.device, mode="pressed", preset=_preset(args))
    elif args.tool == "ours_equal":
        out = _ours_equal(args.n, args.seed, args.device)
    else:
        out = _porespy(args.n, args.seed, args.tool)
    print("RESULT " + json.dumps(out))


def _preset(args: argparse.Namespace) -> str | None:
    return "resolved" if args.resolved else "fine_se" if args.fine_se else None


PRESET_FLAGS: list[str] = []


def _run(tool: str, n: int, seed: int, device: str) -> dict | None:
    cmd = [sys.executable, __file__, "--child", "--tool", tool, "--n", str(n), "--seed",
           str(seed), "--device", device] + PRESET_FLAGS
    p = subprocess.run(cmd, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    print(f"{tool} at {n}^3 failed:\n{p.stderr[-2000:]}", file=sys.stderr)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-porespy", action="store_true")
    ap.add_argument("--pressed-only", action="store_true",
                    help="only the pressed mode (packing.mode = 'pressed') of the example")
    ap.add_argument("--resolved", action="store_true",
                    help="pressed rows with PSDs resolved at 0.25 um (CAM 5, SE 2.5, carbon 1 um)")
    ap.add_argument("--fine-se", action="store_true",
                    help="pressed rows of fine SE around coarse CAM (50:50:1 w/w, 8 : 0.8 um)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tool", default="ours", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=128, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.resolved and args.fine_se:
        ap.error("--resolved and --fine-se are two compositions: give one")
    preset = _preset(args)
    PRESET_FLAGS[:] = [f"--{preset.replace('_', '-')}"] if preset else []
    if args.child:
        _child(args)
        return
    rows = []
    for n in args.sizes:
        tools = ["ours", "ours_pressed", "ours_equal"] + (
            [] if args.skip_porespy else ["random_spheres", "pseudo_gravity_packing"])
        if args.pressed_only:
            tools = ["ours_pressed"]
        for tool in tools:
            res = _run(tool, n, args.seed, args.device)
            if res is not None:
                rows.append(res)
                print(f"  done: {res['tool']} {n}^3 in {res['seconds']:.2f} s", file=sys.stderr)
    ours = {r["n"]: r["seconds"] for r in rows if r["tool"].startswith("assb generate")
            and "sequential" in r["tool"]}
    hdr = (f"{'tool':<40} {'box':>5} {'time s':>8} {'vs ours':>8} {'peak MB':>8} "
           f"{'base MB':>8} {'CAM frac':>8} {'target':>7} {'max|err|':>8} {'overlap':>8}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        # the time over our sequential run's at that size; "-" where it did not run
        ratio = f"{r['seconds'] / ours[r['n']]:.2f}x" if r["n"] in ours else "-"
        print(f"{r['tool']:<40} {r['n']:>4}³ {r['seconds']:>8.2f} {ratio:>8} "
              f"{r['peak_mb']:>8.0f} {r['base_mb']:>8.0f} {r['cam_fraction']:>8.3f} "
              f"{r['cam_target']:>7.3f} {r['worst_abs_error']:>8.4f} {r['overlap']:>8.1e}")
    for r in rows:
        if r["steps"]:
            steps = ", ".join(f"{k} {v:.2f}" for k, v in r["steps"].items())
            print(f"  {r['tool']} {r['n']}³ steps (s): {steps}; particles {r['particles']}")


if __name__ == "__main__":
    main()
