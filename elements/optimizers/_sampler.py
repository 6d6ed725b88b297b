"""What the posterior samplers (``EmceeSampler``, ``PintsSampler``) share: the log posterior of a fit
problem, the chains they return, and their diagnostics.

A sampler takes a fit's place as its ``optimizer`` (ionworks writes ``PintsSampler`` there too). Its
log posterior is minus the fit's cost, which must be a negative log-likelihood
(``GaussianLogLikelihood``) plus the priors' ``-log p``. Chains move in search space (log10 for
``transform: log10``): a parameter without a prior has a uniform prior over its bounds there
(log-uniform in its own units), and a prior given in the parameter's own units gets the transform's
Jacobian. Every population of proposals is one call of the problem's cost, which the fit fans out
over the cluster, journals as it goes (so a killed sampler resumes like a fit) and keeps in its
dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from pydantic import Field
from scipy.optimize import OptimizeResult

from elements.optimizers import FitProblem, Optimizer

RHAT_CONVERGED = 1.05  # split R-hat below this on every parameter: the chains agree (Vehtari et al. 2021 use 1.01)


def log_posterior(problem: FitProblem, Y: np.ndarray) -> np.ndarray:
    """Minus the problem's cost of the rows of ``Y`` inside the bounds, -inf outside (never evaluated)."""
    Y = np.atleast_2d(Y)
    lower, upper = np.array(problem.bounds, dtype=float).T
    inside = np.all((Y >= lower) & (Y <= upper), axis=1)
    found = np.full(len(Y), -np.inf)
    if inside.any():
        cost = np.asarray(problem.cost(Y[inside]), dtype=float)
        found[inside] = np.where(np.isfinite(cost), -cost, -np.inf)
        if problem.log_jacobian is not None:
            found[inside] += problem.log_jacobian(Y[inside])
    return found


@dataclass
class Chains:
    """Samples (steps, chains, parameters) in search space, their log posteriors, and how many of the
    first steps are burn-in."""

    samples: np.ndarray
    log_posterior: np.ndarray
    burnin: int
    acceptance: float
    nfev: int

    @property
    def kept(self) -> np.ndarray:
        return self.samples[self.burnin:]

    def diagnostics(self) -> tuple[np.ndarray, np.ndarray]:
        """Rank-normalised split R-hat and bulk effective sample size of each parameter (ArviZ), after burn-in."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ArviZ announces its coming refactor on import
            import arviz as az

        draws = {"y": np.swapaxes(self.kept, 0, 1)}  # (chain, draw, parameter)
        data = az.convert_to_dataset(draws)
        return az.rhat(data)["y"].values, az.ess(data)["y"].values

    def result(self) -> OptimizeResult:
        """The best sample, whether the chains converged (R-hat), and the chains themselves."""
        flat = np.argmax(self.log_posterior)
        step, chain = np.unravel_index(flat, self.log_posterior.shape)
        rhat, ess = self.diagnostics()
        converged = bool(np.all(rhat < RHAT_CONVERGED))
        message = (f"{len(self.kept)} steps x {self.samples.shape[1]} chains after {self.burnin} burn-in: "
                   f"R-hat max {np.nanmax(rhat):.3f}, ESS min {np.nanmin(ess):.0f}")
        return OptimizeResult(x=self.samples[step, chain], fun=float(-self.log_posterior[step, chain]),
                              nit=len(self.samples), nfev=self.nfev, success=converged,
                              message=message if converged else f"{message} (R-hat >= {RHAT_CONVERGED}: run longer)",
                              chains=self, rhat=rhat, ess=ess)


class Sampler(Optimizer):
    """A posterior sampler in a fit's ``optimizer`` place; :meth:`sample` runs it."""

    is_sampler: ClassVar[bool] = True
    seed: int | None = Field(None, ge=0)

    def sample(self, problem: FitProblem, *, x0: np.ndarray | None) -> Chains:
        raise NotImplementedError

    def minimize(self, problem: FitProblem, *, x0: np.ndarray | None) -> OptimizeResult:
        return self.sample(problem, x0=x0).result()

    def burnin_of(self, steps: int, burnin: int | None) -> int:
        return steps // 10 if burnin is None else min(burnin, steps - 1)

    @staticmethod
    def ball(problem: FitProblem, x0: np.ndarray | None, n: int, spread: float, rng: np.random.Generator) -> np.ndarray:
        """``n`` starting points around ``x0`` (else the box's centre), ``spread`` of each range wide, in the box."""
        lower, upper = np.array(problem.bounds, dtype=float).T
        centre = (lower + upper) / 2 if x0 is None else np.asarray(x0, dtype=float)
        points = centre + spread * (upper - lower) * rng.standard_normal((n, len(lower)))
        return np.clip(points, lower, upper)
