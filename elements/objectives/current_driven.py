"""``CurrentDriven``: a measured current drives the model; voltage (or other columns) is compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, field_serializer

from elements import engine
from elements.core.data import CURRENT, DataError, DataOptions, Measurement, dataframe_sha256, load_measurements
from elements.costs import Cost
from elements.models import unknown_parameters
from elements.objectives import OBJECTIVES, ObjectiveKind
from elements.objectives.simulated import SimulatedSeries
from elements.schema import ModelSpec, ParameterSetName


@OBJECTIVES.register("CurrentDriven")
class CurrentDriven(ObjectiveKind):
    """One measured data set (or a folder of them) and the model that the measured current drives."""

    type: Literal["CurrentDriven"] = "CurrentDriven"
    data: str | DataOptions | pd.DataFrame
    model: ModelSpec = Field(default_factory=ModelSpec)
    parameter_set: ParameterSetName = "Chen2020"
    parameters: dict[str, float] = Field(default_factory=dict)
    variables: list[str] = Field(default_factory=lambda: ["Voltage [V]"], min_length=1)

    @field_serializer("data")
    def _data(self, data: Any) -> Any:
        if isinstance(data, pd.DataFrame):
            return f"dataframe:{dataframe_sha256(data)}"
        return data.model_dump() if isinstance(data, DataOptions) else data

    def measurements(self, name: str, base_dir: Path) -> list[Measurement]:
        """The data sets, each checked to hold every variable it is compared on."""
        found = load_measurements(self.data, base_dir=base_dir)
        for m in found:
            missing = [v for v in self.variables if v not in m.frame.columns]
            if missing:
                raise DataError(
                    f"objective {name!r}: data {m.source!r} has no column {missing[0]!r} to compare "
                    f"against; columns present: {list(m.frame.columns)}. Map it with column_map or "
                    f"change 'variables'."
                )
        return found

    def sources(self, name: str, base_dir: Path) -> dict[str, str]:
        return {m.source: m.sha256 for m in self.measurements(name, base_dir)}

    def unknown_parameters(self, names: list[str]) -> list[str]:
        return unknown_parameters(self.parameter_set, names)

    def build(
        self, name: str, *, inputs: tuple[str, ...], existing: dict[str, float], cost: Cost, base_dir: Path
    ) -> list[SimulatedSeries]:
        found = self.measurements(name, base_dir)
        fixed = {k: v for k, v in existing.items() if k not in inputs}
        fixed.update(self.parameters)
        return [
            SimulatedSeries(
                name=name if len(found) == 1 else f"{name}/{m.name}",
                setup=engine.Setup(
                    model=self.model.type, model_options=dict(self.model.options),
                    parameter_set=self.parameter_set, fixed=fixed, inputs=inputs, outputs=tuple(self.variables),
                    profile=(m.time, m.current), duration=float(m.time[-1]), t_eval=m.time,
                ),
                time=m.time,
                data={v: m.frame[v].to_numpy(dtype=float) for v in self.variables},
                cost_kind=cost,
                weight=self.weight,
                extra={"current": m.frame[CURRENT].to_numpy(dtype=float)},
            )
            for m in found
        ]


__all__ = ["CurrentDriven"]
