"""The base of every spec model (``_spec``, ``_psd_spec``): unknown keys, inf and NaN refused;
a number field takes numbers only (``true`` or ``"70"`` are refused, not read as 1.0 and 70);
frozen once validated."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class SpecModel(BaseModel):
    """A part of an electrode spec: strict about its keys and its numbers, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, v in data.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if field is None or not isinstance(v, (bool, str)):
                continue
            kinds = _types(field.annotation)
            if kinds & {float, int} and not kinds & {bool, str}:
                raise ValueError(f"{name} = {v!r} must be a number")
        return data


def _types(annotation: Any) -> set[type]:
    """The plain types an annotation admits (through ``Annotated``, ``| None``, unions; not
    into containers, whose items pydantic checks)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _types(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_types(a) for a in typing.get_args(annotation)))
    return {annotation} if isinstance(annotation, type) else set()
