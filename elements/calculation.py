"""`calculation`: derive parameter values from those so far, e.g. initial concentrations from a voltage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import xarray as xr
from pydantic import AliasChoices, Field, field_validator

from elements.core.status import Summary
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.models import parameter_values
from elements.core.registry import Registry
from elements.schema import ModelSpec, ParameterSetName, Strict, known

CALCULATIONS: Registry[Callable[..., dict[str, float]]] = Registry("calculation")


@CALCULATIONS.register("InitialState")
def initial_state(values: Any, model: ModelSpec, *, initial_state: float | str) -> dict[str, float]:
    """Initial particle concentrations for a state of charge (0-1) or a voltage ("4.1 V")."""
    names = [f"Initial concentration in {e} electrode [mol.m-3]" for e in ("negative", "positive")]
    import pybamm

    # PyBaMM reads defaulted option values (e.g. 'open-circuit potential'): a plain dict lacks them.
    values.set_initial_state(initial_state, options=pybamm.BatteryModelOptions(model.options))
    return {name: float(values[name]) for name in names}


class CalculationSpec(Strict):
    element_type: Literal["calculation"]
    calculation: str = Field(validation_alias=AliasChoices("calculation", "type"))  # ionworks-schema: type
    parameter_set: ParameterSetName = "Chen2020"
    model: ModelSpec = Field(default_factory=ModelSpec)
    initial_state: float | str = Field(description="state of charge in [0, 1] or a voltage such as '4.1 V'")

    _known = field_validator("calculation")(lambda cls, v: known(CALCULATIONS, v))


def run(spec: CalculationSpec, ctx: Context) -> Result:
    values = parameter_values(spec.parameter_set)
    values.update(ctx.parameters, check_already_exists=False)
    derived = CALCULATIONS[spec.calculation](values, spec.model, initial_state=spec.initial_state)
    names = list(derived)
    ds = xr.Dataset({"value": ("parameter", [derived[n] for n in names])}, coords={"parameter": names})
    return Result(parameters={**ctx.parameters, **derived}, datasets={"": ds}, summary=Summary(values=derived))


ELEMENTS.register("calculation", ElementType(CalculationSpec, run))
