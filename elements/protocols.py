"""Sweep protocols on the worker: a current drive (batched IDAKLU) or a PyBaMM Experiment (per point).

A :class:`Setup` is everything one built simulation depends on; it is small enough to ship to a
worker, and its ``key`` names the simulation in a per-process cache (like ``engine.built``). Points
that differ only in model input parameters share a Setup; each distinct experiment (or value of a
parameter that an Experiment cannot take as an input) gets its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from dask.base import tokenize

from elements import engine
from elements.engine import INFEASIBLE, OK, TIMEOUT
from elements.models import MODELS, parameter_values
from elements.registry import Registry
from orchestrator import config

ERROR = "error"
AMBIENT, INITIAL_T, CURRENT = "Ambient temperature [K]", "Initial temperature [K]", "Current function [A]"
# PyBaMM refuses these as input parameters of an Experiment (it sets them per step itself).
EXPERIMENT_CONTROLLED = frozenset({AMBIENT, INITIAL_T, CURRENT})
CAPACITY, ENERGY, VOLTAGE, TEMPERATURE = (
    "Discharge capacity [A.h]", "Discharge energy [W.h]", "Voltage [V]", "Volume-averaged cell temperature [K]",
)


@dataclass(frozen=True)
class Summary:
    """A scalar per point, computed from the solution on its own time points."""

    unit: str
    needs: tuple[str, ...]
    compute: Callable[[np.ndarray, dict[str, np.ndarray], list[tuple[float, float, str]]], float]
    description: str


SUMMARIES: Registry[Summary] = Registry("summary")
SUMMARIES.register("discharge_capacity")(Summary(
    "A.h", (CAPACITY,), lambda t, v, steps: float(v[CAPACITY][-1] - v[CAPACITY][0]),
    "net charge delivered (negative when the protocol charges more than it discharges)",
))
SUMMARIES.register("energy")(Summary(
    "W.h", (ENERGY,), lambda t, v, steps: float(v[ENERGY][-1] - v[ENERGY][0]),
    "net energy delivered (PyBaMM's 'Discharge energy [W.h]' state)",
))
SUMMARIES.register("final_voltage")(Summary(
    "V", (VOLTAGE,), lambda t, v, steps: float(v[VOLTAGE][-1]), "terminal voltage at the end of the solve",
))
SUMMARIES.register("max_temperature")(Summary(
    "K", (TEMPERATURE,), lambda t, v, steps: float(np.max(v[TEMPERATURE])),
    "highest volume-averaged cell temperature on the solution's time points",
))
SUMMARIES.register("time_to_cutoff")(Summary(
    "s", (), lambda t, v, steps: _time_to_cutoff(steps),
    "end of the first step stopped by a voltage limit (NaN if none was reached)",
))


def _time_to_cutoff(steps: list[tuple[float, float, str]]) -> float:
    for _, end, termination in steps:
        if termination.startswith("event") and "voltage" in termination.lower():
            return float(end)
    return float("nan")


@dataclass(frozen=True, eq=False)
class Setup:
    """One buildable simulation and what to read from its solutions."""

    model: str
    model_options: dict[str, Any]
    parameter_set: str
    fixed: dict[str, float]
    inputs: tuple[str, ...]
    series: tuple[str, ...]
    summaries: tuple[str, ...]
    experiment: tuple[tuple[str, ...], ...] | None = None
    period: str | None = None
    current: float | None = None
    profile: tuple[np.ndarray, np.ndarray] | None = None
    duration: float | None = None
    time: np.ndarray | None = None
    per_step: int | None = None
    tie_initial_temperature: bool = False
    threads: int = field(default_factory=lambda: int(config.get("solve.threads")))
    time_limit: float = field(default_factory=lambda: float(config.get("solve.time-limit")))

    @cached_property
    def key(self) -> str:
        return "sweep-sim-" + tokenize(
            self.model, self.model_options, self.parameter_set, sorted(self.fixed.items()), self.inputs,
            self.series, self.summaries, self.experiment, self.period, self.current, self.profile,
            self.duration, self.time, self.per_step, self.tie_initial_temperature, self.threads,
        )

    @property
    def needed(self) -> list[str]:
        """Every variable a solve must return: the series plus what the summaries read."""
        names = list(self.series)
        for s in self.summaries:
            names += [n for n in SUMMARIES[s].needs if n not in names]
        return names

    @property
    def n_steps(self) -> int:
        return sum(len(cycle) for cycle in self.experiment) if self.experiment else 1

    def options(self) -> dict[str, Any]:
        options = dict(self.model_options)
        if "energy" in self.summaries or ENERGY in self.series:
            options.setdefault("calculate discharge energy", "true")
        return options


@dataclass
class Outcome:
    """One point: sampled series (None when it failed), summaries, status and reason."""

    series: dict[str, np.ndarray] | None
    summaries: dict[str, float]
    step_time: np.ndarray | None = None
    status: str = OK
    message: str = ""




def parameter_values_for(setup: Setup) -> Any:
    """The setup's PyBaMM ParameterValues (inputs as InputParameters, the drive as the current)."""
    import pybamm

    values = parameter_values(setup.parameter_set)
    values.update(setup.fixed, check_already_exists=False)
    if setup.profile is not None:
        values[CURRENT] = pybamm.Interpolant(setup.profile[0], setup.profile[1], pybamm.t)
    elif setup.current is not None:
        values[CURRENT] = setup.current
    values.update({name: "[input]" for name in setup.inputs}, check_already_exists=False)
    if setup.tie_initial_temperature:
        # A cell soaked at the ambient temperature it is swept over starts there.
        values[INITIAL_T] = pybamm.InputParameter(AMBIENT) if AMBIENT in setup.inputs else values[AMBIENT]
    return values


def experiment_for(setup: Setup) -> Any:
    import pybamm

    cycles = [tuple(c) if len(c) > 1 else c[0] for c in setup.experiment]
    return pybamm.Experiment(cycles, period=setup.period)


def built(setup: Setup) -> Any:
    """The built simulation for a setup, once per worker process: (model, solver) or a Simulation."""
    return engine.cached(setup.key, lambda: _build(setup))


def _build(setup: Setup) -> Any:
    import pybamm

    model = MODELS[setup.model](setup.options())
    values = parameter_values_for(setup)
    if setup.experiment is not None:
        solver = pybamm.IDAKLUSolver()
        sim = pybamm.Simulation(model, experiment=experiment_for(setup), parameter_values=values, solver=solver)
        sim.build_for_experiment()
        return sim
    solver = pybamm.IDAKLUSolver(
        output_variables=setup.needed,
        options={"num_threads": setup.threads},
    )
    sim = pybamm.Simulation(model, parameter_values=values, solver=solver)
    sim.build()
    return sim.built_model, sim.solver


def solve(setup: Setup, inputs: list[dict[str, float]]) -> list[Outcome]:
    """Solve every point of one setup: one batched IDAKLU call for a drive, one solve per point
    for an Experiment (PyBaMM cannot batch inputs through an Experiment). Never raises."""
    try:
        built(setup)
    except Exception as exc:  # noqa: BLE001 - a point whose model cannot be built is data
        return [_failed(setup, ERROR, f"build failed: {type(exc).__name__}: {exc}") for _ in inputs]
    engine.stats["solves"] += len(inputs)
    engine.count_thread_solves(len(inputs))  # the run's per-element solve count
    if setup.experiment is not None:
        return [_solve_experiment(setup, one) for one in inputs]
    return _solve_drive(setup, inputs)


def _within(setup: Setup, seconds: float, solve_with: Callable[[Any], Any]) -> Any:
    """``solve_with(built simulation)`` under the per-solve time limit (see engine.within)."""
    sim = built(setup)
    return engine.within(seconds, setup.key, lambda: solve_with(sim))


def _failure_status(exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    text = str(exc).lower()
    limits = ("max_num_steps", "mxstep", "too much work", "maximum number of steps")
    return TIMEOUT if any(word in text for word in limits) else INFEASIBLE


def _failed(setup: Setup, status: str, message: str) -> Outcome:
    return Outcome(None, {s: float("nan") for s in setup.summaries}, None, status, message)


def _t_interp(setup: Setup) -> np.ndarray:
    return np.union1d(setup.time, [0.0, setup.duration])


def _solve_drive(setup: Setup, inputs: list[dict[str, float]]) -> list[Outcome]:
    t_span, t_interp = [0.0, float(setup.duration)], _t_interp(setup)

    def batch(points: list[dict[str, float]]) -> list[Any]:
        found = _within(setup, setup.time_limit * len(points),
                        lambda sim: sim[1].solve(sim[0], t_span, inputs=points, t_interp=t_interp))
        return found if isinstance(found, list) else [found]

    try:
        return [_drive_outcome(setup, s) for s in batch(inputs)]
    except Exception as exc:  # noqa: BLE001 - retried point by point below to isolate the failing ones
        if len(inputs) == 1:
            return [_failed(setup, _failure_status(exc), f"{type(exc).__name__}: {exc}")]
    outcomes = []
    for one in inputs:
        try:
            outcomes.append(_drive_outcome(setup, batch([one])[0]))
        except Exception as exc:  # noqa: BLE001 - any solver failure is data, not a crash
            outcomes.append(_failed(setup, _failure_status(exc), f"{type(exc).__name__}: {exc}"))
    return outcomes


def _drive_outcome(setup: Setup, solution: Any) -> Outcome:
    t = np.asarray(solution.t, dtype=float)
    values = {name: np.asarray(solution[name].data, dtype=float) for name in setup.needed}
    if any(not np.all(np.isfinite(v)) for v in values.values()):
        return _failed(setup, INFEASIBLE, "solution contains NaN or inf")
    steps = [(float(t[0]), float(t[-1]), str(solution.termination))]
    # Sampled at the solver's own interpolation points (t_interp holds the time base), so the
    # values equal a direct solve; past a cut-off the series is NaN, not held.
    series = {
        name: np.where(setup.time <= t[-1] * (1 + 1e-12), np.interp(setup.time, t, values[name]), np.nan)
        for name in setup.series
    }
    return Outcome(series, _summaries(setup, t, values, steps), None, OK, _stop_message(steps))


def _stop_message(steps: list[tuple[float, float, str]]) -> str:
    stopped = [(f"step {i} " if len(steps) > 1 else "") + f"stopped at t={end:.6g} s by {term}"
               for i, (_, end, term) in enumerate(steps) if term.startswith("event")]
    return "; ".join(stopped)


def _summaries(setup: Setup, t: np.ndarray, values: dict[str, np.ndarray], steps: list) -> dict[str, float]:
    return {name: SUMMARIES[name].compute(t, values, steps) for name in setup.summaries}


class _Warnings(logging.Handler):
    """Collects PyBaMM's warnings during an experiment solve (skipped or failed steps)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _solve_experiment(setup: Setup, inputs: dict[str, float]) -> Outcome:
    import pybamm

    caught = _Warnings()
    pybamm.logger.addHandler(caught)
    try:
        solution = _within(setup, setup.time_limit, lambda sim: sim.solve(inputs=inputs))
    except Exception as exc:  # noqa: BLE001 - any solver failure is data, not a crash
        return _failed(setup, _failure_status(exc), f"{type(exc).__name__}: {exc}")
    finally:
        pybamm.logger.removeHandler(caught)
    try:
        return _experiment_outcome(setup, solution, caught.messages)
    except Exception as exc:  # noqa: BLE001 - e.g. a solution too short to sample
        return _failed(setup, ERROR, f"{type(exc).__name__}: {exc}")


def _experiment_outcome(setup: Setup, solution: Any, warnings: list[str]) -> Outcome:
    step_solutions = [s for cycle in solution.cycles if cycle is not None for s in cycle.steps if s is not None]
    steps = [(float(s.t[0]), float(s.t[-1]), str(s.termination)) for s in step_solutions]
    t = np.asarray(solution.t, dtype=float)
    values = {name: np.asarray(solution[name].entries, dtype=float) for name in setup.needed}
    if any(not np.all(np.isfinite(v)) for v in values.values()):
        return _failed(setup, INFEASIBLE, "solution contains NaN or inf")
    status, message = OK, _stop_message(steps)
    problems = [w for w in warnings if "infeasible" in w.lower() or "fail" in w.lower()]
    if problems or len(steps) < setup.n_steps and "[experiment]" not in str(solution.termination):
        reason = "; ".join(problems) or f"solved {len(steps)} of {setup.n_steps} steps"
        status, message = _failure_status(RuntimeError(reason)), reason
    if setup.per_step is None:
        series = {name: _sample(solution[name], setup.time) for name in setup.series}
        step_time = None
    else:
        step_time = np.full((setup.n_steps, setup.per_step), np.nan)
        series = {name: np.full((setup.n_steps, setup.per_step), np.nan) for name in setup.series}
        for i, step in enumerate(step_solutions[: setup.n_steps]):
            step_time[i] = np.linspace(step.t[0], step.t[-1], setup.per_step)
            for name in setup.series:
                series[name][i] = _sample(step[name], step_time[i])
    return Outcome(series, _summaries(setup, t, values, steps), step_time, status, message)


def _sample(variable: Any, times: np.ndarray) -> np.ndarray:
    # PyBaMM's own interpolation of the solution (NaN outside the solved time range).
    return np.asarray(variable(t=times), dtype=float).reshape(len(times))
