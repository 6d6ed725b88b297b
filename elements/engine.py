"""Worker-side solve engine: built PyBaMM simulations cached per process, batched IDAKLU solves.

This module must stay importable by workers: its cache only works because it is a module-level
object in the package (functions from a user's ``__main__`` arrive with fresh globals).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import numpy as np
from dask.base import tokenize

from elements.costs import COSTS
from elements.models import MODELS, parameter_values
from orchestrator import config

OK, EARLY, INFEASIBLE, TIMEOUT = "ok", "terminated", "infeasible", "timeout"


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything a worker needs to build and solve one objective; small enough to ship."""

    name: str
    model: str
    model_options: dict[str, Any]
    parameter_set: str
    fixed: dict[str, float]
    inputs: tuple[str, ...]
    time: np.ndarray
    current: np.ndarray
    data: dict[str, np.ndarray]
    cost: str = "RMSE"
    weight: float = 1.0
    threads: int = field(default_factory=lambda: int(config.get("solve.threads")))
    time_limit: float = field(default_factory=lambda: float(config.get("solve.time-limit")))
    compile: bool = field(default_factory=lambda: bool(config.get("solve.compile")))

    @cached_property
    def key(self) -> str:
        """Token of what the built simulation depends on (not the data compared against)."""
        return "sim-" + tokenize(
            self.model, self.model_options, self.parameter_set, sorted(self.fixed.items()),
            self.inputs, self.time, self.current, sorted(self.data), self.threads, self.compile,
        )


@dataclass
class Outcome:
    """One candidate's result for one problem: traces (or None), status and reason."""

    values: dict[str, np.ndarray] | None
    status: str = OK
    message: str = ""


_cache: OrderedDict[str, Any] = OrderedDict()
_lock = threading.Lock()
stats = {"builds": 0, "solves": 0}
_thread = threading.local()


def thread_solves() -> int:
    """Solves the calling thread has run: one task's own count, where ``stats`` sums the process."""
    return getattr(_thread, "solves", 0)


def count_thread_solves(n: int) -> None:
    """Add ``n`` to :func:`thread_solves` (for solves run outside this module, e.g. sweeps)."""
    _thread.solves = thread_solves() + n


def cached(key: str, build: Callable[[], Any]) -> Any:
    """``build()``'s result for ``key``, built once per worker process (LRU, sweepfit.solve.cache-size)."""
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    entry = build()
    with _lock:
        stats["builds"] += 1
        _cache[key] = entry
        while len(_cache) > int(config.get("solve.cache-size")):
            _cache.popitem(last=False)
    return entry


def within(seconds: float, key: str, call: Callable[[], Any]) -> Any:
    """``call()`` (a solve on the cached build ``key``), abandoned after ``seconds``.

    IDAKLU has no working step or time limit, but it releases the GIL: the solve runs in its own
    thread and an overdue one is left to finish in the background, its build dropped from the
    cache so that no later solve shares it.
    """
    pool = ThreadPoolExecutor(max_workers=1)
    started = time.perf_counter()
    future = pool.submit(call)
    pool.shutdown(wait=False)
    try:
        return future.result(timeout=seconds)
    except FutureTimeout:
        with _lock:
            _cache.pop(key, None)
        raise TimeoutError(
            f"solve exceeded the {seconds:.3g} s limit (sweepfit.solve.time-limit) after "
            f"{time.perf_counter() - started:.3g} s"
        ) from None


def built(problem: Problem) -> tuple[Any, Any]:
    """The (built model, solver) for a problem, built once per worker process."""
    return cached(problem.key, lambda: _build(problem))


def _build(problem: Problem) -> tuple[Any, Any]:
    import pybamm

    model = MODELS[problem.model](dict(problem.model_options))
    values = parameter_values(problem.parameter_set)
    values.update(problem.fixed, check_already_exists=False)
    values["Current function [A]"] = pybamm.Interpolant(problem.time, problem.current, pybamm.t)
    values.update({name: "[input]" for name in problem.inputs}, check_already_exists=False)
    solver = pybamm.IDAKLUSolver(
        output_variables=list(problem.data),
        # Failures are kept as data with their reason; SUNDIALS need not also print them.
        options={"num_threads": problem.threads, "compile": problem.compile, "silence_sundials_errors": True},
    )
    sim = pybamm.Simulation(model, parameter_values=values, solver=solver)
    sim.build()
    return sim.built_model, sim.solver


def solve(problem: Problem, X: np.ndarray) -> list[Outcome]:
    """Solve every row of X (natural units, one column per input) in one batched IDAKLU call.

    A failing or overdue batch is retried candidate by candidate so that only the bad ones fail.
    """
    inputs = [dict(zip(problem.inputs, map(float, row))) for row in np.atleast_2d(X)]
    stats["solves"] += len(inputs)
    count_thread_solves(len(inputs))
    try:
        solutions = _solve_within(problem, inputs, problem.time_limit * len(inputs))
        return [_outcome(problem, s) for s in solutions]
    except Exception as exc:  # noqa: BLE001 - any solver failure is data, not a crash
        if len(inputs) == 1:
            return [_failed(exc)]
    outcomes = []
    for one in inputs:
        try:
            outcomes.append(_outcome(problem, _solve_within(problem, [one], problem.time_limit)[0]))
        except Exception as exc:  # noqa: BLE001
            outcomes.append(_failed(exc))
    return outcomes


def _solve_within(problem: Problem, inputs: list[dict[str, float]], seconds: float) -> list[Any]:
    model, solver = built(problem)
    t_span = [float(problem.time[0]), float(problem.time[-1])]
    solutions = within(seconds, problem.key, partial(solver.solve, model, t_span, inputs=inputs, t_interp=problem.time))
    return solutions if isinstance(solutions, list) else [solutions]


def _failed(exc: Exception) -> Outcome:
    return Outcome(None, TIMEOUT if isinstance(exc, TimeoutError) else INFEASIBLE, f"{type(exc).__name__}: {exc}")


def _outcome(problem: Problem, solution: Any) -> Outcome:
    n = len(problem.time)
    values = {name: np.asarray(solution[name].data, dtype=float) for name in problem.data}
    if any(not np.all(np.isfinite(v)) for v in values.values()):
        return Outcome(None, INFEASIBLE, "solution contains NaN or inf")
    ended = float(solution.t[-1])
    if all(len(v) == n for v in values.values()):
        return Outcome(values)
    # A termination event (e.g. the voltage cut-off) stopped the solve before the data ends: hold the
    # last value so the cost stays finite and penalises the shortfall.
    padded = {name: np.pad(v, (0, n - len(v)), mode="edge") for name, v in values.items()}
    return Outcome(padded, EARLY, f"stopped at t={ended:.6g} s by {solution.termination}")


def cost_of(problem: Problem, outcome: Outcome, cost: str | None = None) -> float:
    """The problem's cost (or another named cost) of one outcome, summed over compared variables."""
    if outcome.values is None:
        return float("inf")
    measure = COSTS[cost or problem.cost]
    return float(sum(measure(outcome.values[v], problem.data[v]) for v in problem.data))


def evaluate(problems: list[Problem], X: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    """Weighted-sum cost of each row of X over all problems, with a status and reason per row."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    costs = np.zeros(len(X))
    status = [OK] * len(X)
    messages = [""] * len(X)
    for problem in problems:
        for i, outcome in enumerate(solve(problem, X)):
            costs[i] += problem.weight * cost_of(problem, outcome)
            if outcome.status != OK and status[i] in (OK, EARLY):
                status[i] = outcome.status
                messages[i] = f"{problem.name}: {outcome.message}"
    return costs, status, messages
