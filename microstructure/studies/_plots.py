"""Figures of a sweep report (matplotlib object API, no pyplot, no global state).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so nothing
here selects a backend or keeps figures alive; :func:`png_bytes` renders one with Agg.

Statistics across seeds (:func:`seed_stats`), chosen so that no band shows an impossible value:

* 1 seed: the value; 2-3 seeds (fewer than :data:`MIN_BAND_SEEDS`): the line through the
  centre and every seed drawn as a point -- a 95 % interval from 2 seeds (Student t = 12.7)
  says nothing and reached τ = -2000 on a positive quantity;
* positive quantities (σ_eff, τ; ``kind="positive"``), all values > 0: geometric mean and the
  t-interval of ``ln y`` taken back, ``exp(m ± t(0.975, n-1) s / sqrt(n))`` -- positive, and
  skewed as the data are;
* fractions (θ; ``kind="fraction"``) and positive quantities with zeros (σ_eff = 0 of a network
  that does not percolate): mean and the 95 % bootstrap percentile interval of the mean
  (2000 resamples, fixed seed), which stays within the range of the data.

Non-finite values (τ = ∞ of a non-percolating network, NaN of a skipped solve) are left out;
the percolation curves show how often that happened.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from solvers.phases import CARBON

from ._format import short_value

#: Phase colours (pore, CAM, SE, carbon).
PHASE_COLORS = ("#ffffff", "#3b6fb6", "#f2b134", "#222222")
PHASE_NAMES = ("pore", "CAM", "SE", "carbon")
#: Particle-state colours (non-CAM, active, electronically isolated, ionically isolated, both).
STATE_COLORS = ("#eeeeee", "#2ca02c", "#1f77b4", "#ff7f0e", "#d62728")
STATE_NAMES = ("not CAM", "active", "electronically isolated", "ionically isolated",
               "isolated both ways")

_LABELS = {
    "target_cam": "CAM volume fraction of the box",
    "param:phases.cam.fraction": "CAM fraction (parts of solids)",
    "param:phases.se.fraction": "SE fraction (parts of solids)",
    "param:phases.carbon.fraction": "carbon fraction (parts of solids)",
    "param:phases.se.psd.d50_um": "SE d50 (µm)",
    "param:phases.se.psd.d90_um": "SE d90 (µm)",
    "param:phases.cam.psd.d50_um": "CAM d50 (µm)",
    "param:phases.cam.psd.d90_um": "CAM d90 (µm)",
    "param:phases.carbon.psd.d50_um": "carbon d50 (µm)",
    "param:composition.porosity": "porosity",
    "param:composition.bulk_density_g_cm3": "bulk density (g/cm³)",
    "param:composition.pellet.mass_mg": "pellet mass (mg)",
    "param:composition.pellet.thickness_um": "pellet thickness (µm)",
    "param:domain.shape": "domain shape (voxels)",
    "param:domain.size_um": "box (µm: thickness, lateral)",
    "param:domain.voxel_size_um": "voxel (µm)",
    "areal_loading_mg_cm2": "CAM loading (mg/cm²)",
}


def label(col: str) -> str:
    """Axis label of a results column."""
    return _LABELS.get(col, col.removeprefix("param:"))


def as_float(s: pd.Series) -> pd.Series:
    """Floats from a numeric, bool or object column (None -> NaN, True -> 1.0)."""
    if s.dtype == object:
        return s.map(lambda v: np.nan if v is None else float(v)).astype(float)
    return s.astype(float)


#: Fewest seeds for which a 95 % band is drawn; with fewer the seeds are drawn as points.
MIN_BAND_SEEDS = 4
#: Bootstrap resamples of the percentile interval (fixed seed: the same table, the same figure).
BOOTSTRAP_RESAMPLES = 2000
KINDS = ("fraction", "positive")


def seed_stats(df: pd.DataFrame, by: Sequence[str], y: str, *, kind: str = "fraction"
               ) -> pd.DataFrame:
    """Centre and 95 % interval of ``y`` (finite values) across seeds, per group of ``by``.

    Parameters
    ----------
    df : DataFrame
    by : sequence of str
        Group columns (one group = one point, its rows the seeds).
    y : str
        The quantity.
    kind : {"fraction", "positive"}
        ``"positive"`` (σ_eff, τ): geometric mean and the back-transformed t-interval of
        ``ln y`` when every value is > 0; ``"fraction"`` (θ), or positive values with zeros:
        mean and bootstrap percentile interval of the mean.

    Returns
    -------
    DataFrame
        ``by`` columns, ``center``, ``lo``, ``hi`` (NaN with fewer than
        :data:`MIN_BAND_SEEDS` seeds), ``mean``, ``sd``, ``n`` and ``method`` (``"log-t"``,
        ``"bootstrap"``, ``"seeds"`` for points only, ``"one seed"``).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1, 1, 2, 2, 2, 2], "tau": [50, 2500, 2.0, 2.5, 3.0, 8.0]})
    >>> s = seed_stats(df, ["x"], "tau", kind="positive")
    >>> s[["x", "n", "method"]].values.tolist()
    [[1, 2, 'seeds'], [2, 4, 'log-t']]
    >>> bool((s["lo"].dropna() > 0).all())
    True
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    d = df[list(by)].copy()
    v = as_float(df[y])
    d["_y"] = v.where(np.isfinite(v))
    rows = []
    for key, g in d.groupby(list(by), sort=True, dropna=False):
        vals = g["_y"].dropna().to_numpy(dtype=float)
        rows.append((*(key if isinstance(key, tuple) else (key,)), *_interval(vals, kind)))
    cols = [*by, "center", "lo", "hi", "mean", "sd", "n", "method"]
    out = pd.DataFrame(rows, columns=cols)
    out["n"] = out["n"].astype(int)
    return out


def _interval(vals: np.ndarray, kind: str) -> tuple[float, float, float, float, float, int, str]:
    """(center, lo, hi, mean, sd, n, method) of one group's finite values."""
    from scipy import stats

    n = len(vals)
    nan = float("nan")
    if n == 0:
        return nan, nan, nan, nan, nan, 0, "none"
    mean = float(vals.mean())
    sd = float(vals.std(ddof=1)) if n > 1 else nan
    positive = kind == "positive" and bool((vals > 0).all())
    center = float(np.exp(np.log(vals).mean())) if positive else mean
    if n == 1:
        return center, nan, nan, mean, sd, n, "one seed"
    if n < MIN_BAND_SEEDS:
        return center, nan, nan, mean, sd, n, "seeds"
    if positive:
        logs = np.log(vals)
        half = stats.t.ppf(0.975, n - 1) * logs.std(ddof=1) / np.sqrt(n)
        m = logs.mean()
        return center, float(np.exp(m - half)), float(np.exp(m + half)), mean, sd, n, "log-t"
    rng = np.random.default_rng(0)
    means = vals[rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return center, float(lo), float(hi), mean, sd, n, "bootstrap"


#: What the lines and bands of each kind show (figure titles and captions).
SEED_NOTE = {
    "fraction": f"mean; 95 % bootstrap interval of the mean with ≥ {MIN_BAND_SEEDS} seeds, "
                "the seeds as × with 2-3",
    "positive": f"geometric mean; 95 % interval from ln values with ≥ {MIN_BAND_SEEDS} seeds, "
                "the seeds as × with 2-3",
}


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (Agg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


#: Markers of a panel's series, one per series in turn.
MARKERS = ("o", "s", "^", "D", "v", "P")


def series_style(i: int, n: int) -> dict[str, Any]:
    """Colour, marker and sizes of series ``i`` of ``n`` in a panel: the earlier series are
    drawn wider and with larger markers, under the later ones, so that series which coincide
    (every θ at 1, every network percolating) all stay visible."""
    under = min(n - 1 - i, 4)
    return {"color": f"C{i}", "marker": MARKERS[i % len(MARKERS)], "ms": 4 + 1.5 * under,
            "lw": 1.5 + 0.8 * under}


def _groups(df: pd.DataFrame, group: str | None) -> list[tuple[Any, pd.DataFrame]]:
    if group is None:
        return [(None, df)]
    return [(k, d) for k, d in df.groupby(group, sort=True, dropna=False)]


def line_panel(ax: Any, df: pd.DataFrame, x: str, y: str, *, group: str | None,
               name: str = "", color: Any = None, logy: bool = False,
               kind: str = "fraction") -> None:
    """Centre of ``y`` vs ``x`` per value of ``group`` (see :func:`seed_stats`): a 95 % band
    where a point has :data:`MIN_BAND_SEEDS` seeds or more, the seeds as points where fewer;
    each series styled by :func:`series_style`."""
    groups = _groups(df, group)
    for i, (gval, d) in enumerate(groups):
        s = seed_stats(d, [x], y, kind=kind).dropna(subset=["center"])
        if s.empty:
            continue
        xs = s[x].to_numpy(dtype=float)
        lab = (name if group is None
               else f"{name}{' ' if name else ''}{label(group)} = {short_value(gval)}")
        st = series_style(i, len(groups))
        c = st["color"] = color if color is not None else st["color"]
        ax.plot(xs, s["center"], label=lab, **st)
        band = s["lo"].notna().to_numpy()
        if band.any():
            ax.fill_between(xs[band], s["lo"][band], s["hi"][band], color=c, alpha=0.2, lw=0)
        few = set(s.loc[s["method"] == "seeds", x])
        if few:
            v = as_float(d[y])
            pts = d[d[x].isin(few) & np.isfinite(v).to_numpy()]
            ax.scatter(pts[x].to_numpy(dtype=float), as_float(pts[y]), s=14, color=c,
                       alpha=0.6, marker="x", lw=1, zorder=3)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(label(x))
    ax.grid(alpha=0.3)


def utilization_figure(df: pd.DataFrame, x: str, group: str | None) -> Figure:
    """Static utilization (strict, CAM relay; by volume) vs ``x``."""
    fig = Figure(figsize=(10, 4))
    axs = fig.subplots(1, 2, sharey=True)
    for ax, col, title in zip(axs, ("util_strict", "util_relay"),
                              ("strict (own SE contact)", "CAM relay"), strict=True):
        line_panel(ax, df, x, col, group=group)
        ax.set_title(f"static utilization θ, {title}")
        ax.set_ylabel("θ (active CAM volume / CAM volume)")
        ax.set_ylim(-0.02, 1.02)
    if len(axs[0].get_legend_handles_labels()[0]) > 1:
        axs[0].legend(fontsize=8)
    fig.suptitle(SEED_NOTE["fraction"])
    return fig


def transport_figure(df: pd.DataFrame, x: str, group: str | None) -> Figure:
    """Ionic and electronic σ_eff (log) and τ vs ``x``."""
    fig = Figure(figsize=(10, 7.5))
    axs = fig.subplots(2, 2)
    for row, net in enumerate(("ionic", "electronic")):
        line_panel(axs[row, 0], df, x, f"{net}_sigma_eff_S_cm", group=group, logy=True,
                   kind="positive")
        axs[row, 0].set_ylabel(f"{net} σ_eff (S/cm)")
        line_panel(axs[row, 1], df, x, f"{net}_tau", group=group, kind="positive")
        axs[row, 1].set_ylabel("ionic τ (σ_eff = σ ε / τ)" if net == "ionic"
                               else "electronic τ (σ_eff = Σ εᵢσᵢ / τ)")
        for ax in axs[row]:
            if not ax.lines:
                ax.text(0.5, 0.5, "no finite values\n(not solved or not percolating)",
                        ha="center", va="center", transform=ax.transAxes, color="0.4")
    if axs[0, 0].get_legend_handles_labels()[0][1:]:
        axs[0, 0].legend(fontsize=8)
    fig.suptitle(f"through-plane transport, finite values only: {SEED_NOTE['positive']}")
    fig.tight_layout()
    return fig


def percolation_figure(df: pd.DataFrame, x: str, group: str | None) -> Figure:
    """Fraction of seeds whose ionic / electronic network percolates, vs ``x``."""
    fig = Figure(figsize=(10, 4))
    axs = fig.subplots(1, 2, sharey=True)
    for ax, col in zip(axs, ("ionic_percolates", "electronic_percolates"), strict=True):
        groups = _groups(df, group)
        for i, (gval, d) in enumerate(groups):
            v = as_float(d[col])
            s = (pd.DataFrame({x: d[x].to_numpy(), "p": v.to_numpy()}).dropna()
                 .groupby(x, sort=True)["p"].agg(["mean", "count"]).reset_index())
            if s.empty:
                continue
            lab = None if group is None else f"{label(group)} = {short_value(gval)}"
            ax.plot(s[x].astype(float), s["mean"], label=lab, **series_style(i, len(groups)))
        ax.set_title(col.replace("_", " ").replace("percolates", "network percolates"))
        ax.set_xlabel(label(x))
        ax.set_ylabel("fraction of seeds")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    if group is not None and axs[0].lines:
        axs[0].legend(fontsize=8)
    return fig


def heatmap_figure(df: pd.DataFrame, xcol: str, ycol: str,
                   values: Sequence[tuple[str, str]]) -> Figure:
    """Mean over seeds (and any other axes) of each ``(column, title)`` on an x × y grid."""
    fig = Figure(figsize=(4.6 * len(values), 4))
    axs = np.atleast_1d(fig.subplots(1, len(values)))
    for ax, (col, title) in zip(axs, values, strict=True):
        d = df[[xcol, ycol]].copy()
        v = as_float(df[col])
        d["v"] = v.where(np.isfinite(v))
        grid = d.pivot_table(index=ycol, columns=xcol, values="v", aggfunc="mean",
                             dropna=False)
        a = grid.to_numpy(dtype=float)
        im = ax.imshow(a, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(grid.shape[1]), [short_value(c) for c in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [short_value(c) for c in grid.index])
        for (i, j), val in np.ndenumerate(a):
            light = np.isfinite(val) and im.norm(val) > 0.6   # dark text on the yellow end
            ax.text(j, i, "–" if not np.isfinite(val) else f"{val:.3g}", ha="center",
                    va="center", fontsize=8, color="k" if light else "w")
        ax.set_xlabel(label(xcol))
        ax.set_ylabel(label(ycol))
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.85)
    fig.suptitle("mean over seeds")
    fig.tight_layout()
    return fig


def ternary_figure(points: pd.DataFrame, value: str, title: str) -> Figure:
    """Solid composition (CAM/SE/carbon volume fractions of the solids) coloured by ``value``.

    ``points`` has columns ``cam``, ``se``, ``carbon`` (summing to 1) and ``value``.
    Barycentric map: CAM at the lower left, SE at the lower right, carbon at the top.
    """
    fig = Figure(figsize=(6, 5.4))
    ax = fig.subplots()
    tri = np.array([[0, 0], [1, 0], [0.5, np.sqrt(3) / 2], [0, 0]])
    ax.plot(tri[:, 0], tri[:, 1], color="k", lw=1)
    for f in (0.2, 0.4, 0.6, 0.8):   # iso-lines of each component
        for a, b in (((0, 1), (1, 2)), ((1, 2), (2, 0)), ((2, 0), (0, 1))):
            p = (1 - f) * tri[a[0]] + f * tri[a[1]]
            q = f * tri[b[1]] + (1 - f) * tri[b[0]]
            ax.plot([p[0], q[0]], [p[1], q[1]], color="0.85", lw=0.5, zorder=0)
    se, c = points["se"].to_numpy(float), points["carbon"].to_numpy(float)
    x, y = se + c / 2, c * np.sqrt(3) / 2
    v = as_float(points[value]).to_numpy()
    sc = ax.scatter(x, y, c=v, cmap="viridis", s=90, edgecolor="k", zorder=3)
    fig.colorbar(sc, ax=ax, shrink=0.8, label=title)
    for name, (px, py), ha in (("CAM", tri[0], "right"), ("SE", tri[1], "left"),
                               ("carbon", tri[2], "center")):
        ax.text(px, py + (0.03 if name == "carbon" else -0.04), name, ha=ha, fontsize=10)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"{title} over the solid composition (volume fractions of solids)")
    return fig


def slices_figure(phases: np.ndarray, states: dict[str, np.ndarray], voxel_size_um: float,
                  title: str, *, carbon: bool = True) -> Figure:
    """Through-plane (x–z at mid y) and in-plane (x–y at mid z) slices by phase and state.

    ``states``: rule -> uint8 state per voxel (0 not CAM, 1 active, 2 electronically isolated,
    3 ionically isolated, 4 both).  ``carbon``: list carbon in the phase legend (it is listed
    anyway where ``phases`` holds carbon).
    """
    shown = [(c, n) for c, n in zip(PHASE_COLORS, PHASE_NAMES, strict=True)
             if n != "carbon" or carbon or bool(np.any(phases == CARBON))]
    nz, ny, nx = phases.shape
    h = voxel_size_um
    rows = 1 + len(states)
    fig = Figure(figsize=(10, 3.6 * rows))
    axs = fig.subplots(rows, 2, squeeze=False)
    pcm = ListedColormap(PHASE_COLORS)
    pnorm = BoundaryNorm(np.arange(-0.5, 4.5), 4)
    scm = ListedColormap(STATE_COLORS)
    snorm = BoundaryNorm(np.arange(-0.5, 5.5), 5)
    cuts = [("through-plane slice (y = mid); current collector at z = 0",
             lambda a: a[:, ny // 2, :], [0, nx * h, nz * h, 0], ("x (µm)", "z (µm)")),
            ("in-plane slice (z = mid)", lambda a: a[nz // 2], [0, nx * h, ny * h, 0],
             ("x (µm)", "y (µm)"))]
    for j, (ctitle, cut, ext, (xl, yl)) in enumerate(cuts):
        axs[0, j].imshow(cut(phases), cmap=pcm, norm=pnorm, extent=ext, interpolation="nearest")
        axs[0, j].set_title(f"phases: {ctitle}", fontsize=9)
        for i, (rule, st) in enumerate(states.items(), start=1):
            axs[i, j].imshow(cut(st), cmap=scm, norm=snorm, extent=ext, interpolation="nearest")
            axs[i, j].set_title(f"CAM particle state, rule {rule}", fontsize=9)
        for i in range(rows):
            axs[i, j].set_xlabel(xl)
            axs[i, j].set_ylabel(yl)
    axs[0, 1].legend(handles=[Patch(facecolor=c, edgecolor="k", label=n) for c, n in shown],
                     loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    if rows > 1:
        axs[1, 1].legend(handles=[Patch(facecolor=c, edgecolor="k", label=n)
                                  for c, n in zip(STATE_COLORS, STATE_NAMES, strict=True)],
                         loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def lost_particles_figure(table: pd.DataFrame, thickness_um: float, title: str) -> Figure:
    """Active and inactive (strict) CAM particles of one structure by diameter and by depth
    from the current collector (``table``: :func:`~microstructure.studies.cam_particles`)."""
    fig = Figure(figsize=(10, 3.6))
    axs = fig.subplots(1, 2)
    act = table["active_strict"].to_numpy(dtype=bool)
    for ax, col, name, rng in ((axs[0], "diameter_um", "particle diameter (µm)", None),
                               (axs[1], "depth_um", "depth from the current collector (µm)",
                                (0.0, thickness_um))):
        v = table[col].to_numpy(dtype=float)
        edges = np.histogram_bin_edges(v, bins=15, range=rng)
        ax.hist([v[act], v[~act]], bins=edges, color=[STATE_COLORS[1], STATE_COLORS[3]],
                label=[f"active ({act.sum()})", f"inactive, strict ({(~act).sum()})"])
        ax.set_xlabel(name)
        ax.set_ylabel("CAM particles")
        ax.grid(alpha=0.3)
    axs[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
