"""``EmceeSampler``: emcee's affine-invariant ensemble, each half-ensemble's proposals one population."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from elements.optimizers import OPTIMIZERS, FitProblem
from elements.optimizers._sampler import Chains, Sampler, log_posterior


@OPTIMIZERS.register("EmceeSampler")
class EmceeSampler(Sampler):
    """Goodman & Weare's stretch move (emcee, Foreman-Mackey et al. 2013) with ``walkers`` walkers.

    emcee moves half the ensemble at a time against the other half, so each step is two calls of the
    fit's cost with ``walkers / 2`` proposals each, fanned out over the cluster (``vectorize``). The
    walkers start in a ball ``spread`` of each range wide around the fit's start point (a value passed
    down by the fit before, or the initial values), else the box's centre. ``burnin`` steps (a tenth
    by default) are left out of the diagnostics and the posterior's summaries.

    Examples
    --------
    >>> EmceeSampler(walkers=16, steps=500, seed=0).burnin_of(500, None)
    50
    """

    type: Literal["EmceeSampler"] = "EmceeSampler"
    ionworks_fields: ClassVar[dict[str, str]] = {"max_iterations": "steps", "burnin_iterations": "burnin"}
    walkers: int | None = Field(None, ge=4, description="an even number >= 2 x parameters; 4 x parameters (>= 8) if unset")
    steps: int = Field(1000, ge=2)
    burnin: int | None = Field(None, ge=0)
    spread: float = Field(0.001, gt=0, le=0.5, description="the starting ball's width, as a fraction of each range")

    def budget(self) -> int | None:
        return 2 * self.steps + 1  # the starting ensemble, then two half-ensembles a step

    def sample(self, problem: FitProblem, *, x0: np.ndarray | None) -> Chains:
        import emcee

        d = problem.dim
        walkers = self.walkers or max(8, 4 * d)
        if walkers < 2 * d or walkers % 2:
            raise ValueError(f"EmceeSampler needs an even number of walkers >= 2 x {d} parameters, got {walkers}")
        rng = np.random.default_rng(self.seed)
        start = self.ball(problem, x0, walkers, self.spread, rng)
        sampler = emcee.EnsembleSampler(walkers, d, lambda Y: log_posterior(problem, Y), vectorize=True)
        sampler.random_state = np.random.RandomState(self.seed).get_state()  # emcee draws its moves from it
        sampler.run_mcmc(start, self.steps, progress=False)
        calls = walkers * (self.steps + 1)
        return Chains(sampler.get_chain(), sampler.get_log_prob(), self.burnin_of(self.steps, self.burnin),
                      float(np.mean(sampler.acceptance_fraction)), calls)
