"""``Resistance``: an equivalent circuit's resistance against measured resistance over SOC (ionworks' objective)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from dask.base import tokenize
from pydantic import Field, model_validator

from elements import ecm, engine
from elements.core.data import DataInput, load_measurements
from elements.costs import Cost
from elements.models import check_parameter_set, parameter_values, unknown_parameters
from elements.objectives import OBJECTIVES, Objective, ObjectiveKind
from elements.objectives.current_driven import ECM_SET, label
from elements.schema import ModelSpec, ParameterSetName
from elements.values import apply

SOC, RESISTANCE = "SOC", "Resistance [Ohm]"
AMBIENT = "Ambient temperature [K]"


@OBJECTIVES.register("Resistance")
class Resistance(ObjectiveKind):
    """Measured resistance over SOC (``SOC`` in 0-1 and ``Resistance [Ohm]`` columns) against the sum of
    the ECM's ``resistances`` at those SOCs, without a time solve.

    ``resistances`` says what was measured: ``["R0 [Ohm]"]`` (the default) for an instantaneous step,
    ``["R0 [Ohm]", "R1 [Ohm]"]`` for a pulse's resistance once the fast pair has charged. Each is
    evaluated at the ambient temperature and zero current, so a fitted number, a table over SOC, or a
    factor on the parameter set's function (``R0 [Ohm] factor``) are all compared.

    Examples
    --------
    >>> Resistance(data="file:dcir.csv", resistances=["R0 [Ohm]", "R1 [Ohm]"]).parameter_set
    'ECM_Example'
    """

    type: Literal["Resistance"] = "Resistance"
    data: DataInput
    model: ModelSpec = Field(default_factory=lambda: ModelSpec(type=ecm.MODEL))
    parameter_set: ParameterSetName = ECM_SET
    parameters: dict[str, Any] = Field(default_factory=dict)
    resistances: list[str] = Field(default_factory=lambda: ["R0 [Ohm]"], min_length=1)

    @model_validator(mode="after")
    def _circuit(self) -> Resistance:
        if self.model.type != ecm.MODEL:
            raise ValueError(f"model {self.model.type!r}: Resistance compares an equivalent circuit's resistances; "
                             f"use model: {{type: ECM}}")
        check_parameter_set(self.model.type, self.parameter_set)
        unknown = [r for r in self.resistances if not ecm.is_resistance(r)]
        if unknown:
            raise ValueError(f"resistances {unknown}: give the circuit's 'R0 [Ohm]', 'R1 [Ohm]', ... up to "
                             f"'rc pairs'")
        return self

    def measurements(self, base_dir: Path) -> list[Any]:
        return load_measurements(self.data, base_dir=base_dir, required=(SOC, RESISTANCE))

    def sources(self, name: str, base_dir: Path) -> dict[str, str]:
        return {m.source: m.sha256 for m in self.measurements(base_dir)}

    def unknown_parameters(self, names: list[str]) -> list[str]:
        return unknown_parameters(self.parameter_set, names, self.model.type, self.model.options)

    def unknown_knots(self, names: list[str], tables: dict[str, tuple[int, ...] | None]) -> list[str]:
        return unknown_parameters(self.parameter_set, names, self.model.type, self.model.options, tables=tables)

    def build(
        self, name: str, *, inputs: tuple[str, ...], existing: dict[str, Any], cost: Cost, base_dir: Path
    ) -> list[CircuitResistance]:
        given = {k: v for k, v in {**existing, **self.parameters}.items() if k not in inputs}
        found = self.measurements(base_dir)
        return [CircuitResistance(name=label(name, found, m), parameter_set=self.parameter_set,
                                  options=dict(self.model.options), given=given, inputs=inputs,
                                  resistances=tuple(self.resistances), soc=m.frame[SOC].to_numpy(dtype=float),
                                  data=m.frame[RESISTANCE].to_numpy(dtype=float), cost_kind=cost, weight=self.weight)
                for m in found]


@dataclass(frozen=True, eq=False)
class CircuitResistance(Objective):
    """Worker side: the circuit's resistance at one measurement's SOCs, built once per process."""

    name: str
    parameter_set: str
    options: dict[str, Any]
    given: dict[str, Any]
    inputs: tuple[str, ...]
    resistances: tuple[str, ...]
    soc: np.ndarray
    data: np.ndarray
    cost_kind: Cost
    weight: float = 1.0

    def _built(self) -> Any:
        import pybamm

        def build() -> Any:
            values = apply(parameter_values(self.parameter_set, ecm.MODEL, self.options), self.given, inputs=self.inputs)
            soc, ones = pybamm.Vector(self.soc), pybamm.Vector(np.ones_like(self.soc))
            # every argument one value per SOC: the parameter set's 3-D tables interpolate point by point
            at = {"Cell temperature [degC]": (pybamm.Parameter(AMBIENT) - 273.15) * ones, "Current [A]": 0 * ones,
                  "SoC": soc}
            total = 0 * ones  # a number-valued resistance then still gives one value per SOC
            for name in self.resistances:
                total += pybamm.FunctionParameter(name, at)
            return values.process_symbol(total)

        return engine.cached("resistance-" + tokenize(self.parameter_set, self.options, sorted(self.given.items()),
                                                      self.inputs, self.resistances, self.soc), build)

    def solve(self, X: np.ndarray) -> list[engine.Outcome]:
        total = self._built()
        outcomes = []
        for row in np.atleast_2d(X):
            found = np.asarray(total.evaluate(inputs=dict(zip(self.inputs, map(float, row)))), dtype=float).ravel()
            outcomes.append(engine.Outcome({RESISTANCE: found}) if engine.finite({RESISTANCE: found})
                            else engine.failed("the resistance is NaN or inf at these SOCs"))
        return outcomes

    def cost(self, outcome: engine.Outcome, cost: Cost | None = None) -> float:
        if outcome.value is None:
            return float("inf")
        return float((cost or self.cost_kind)(outcome.value[RESISTANCE], self.data, RESISTANCE))

    def traces(self, outcome: engine.Outcome) -> xr.Dataset:
        model = outcome.value[RESISTANCE] if outcome.value else np.full_like(self.data, np.nan)
        return xr.Dataset({f"data {RESISTANCE}": ("point", self.data), f"model {RESISTANCE}": ("point", model)},
                          coords={SOC: ("point", self.soc)},
                          attrs={"status": str(outcome.status), "message": outcome.message})


__all__ = ["CircuitResistance", "Resistance"]
