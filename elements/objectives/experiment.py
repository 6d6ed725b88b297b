"""``Experiment``: a PyBaMM Experiment (CC-CV charges, rests, ...) drives the model; measured columns
are compared on the measured times.

ionworks-schema has no objective for this (its ``CurrentDriven`` replays a measured current), so the
kind takes the name of what drives it, as PyBaMM does: ``pybamm.Experiment``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from elements import engine
from elements.core.data import TIME
from elements.core.status import SolveStatus
from elements.costs import Cost
from elements.objectives import OBJECTIVES
from elements.objectives.current_driven import CurrentDriven, label
from elements.objectives.simulated import SimulatedSeries


@OBJECTIVES.register("Experiment")
class Experiment(CurrentDriven):
    """A measurement and the PyBaMM Experiment that reproduces it, instead of its measured current.

    ``experiment`` lists PyBaMM step strings (each its own cycle), or lists of them (one cycle
    each); ``period`` is PyBaMM's output period. The data needs ``Time [s]`` and the compared
    variables only; a current column, when present, is kept in the traces. Everything else is as
    for :class:`CurrentDriven` (``initial_state``, weights, ``normalise``).

    Examples
    --------
    >>> Experiment(data="file:charge.csv", initial_state=0.0,
    ...            experiment=["Charge at C/2 until 4.2 V", "Hold at 4.2 V until C/20", "Rest for 1 hour"]).type
    'Experiment'
    """

    provides: ClassVar[frozenset[str]] = frozenset()  # PyBaMM gives no sensitivities through an Experiment
    type: Literal["Experiment"] = "Experiment"  # type: ignore[assignment]
    experiment: list[str | list[str]] = Field(min_length=1)
    period: str | None = None

    def required(self) -> tuple[str, ...]:
        return (TIME, *self.weights)

    def build(
        self, name: str, *, inputs: tuple[str, ...], existing: dict[str, float], cost: Cost, base_dir: Path
    ) -> list[SimulatedSeries]:
        found = self.measurements(name, base_dir)
        cycles = tuple((c,) if isinstance(c, str) else tuple(c) for c in self.experiment)
        objectives = []
        for m in found:
            setup = engine.Setup(
                model=self.model.type, model_options=dict(self.model.options), parameter_set=self.parameter_set,
                fixed=self.fixed(name, m, inputs=inputs, existing=existing), inputs=inputs,
                outputs=tuple(self.weights), experiment=cycles, period=self.period,
            )
            objectives.append(ExperimentSeries(**self.series(label(name, found, m), m, setup, cost)))
        return objectives


class ExperimentSeries(SimulatedSeries):
    """An experiment's solution, interpolated at the measured times."""

    def reader(self) -> engine.Read:
        return partial(on_times, names=tuple(self.data), time=self.time)


def on_times(solution: Any, *, names: tuple[str, ...], time: np.ndarray) -> engine.Outcome:
    """The solution's ``names`` at ``time``; past the solution's end (a step stopped early) each
    holds its last value and the outcome is ``terminated``."""
    end = float(solution.t[-1])
    inside = time[time <= end]
    values = {name: np.asarray(solution[name](t=inside), dtype=float).ravel() for name in names}
    if not engine.finite(values):
        return engine.failed("solution contains NaN or inf")
    if len(inside) == len(time):
        return engine.Outcome(values)
    padded = {name: np.pad(v, (0, len(time) - len(v)), mode="edge") for name, v in values.items()}
    return engine.Outcome(padded, SolveStatus.TERMINATED,
                          f"the experiment ended at t={end:.6g} s, before the data's {float(time[-1]):.6g} s")


__all__ = ["Experiment", "ExperimentSeries"]
