"""``ScipyDifferentialEvolution``: scipy's differential evolution, one vectorised call per population."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field
from scipy.optimize import OptimizeResult, differential_evolution

from elements.optimizers import OPTIMIZERS, FitProblem, Optimizer

Strategy = Literal[
    "best1bin", "best1exp", "rand1bin", "rand1exp", "rand2bin", "rand2exp", "randtobest1bin",
    "randtobest1exp", "currenttobest1bin", "currenttobest1exp", "best2exp", "best2bin",
]


@OPTIMIZERS.register("ScipyDifferentialEvolution")
class ScipyDifferentialEvolution(Optimizer):
    """scipy's options, checked; the same seed gives the same answer serially and on any cluster.

    A parallel population is updated once per generation (scipy's ``updating="deferred"``).
    """

    type: Literal["ScipyDifferentialEvolution"] = "ScipyDifferentialEvolution"
    ionworks_fields: ClassVar[dict[str, str]] = {"max_iterations": "maxiter", "population_size": "popsize"}
    strategy: Strategy = "best1bin"
    maxiter: int = Field(1000, ge=1)
    popsize: int = Field(15, ge=1)
    tol: float = Field(0.01, ge=0)
    atol: float = Field(0.0, ge=0)
    mutation: float | tuple[float, float] = (0.5, 1.0)
    recombination: float = Field(0.7, ge=0, le=1)
    seed: int | None = None
    init: Literal["latinhypercube", "sobol", "halton", "random"] = "latinhypercube"
    polish: bool = False
    disp: bool = False

    def budget(self) -> int | None:
        # the initial population, then one call per generation; polishing adds calls of its own
        return None if self.polish else self.maxiter + 1

    def minimize(self, problem: FitProblem, *, x0: np.ndarray | None) -> OptimizeResult:
        return differential_evolution(
            lambda Y: problem.cost(np.asarray(Y).T),
            problem.bounds,
            x0=x0,
            vectorized=True,
            updating="deferred",
            **self.model_dump(exclude={"type"}),
        )
