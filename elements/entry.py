"""`entry`: seeds the parameter values that later elements start from."""

from __future__ import annotations

from typing import Any, Literal

import xarray as xr
from pydantic import Field

from elements.core.status import Summary
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.schema import Strict


class EntrySpec(Strict):
    """Values by name; ionworks-schema's ``DirectEntry`` writes the same ``values``, with ``source`` and
    ``provenance`` (kept with the spec, no effect on values)."""

    element_type: Literal["entry"]
    values: dict[str, float] = Field(default_factory=dict)
    source: str | None = None
    provenance: dict[str, dict[str, Any]] | None = None


def run(spec: EntrySpec, ctx: Context) -> Result:
    names = list(spec.values)
    ds = xr.Dataset({"value": ("parameter", [spec.values[n] for n in names])}, coords={"parameter": names})
    return Result(parameters=dict(spec.values), datasets={"": ds}, summary=Summary(values=dict(spec.values)))


ELEMENTS.register("entry", ElementType(EntrySpec, run))
