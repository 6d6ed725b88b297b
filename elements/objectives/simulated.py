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
from elements.objectives import Gradient, Objective


@dataclass(frozen=True, eq=False)
class SimulatedSeries(Objective):
    """Compare ``data`` (variable -> values on ``time``) with the setup's solution on the same times.

    The cost is ``sum(weights[v] * cost(model[v] / scales[v], data[v] / scales[v]))`` over the
    compared variables (weights and scales 1 where not given). Its gradient is that sum's chain rule:
    jax's d cost / d model times IDAKLU's sensitivities d model / d x (a current drive only).
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

    def reader(self, *, sensitivities: bool = False) -> engine.Read:
        """How a solution becomes an outcome: its values on the data's times (and their sensitivities)."""
        return partial(_on_data_times, names=tuple(self.data), n=len(self.time),
                       sensitivities=self.setup.inputs if sensitivities else ())

    @property
    def has_gradient(self) -> bool:  # type: ignore[override]
        return self.setup.experiment is None

    def value_and_grad(self, X: np.ndarray, *, residuals: bool = False) -> list[Gradient]:
        if not self.has_gradient:
            return super().value_and_grad(X, residuals=residuals)
        inputs = [dict(zip(self.setup.inputs, map(float, row))) for row in np.atleast_2d(X)]
        outcomes = engine.solve(self.setup, inputs, self.reader(sensitivities=True), sensitivities=True)
        return [self.gradient(outcome, residuals=residuals) for outcome in outcomes]

    def gradient(self, outcome: engine.Outcome, *, residuals: bool = False) -> Gradient:
        """The cost of an outcome solved with sensitivities, and its chain rule."""
        d = len(self.setup.inputs)
        if outcome.value is None:
            n = sum(len(data) for data in self.data.values())
            return Gradient(outcome, float("inf"), np.full(d, np.nan),
                            *((np.full(n, np.nan), np.full((n, d), np.nan)) if residuals else ()))
        weights, scales = self.weights or {}, self.scales or {}
        cost, gradient, r, J = 0.0, np.zeros(d), [], []
        for v, data in self.data.items():
            w, scale, S = weights.get(v, 1.0), scales.get(v, 1.0), outcome.sensitivities[v]
            value, d_model = self.cost_kind.value_and_grad(outcome.value[v] / scale, data / scale, v)
            cost += w * value
            gradient += w * (d_model / scale) @ S
            if residuals:  # sum(r**2) = sum over variables of w * mean(((model - data) / scale)**2)
                factor = np.sqrt(w / len(data)) / scale
                r.append(factor * (outcome.value[v] - data))
                J.append(factor * S)
        if residuals:
            return Gradient(outcome, cost, gradient, np.concatenate(r), np.vstack(J))
        return Gradient(outcome, cost, gradient)

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


def _on_data_times(
    solution: Any, *, names: tuple[str, ...], n: int, sensitivities: tuple[str, ...] = ()
) -> engine.Outcome:
    """The solution's ``names`` on the data's ``n`` times; with ``sensitivities`` (input names), each
    variable's d value / d input as a (times, inputs) array in that order (PyBaMM's "all" is sorted)."""
    values = {name: np.asarray(solution[name].data, dtype=float) for name in names}
    found = None
    if sensitivities:
        found = {name: np.column_stack([np.ravel(solution[name].sensitivities[p]) for p in sensitivities])
                 for name in names}
    if not engine.finite(values) or found is not None and not engine.finite(found):
        return engine.failed("solution contains NaN or inf")
    if all(len(v) == n for v in values.values()):
        return engine.Outcome(values, sensitivities=found)
    # A termination event (e.g. the voltage cut-off) stopped the solve before the data ends: hold the
    # last value so the cost stays finite and penalises the shortfall. A voltage held at its cut-off
    # does not move with the inputs, so its sensitivities there are zero (for another variable this
    # leaves out how the stop time moves).
    padded = {name: np.pad(v, (0, n - len(v)), mode="edge") for name, v in values.items()}
    if found is not None:
        found = {name: np.pad(S, ((0, n - len(S)), (0, 0))) for name, S in found.items()}
    return engine.Outcome(padded, SolveStatus.TERMINATED, f"stopped at t={float(solution.t[-1]):.6g} s by {solution.termination}",
                          sensitivities=found)
