"""The PSD part of a spec, as written on a mixing sheet: a lognormal through measured quantiles
or a measured cumulative table (the samplers they build are in ``_psd``)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ._psd import _Z90, DiameterSampler, lognormal_parameters, lognormal_sampler, table_sampler
from ._spec_model import SpecModel

#: Relative miss of a written d10 or d90 beyond which a lognormal through three quantiles warns.
QUANTILE_MISS_WARNING = 0.15


class LognormalPSD(SpecModel):
    """Lognormal PSD from any two of d10/d50/d90.

    Given all three, the median is the written d50 and the width the mean of the two
    half-widths ``ln(d90/d10) / (2 z90)``: a change of d50 alone (a sweep, ``--set``) moves the
    whole distribution and keeps its width.  A lognormal cannot pass through three arbitrary
    quantiles, so the built d10 and d90 may differ from the written ones
    (:meth:`quantile_misses`; a warning beyond 15 %); a ``table`` PSD keeps every point.
    """

    kind: Literal["lognormal"] = "lognormal"
    d10_um: Annotated[float, Field(gt=0)] | None = None
    d50_um: Annotated[float, Field(gt=0)] | None = None
    d90_um: Annotated[float, Field(gt=0)] | None = None
    basis: Literal["volume", "number"] = "volume"
    """Laser diffraction gives volume-based quantiles (the default)."""

    @model_validator(mode="after")
    def _check(self) -> LognormalPSD:
        given = [(n, v) for n, v in (("d10_um", self.d10_um), ("d50_um", self.d50_um),
                                     ("d90_um", self.d90_um)) if v is not None]
        if len(given) < 2:
            raise ValueError(
                "a lognormal psd needs at least two of d10_um, d50_um, d90_um, "
                f"got only {[n for n, _ in given]}"
            )
        for (n1, v1), (n2, v2) in zip(given, given[1:], strict=False):
            if not v1 < v2:
                raise ValueError(f"psd quantiles must increase: {n1}={v1} is not < {n2}={v2}")
        return self

    def sampler(self) -> DiameterSampler:
        mu, sigma = lognormal_parameters(self.d10_um, self.d50_um, self.d90_um)
        return lognormal_sampler(mu, sigma, self.basis)

    def quantile_misses(self) -> dict[str, tuple[float, float]]:
        """``{name: (written, built)}`` (µm) of a d10 / d90 the lognormal does not pass through
        (given with all three quantiles; of the untruncated lognormal in ``basis``).

        Examples
        --------
        >>> psd = LognormalPSD(d10_um=0.44, d50_um=0.79, d90_um=1.82)   # LPSCl, measured
        >>> {k: round(b, 3) for k, (w, b) in psd.quantile_misses().items()}
        {'d10_um': 0.388, 'd90_um': 1.607}
        """
        if None in (self.d10_um, self.d50_um, self.d90_um):
            return {}
        mu, sigma = lognormal_parameters(self.d10_um, self.d50_um, self.d90_um)
        return {"d10_um": (self.d10_um, math.exp(mu - sigma * _Z90)),
                "d90_um": (self.d90_um, math.exp(mu + sigma * _Z90))}


class TablePSD(SpecModel):
    """Tabulated PSD: increasing diameters and the cumulative fraction passing (0..1).

    Between the points the cumulative is interpolated linearly in ln d.  A table whose
    cumulative starts above 0 puts that share at its first diameter (nothing is smaller): a
    table ``[1.7, 3.3, 6.1, 12]`` / ``[0.1, 0.5, 0.9, 1]`` has d10 = 1.7 µm.
    """

    kind: Literal["table"]
    diameters_um: list[Annotated[float, Field(gt=0)]]
    cumulative: list[Annotated[float, Field(ge=0, le=1)]]
    basis: Literal["volume", "number"] = "volume"

    @model_validator(mode="after")
    def _check(self) -> TablePSD:
        d, c = self.diameters_um, self.cumulative
        if len(d) < 2 or len(d) != len(c):
            raise ValueError(
                "a table psd needs diameters_um and cumulative of equal length >= 2, "
                f"got {len(d)} and {len(c)}"
            )
        if any(b <= a for a, b in zip(d, d[1:], strict=False)):
            raise ValueError(f"psd diameters_um must strictly increase, got {d}")
        if any(b < a for a, b in zip(c, c[1:], strict=False)):
            raise ValueError(f"psd cumulative must not decrease, got {c}")
        if abs(c[-1] - 1.0) > 1e-6:
            raise ValueError(f"psd cumulative must end at 1, got {c[-1]}")
        return self

    def sampler(self) -> DiameterSampler:
        return table_sampler(self.diameters_um, self.cumulative, self.basis)


PSD = Annotated[LognormalPSD | TablePSD, Field(discriminator="kind")]
