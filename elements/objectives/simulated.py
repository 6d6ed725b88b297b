"""A measured time series compared with a PyBaMM simulation: the worker side of PyBaMM objectives."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import xarray as xr

from elements import engine
from elements.core.status import SolveStatus
from elements.costs import Cost
from elements.objectives import Objective


@dataclass(frozen=True, eq=False)
class SimulatedSeries(Objective):
    """Compare ``data`` (variable -> values on ``time``) with the setup's solution on the same times.

    The cost is ``sum(weights[v] * cost(model[v] / scales[v], data[v] / scales[v]))`` over the
    compared variables (weights and scales 1 where not given).
    """

    name: str
    setup: engine.Setup
    time: np.ndarray
    data: dict[str, np.ndarray]
    cost_kind: Cost
    weight: float = 1.0
    extra: dict[str, np.ndarray] | None = None  # other measured columns kept in the traces (current)
    weights: dict[str, float] | None = None
    scales: dict[str, float] | None = None

    def solve(self, X: np.ndarray) -> list[engine.Outcome]:
        inputs = [dict(zip(self.setup.inputs, map(float, row))) for row in np.atleast_2d(X)]
        return engine.solve(self.setup, inputs, self.reader())

    def reader(self) -> engine.Read:
        """How a solution becomes an outcome: its values on the data's times."""
        return partial(_on_data_times, names=tuple(self.data), n=len(self.time))

    def cost(self, outcome: engine.Outcome, cost: Cost | None = None) -> float:
        if outcome.value is None:
            return float("inf")
        measure = cost or self.cost_kind
        weights, scales = self.weights or {}, self.scales or {}
        return float(sum(
            weights.get(v, 1.0) * measure(outcome.value[v] / scales.get(v, 1.0), data / scales.get(v, 1.0), v)
            for v, data in self.data.items()
        ))

    def traces(self, outcome: engine.Outcome) -> xr.Dataset:
        found: dict[str, Any] = {name: ("time", values) for name, values in (self.extra or {}).items()}
        for v, data in self.data.items():
            found[f"data {v}"] = ("time", data)
            found[f"model {v}"] = ("time", outcome.value[v] if outcome.value else np.full_like(data, np.nan))
        return xr.Dataset(found, coords={"time": self.time},
                          attrs={"status": str(outcome.status), "message": outcome.message})


def _on_data_times(solution: Any, *, names: tuple[str, ...], n: int) -> engine.Outcome:
    values = {name: np.asarray(solution[name].data, dtype=float) for name in names}
    if not engine.finite(values):
        return engine.failed("solution contains NaN or inf")
    if all(len(v) == n for v in values.values()):
        return engine.Outcome(values)
    # A termination event (e.g. the voltage cut-off) stopped the solve before the data ends: hold the
    # last value so the cost stays finite and penalises the shortfall.
    padded = {name: np.pad(v, (0, n - len(v)), mode="edge") for name, v in values.items()}
    return engine.Outcome(padded, SolveStatus.TERMINATED, f"stopped at t={float(solution.t[-1]):.6g} s by {solution.termination}")
