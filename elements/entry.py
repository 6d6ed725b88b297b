"""`entry`: seeds the parameter values that later elements start from.

An entry gives ``values`` by name — numbers, tables, or functions in PyBaMM's serialised form, as
ionworks-schema's ``DirectEntry(parameters=pybamm.ParameterValues("Chen2020"))`` writes a whole
parameter set — or names an entry of ionworks' library (``{"name": "bruggeman", ...}``, see
:mod:`elements.direct_entries`). Its values are laid over those so far and passed on.
"""

from __future__ import annotations

import numbers
from typing import Any, Literal

import xarray as xr
from pydantic import Field, field_validator, model_validator

from elements.core.status import Summary
from elements.direct_entries import DIRECT_ENTRIES
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.schema import Strict, kind_of
from elements.values import deserialised, is_serialised, is_table, shape_of

# A summary lists an entry's values up to this many; a whole parameter set is counted instead.
LISTED = 12


class EntrySpec(Strict):
    """Values by name; ionworks-schema's ``DirectEntry`` writes the same ``values``, with ``source`` and
    ``provenance`` (kept with the spec, no effect on values). ``function`` is a library entry, which
    ionworks-schema writes as ``{"name": NAME, <arguments>}`` in place of ``values``."""

    element_type: Literal["entry"]
    values: dict[str, float | dict[str, Any]] = Field(default_factory=dict)
    function: kind_of(DIRECT_ENTRIES) | None = None
    source: str | None = None
    provenance: dict[str, dict[str, Any]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _by_name(cls, value: Any) -> Any:
        if isinstance(value, dict) and "name" in value:
            value = dict(value)
            own = {k: value.pop(k) for k in ("element_type", "values", "source", "provenance") if k in value}
            return {**own, "function": {"type": value.pop("name"), **value}}
        return value

    @field_validator("values")
    @classmethod
    def _readable(cls, values: dict[str, Any]) -> dict[str, Any]:
        """A mapping is a table or a PyBaMM-serialised function that PyBaMM can read back."""
        problems = []
        for name, value in values.items():
            if isinstance(value, numbers.Number) or is_table(value):
                continue
            if not is_serialised(value):
                problems.append(f"{name!r}: a value is a number, a table {{x: [...], y: [...]}} or a function in "
                                f"PyBaMM's serialised form (ParameterValues.to_json()); got keys {sorted(value)}")
                continue
            try:
                deserialised(value)
            except Exception as exc:  # noqa: BLE001 - any reason PyBaMM cannot read it is the user's to see
                problems.append(f"{name!r}: PyBaMM cannot read this serialised function ({type(exc).__name__}: "
                                f"{exc}); write it with pybamm.ParameterValues(...).to_json()")
        if problems:
            raise ValueError("; ".join(problems))
        return values

    def all_values(self) -> dict[str, Any]:
        """The library entry's values, then those given by name."""
        return {**(self.function.values() if self.function else {}), **self.values}

    def passed_tables(self, earlier: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """The tables it passes on, with their shapes (a later fit may fit their knots)."""
        return {name: shape_of(value) for name, value in self.all_values().items() if is_table(value)}

    def provides(self) -> set[str]:
        """Names later elements may set or fit: the values', and those the library entry introduces."""
        return {*self.values, *(self.function.introduces if self.function else ()),
                *(self.function.values() if self.function else {})}


def run(spec: EntrySpec, ctx: Context) -> Result:
    given = spec.all_values()
    numbers_ = {n: float(v) for n, v in given.items() if isinstance(v, numbers.Number)}
    others = {n: v for n, v in given.items() if n not in numbers_}
    ds = xr.Dataset({"value": ("parameter", list(numbers_.values()))}, coords={"parameter": list(numbers_)})
    ds.attrs["functions"] = others  # tables and serialised functions, as written
    summary = (Summary(values=numbers_) if len(given) <= LISTED and not others else
               Summary(counts={"values": len(numbers_), "functions": len(others)}))
    return Result(parameters={**ctx.parameters, **given}, datasets={"": ds}, summary=summary)


ELEMENTS.register("entry", ElementType(EntrySpec, run))
