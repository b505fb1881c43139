"""Particle size distributions (PSD): lognormal from quantiles, or a measured table.

Laser-diffraction reports (d10/d50/d90, Q3 tables) are *volume-based*: d50 is the diameter below
which half of the particle *volume* lies.  Packing places particles one by one, i.e. it samples by
*number*.  For a volume-based lognormal with log-mean ``mu_v`` and log-width ``sigma`` the
number-based distribution is lognormal with the same ``sigma`` and ``mu_n = mu_v - 3 sigma^2``
(Hatch-Choate); for a table the number density is ``q0(d) ∝ q3(d) / d^3``.  Both conversions are
done here, so a structure built from a volume-based PSD recovers the same volume-based d50.

Each PSD is truncated to the volume-quantile range [``Q_LOW``, ``Q_HIGH``] (lognormal) or to
the table's own range, so that no particle is absurdly small or large.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

#: Volume quantiles at which lognormal PSDs are truncated.
Q_LOW = 0.005
Q_HIGH = 0.995
_Z90 = float(ndtri(0.9))  # 1.2815515655446004


def lognormal_parameters(
    d10: float | None, d50: float | None, d90: float | None
) -> tuple[float, float]:
    """``(mu, sigma)`` of ln(d) from any two of d10/d50/d90; given all three, ``mu = ln d50``
    and ``sigma`` the mean of the two half-widths, ``ln(d90 / d10) / (2 z90)``.

    Examples
    --------
    >>> mu, sigma = lognormal_parameters(None, 3.3, 6.1)
    >>> round(math.exp(mu), 3), round(sigma, 3)
    (3.3, 0.479)
    >>> mu, sigma = lognormal_parameters(1.7, 3.3, 6.1)    # the written d50 is the median
    >>> round(math.exp(mu), 3), round(sigma, 3)
    (3.3, 0.498)
    """
    known = {q: d for q, d in ((-1, d10), (0, d50), (1, d90)) if d is not None}
    if len(known) < 2:
        raise ValueError("a lognormal PSD needs at least two of d10_um, d50_um, d90_um")
    if len(known) == 3:
        return math.log(d50), math.log(d90 / d10) / (2 * _Z90)  # type: ignore[operator]
    # the line through the two points, solved as before 0.17 (the same bits: the same arrays)
    z = np.array([k * _Z90 for k in known])
    y = np.log(np.array(list(known.values()), dtype=float))
    (mu, sigma), *_ = np.linalg.lstsq(np.stack([np.ones_like(z), z], axis=1), y, rcond=None)
    return float(mu), float(sigma)


class DiameterSampler:
    """Samples particle diameters by number so that their volume follows a given PSD.

    Parameters
    ----------
    grid : array
        Increasing diameters (µm) bounding sub-bins.
    volume_weights : array
        Volume fraction in each sub-bin (``len(grid) - 1`` values, summing to 1).
    """

    def __init__(self, grid: np.ndarray, volume_weights: np.ndarray) -> None:
        grid = np.asarray(grid, dtype=float)
        w = np.asarray(volume_weights, dtype=float)
        self.grid = grid
        self.volume_weights = w / w.sum()
        lo, hi = np.log(grid[:-1]), np.log(grid[1:])
        # Within a sub-bin the volume density is uniform in ln d; the number density is then
        # ∝ d^-3 in ln d.  E[d^-3] over a log-uniform bin = (lo^-3 - hi^-3) / (3 (ln hi - ln lo)).
        inv3 = (np.exp(-3 * lo) - np.exp(-3 * hi)) / (3 * (hi - lo))
        nw = self.volume_weights * inv3
        self.number_weights = nw / nw.sum()
        self._cdf = np.cumsum(self.number_weights)
        self._cdf[-1] = 1.0
        self._lo, self._hi = lo, hi

    @property
    def d_min(self) -> float:
        return float(self.grid[0])

    @property
    def d_max(self) -> float:
        return float(self.grid[-1])

    def above(self, d_cut: float) -> tuple[DiameterSampler, float]:
        """The PSD without its particles under ``d_cut`` (µm), and the volume share they held.

        The returned sampler draws from the conditional PSD ``d >= d_cut`` (volume density
        unchanged above the cut, renormalised); the share is in [0, 1).  A cut at or below the
        smallest diameter returns ``(self, 0.0)``.

        Examples
        --------
        >>> import math
        >>> from microstructure._psd import lognormal_sampler
        >>> s = lognormal_sampler(math.log(0.79), 0.65)   # LPSCl: volume d50 0.79 um
        >>> fine, share = s.above(s.volume_quantile(0.1))
        >>> round(share, 3), round(fine.volume_quantile(0.0), 3) == round(s.volume_quantile(0.1), 3)
        (0.1, True)
        """
        if d_cut <= self.grid[0]:
            return self, 0.0
        if d_cut >= self.grid[-1]:
            raise ValueError(f"d_cut = {d_cut:g} um is above the largest diameter "
                             f"{self.grid[-1]:g} um of the PSD")
        k, keep = self._kept_above(d_cut)
        grid = np.concatenate([[d_cut], self.grid[k + 1:]])
        return DiameterSampler(grid, keep), 1.0 - float(keep.sum())

    def volume_share_below(self, d: float) -> float:
        """Volume share (0-1) of the particles under diameter ``d`` (µm).

        Examples
        --------
        >>> import math
        >>> from microstructure._psd import lognormal_sampler
        >>> s = lognormal_sampler(math.log(0.79), 0.65)
        >>> round(s.volume_share_below(s.volume_quantile(0.25)), 3)
        0.25
        """
        if d <= self.grid[0]:
            return 0.0
        if d >= self.grid[-1]:
            return 1.0
        return 1.0 - float(self._kept_above(d)[1].sum())

    def _kept_above(self, d: float) -> tuple[int, np.ndarray]:
        """Index of the sub-bin holding ``d`` and the volume weights from ``d`` up (log-uniform
        within a sub-bin); ``grid[0] < d < grid[-1]``."""
        lo_d, hi_d = self.grid[:-1], self.grid[1:]
        k = int(np.searchsorted(hi_d, d, side="right"))
        keep = self.volume_weights[k:].copy()
        keep[0] *= (np.log(hi_d[k]) - np.log(d)) / (np.log(hi_d[k]) - np.log(lo_d[k]))
        return k, keep

    def volume_quantile(self, q: float) -> float:
        """Diameter (µm) below which the fraction ``q`` of the particle volume lies (d10: 0.1)."""
        cum = np.concatenate([[0.0], np.cumsum(self.volume_weights)])
        return float(np.exp(np.interp(q, cum, np.log(self.grid))))

    def mean_volume(self) -> float:
        """Number-mean particle volume (µm³)."""
        lo, hi = self._lo, self._hi
        # E[d^3] for number density ∝ d^-3 on a log-uniform-volume bin: (hi - lo)/(E[d^-3]...)
        # number density in ln d within a bin is c e^{-3x}; E[e^{3x}] = (hi-lo)/∫e^{-3x}dx
        e_d3 = (hi - lo) * 3 / (np.exp(-3 * lo) - np.exp(-3 * hi))
        return float(np.pi / 6 * np.sum(self.number_weights * e_d3))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` diameters (µm) by number."""
        k = np.searchsorted(self._cdf, rng.random(n), side="right")
        return self._within_bin(np.minimum(k, len(self.number_weights) - 1), rng)

    def sample_below(self, d_limit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw one diameter per entry of ``d_limit``, from the PSD conditioned on fitting.

        Only whole sub-bins below the limit are used, so every result is ``<= d_limit``; entries
        whose limit is below the smallest sub-bin get NaN (nothing of this PSD fits there).
        """
        d_limit = np.asarray(d_limit, dtype=float)
        j = np.searchsorted(self.grid[1:], d_limit, side="right")  # sub-bins that fit
        f = np.where(j > 0, self._cdf[np.maximum(j - 1, 0)], 0.0)
        k = np.searchsorted(self._cdf, rng.random(d_limit.shape[0]) * f, side="right")
        k = np.minimum(k, np.maximum(j - 1, 0))
        d = self._within_bin(k, rng)
        d[j == 0] = np.nan
        return d

    def _within_bin(self, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # inverse CDF of the number density ∝ e^{-3x} (x = ln d) on [lo, hi]
        lo, hi = self._lo[k], self._hi[k]
        u = rng.random(k.shape[0])
        a, b = np.exp(-3 * lo), np.exp(-3 * hi)
        return np.exp(-np.log(a - u * (a - b)) / 3)

    def sample_volume(self, total_volume: float, rng: np.random.Generator) -> np.ndarray:
        """Draw diameters by number until their sphere volume reaches ``total_volume`` (µm³).

        The last particle is kept only if that brings the total closer to the target.
        Diameters are returned sorted from large to small (the packing order).
        """
        if total_volume <= 0:
            return np.zeros(0)
        n_est = int(total_volume / self.mean_volume() * 1.1) + 16
        d = self.sample(n_est, rng)
        while np.sum(np.pi / 6 * d**3) < total_volume:
            d = np.concatenate([d, self.sample(n_est // 4 + 16, rng)])
        cum = np.cumsum(np.pi / 6 * d**3)
        n = int(np.searchsorted(cum, total_volume))
        if n > 0 and abs(cum[n - 1] - total_volume) < abs(cum[n] - total_volume):
            n -= 1
        return np.sort(d[: n + 1])[::-1]


def lognormal_sampler(
    mu: float, sigma: float, basis: str = "volume", n_grid: int = 400
) -> DiameterSampler:
    """A sampler for a lognormal PSD with ln-mean ``mu`` and ln-width ``sigma`` in ``basis``."""
    if basis == "number":
        mu = mu + 3 * sigma**2  # the equivalent volume-based lognormal
    if sigma <= 1e-9:
        d = math.exp(mu)
        return DiameterSampler(np.array([d * (1 - 1e-9), d * (1 + 1e-9)]), np.array([1.0]))
    zlo, zhi = float(ndtri(Q_LOW)), float(ndtri(Q_HIGH))
    z = np.linspace(zlo, zhi, n_grid + 1)
    grid = np.exp(mu + sigma * z)
    from scipy.special import ndtr

    w = np.diff(ndtr(z))
    return DiameterSampler(grid, w)


def table_sampler(
    diameters: np.ndarray, cumulative: np.ndarray, basis: str = "volume", n_sub: int = 20
) -> DiameterSampler:
    """A sampler for a tabulated cumulative distribution (interpolated linearly in ln d); a
    cumulative that starts above 0 puts that share at the first diameter (a sub-bin 1e-6 wide).

    Examples
    --------
    >>> s = table_sampler([1.7, 3.3, 6.1, 12.0], [0.1, 0.5, 0.9, 1.0])
    >>> [round(s.volume_quantile(q), 2) for q in (0.1, 0.5, 0.9)]
    [1.7, 3.3, 6.1]
    """
    d = np.asarray(diameters, dtype=float)
    c = np.asarray(cumulative, dtype=float)
    x = np.log(d)
    xf = np.concatenate(
        [np.linspace(x[i], x[i + 1], n_sub, endpoint=False) for i in range(len(x) - 1)] + [x[-1:]]
    )
    cf = np.interp(xf, x, c)
    w = np.diff(cf)
    grid = np.exp(xf)
    if c[0] > 0:   # the share at (not below) the first diameter
        grid = np.concatenate([[grid[0] * (1 - 1e-6)], grid])
        w = np.concatenate([[c[0]], w])
    keep_lo = np.flatnonzero(w > 0)
    grid = grid[keep_lo[0] : keep_lo[-1] + 2]
    w = w[keep_lo[0] : keep_lo[-1] + 1]
    if basis == "number":
        # number weights -> volume weights with the bin's mean d^3 (log-uniform within bins)
        lo, hi = np.log(grid[:-1]), np.log(grid[1:])
        e_d3 = (np.exp(3 * hi) - np.exp(3 * lo)) / (3 * (hi - lo))
        w = w * e_d3
    return DiameterSampler(grid, w)


def volume_quantile(diameters: np.ndarray, q: float, weights: np.ndarray | None = None) -> float:
    """Volume-weighted quantile of a set of diameters (e.g. ``q=0.5`` gives the volume d50)."""
    d = np.asarray(diameters, dtype=float)
    if d.size == 0:
        return float("nan")
    v = d**3 if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(d)
    cum = np.cumsum(v[order])
    cum /= cum[-1]
    return float(np.interp(q, cum, d[order]))
