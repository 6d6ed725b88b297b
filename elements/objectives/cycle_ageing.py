"""``CycleAgeing``: degradation summaries per cycle (``LLI [%]``, ``LAM_ne [%]``, ``LAM_pe [%]``) against a
many-cycle PyBaMM Experiment with the model's degradation options.

Data have a ``Cycle number`` column and one column per compared metric, one row per reference test.
A metric at cycle ``n`` is its value when cycle ``n`` starts: PyBaMM's summary variable at the end
of cycle ``n - 1``, and 0 at cycle 0 (losses count from the start), as ionworks-schema's generator
``generate_cycle_ageing.py`` reads them. The experiment is written as ionworks-schema writes it,
``{"cycles": [[{"type": "c-rate", "value": 1.0, "terminations": [...]}, ...], ...]}``, and read by
PyBaMM's experiment serialiser. Each candidate is one solve of the whole experiment on a worker,
under the time limit and failure handling of every solve.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import Field, field_validator

from elements import engine
from elements.core.data import DataError
from elements.core.registry import unknown_name
from elements.costs import Cost
from elements.objectives import OBJECTIVES
from elements.objectives.current_driven import CurrentDriven, Variable, label
from elements.objectives.simulated import SimulatedSeries

CYCLE = "Cycle number"
# ionworks' default metrics -> PyBaMM's summary variables
METRICS = {"LLI [%]": "Loss of lithium inventory [%]",
           "LAM_ne [%]": "Loss of active material in negative electrode [%]",
           "LAM_pe [%]": "Loss of active material in positive electrode [%]"}


@OBJECTIVES.register("CycleAgeing")
class CycleAgeing(CurrentDriven):
    """Fit degradation parameters (SEI, loss of active material) to per-cycle summaries.

    ``variables`` (ionworks' ``objective_variables``) name the compared metrics, ``LLI [%]`` by
    default; ``model.options`` carry PyBaMM's degradation options (``{"SEI": "solvent-diffusion
    limited"}``); ``experiment`` is the cycling, ``{"cycles": [[step, ...], ...]}``. Everything else
    is as for :class:`~elements.objectives.current_driven.CurrentDriven`.
    """

    type: Literal["CycleAgeing"] = "CycleAgeing"  # type: ignore[assignment]
    experiment: dict[Literal["cycles"], list[list[dict[str, Any]]]]
    variables: list[str] | dict[str, Variable] = Field(default_factory=lambda: ["LLI [%]"], min_length=1)
    metrics: dict[str, Any] | None = None

    @field_validator("metrics")
    @classmethod
    def _default_metrics(cls, metrics: dict[str, Any] | None) -> None:
        if metrics:
            raise ValueError(f"metrics {sorted(metrics)}: ionworks' custom metrics (CyclewiseMetric, "
                             f"ComposedMetric ...) are not supported; compare the default ones, {sorted(METRICS)}")
        return None

    @field_validator("experiment")
    @classmethod
    def _readable(cls, experiment: dict[str, Any]) -> dict[str, Any]:
        from pybamm.expression_tree.operations.serialise import Serialise

        try:
            Serialise.deserialise_experiment(experiment)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"PyBaMM cannot read this experiment: {exc}") from exc
        return experiment

    @field_validator("variables")
    @classmethod
    def _known_metrics(cls, variables: Any) -> Any:
        problems = [unknown_name("cycle-ageing metric", v, METRICS) for v in variables if v not in METRICS]
        if problems:
            raise ValueError("; ".join(problems))
        return variables

    def required(self) -> tuple[str, ...]:
        return (CYCLE, *self.weights)

    def build(
        self, name: str, *, inputs: tuple[str, ...], existing: dict[str, Any], cost: Cost, base_dir: Path
    ) -> list[CycleSeries]:
        found = self.measurements(name, base_dir)
        cycles = tuple(tuple(c) for c in self.experiment["cycles"])
        objectives = []
        for m in found:
            at = m.frame[CYCLE].to_numpy(dtype=int)
            if at.min() < 0 or at.max() > len(cycles):
                raise DataError(f"objective {name!r}: data {m.source!r} has cycle numbers {at.min()}..{at.max()}; "
                                f"the experiment has {len(cycles)} cycles")
            setup = engine.Setup(
                model=self.model.type, model_options=dict(self.model.options), parameter_set=self.parameter_set,
                fixed=self.fixed(name, m, inputs=inputs, existing=existing), inputs=inputs,
                outputs=tuple(METRICS[v] for v in self.weights), experiment=cycles,
            )
            data = {v: m.frame[v].to_numpy(dtype=float) for v in self.weights}
            objectives.append(CycleSeries(name=label(name, found, m), setup=setup, time=at.astype(float), data=data,
                                          cost_kind=cost, weight=self.weight, weights=self.weights))
        return objectives


class CycleSeries(SimulatedSeries):
    """An ageing experiment's summary variables at the measured cycle numbers (``time`` holds them)."""

    def reader(self) -> engine.Read:
        return partial(at_cycles, names=tuple(self.data), cycles=self.time.astype(int))

    def traces(self, outcome: engine.Outcome) -> xr.Dataset:
        return super().traces(outcome).rename({"time": "cycle"})


def at_cycles(solution: Any, *, names: tuple[str, ...], cycles: np.ndarray) -> engine.Outcome:
    """Each metric at the start of each cycle in ``cycles``: 0 at cycle 0, else the end of the one before."""
    values = {}
    for name in names:
        summary = np.asarray(solution.summary_variables[METRICS[name]], dtype=float)
        if len(summary) < cycles.max():
            return engine.failed(f"solved {len(summary)} cycles; the data reach cycle {cycles.max()}")
        values[name] = np.where(cycles == 0, 0.0, summary[np.maximum(cycles - 1, 0)])
    return engine.Outcome(values) if engine.finite(values) else engine.failed("a summary variable is NaN or inf")


__all__ = ["CYCLE", "METRICS", "CycleAgeing", "CycleSeries", "at_cycles"]
