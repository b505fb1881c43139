"""Benchmark: connected-component labeling and end-to-end CAM utilization (issue 3).

Labeling (CPU): ``solvers.label`` against ``scipy.ndimage.label``, ``cc3d.connected_components``
and ``skimage.measure.label`` on 256³ and 512³ volumes: smoothed-noise blobs at 50 % and random
sites at 25 % / 50 %, connectivity 6 and 26.  Reported per run: best wall time of ``--repeat``
runs, peak extra resident memory during the call (Linux VmHWM, reset before each call),
ratio of SciPy's time to ours (> 1: ours faster) and whether the partition agrees with ours.

Utilization: ``solvers.cam_utilization`` on a 256³ composite, from ``microstructure.generate``
(spec ``examples/nmc_lpscl.toml`` resized to 256³) when the generator is available, and on a
synthetic composite of random non-overlapping CAM spheres in a random SE / carbon / pore
background (always; labelled "synthetic" in the output).

With ``--device cuda`` (a GPU and CuPy present) the GPU labeling time is added (device
synchronised, data already on the device).

Run:  python benchmarks/bench_label.py [--sizes 256 512] [--repeat 3] [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import cc3d
import numpy as np
import scipy.ndimage as ndi
import skimage.measure
from _mem import timed_peak  # benchmarks/ is on sys.path when run as a script

import solvers

ROOT = Path(__file__).resolve().parents[1]
RANK = {6: 1, 18: 2, 26: 3}


def measure(fn: Callable[[], object], repeat: int) -> tuple[float, float | None, object]:
    """Best wall time (s), peak extra memory (MiB) of one call, and the last result."""
    best = float("inf")
    peak = None
    out = None
    for _ in range(repeat):
        out = None  # free the previous result before measuring
        out, seconds, extra = timed_peak(fn)
        best = min(best, seconds)
        if extra is not None:
            peak = extra if peak is None else min(peak, extra)
    return best, peak, out


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Same background and a one-to-one map between labels (O(N))."""
    a = np.asarray(a).astype(np.int64, copy=False).ravel()
    b = np.asarray(b).astype(np.int64, copy=False).ravel()
    if not np.array_equal(a == 0, b == 0):
        return False
    if np.array_equal(a, b):
        return True
    fwd = np.zeros(a.max() + 1, dtype=np.int64)
    fwd[a] = b
    if not np.array_equal(fwd[a], b):
        return False
    bwd = np.zeros(b.max() + 1, dtype=np.int64)
    bwd[b] = a
    return bool(np.array_equal(bwd[b], a))


def volumes(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    noise = rng.random((n, n, n), dtype=np.float32)
    smooth = ndi.gaussian_filter(noise, sigma=3.0, output=np.float32)
    del noise
    blobs = smooth > np.median(smooth)
    del smooth
    return {
        "blobs 50%": blobs,
        "sites 25%": rng.random((n, n, n), dtype=np.float32) < 0.25,
        "sites 50%": rng.random((n, n, n), dtype=np.float32) < 0.50,
    }


def bench_labeling(sizes: list[int], conns: list[int], repeat: int, device: str) -> list[dict]:
    rows = []
    for n in sizes:
        vols = volumes(n)
        for name, mask in vols.items():
            for conn in conns:
                rep = repeat if n <= 256 else 1
                t_ours, m_ours, (ours, n_ours) = measure(
                    lambda mask=mask, conn=conn: solvers.label(mask, connectivity=conn), rep
                )
                methods = {
                    "scipy.ndimage.label": lambda mask=mask, conn=conn: ndi.label(
                        mask, ndi.generate_binary_structure(3, RANK[conn])
                    )[0],
                    "cc3d": lambda mask=mask, conn=conn: cc3d.connected_components(
                        mask, connectivity=conn
                    ),
                    "skimage.measure.label": lambda mask=mask, conn=conn: skimage.measure.label(
                        mask, connectivity=RANK[conn]
                    ),
                }
                res = {"solvers.label": (t_ours, m_ours, True)}
                for mname, fn in methods.items():
                    t, m, lab = measure(fn, rep)
                    res[mname] = (t, m, same_partition(ours, lab))
                    del lab
                if device == "cuda":
                    res["solvers.label cuda"] = bench_cuda(mask, conn, ours, rep)
                t_scipy = res["scipy.ndimage.label"][0]
                for mname, (t, m, agree) in res.items():
                    row = {
                        "size": f"{n}³",
                        "volume": name,
                        "conn": conn,
                        "n": n_ours,
                        "method": mname,
                        "time_s": t,
                        "peak_mib": m,
                        "vs_scipy": t_scipy / t,
                        "agree": agree,
                    }
                    rows.append(row)
                    print(_fmt(row), flush=True)
                del ours
    return rows


def bench_cuda(mask: np.ndarray, conn: int, ours: np.ndarray, repeat: int):
    import cupy

    d = cupy.asarray(mask)
    solvers.label(d, connectivity=conn, device="cuda")  # compile
    best = float("inf")
    for _ in range(max(repeat, 3)):
        cupy.cuda.Device().synchronize()
        t = time.perf_counter()
        lab, _ = solvers.label(d, connectivity=conn, device="cuda")
        cupy.cuda.Device().synchronize()
        best = min(best, time.perf_counter() - t)
    return best, None, bool(np.array_equal(lab.get(), ours))


def _fmt(r: dict) -> str:
    mem = "n/a" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
    return (
        f"| {r['size']} | {r['volume']} | {r['conn']} | {r['n']} | {r['method']} | "
        f"{r['time_s'] * 1e3:.0f} | {mem} | {r['vs_scipy']:.2f} | {'yes' if r['agree'] else 'NO'} |"
    )


def synthetic_composite(n: int, seed: int = 0, phi_cam: float = 0.5, radius: int = 8):
    """Random non-overlapping-by-construction CAM spheres (later ones fill only free voxels)
    in a background of random SE (80 %), carbon (5 %) and pore sites."""
    rng = np.random.default_rng(seed)
    u = rng.random((n, n, n), dtype=np.float32)
    phases = np.where(u < 0.80, 2, np.where(u < 0.85, 3, 0)).astype(np.uint8)
    del u
    ids = np.zeros((n, n, n), dtype=np.int32)
    r = np.arange(-radius, radius + 1)
    ball = r[:, None, None] ** 2 + r[None, :, None] ** 2 + r[None, None, :] ** 2 <= radius**2
    vol, k = 0, 0
    while vol < phi_cam * n**3:
        c = rng.integers(0, n, 3)
        sl = tuple(slice(max(ci - radius, 0), min(ci + radius + 1, n)) for ci in c)
        bsl = tuple(
            slice(s.start - (ci - radius), s.stop - (ci - radius))
            for s, ci in zip(sl, c, strict=True)
        )
        free = ball[bsl] & (ids[sl] == 0)
        if not free.any():
            continue
        k += 1
        ids[sl][free] = k
        phases[sl][free] = 1
        vol += int(free.sum())
    return phases, ids


def generated_composite(n: int):
    """256³ composite from microstructure.generate, or (None, reason)."""
    try:
        import microstructure as ms
    except Exception as exc:  # noqa: BLE001 - report why and fall back
        return None, f"microstructure not importable ({exc})"
    if not hasattr(ms, "generate") or not hasattr(ms, "load_spec"):
        return None, "microstructure.generate / load_spec not available"
    try:
        spec = ms.load_spec(ROOT / "examples" / "nmc_lpscl.toml")
        spec = spec.updated({"domain.shape": [n, n, n]})
        t = time.perf_counter()
        m = ms.generate(spec, seed=0)
        gen_s = time.perf_counter() - t
    except Exception as exc:  # noqa: BLE001 - report why and fall back
        return None, f"microstructure.generate failed: {type(exc).__name__}: {exc}"
    return (np.asarray(m.phases), np.asarray(m.particle_ids), float(m.voxel_size_um), gen_s), ""


def bench_utilization(n: int, repeat: int, device: str) -> list[str]:
    lines = []
    cases = []
    gen, why = generated_composite(n)
    if gen is not None:
        phases, ids, vox, gen_s = gen
        cases.append(
            (
                f"generated (examples/nmc_lpscl.toml at {n}³, generate {gen_s:.1f} s)",
                phases,
                ids,
                vox,
            )
        )
    else:
        lines.append(f"generated composite skipped: {why}")
    phases, ids = synthetic_composite(n)
    cases.append((f"synthetic random spheres {n}³ (NOT the generator)", phases, ids, 0.25))
    for name, phases, ids, vox in cases:
        for rule in ("strict", "cam_relay"):
            t, m, r = measure(
                lambda phases=phases, ids=ids, rule=rule, vox=vox: solvers.cam_utilization(
                    phases, ids, rule=rule, voxel_size_um=vox
                ),
                repeat,
            )
            mem = "n/a" if m is None else f"{m:.0f}"
            line = (
                f"| {name} | {rule} | cpu | {t:.2f} | {mem} | {r.n_particles} | "
                f"{r.static_utilization:.4f} | {r.electronically_isolated:.4f} | "
                f"{r.ionically_isolated:.4f} |"
            )
            lines.append(line)
            print(line, flush=True)
            if device == "cuda":
                import cupy

                dp, di = cupy.asarray(phases), cupy.asarray(ids)
                solvers.cam_utilization(dp, di, rule=rule, voxel_size_um=vox, device="cuda")
                t, _, rg = measure(
                    lambda dp=dp, di=di, rule=rule, vox=vox: solvers.cam_utilization(
                        dp, di, rule=rule, voxel_size_um=vox, device="cuda"
                    ),
                    repeat,
                )
                line = (
                    f"| {name} | {rule} | cuda | {t:.2f} | n/a | {rg.n_particles} | "
                    f"{rg.static_utilization:.4f} | {rg.electronically_isolated:.4f} | "
                    f"{rg.ionically_isolated:.4f} |"
                )
                lines.append(line)
                print(line, flush=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--conn", type=int, nargs="+", default=[6, 26])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--skip-labeling", action="store_true")
    ap.add_argument("--skip-utilization", action="store_true")
    args = ap.parse_args()
    from importlib.metadata import version

    import numba

    print(
        f"# machine: {platform.machine()}, {os.cpu_count()} CPUs, {numba.get_num_threads()} numba "
        f"threads; numpy {np.__version__}, scipy {version('scipy')}, "
        f"cc3d {version('connected-components-3d')}, scikit-image {version('scikit-image')}"
    )
    solvers.label(np.ones((4, 4, 4), bool), periodic=True)  # numba compile / cache load
    if not args.skip_labeling:
        print(
            "\n| size | volume | conn | components | method | time ms | peak extra MiB | scipy/time"
            " | partition agrees |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        bench_labeling(args.sizes, args.conn, args.repeat, args.device)
    if not args.skip_utilization:
        print(
            "\n| composite | rule | device | time s | peak extra MiB | particles | θ | el. isolated"
            " | ion. isolated |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for line in bench_utilization(256, args.repeat, args.device):
            if not line.startswith("|"):
                print(line)


if __name__ == "__main__":
    main()
