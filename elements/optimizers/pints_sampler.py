"""``PintsSampler``: pints' MCMC methods by ionworks' names, every chain's proposal in one population."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from elements.core.problem import GRADIENT
from elements.core.registry import unknown_name
from elements.optimizers import OPTIMIZERS, FitProblem
from elements.optimizers._pints import numpy_global_rng
from elements.optimizers._sampler import Chains, Sampler, log_posterior


def methods() -> list[str]:
    """pints' MCMC samplers by class name."""
    import pints

    return sorted(n for n in dir(pints) if isinstance(getattr(pints, n), type)
                  and issubclass(getattr(pints, n), pints.MCMCSampler)
                  and n not in ("MCMCSampler", "SingleChainMCMC", "MultiChainMCMC"))


@OPTIMIZERS.register("PintsSampler")
class PintsSampler(Sampler):
    """A pints MCMC ``method`` (ionworks' ``PintsSampler``) run as ``chains`` chains side by side.

    Each step asks every chain for its next point and evaluates them all in ONE call of the fit's cost,
    fanned out over the cluster (pints' own controller evaluates one chain after another). Population
    methods (``DifferentialEvolutionMCMC``, ``DreamMCMC``, ``EmceeHammerMCMC``) propose for all chains at
    once; the others (``HaarioBardenetACMC``, ``DramACMC``, slice samplers, ...) are one sampler per chain.
    Methods that need gradients (``MALAMCMC``, ``HamiltonianMCMC``, ``NoUTurnMCMC``, ...) take the fit's
    exact gradient from IDAKLU's sensitivities. ``max_iterations`` includes ``burnin_iterations`` (a
    tenth by default); methods with an initial phase (adaptive covariance) run it for
    ``initial_phase_iterations`` (the burn-in by default). Chains start in a ball ``spread`` of each range
    wide around the fit's start point; ``sigma0`` is the proposal width as a fraction of each range.

    Examples
    --------
    >>> PintsSampler(method="HaarioBardenetACMC", max_iterations=2000, seed=1).chains
    4
    """

    type: Literal["PintsSampler"] = "PintsSampler"
    ionworks_fields: ClassVar[dict[str, str]] = {}
    method: str = "DramACMC"
    max_iterations: int = Field(1000, ge=2)
    burnin_iterations: int | None = Field(None, ge=0)
    initial_phase_iterations: int | None = Field(None, ge=0)
    chains: int = Field(4, ge=1)
    sigma0: float = Field(0.05, gt=0, le=1)
    spread: float = Field(0.001, gt=0, le=0.5)
    log_to_screen: bool = False

    @field_validator("method")
    @classmethod
    def _known(cls, method: str) -> str:
        valid = methods()
        if method not in valid:
            raise ValueError(unknown_name("pints MCMC method", method, valid))
        return method

    def _pints_class(self) -> Any:
        import pints

        return getattr(pints, self.method)

    def needs(self) -> frozenset[str]:
        import pints

        probe = self._pints_class()
        probe = probe(3, np.zeros((3, 1))) if issubclass(probe, pints.MultiChainMCMC) else probe(np.zeros(1))
        return frozenset({GRADIENT}) if probe.needs_sensitivities() else frozenset()

    def sample(self, problem: FitProblem, *, x0: np.ndarray | None) -> Chains:
        import pints

        method = self._pints_class()
        lower, upper = np.array(problem.bounds, dtype=float).T
        sigma0 = self.sigma0 * (upper - lower)
        state = np.random.RandomState(self.seed)
        burnin = self.burnin_of(self.max_iterations, self.burnin_iterations)
        initial = burnin if self.initial_phase_iterations is None else self.initial_phase_iterations
        start = self.ball(problem, x0, self.chains, self.spread, np.random.default_rng(self.seed))
        with numpy_global_rng(state):
            if issubclass(method, pints.MultiChainMCMC):
                samplers = [method(self.chains, start, sigma0)]
            else:
                samplers = [method(x, sigma0) for x in start]
            gradient = samplers[0].needs_sensitivities()
            for s in samplers:
                if s.needs_initial_phase():
                    s.set_initial_phase(initial > 0)
        population = issubclass(method, pints.MultiChainMCMC)
        samples: list[np.ndarray] = []
        logs: list[np.ndarray] = []
        pending: list[list[tuple[np.ndarray, float]]] = [[] for _ in range(self.chains)]
        accepted = proposals = nfev = 0
        while len(samples) < self.max_iterations:
            with numpy_global_rng(state):
                points = np.vstack([np.atleast_2d(s.ask()) for s in samplers])
            f, g = _with_gradient(problem, points) if gradient else (log_posterior(problem, points), None)
            nfev += len(points)
            if population:  # one sampler proposing for every chain: it takes and returns arrays
                told = [(f, g) if gradient else f]
            else:  # one sampler per chain: each takes its own value
                told = [(f[k], g[k]) if gradient else f[k] for k in range(self.chains)]
            for k, (s, value) in enumerate(zip(samplers, told)):
                with numpy_global_rng(state):
                    reply = s.tell(value)
                if reply is None:  # a slice sampler still searching: no sample this round
                    continue
                y, fy, was_accepted = reply
                fy = fy[0] if gradient else fy  # gradient methods return (log pdf, its gradient)
                chains = range(self.chains) if population else [k]
                for j, chain in enumerate(chains):
                    pending[chain].append((np.atleast_2d(y)[j], float(np.atleast_1d(fy)[j])))
                accepted += int(np.sum(was_accepted))
                proposals += len(chains)
            while all(pending):  # a step is complete when every chain has its next sample
                step = [c.pop(0) for c in pending]
                samples.append(np.array([y for y, _ in step]))
                logs.append(np.array([v for _, v in step]))
                if len(samples) == initial:
                    for s in samplers:
                        if s.needs_initial_phase():
                            s.set_initial_phase(False)
        return Chains(np.array(samples[:self.max_iterations]), np.array(logs[:self.max_iterations]), burnin,
                      accepted / max(proposals, 1), nfev)


def _with_gradient(problem: FitProblem, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The log posterior and its gradient (search space); -inf and zero gradient outside the bounds."""
    lower, upper = np.array(problem.bounds, dtype=float).T
    inside = np.all((Y >= lower) & (Y <= upper), axis=1)
    f, g = np.full(len(Y), -np.inf), np.zeros(Y.shape)
    if inside.any():
        cost, gradient = problem.value_and_grad(Y[inside])
        f[inside], g[inside] = -np.asarray(cost), -np.asarray(gradient)
        if problem.log_jacobian is not None:  # linear in y: its gradient is a difference
            inner = Y[inside]
            f[inside] += problem.log_jacobian(inner)
            g[inside] += np.column_stack([problem.log_jacobian(inner + e) - problem.log_jacobian(inner)
                                          for e in np.eye(Y.shape[1])])
    return f, g
