"""Physics validation of the pressed generator, with the published values beside ours.

Cases (all ``packing.mode = "pressed"``, NCM d50 5 um unless said; theta = static CAM
utilization, strict rule and 6-connectivity unless said):

* ``resolution``: one spec and seed voxelized at h and h/2 -- theta at both, at h/2 with
  connectivity 6/18/26, theta on the contact graph, and the ionic / electronic tau of the bulk
  (``Microstructure.bulk_slice``, as the analysis solves) at h, h/2 and h/4;
* ``se_size``: 80:20 w/w NCM : LPSCl (1.64 g/cm3), no carbon, 15 % porosity, SE d50 1.5-8 um,
  strict and CAM-relay (Shi et al. 2020; Minnmann et al. 2024);
* ``shi``: Shi et al.'s table: 70 / 75 / 80 wt% CAM with their size ratios;
* ``coarse``: coarse SE, CAM 60 vol% of solids, equal sizes, porosity 5-25 %: fractions;
* ``tau``: ionic tortuosity factor through-plane and in-plane (pressed vs sequential);
* ``contacts``: the example's composition (70:30 NCM82 3.3 um : LPSCl 0.79 um, 2 wt% of
  0.9 um carbon so no PSD is cut at any h) at h, h/2, h/4: the electronic tau of the bulk
  against the median radius of the hard (CAM, carbon) contacts in voxels, and through the
  whole thickness;
* ``homogeneity``: the RSD of each phase in windows of 3 CAM d50s against the SE d50, at h and
  h/2, pressed and sequential (no published values: the trend and the resolution).

    python benchmarks/validate_physics.py                 # all cases
    python benchmarks/validate_physics.py --cases se_size shi --seeds 0 1
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np

import microstructure as ms
from solvers import cam_utilization, cam_utilization_graph, tortuosity

#: Width d90/d50 of the PSDs: that of the NCM82 in DOMAIN.md (6.1 / 3.3 um).
WIDTH = 1.85


def _spec(*, cam_wt, se_d50, h, box_um, porosity=0.15, carbon_wt=0.0, cam_d50=5.0,
          mode="pressed", basis="weight", se_wt=None, extra=None, width=WIDTH):
    n = [max(8, round(b / h)) for b in box_um]
    ch = {
        "domain.shape": n, "domain.voxel_size_um": h, "packing.mode": mode,
        "composition.basis": basis, "composition.porosity": porosity,
        "phases.cam.fraction": cam_wt, "phases.se.fraction": 100 - cam_wt if se_wt is None
        else se_wt,
        "phases.cam.psd": {"kind": "lognormal", "d50_um": cam_d50, "d90_um": width * cam_d50},
        "phases.se.psd": {"kind": "lognormal", "d50_um": se_d50, "d90_um": width * se_d50},
        "phases.carbon.fraction": carbon_wt,
        "phases.carbon.psd": {"kind": "lognormal", "d50_um": 1.0, "d90_um": 1.4},
    }
    ch.update(extra or {})
    return ms.load_spec(ms.default_spec_path()).updated(ch)


def _gen(spec, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t = time.perf_counter()
        m = ms.generate(spec, seed=seed)
        return m, time.perf_counter() - t


def theta(m, rule="strict", connectivity=6):
    return cam_utilization(m.phases, m.particle_ids, rule=rule,
                           connectivity=connectivity).static_utilization


def theta_graph(m, rule="strict"):
    t = m.particles
    vol = 4 / 3 * np.pi * t.radius_um.astype(np.float64) ** 3
    return cam_utilization_graph(t.phase, t.contact_pairs(), touches_cc=t.touches_cc,
                                 touches_separator=t.touches_separator, volume=vol,
                                 rule=rule).static_utilization


def n_fine(m):
    """Rows of the particle table that hold the fine SE (its grains and fill bodies, last)."""
    topo = m.report.topology
    return int(topo.get("se_grains", 0)) + int(topo["se_fill_bodies"])


def fill_links(m):
    """Pairs of pressed particles (0-based rows) that one body of the fine SE touches (its
    grains and fill bodies, joined where they touch each other): the links the fine SE adds to
    the contact graph, comparable between builds of one packing."""
    ij = m.particles.contact_pairs()
    n = len(m.particles) - n_fine(m)
    fine = ij[(ij >= n).all(axis=1)] - n
    body = label_graph(len(m.particles) - n, fine)
    ij = ij[(ij >= n).sum(axis=1) == 1]  # a fine body and a pressed particle
    b, part = body[ij.max(axis=1) - n], ij.min(axis=1)
    order = np.lexsort((part, b))
    b, part = b[order], part[order]
    links = set()
    for grp in np.split(part, np.flatnonzero(np.diff(b)) + 1):
        links.update(itertools.combinations(np.unique(grp).tolist(), 2))
    return links


def label_graph(n, pairs):
    """Connected components (labels 0..) of ``n`` nodes joined by ``pairs``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(a, directed=False)[1]


def case_resolution(seeds):
    print("\n## Resolution independence (80:20 w/w CAM 5 um : SE 5 um, no carbon, eps 0.15, "
          "24 x 20 x 20 um)")
    print("| seed | theta h=0.5 | theta h=0.25 | h=0.25 conn 6 / 18 / 26 | graph | "
          "tau ionic (bulk) h / h/2 / h/4 | tau electronic (bulk) h / h/2 / h/4 | required |")
    print("|---|---|---|---|---|---|---|---|")
    for seed in seeds:
        out = []
        for h in (0.5, 0.25, 0.125):  # h/4 for tau only: the electronic one converges slowest
            spec = _spec(cam_wt=80, se_d50=5.0, h=h, box_um=(24, 20, 20))
            m, _ = _gen(spec, seed)
            b = m.bulk_slice()
            taus = [tortuosity(np.isin(m.phases[b], net), axis=0, periodic_lateral=True,
                               contacts=m.electronic_contacts(within=b) if 1 in net
                               else None).tau
                    for net in ((2,), (1, 3))]
            out.append((theta(m), [theta(m, connectivity=c) for c in (6, 18, 26)],
                        theta_graph(m), taus))
        tau_ion = " / ".join(f"{o[3][0]:.2f}" for o in out)
        tau_el = " / ".join(f"{o[3][1]:.2f}" for o in out)
        print(f"| {seed} | {out[0][0]:.3f} | {out[1][0]:.3f} | "
              f"{' / '.join(f'{x:.3f}' for x in out[1][1])} | {out[1][2]:.3f} | {tau_ion} | "
              f"{tau_el} | theta: h vs h/2 and 6/18/26 within 0.02, graph within 0.01; tau: "
              "h/2 vs h/4 within 2 % (ionic), 5 % (electronic) |")
    # the fine-SE fill: SE under 1.25 um (2.9 % of it) is pressed into the crevices as grains;
    # the pressed powder (all above the fill cut and 2 voxels at both h) is the same at h, h/2
    print("\n## Resolution with the fine-SE fill (80:15:5 w/w, SE 3 um at 1.9 g/cm3, carbon "
          "2 um, eps 0.30, 40 x 36 x 36 um: near the SE's percolation threshold)")
    print("| seed | theta h=0.25 | theta h=0.125 | fine-SE grains + fill bodies h / h/2 | theta "
          "without the fine SE (pressed graph) | links through the fine SE: at both h / only h / "
          "only h/2 |")
    print("|---|---|---|---|---|---|")
    means = []
    for seed in seeds:
        out = []
        for h in (0.25, 0.125):
            spec = _spec(cam_wt=80, se_wt=15, se_d50=3.0, h=h, box_um=(40, 36, 36),
                         carbon_wt=5, porosity=0.30,
                         extra={"phases.se.density_g_cm3": 1.9, "phases.carbon.psd":
                                {"kind": "lognormal", "d50_um": 2.0, "d90_um": 2.8}})
            m, _ = _gen(spec, seed)
            out.append((theta(m), n_fine(m), m))
        m = out[0][2]
        t = m.particles
        n = len(t) - out[0][1]
        ij = t.contact_pairs()
        ij = ij[(ij < n).all(axis=1)]
        vol = 4 / 3 * np.pi * t.radius_um[:n].astype(np.float64) ** 3
        bare = cam_utilization_graph(t.phase[:n], ij, touches_cc=t.touches_cc[:n],
                                     touches_separator=t.touches_separator[:n],
                                     volume=vol).static_utilization
        a, b = (fill_links(o[2]) for o in out)
        print(f"| {seed} | {out[0][0]:.3f} | {out[1][0]:.3f} | {out[0][1]} / {out[1][1]} | "
              f"{bare:.3f} | {len(a & b)} / {len(a - b)} / {len(b - a)} |", flush=True)
        means.append((out[0][0], out[1][0]))
    th = np.asarray(means)
    diff = th[:, 0] - th[:, 1]
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0
    print(f"| mean | {th[:, 0].mean():.3f} | {th[:, 1].mean():.3f} | h - h/2: "
          f"{diff.mean():+.3f} +- {se:.3f}"
          f" (s.e.), within 0.02 in {int(np.sum(np.abs(diff) <= 0.02))} of {len(diff)} | |")


def case_se_size(seeds, h=0.25, cam_wt=80):
    print(f"\n## SE particle size, {cam_wt}:{100 - cam_wt} w/w NCM (d50 5 um) : LPSCl, no carbon, "
          "eps 0.15, "
          f"PSD d90/d50 = {WIDTH} for both, 50 x 40 x 40 um at h = {h} um")
    print("| SE d50 um | lambda | theta strict (per seed) | theta CAM-relay | graph strict | "
          "seconds | published |")
    print("|---|---|---|---|---|---|---|")
    pub = {80: {1.5: "", 3.0: "Shi 2020 (80 wt%, 3 um SE): 0.52",
                5.0: "Shi 2020 (80 wt%, 5 um SE): 0.25", 8.0: ""},
           70: {1.5: "", 3.0: "Shi 2020 (70 wt%): ~1 for lambda >= 1.7",
                5.0: "Minnmann 2024 (70 wt%, ~5 um): 0.77",
                8.0: "Minnmann 2024 (70 wt%, 7.4 um): 0.62"}}.get(cam_wt, {})
    for d in (1.5, 3.0, 5.0, 8.0):
        s, rl, gr, sec = [], [], [], 0.0
        for seed in seeds:
            try:
                m, t = _gen(_spec(cam_wt=cam_wt, se_d50=d, h=h, box_um=(50, 40, 40)), seed)
            except ms.PackingError as exc:
                print(f"| {d} | {5 / d:.2f} | PackingError (seed {seed}): {str(exc)[:110]} | | "
                      f"| {pub.get(d, '')} |")
                break
            s.append(theta(m))
            rl.append(theta(m, "cam_relay"))
            gr.append(theta_graph(m))
            sec += t
        if len(s) < len(seeds):
            continue
        print(f"| {d} | {5 / d:.2f} | {np.mean(s):.3f} ({' '.join(f'{x:.3f}' for x in s)}) | "
              f"{np.mean(rl):.3f} | {np.mean(gr):.3f} | {sec / len(seeds):.0f} | "
              f"{pub.get(d, '')} |",
              flush=True)


def case_se_size_70(seeds):
    case_se_size(seeds, cam_wt=70)


def case_shi(seeds, h=0.5):
    print("\n## Shi et al. 2020 (NMC532 / Li3PS4 glass, 5 wt% CNF): theta vs CAM wt% and "
          "lambda = d_CAM / d_SE (CAM d50 5 um, carbon 1 um spheres, 40 x 36 x 36 um, "
          f"h = {h} um)")
    print("| CAM wt% | SE d50 um | lambda | porosity | theta strict | theta CAM-relay | "
          "published |")
    print("|---|---|---|---|---|---|---|")
    rows = [(70, 2.5, "theta ~ 1 for lambda >= 1.7"), (70, 5.0, "< 1 (lambda 1)"),
            (75, 2.4, ">= 0.98 for lambda >= 2.1"), (80, 3.0, "0.52"), (80, 5.0, "0.25")]
    for eps in (0.15, 0.30):
        for wt, d, pub in rows:
            s, rl = [], []
            for seed in seeds:
                spec = _spec(cam_wt=wt, se_wt=100 - wt - 5, se_d50=d, h=h, box_um=(40, 36, 36),
                             carbon_wt=5, porosity=eps,
                             extra={"phases.se.density_g_cm3": 1.9})
                try:
                    m, _ = _gen(spec, seed)
                except ms.PackingError as exc:
                    print(f"| {wt} | {d} | {5 / d:.2f} | {eps} | PackingError (seed {seed}): "
                          f"{str(exc)[:110]} | | {pub} |")
                    break
                s.append(theta(m))
                rl.append(theta(m, "cam_relay"))
            if len(s) < len(seeds):
                continue
            print(f"| {wt} | {d} | {5 / d:.2f} | {eps} | {np.mean(s):.3f} "
                  f"({' '.join(f'{x:.3f}' for x in s)}) | {np.mean(rl):.3f} | {pub} |",
                  flush=True)


def case_coarse(seeds):
    print("\n## Builds: coarse SE, CAM-rich, equal sizes (worst |achieved - target|, vol%)")
    print("| case | porosity | worst error vol% | seconds |")
    print("|---|---|---|---|")
    # the 20 um SE's largest particle is 69 um: a 72 um box; CAM d50 5 um is 10 / 20 voxels
    cases = [(f"SE d50 20 um, CAM 5 um, 60:40 vol, h {h} um",
              dict(se_d50=20.0, cam_wt=60, basis="volume", h=h, box_um=(72, 72, 72)))
             for h in (0.5, 0.25)]
    cases += [("CAM 60 vol% of solids, SE 2 um",
               dict(se_d50=2.0, cam_wt=60, basis="volume", h=0.5, box_um=(30, 24, 24))),
              ("equal sizes CAM = SE = 5 um",
               dict(se_d50=5.0, cam_wt=50, basis="volume", h=0.5, box_um=(40, 32, 32)))]
    for name, kw in cases:
        for eps in (0.05, 0.25):
            for seed in seeds:
                try:
                    m, t = _gen(_spec(porosity=eps, **kw), seed)
                    r = m.report
                    worst = max(abs(r.achieved[p] - r.target[p]) for p in r.target) * 100
                    print(f"| {name} (seed {seed}) | {eps} | {worst:.2f} | {t:.0f} |", flush=True)
                except ms.PackingError as exc:
                    print(f"| {name} (seed {seed}) | {eps} | PackingError: {str(exc)[:90]} | |")


def case_tau(seeds):
    print("\n## Ionic tortuosity factor of the SE (tau of the bulk, through-plane vs in-plane)")
    print("| mode | tau through (axis 0) | tau in-plane (axis 1) | tau in-plane (axis 2) |")
    print("|---|---|---|---|")
    for mode in ("pressed", "sequential"):
        spec = _spec(cam_wt=70, se_d50=2.5, h=0.5, box_um=(32, 32, 32), carbon_wt=3, mode=mode)
        m, _ = _gen(spec, seeds[0])
        se = m.phases[m.bulk_slice()] == 2
        taus = [tortuosity(se, axis=a, periodic_lateral=a == 0).tau for a in (0, 1, 2)]
        print(f"| {mode} | {taus[0]:.2f} | {taus[1]:.2f} | {taus[2]:.2f} |")


def case_contacts(seeds):
    print("\n## Electronic tau against the hard-contact radius (example composition, 2 wt% "
          "0.9 um carbon, 24 x 16 x 16 um)")
    print("| seed | median CAM/carbon contact radius um | h um | radius / h | tau electronic | "
          "vs h/4 | without contact conductance | vs h/4 | whole thickness | vs h/4 | tau ionic "
          "| theta |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    carbon = {"phases.carbon.fraction": 2,
              "phases.carbon.psd": {"kind": "lognormal", "d50_um": 0.9, "d90_um": 1.2}}
    for seed in seeds:
        out = []
        for h in (0.25, 0.125, 0.0625):
            spec = ms.load_spec(ms.default_spec_path()).updated(
                {"domain.shape": [round(b / h) for b in (24, 16, 16)],
                 "domain.voxel_size_um": h, **carbon})
            m, _ = _gen(spec, seed)
            a = m.particles.hard_contact_radius_um()
            b = m.bulk_slice()
            e = np.isin(m.phases, (1, 3))
            cc = m.electronic_contacts()
            taus = [tortuosity(e[b], axis=0, periodic_lateral=True, contacts=cc.subvolume(b)).tau,
                    tortuosity(e[b], axis=0, periodic_lateral=True).tau,
                    tortuosity(e, axis=0, periodic_lateral=True, contacts=cc).tau,
                    tortuosity(m.phases[b] == 2, axis=0, periodic_lateral=True).tau]
            out.append((h, a, taus, theta(m)))
        for h, a, taus, th in out:
            print(f"| {seed} | {a:.3f} | {h} | {a / h:.2f} | {taus[0]:.2f} | "
                  f"{taus[0] / out[-1][2][0] - 1:+.1%} | {taus[1]:.2f} | "
                  f"{taus[1] / out[-1][2][1] - 1:+.1%} | {taus[2]:.2f} | "
                  f"{taus[2] / out[-1][2][2] - 1:+.1%} | {taus[3]:.2f} | {th:.3f} |", flush=True)


def case_homogeneity(seeds):
    print("\n## Homogeneity: RSD of each phase's volume fraction in 15 um windows (3 CAM d50s) "
          "of the bulk, 80:20 w/w NCM 5 um : LPSCl, no carbon, eps 0.15, 50 x 40 x 40 um")
    print("| SE d50 um | h um | mode | RSD CAM (per seed) | RSD SE | RSD pore | independent "
          "windows | expected |")
    print("|---|---|---|---|---|---|---|---|")
    runs = [(d, 0.5, "pressed") for d in (1.5, 3.0, 5.0, 8.0)]
    runs += [(5.0, 0.25, "pressed"), (5.0, 0.5, "sequential")]
    for d, h, mode in runs:
        rsd = []
        for seed in seeds:
            m, _ = _gen(_spec(cam_wt=80, se_d50=d, h=h, box_um=(50, 40, 40), mode=mode), seed)
            hom = ms.structure_metrics(m).homogeneity
            rsd.append(hom.rsd)
        cols = " | ".join(f"{np.mean([r[k] for r in rsd]):.3f} "
                          f"({' '.join(f'{r[k]:.3f}' for r in rsd)})"
                          for k in ("cam", "se", "pore"))
        note = {(5.0, 0.25, "pressed"): "the same as at h = 0.5 (a property of the material)",
                (8.0, 0.5, "pressed"): "SE RSD grows with the SE d50 (fewer, coarser grains)"}
        print(f"| {d} | {h} | {mode} | {cols} | {hom.independent_windows:.1f} | "
              f"{note.get((d, h, mode), '')} |", flush=True)


CASES = {"resolution": case_resolution, "se_size": case_se_size,
         "se_size_70": case_se_size_70, "shi": case_shi,
         "coarse": case_coarse, "tau": case_tau, "contacts": case_contacts,
         "homogeneity": case_homogeneity}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = ap.parse_args()
    for c in args.cases:
        CASES[c](args.seeds)


if __name__ == "__main__":
    main()
