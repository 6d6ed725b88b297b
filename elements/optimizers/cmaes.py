"""``CMAES``: the ``cma`` package's CMA-ES, ask/tell, one vectorised call per generation."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field
from scipy.optimize import OptimizeResult

from elements.optimizers import OPTIMIZERS, FitProblem, Optimizer
from elements.optimizers._box import UnitBox

# Stops that mean the search converged; the others (maxiter, maxfevals, flat or stagnating fitness,
# an ill-conditioned covariance) end it without convergence.
CONVERGED = {"ftarget", "tolfun", "tolfunrel", "tolfunhist", "tolx"}


@OPTIMIZERS.register("CMAES")
class CMAES(Optimizer):
    """CMA-ES in the unit box of the parameters' search bounds (cma's ``bounds`` option keeps every
    candidate inside it). Options left ``None`` take cma's defaults; names are cma's.

    ``sigma0`` is the initial step size as a fraction of each parameter's range; ``x0`` (the
    parameters' initial values, or a multistart's start point) centres the first population, else
    the middle of the box does. cma stops at the first generation whose costs are all equal
    (``tolflatfitness: 1``), e.g. all ``inf`` where no candidate solved: raise it to carry on.

    Examples
    --------
    >>> CMAES(sigma0=0.2, popsize=8, seed=0, tolx=1e-4).popsize
    8
    """

    type: Literal["CMAES"] = "CMAES"
    ionworks_fields: ClassVar[dict[str, str]] = {"max_iterations": "maxiter", "population_size": "popsize", "max_evaluations": "maxfevals",
                                                "threshold": "ftarget"}
    sigma0: float = Field(0.3, gt=0, le=1, description="initial step, as a fraction of each range")
    popsize: int | None = Field(None, ge=2)
    maxiter: int | None = Field(None, ge=1)
    maxfevals: int | None = Field(None, ge=1)
    seed: int | None = Field(None, ge=0)
    ftarget: float | None = None
    tolfun: float | None = Field(None, ge=0)
    tolfunrel: float | None = Field(None, ge=0)
    tolfunhist: float | None = Field(None, ge=0)
    tolx: float | None = Field(None, ge=0, description="in unit-box coordinates")
    tolstagnation: int | None = Field(None, ge=1)
    tolflatfitness: int | None = Field(None, ge=1)

    def minimize(self, problem: FitProblem, *, x0: np.ndarray | None) -> OptimizeResult:
        import cma

        box = UnitBox.of(problem.bounds)
        f = box.wrap(problem.cost)
        rng = np.random.default_rng(self.seed)
        options = {k: v for k, v in self.model_dump(exclude={"type", "sigma0", "seed"}).items() if v is not None}
        # cma draws every sample through `randn`; a local generator (and seed=nan: "do not seed
        # numpy") keeps concurrent starts in one process from sharing numpy's global RNG.
        options.update(bounds=[0, 1], randn=lambda n, d: rng.standard_normal((n, d)), seed=np.nan,
                       verbose=-9, verb_log=0, verb_disp=0)
        es = cma.CMAEvolutionStrategy(box.start(x0), self.sigma0, options)
        while not es.stop():
            population = es.ask()
            es.tell(population, f(np.array(population)).tolist())
        stop = es.stop()
        best = es.result.xbest if es.result.xbest is not None else es.mean  # None when every cost was inf
        return box.result(best, es.result.fbest, nit=es.countiter, nfev=es.countevals,
                          success=bool(CONVERGED & set(stop)),
                          message="; ".join(f"{k}: {v}" for k, v in stop.items()))
