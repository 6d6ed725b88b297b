"""What the pints optimizers (``XNES``, ``SNES``, ``PSO``) share: options, the ask/tell loop, seeding.

The loop and its stopping rules follow PyBOP's ``BasePintsOptimiser`` (itself pints'
``OptimisationController``), with PyBOP's defaults, so a fit reads the same as one in PyBOP.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
from pydantic import Field
from scipy.optimize import OptimizeResult

from elements.optimizers import FitProblem, Optimizer
from elements.optimizers._box import UnitBox

_GLOBAL_RNG = threading.Lock()


@contextmanager
def numpy_global_rng(state: np.random.RandomState) -> Iterator[None]:
    """Run a block with ``state`` as numpy's global RNG, then give the caller's back.

    pints draws from ``np.random.*`` and takes no generator. Swapping a private state in and out
    around each ask/tell makes a seeded run reproducible and leaves the caller's RNG untouched; the
    lock keeps two starts running in threads of one worker from drawing from each other's state.
    """
    with _GLOBAL_RNG:
        saved = np.random.get_state()
        np.random.set_state(state.get_state())
        try:
            yield
        finally:
            state.set_state(np.random.get_state())
            np.random.set_state(saved)


class PintsOptimizer(Optimizer):
    """A pints population method searching the unit box of the parameters' search bounds.

    One generation (what ``ask`` proposes inside the bounds) is one vectorised objective call.
    It stops after ``maxiter`` generations, or when the best cost has changed by less than
    ``max(absolute_tolerance, relative_tolerance * |best|)`` for ``max_unchanged_iterations``.
    """

    method: ClassVar[str]  # the pints class
    ionworks_fields: ClassVar[dict[str, str]] = {"max_iterations": "maxiter", "population_size": "popsize"}

    sigma0: float = Field(1 / 6, gt=0, le=1, description="initial spread, as a fraction of each range")
    popsize: int | None = Field(None, ge=2, description="pints' suggestion for the dimension if None")
    maxiter: int = Field(1000, ge=1)
    max_unchanged_iterations: int = Field(15, ge=1)
    absolute_tolerance: float = Field(1e-5, ge=0)
    relative_tolerance: float = Field(1e-2, ge=0)
    seed: int | None = Field(None, ge=0)

    def budget(self) -> int | None:
        return self.maxiter

    def configure(self, optimiser: Any) -> None:
        """Set method-specific hyper-parameters on a new pints optimiser."""

    def minimize(self, problem: FitProblem, *, x0: np.ndarray | None) -> OptimizeResult:
        import pints

        box = UnitBox.of(problem.bounds)
        f = box.wrap(problem.cost)
        rng = np.random.RandomState(self.seed)
        with numpy_global_rng(rng):
            boundaries = pints.RectangularBoundaries(np.zeros(box.dim), np.ones(box.dim))
            optimiser = getattr(pints, self.method)(box.start(x0), self.sigma0, boundaries)
            if self.popsize is not None:
                optimiser.set_population_size(self.popsize)
            self.configure(optimiser)
        nit = nfev = unchanged = 0
        significant = np.inf
        message = f"maximum number of iterations ({self.maxiter}) reached"
        while nit < self.maxiter:
            with numpy_global_rng(rng):
                population = np.array(optimiser.ask())
            costs = f(population) if len(population) else np.empty(0)
            with numpy_global_rng(rng):
                optimiser.tell(costs)
            nit, nfev = nit + 1, nfev + len(population)
            best = optimiser.f_best()
            if abs(best - significant) >= max(self.absolute_tolerance, self.relative_tolerance * abs(significant)):
                unchanged, significant = 0, best
            else:
                unchanged += 1
            if unchanged >= self.max_unchanged_iterations:
                message = f"no significant change for {unchanged} iterations"
                break
            if optimiser.stop():
                message = str(optimiser.stop())
                break
        converged = message.startswith("no significant change") and np.isfinite(optimiser.f_best())
        return box.result(optimiser.x_best(), optimiser.f_best(), nit=nit, nfev=nfev, success=converged,
                          message=message)
