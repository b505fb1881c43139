"""The base of every spec model (``_spec``, ``_psd_spec``): unknown keys, inf and NaN refused;
frozen once validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SpecModel(BaseModel):
    """A part of an electrode spec: strict about its keys, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
