"""``InitialState``: both initial concentrations at a state of charge or a voltage."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import xarray as xr
from pydantic import Field

from elements.calculations import CALCULATIONS, CalculationSpec
from elements.core.status import Summary
from elements.element import Result

NAMES = tuple(f"Initial concentration in {e} electrode [mol.m-3]" for e in ("negative", "positive"))


@CALCULATIONS.register("InitialState")
class InitialState(CalculationSpec):
    """Initial particle concentrations for a state of charge (0-1) or a voltage ("4.1 V")."""

    calculation: Literal["InitialState"]
    initial_state: float | str = Field(description="state of charge in [0, 1] or a voltage such as '4.1 V'")

    def derive(self, values: Any, base_dir: Path) -> Result:
        import pybamm

        # PyBaMM reads defaulted option values (e.g. 'open-circuit potential'): a plain dict lacks them.
        values.set_initial_state(self.initial_state, options=pybamm.BatteryModelOptions(self.model.options))
        derived = {name: float(values[name]) for name in NAMES}
        ds = xr.Dataset({"value": ("parameter", list(derived.values()))}, coords={"parameter": list(derived)})
        return Result(parameters=derived, datasets={"": ds}, summary=Summary(values=derived))
