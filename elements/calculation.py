"""`calculation`: derive parameter values from those so far, e.g. initial concentrations from a voltage
or an OCP table from half-cell data (kinds in :mod:`elements.calculations`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from elements.calculations import CalculationSpec
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.models import parameter_values
from elements.values import apply


def run(spec: CalculationSpec, ctx: Context) -> Result:
    values = apply(parameter_values(spec.parameter_set, spec.model.type, spec.model.options), ctx.parameters,
                   options=spec.model.options)
    derived = spec.derive_from(ctx.parameters, values, ctx.base_dir)
    return replace(derived, parameters={**ctx.parameters, **derived.parameters})


def inputs(spec: CalculationSpec, base_dir: Path) -> dict[str, str]:
    return spec.sources(base_dir)


ELEMENTS.register("calculation", ElementType(CalculationSpec, run, inputs))
