"""What a sweep keeps of each point's solution: series on a common time base, or per step, and summaries.

:func:`reader` makes the ``read`` function the solve engine applies to each solution on the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from elements.core.registry import Registry
from elements.core.status import SolveStatus
from elements.engine import Outcome, failed, finite

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


SUMMARIES: Registry[Summary] = Registry("summary", group=None)
SUMMARIES.register("discharge_capacity", Summary(
    "A.h", (CAPACITY,), lambda t, v, steps: float(v[CAPACITY][-1] - v[CAPACITY][0]),
    "net charge delivered (negative when the protocol charges more than it discharges)",
))
SUMMARIES.register("energy", Summary(
    "W.h", (ENERGY,), lambda t, v, steps: float(v[ENERGY][-1] - v[ENERGY][0]),
    "net energy delivered (PyBaMM's 'Discharge energy [W.h]' state)",
))
SUMMARIES.register("final_voltage", Summary(
    "V", (VOLTAGE,), lambda t, v, steps: float(v[VOLTAGE][-1]), "terminal voltage at the end of the solve",
))
SUMMARIES.register("max_temperature", Summary(
    "K", (TEMPERATURE,), lambda t, v, steps: float(np.max(v[TEMPERATURE])),
    "highest volume-averaged cell temperature on the solution's time points",
))
SUMMARIES.register("time_to_cutoff", Summary(
    "s", (), lambda t, v, steps: _time_to_cutoff(steps),
    "end of the first step stopped by a voltage limit (NaN if none was reached)",
))


def _time_to_cutoff(steps: list[tuple[float, float, str]]) -> float:
    for _, end, termination in steps:
        if termination.startswith("event") and "voltage" in termination.lower():
            return float(end)
    return float("nan")


def needed(series: tuple[str, ...], summaries: tuple[str, ...]) -> tuple[str, ...]:
    """Every variable a solve must return: the series plus what the summaries read."""
    names = list(series)
    for s in summaries:
        names += [n for n in SUMMARIES[s].needs if n not in names]
    return tuple(names)


@dataclass
class Point:
    """One point's sampled series (None when it failed), summaries and step times."""

    series: dict[str, np.ndarray] | None
    summaries: dict[str, float]
    step_time: np.ndarray | None = None


def empty(summaries: tuple[str, ...]) -> Point:
    return Point(None, {s: float("nan") for s in summaries})


def reader(
    series: tuple[str, ...], summaries: tuple[str, ...], *, time: np.ndarray | None, per_step: int | None,
    n_steps: int, experiment: bool,
) -> Callable[[Any], Outcome]:
    """The engine's ``read`` for a sweep: series on ``time`` (or ``per_step`` samples), summaries."""
    read = _experiment_point if experiment else _drive_point
    return partial(read, series=series, summaries=summaries, time=time, per_step=per_step, n_steps=n_steps)


def _stop_message(steps: list[tuple[float, float, str]]) -> str:
    stopped = [(f"step {i} " if len(steps) > 1 else "") + f"stopped at t={end:.6g} s by {term}"
               for i, (_, end, term) in enumerate(steps) if term.startswith("event")]
    return "; ".join(stopped)


def _computed(summaries: tuple[str, ...], t: np.ndarray, values: dict, steps: list) -> dict[str, float]:
    return {name: SUMMARIES[name].compute(t, values, steps) for name in summaries}


def _drive_point(solution: Any, *, series, summaries, time, per_step, n_steps) -> Outcome:
    t = np.asarray(solution.t, dtype=float)
    values = {name: np.asarray(solution[name].data, dtype=float) for name in needed(series, summaries)}
    if not finite(values):
        return _failed(summaries, "solution contains NaN or inf")
    steps = [(float(t[0]), float(t[-1]), str(solution.termination))]
    # Sampled at the solver's own interpolation points (t_eval holds the time base), so the values
    # equal a direct solve; past a cut-off the series is NaN, not held.
    sampled = {name: np.where(time <= t[-1] * (1 + 1e-12), np.interp(time, t, values[name]), np.nan)
               for name in series}
    return Outcome(Point(sampled, _computed(summaries, t, values, steps)), SolveStatus.OK, _stop_message(steps))


def _experiment_point(solution: Any, *, series, summaries, time, per_step, n_steps) -> Outcome:
    step_solutions = [s for cycle in solution.cycles if cycle is not None for s in cycle.steps if s is not None]
    steps = [(float(s.t[0]), float(s.t[-1]), str(s.termination)) for s in step_solutions]
    t = np.asarray(solution.t, dtype=float)
    values = {name: np.asarray(solution[name].entries, dtype=float) for name in needed(series, summaries)}
    if not finite(values):
        return _failed(summaries, "solution contains NaN or inf")
    if per_step is None:
        sampled = {name: _sample(solution[name], time) for name in series}
        step_time = None
    else:
        step_time = np.full((n_steps, per_step), np.nan)
        sampled = {name: np.full((n_steps, per_step), np.nan) for name in series}
        for i, step in enumerate(step_solutions[:n_steps]):
            step_time[i] = np.linspace(step.t[0], step.t[-1], per_step)
            for name in series:
                sampled[name][i] = _sample(step[name], step_time[i])
    point = Point(sampled, _computed(summaries, t, values, steps), step_time)
    return Outcome(point, SolveStatus.OK, _stop_message(steps))


def _failed(summaries: tuple[str, ...], message: str) -> Outcome:
    outcome = failed(message)
    outcome.value = empty(summaries)
    return outcome


def _sample(variable: Any, times: np.ndarray) -> np.ndarray:
    # PyBaMM's own interpolation of the solution (NaN outside the solved time range).
    return np.asarray(variable(t=times), dtype=float).reshape(len(times))
