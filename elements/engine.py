"""The worker-side solve engine for fits, validations and sweeps.

A :class:`Setup` is everything one built PyBaMM simulation depends on: small enough to ship, and
its ``key`` names the build in a per-process LRU cache. :func:`solve` runs a list of input sets on
one setup — one batched IDAKLU call for a current drive, one solve per point for an Experiment
(PyBaMM cannot batch inputs through one) — under a time limit, isolates failing candidates, and
hands each solution to the caller's ``read``, so only what the caller needs leaves the worker.

A drive's solve can also give IDAKLU's forward sensitivities of the outputs with respect to every
input. On the benchmark problem (SPMe, 3500 s, two inputs) a solve with them took 12 ms against
5.2 ms without; central differences took 24 ms and PyBaMM's ``jaxify`` 167 ms per value and
gradient (it solves once per input and loops over the times in Python), so fits take them here.

This module must stay importable by workers: its cache only works because it is a module-level
object in the package (functions from a user's ``__main__`` arrive with fresh globals).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from dask.base import tokenize

from elements.core import config
from elements.core.status import SolveStatus
from elements.models import MODELS, parameter_values
from elements.values import apply

AMBIENT, INITIAL_T, CURRENT = "Ambient temperature [K]", "Initial temperature [K]", "Current function [A]"
# PyBaMM refuses these as input parameters of an Experiment (it sets them per step itself).
EXPERIMENT_CONTROLLED = frozenset({AMBIENT, INITIAL_T, CURRENT})


@dataclass(frozen=True, eq=False)
class Setup:
    """One buildable simulation and what its solves return.

    The drive is a constant ``current`` [A], a ``profile`` (time, current) interpolated in time, or
    an ``experiment`` (cycles of PyBaMM step strings, or of steps in PyBaMM's serialised form). A
    drive is solved from 0 to ``duration`` and interpolated at ``t_eval``.
    """

    model: str
    model_options: dict[str, Any]
    parameter_set: str
    fixed: dict[str, float]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    current: float | None = None
    profile: tuple[np.ndarray, np.ndarray] | None = None
    experiment: tuple[tuple[str | dict[str, Any], ...], ...] | None = None
    period: str | None = None
    duration: float | None = None
    t_eval: np.ndarray | None = None
    breakpoints: tuple[float, ...] = ()  # times the drive jumps: the solver restarts there, never steps over
    tie_initial_temperature: bool = False
    threads: int = field(default_factory=lambda: int(config.get("solve.threads")))
    time_limit: float = field(default_factory=lambda: float(config.get("solve.time-limit")))
    compile: bool = field(default_factory=lambda: bool(config.get("solve.compile")))
    rtol: float = field(default_factory=lambda: float(config.get("solve.rtol")))
    atol: float = field(default_factory=lambda: float(config.get("solve.atol")))

    @cached_property
    def key(self) -> str:
        """Token of everything the built simulation depends on."""
        return "sim-" + tokenize(
            self.model, self.model_options, self.parameter_set, sorted(self.fixed.items()), self.inputs,
            self.outputs, self.current, self.profile, self.experiment, self.period, self.duration,
            self.t_eval, self.breakpoints, self.tie_initial_temperature, self.threads, self.compile, self.rtol,
            self.atol,
        )

    @property
    def n_steps(self) -> int:
        return sum(len(cycle) for cycle in self.experiment) if self.experiment else 1


@dataclass
class Outcome:
    """One input set's result: what ``read`` made of the solution (None when it failed), status, reason."""

    value: Any
    status: SolveStatus = SolveStatus.OK
    message: str = ""
    sensitivities: Any = None  # d value / d inputs where asked for (what ``read`` made of them)


Read = Callable[[Any], Outcome]

_cache: OrderedDict[str, Any] = OrderedDict()
_building: dict[str, threading.Lock] = {}  # one lock per key while it is built
_lock = threading.Lock()
stats = {"builds": 0, "solves": 0}
_thread = threading.local()


def thread_solves() -> int:
    """Solves the calling thread has run: one task's own count, where ``stats`` sums the process."""
    return getattr(_thread, "solves", 0)


def count(n: int) -> None:
    """Count ``n`` solves for the process and the calling thread."""
    stats["solves"] += n
    _thread.solves = thread_solves() + n


def cached(key: str, build: Callable[[], Any]) -> Any:
    """``build()``'s result for ``key``, built once per worker process (LRU, sweepfit.solve.cache-size).

    A caller that asks for a key being built waits for that build rather than starting its own: a
    run's warm-up (:mod:`orchestrator.warmup`) builds in a thread of its own while the fit's first
    chunks arrive on others.
    """
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        building = _building.setdefault(key, threading.Lock())
    try:
        with building:
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
    finally:
        with _lock:
            if _building.get(key) is building:
                del _building[key]


def within(seconds: float, key: str, call: Callable[[], Any]) -> Any:
    """``call()`` (a solve on the cached build ``key``), abandoned after ``seconds``.

    IDAKLU cannot be stopped on time from outside or inside (checked in PyBaMM 26.10.1.1,
    pybammsolvers 0.11.1): it has no wall-clock option; ``max_num_steps`` does not cap a solve's
    steps (an SPM discharge took 51 steps with it set to 5); ``num_steps_no_progress`` with
    ``t_no_progress`` (set in ``_build``) stops only a solve whose time stalls; and the extension
    never checks for signals (no ``PyErr_CheckSignals``), so nothing can interrupt a running solve.
    It does release the GIL (``PyEval_SaveThread``): the solve runs in its own thread and an
    overdue one is left to finish in the background, its build dropped from the cache so that no
    later solve shares it.
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


def parameter_values_for(setup: Setup) -> Any:
    """The setup's PyBaMM ParameterValues (inputs as InputParameters, the drive as the current; tables,
    factors and the initial SOC as :func:`elements.values.apply` puts them)."""
    import pybamm

    values = parameter_values(setup.parameter_set, setup.model, setup.model_options)
    given = dict(setup.fixed)
    if setup.profile is not None:
        given[CURRENT] = pybamm.Interpolant(setup.profile[0], setup.profile[1], pybamm.t)
    elif setup.current is not None:
        given[CURRENT] = setup.current
    apply(values, given, inputs=setup.inputs, options=setup.model_options)
    if setup.tie_initial_temperature:
        # A cell soaked at the ambient temperature it is swept over starts there.
        values[INITIAL_T] = pybamm.InputParameter(AMBIENT) if AMBIENT in setup.inputs else values[AMBIENT]
    return values


def experiment_for(setup: Setup) -> Any:
    """The setup's Experiment, from PyBaMM step strings, or steps in PyBaMM's serialised form
    (``{"type": "c-rate", "value": 1.0, "terminations": [...]}``, as ionworks-schema writes them)."""
    import pybamm

    if any(isinstance(step, dict) for cycle in setup.experiment for step in cycle):
        from pybamm.expression_tree.operations.serialise import Serialise

        return Serialise.deserialise_experiment({"cycles": [list(c) for c in setup.experiment], "period": setup.period})
    cycles = [tuple(c) if len(c) > 1 else c[0] for c in setup.experiment]
    return pybamm.Experiment(cycles, period=setup.period)


def built(setup: Setup, *, sensitivities: bool = False) -> Any:
    """The built simulation, once per worker process: (model, solver) for a drive, a Simulation for
    an Experiment. With ``sensitivities`` a build of its own: PyBaMM sets a model up again each time
    a solve switches sensitivities on or off (measured: +0.25 s), so the two never share one."""
    key = sensitivity_key(setup) if sensitivities else setup.key
    return cached(key, lambda: _build(setup, set_up=not sensitivities))


def sensitivity_key(setup: Setup) -> str:
    return f"{setup.key}-sensitivities"


def _build(setup: Setup, *, set_up: bool = True) -> Any:
    import pybamm

    model = MODELS[setup.model](dict(setup.model_options))
    values = parameter_values_for(setup)
    options = {"num_threads": setup.threads, "compile": _compiles(setup),
               # Failures are kept as data with their reason; SUNDIALS need not also print them.
               "silence_sundials_errors": True,
               "num_steps_no_progress": int(config.get("solve.no-progress-steps")),
               "t_no_progress": float(config.get("solve.no-progress-time"))}
    if setup.experiment is not None:
        sim = pybamm.Simulation(model, experiment=experiment_for(setup), parameter_values=values,
                                solver=pybamm.IDAKLUSolver(rtol=setup.rtol, atol=setup.atol, options=options))
        sim.build_for_experiment()
        return sim
    solver = pybamm.IDAKLUSolver(rtol=setup.rtol, atol=setup.atol, output_variables=list(setup.outputs),
                                 options=options)
    sim = pybamm.Simulation(model, parameter_values=values, solver=solver)
    sim.build()
    if set_up:  # a solve with sensitivities sets its model up again, its own way
        _set_up(sim.built_model, sim.solver, setup)
    return sim.built_model, sim.solver


def _set_up(model: Any, solver: Any, setup: Setup) -> None:
    """Set the solver up (PyBaMM compiles a compiled model here: 1.6-2.2 s on a cold disk cache, else
    ~0.2 s) as part of the build, so that it is done once under the build's lock, by a warm-up ahead of
    the run where there is one, and never inside a solve's time limit. Any input values do: the set-up
    reads their names only (solutions were bitwise identical). The first solve sets up whatever fails here."""
    try:
        solver.set_up(model, dict.fromkeys(setup.inputs, 1.0))
    except Exception:  # noqa: BLE001 - not needed to solve, only earlier
        logging.getLogger(__name__).debug("set-up ahead of the first solve failed", exc_info=True)


def _compiles(setup: Setup) -> bool:
    """Whether PyBaMM compiles this build: asked for, and its compiler (gcc on PATH) is there; without it
    the build runs uncompiled (PyBaMM would fail every solve), and says so in the worker's log."""
    if setup.compile and shutil.which("gcc") is None:
        logging.getLogger(__name__).warning("sweepfit.solve.compile is on but gcc is not on PATH: solving uncompiled")
        return False
    return setup.compile


def solve(setup: Setup, inputs: list[dict[str, float]], read: Read, *, sensitivities: bool = False) -> list[Outcome]:
    """Solve every input set on one setup and ``read`` each solution. Never raises.

    A drive is one batched IDAKLU call; a failing or overdue batch is retried input by input so
    that only the bad ones fail. A failure becomes an :class:`Outcome` with status and reason.
    With ``sensitivities`` the solutions carry d output / d input for every input of the setup
    (``solution[name].sensitivities``), for ``read`` to take; an Experiment has none.
    """
    if sensitivities and setup.experiment is not None:
        return [failed("sensitivities need a current drive; PyBaMM gives none through an Experiment",
                       SolveStatus.ERROR) for _ in inputs]
    try:
        built(setup, sensitivities=sensitivities)
    except Exception as exc:  # noqa: BLE001 - a setup that cannot be built is data
        return [failed(f"build failed: {type(exc).__name__}: {exc}", SolveStatus.ERROR) for _ in inputs]
    count(len(inputs))
    if setup.experiment is not None:
        return [_experiment(setup, one, read) for one in inputs]
    try:
        return [_read(read, s) for s in _drive(setup, inputs, sensitivities)]
    except Exception as exc:  # noqa: BLE001 - retried input by input below to isolate the failing ones
        if len(inputs) == 1:
            return [failed(exc)]
    outcomes = []
    for one in inputs:
        try:
            outcomes.append(_read(read, _drive(setup, [one], sensitivities)[0]))
        except Exception as exc:  # noqa: BLE001 - any solver failure is data, not a crash
            outcomes.append(failed(exc))
    return outcomes


# PyBaMM raises one type, SolverError, for a solver that ran out of steps and for inputs with no
# consistent state: only its message tells a step limit (a timeout) from an infeasible candidate.
STEP_LIMITS = ("max_num_steps", "mxstep", "too much work", "maximum number of steps")


def failed(reason: Exception | str, status: SolveStatus | None = None) -> Outcome:
    """An outcome with no value: a timeout for the wall-time watchdog (its TimeoutError) or a solver's
    step limit, else infeasible."""
    if isinstance(reason, Exception):
        limit = isinstance(reason, TimeoutError) or any(word in str(reason).lower() for word in STEP_LIMITS)
        status = status or (SolveStatus.TIMEOUT if limit else SolveStatus.INFEASIBLE)
        reason = f"{type(reason).__name__}: {reason}"
    return Outcome(None, status or SolveStatus.INFEASIBLE, reason)


def _read(read: Read, solution: Any) -> Outcome:
    try:
        return read(solution)
    except Exception as exc:  # noqa: BLE001 - e.g. a solution too short to sample
        return failed(f"{type(exc).__name__}: {exc}", SolveStatus.ERROR)


def _drive(setup: Setup, inputs: list[dict[str, float]], sensitivities: bool = False) -> list[Any]:
    model, solver = built(setup, sensitivities=sensitivities)
    t_span = np.union1d([0.0, float(setup.duration)], setup.breakpoints)
    t_eval = np.union1d(setup.t_eval, t_span)
    key = sensitivity_key(setup) if sensitivities else setup.key
    found = within(setup.time_limit * len(inputs), key,
                   lambda: solver.solve(model, t_span, inputs=inputs, t_interp=t_eval,
                                        calculate_sensitivities=list(setup.inputs) if sensitivities else False))
    return found if isinstance(found, list) else [found]


class _Warnings(logging.Handler):
    """Collects PyBaMM's warnings during an experiment solve (skipped or failed steps)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _experiment(setup: Setup, inputs: dict[str, float], read: Read) -> Outcome:
    import pybamm

    caught = _Warnings()
    pybamm.logger.addHandler(caught)
    try:
        sim = built(setup)
        solution = within(setup.time_limit, setup.key, lambda: sim.solve(inputs=inputs))
    except Exception as exc:  # noqa: BLE001 - any solver failure is data, not a crash
        return failed(exc)
    finally:
        pybamm.logger.removeHandler(caught)
    outcome = _read(read, solution)
    steps = sum(1 for cycle in solution.cycles if cycle is not None for s in cycle.steps if s is not None)
    problems = [w for w in caught.messages if "infeasible" in w.lower() or "fail" in w.lower()]
    if outcome.status is SolveStatus.OK and (
        problems or steps < setup.n_steps and "[experiment]" not in str(solution.termination)
    ):
        reason = "; ".join(problems) or f"solved {steps} of {setup.n_steps} steps"
        outcome.status, outcome.message = failed(RuntimeError(reason)).status, reason
    return outcome


def jumps(time: np.ndarray, current: np.ndarray, *, fraction: float = 0.05) -> tuple[float, ...]:
    """Times where a measured current steps by more than ``fraction`` of its largest magnitude.

    An adaptive solver can step over a short pulse that follows a long rest (seen: a 5 A, 5-minute
    pulse after hours of rest left the voltage flat); restarting the solve at each jump prevents it.
    Measurement noise and a CV phase's smooth decay stay below the threshold.
    """
    step = max(fraction * float(np.max(np.abs(current), initial=0.0)), 1e-3)
    found = np.flatnonzero(np.abs(np.diff(current)) > step)
    return tuple(float(t) for t in time[found + 1] if 0 < t < time[-1])


def finite(values: dict[str, np.ndarray]) -> bool:
    return all(np.all(np.isfinite(v)) for v in values.values())
