"""``OCPHalfCell``: an electrode's open-circuit potential against half-cell data, on a fitted stoichiometry scale.

No time solve: the model voltage at a measured ``s`` (the data's ``Stoichiometry``) is

    U(offset + scale * s),

with ``U`` the parameter set's OCP function, or a table from an ``OCPDataInterpolant`` upstream. Fitting
``offset`` and ``scale`` aligns a measurement whose stoichiometry is uncertain (a half cell's lithium
content from its capacity) with the OCP; any parameter the OCP depends on can be fitted beside them
(``"Negative electrode OCP [V] factor"``, or a parameter of a user's OCP function).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from dask.base import tokenize
from pydantic import Field

from elements import engine
from elements.calculations.ocp_data_interpolant import STOICHIOMETRY, ocp_name
from elements.core.data import VOLTAGE, DataInput, load_measurements
from elements.costs import Cost
from elements.models import parameter_values, unknown_parameters
from elements.objectives import OBJECTIVES, Objective, ObjectiveKind
from elements.objectives.current_driven import label
from elements.schema import ParameterSetName
from elements.values import apply


def offset_name(electrode: str) -> str:
    return f"{electrode.capitalize()} electrode OCP stoichiometry offset"


def scale_name(electrode: str) -> str:
    return f"{electrode.capitalize()} electrode OCP stoichiometry scale"


@OBJECTIVES.register("OCPHalfCell")
class OCPHalfCell(ObjectiveKind):
    """Fit the stoichiometry scale of half-cell OCP data (``Stoichiometry``, ``Voltage [V]``) to an OCP.

    Fit ``"<Electrode> electrode OCP stoichiometry offset"`` (0 when not fitted) and ``"... scale"``
    (1), and any parameter the OCP depends on; ``parameters`` holds others fixed. A candidate that
    puts a measured point outside stoichiometry [0, 1] is infeasible.
    """

    type: Literal["OCPHalfCell"] = "OCPHalfCell"
    electrode: Literal["negative", "positive"]
    data: DataInput
    parameter_set: ParameterSetName = "Chen2020"
    parameters: dict[str, float] = Field(default_factory=dict)

    @property
    def scale_names(self) -> tuple[str, str]:
        return offset_name(self.electrode), scale_name(self.electrode)

    def measurements(self, base_dir: Path) -> list[Any]:
        return load_measurements(self.data, base_dir=base_dir, required=(STOICHIOMETRY, VOLTAGE))

    def sources(self, name: str, base_dir: Path) -> dict[str, str]:
        return {m.source: m.sha256 for m in self.measurements(base_dir)}

    def unknown_parameters(self, names: list[str]) -> list[str]:
        return unknown_parameters(self.parameter_set, [n for n in names if n not in self.scale_names])

    def build(
        self, name: str, *, inputs: tuple[str, ...], existing: dict[str, Any], cost: Cost, base_dir: Path
    ) -> list[HalfCellOCP]:
        given = {k: v for k, v in {**existing, **self.parameters}.items() if k not in inputs}
        found = self.measurements(base_dir)
        return [
            HalfCellOCP(name=label(name, found, m), electrode=self.electrode, parameter_set=self.parameter_set,
                        given=given, inputs=inputs, stoichiometry=m.frame[STOICHIOMETRY].to_numpy(dtype=float),
                        data={VOLTAGE: m.voltage.astype(float)}, cost_kind=cost, weight=self.weight)
            for m in found
        ]


@dataclass(frozen=True, eq=False)
class HalfCellOCP(Objective):
    """Worker side: the OCP at one measurement's stoichiometries, built once per process."""

    name: str
    electrode: str
    parameter_set: str
    given: dict[str, Any]
    inputs: tuple[str, ...]
    stoichiometry: np.ndarray
    data: dict[str, np.ndarray]
    cost_kind: Cost
    weight: float = 1.0

    def _built(self) -> tuple[Any, Any]:
        """The processed OCP symbol and the model stoichiometry, of the inputs."""
        import pybamm

        def build() -> tuple[Any, Any]:
            offset, scale = offset_name(self.electrode), scale_name(self.electrode)
            values = apply(parameter_values(self.parameter_set),
                           {k: v for k, v in self.given.items() if k not in (offset, scale)},
                           inputs=[n for n in self.inputs if n not in (offset, scale)])
            shift, stretch = (pybamm.InputParameter(n) if n in self.inputs else pybamm.Scalar(self.given.get(n, d))
                              for n, d in ((offset, 0.0), (scale, 1.0)))
            sto = shift + stretch * pybamm.Vector(self.stoichiometry)
            e = self.electrode.capitalize()
            ocp = pybamm.FunctionParameter(ocp_name(self.electrode), {f"{e} particle stoichiometry": sto})
            return values.process_symbol(ocp), sto

        return engine.cached("ocp-" + tokenize(self.parameter_set, sorted(self.given.items()), self.inputs,
                                               self.electrode, self.stoichiometry), build)

    def solve(self, X: np.ndarray) -> list[engine.Outcome]:
        ocp, sto = self._built()
        outcomes = []
        for row in np.atleast_2d(X):
            inputs = dict(zip(self.inputs, map(float, row)))
            x = np.asarray(sto.evaluate(inputs=inputs), dtype=float).ravel()
            if x.min() < 0 or x.max() > 1:
                outcomes.append(engine.failed(f"stoichiometry spans [{x.min():.4g}, {x.max():.4g}], outside [0, 1]"))
                continue
            voltage = np.asarray(ocp.evaluate(inputs=inputs), dtype=float).ravel()
            finite = engine.finite({VOLTAGE: voltage})
            outcomes.append(engine.Outcome({VOLTAGE: voltage, STOICHIOMETRY: x}) if finite
                            else engine.failed("the OCP is NaN or inf at these stoichiometries"))
        return outcomes

    def cost(self, outcome: engine.Outcome, cost: Cost | None = None) -> float:
        if outcome.value is None:
            return float("inf")
        return float((cost or self.cost_kind)(outcome.value[VOLTAGE], self.data[VOLTAGE]))

    def traces(self, outcome: engine.Outcome) -> xr.Dataset:
        nan = np.full_like(self.stoichiometry, np.nan)
        return xr.Dataset(
            {f"data {VOLTAGE}": ("point", self.data[VOLTAGE]),
             f"model {VOLTAGE}": ("point", outcome.value[VOLTAGE] if outcome.value else nan),
             f"model {STOICHIOMETRY}": ("point", outcome.value[STOICHIOMETRY] if outcome.value else nan)},
            coords={STOICHIOMETRY: ("point", self.stoichiometry)},
            attrs={"status": str(outcome.status), "message": outcome.message},
        )


__all__ = ["HalfCellOCP", "OCPHalfCell", "offset_name", "scale_name"]
