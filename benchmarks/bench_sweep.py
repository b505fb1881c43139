"""Sweep throughput: points per hour for 128³ structures, 1 vs 2 local workers.

Each point is the whole pipeline of ``assb sweep``: generate the example composition
(NCM82 : Li6PS5Cl : C65 = 70 : 30 : 1 w/w, 0.25 µm voxels, 32 µm box at 128³), CAM utilization
under both rules, structure metrics, ionic and electronic transport, one row written.  The
same small sweep (CAM fraction x seeds) runs once per worker count into a fresh results
directory; wall time includes starting the worker processes (spawn, imports, numba cache
loads), which a real sweep pays once.  A warm-up point in this process fills the numba cache
first.

    python benchmarks/bench_sweep.py                       # 128³, 4 points, workers 1 and 2
    python benchmarks/bench_sweep.py --size 96 --workers 1 2 --cam 60 70 80 --seeds 2
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

SWEEP = """
name = "bench_sweep"
base = "default"
seeds = {seeds}
transport = {transport}
[overrides]
"domain.shape" = [{n}, {n}, {n}]
"domain.voxel_size_um" = {h}
[axes]
"phases.cam.fraction" = {cam}
"""


def _warm_up() -> None:
    import warnings

    import microstructure as ms
    from microstructure.studies import analyze

    spec = ms.load_spec(ms.default_spec_path()).updated(
        {"domain.shape": [32, 32, 32], "domain.voxel_size_um": 1.0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analyze(ms.generate(spec, seed=0))


def run(size: int, voxel: float, cams: list[int], seeds: int, workers: list[int],
        transport: bool) -> list[dict]:
    from microstructure import studies

    _warm_up()
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        path = tmp / "sweep.toml"
        path.write_text(SWEEP.format(seeds=seeds, transport=str(transport).lower(), n=size,
                                     h=voxel, cam=list(cams)))
        for w in workers:
            out = tmp / f"w{w}"
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            df = studies.run_sweep(path, out, workers=w, quiet=True)
            wall = time.perf_counter() - t0
            ok = df[df.status == "ok"]
            rows.append({
                "workers": w, "executor": df.attrs["sweep_run"]["executor"],
                "points": len(df), "ok": len(ok), "wall_s": wall,
                "points_per_hour": 3600 * len(df) / wall,
                "t_point_s": ok.t_total_s.median(), "t_generate_s": ok.t_generate_s.median(),
                "t_transport_s": ok.t_transport_s.median(),
                "t_utilization_s": ok.t_utilization_s.median(),
                "load_before": load0, "load_after": os.getloadavg()[0],
            })
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=128, help="cube edge in voxels")
    ap.add_argument("--voxel", type=float, default=0.25, help="voxel edge, um")
    ap.add_argument("--cam", type=int, nargs="+", default=[60, 70], help="CAM w/w parts")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-transport", action="store_true")
    a = ap.parse_args()
    import numba

    rows = run(a.size, a.voxel, a.cam, a.seeds, a.workers, not a.no_transport)
    print(f"# sweep throughput, {a.size}^3 at {a.voxel} um, CAM w/w {a.cam} x {a.seeds} seeds"
          f"{'' if not a.no_transport else ', no transport'}; {platform.processor() or ''} "
          f"{os.cpu_count()} CPUs, numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} "
          "threads)")
    base = rows[0]["points_per_hour"]
    print("| workers | executor | points (ok) | wall s | points/hour | speed-up | median s/point "
          "(generate / utilization / transport) | load avg before -> after |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['executor']} | {r['points']} ({r['ok']}) | "
              f"{r['wall_s']:.1f} | {r['points_per_hour']:.0f} | "
              f"{r['points_per_hour'] / base:.2f} | {r['t_point_s']:.1f} ({r['t_generate_s']:.1f}"
              f" / {r['t_utilization_s']:.2f} / {r['t_transport_s']:.1f}) | "
              f"{r['load_before']:.1f} -> {r['load_after']:.1f} |")


if __name__ == "__main__":
    main()
