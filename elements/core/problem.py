"""The fit problem: what every optimizer, sampler and analysis of a fit receives.

scipy's contract made explicit: a problem in, an ``OptimizeResult`` out. A :class:`FitProblem`
holds the search box, the vectorised cost of a population and, where the fit's objectives give
them, the cost's exact gradient, the residuals with their Jacobian, or the objective's own
least-squares form. A method declares what it needs (:meth:`Method.needs`); a fit whose objectives
cannot give it is a spec error before anything runs (:func:`missing` on the objective kinds), and
an explicit :class:`TypeError` from :meth:`FitProblem.require` for a problem built by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GRADIENT, RESIDUALS, LEAST_SQUARES = "gradient", "residuals", "least_squares"
CAPABILITIES = (GRADIENT, RESIDUALS, LEAST_SQUARES)

Vectorised = Callable[[np.ndarray], np.ndarray]  # (n, d) search-space rows -> (n,) costs


def _same(Y: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.asarray(Y, dtype=float))


@dataclass(frozen=True)
class FitProblem:
    """A fit in search space (each parameter's transform applied: log10 values for ``transform: log10``).

    Parameters
    ----------
    bounds : sequence of (lower, upper)
        The search box, one pair per parameter.
    cost : callable
        ``cost(Y)``: the cost of each row of ``Y`` (n, d), shape (n,); inf where a solve failed.
    value_and_grad : callable, optional
        ``value_and_grad(Y)``: the costs and d cost / d y (n, d), from one solve per row.
    residuals : callable, optional
        ``residuals(Y)``: the costs, the residual vectors r (n, m) with ``sum(r**2)`` the weighted
        mean squared residual, and their Jacobians d r / d y (n, m, d).
    least_squares : object, optional
        The fit's one objective as a problem ``LevenbergMarquardt`` solves itself
        (:class:`elements.optimizers.levenberg_marquardt.LeastSquares`), in natural units.
    names : tuple of str
        The parameters' names.
    to_natural, to_search : callable
        Rows between search space and the parameters' own units (the identity by default).
    missing : mapping
        Why a capability is not offered, by name (``"gradient"``, ``"residuals"``, ``"least_squares"``).
    log_jacobian : callable, optional
        ``log |dx/dy|`` of each row, summed over the parameters whose prior is a density in their own
        units: what a sampler moving in search space adds to ``-cost`` (None: nothing to add).

    Examples
    --------
    >>> problem = FitProblem.of(lambda Y: ((Y - 0.3) ** 2).sum(axis=1), [(0.0, 1.0)] * 2)
    >>> problem.cost(np.array([[0.3, 0.3], [0.0, 0.3]])).round(2)
    array([0.  , 0.09])
    >>> problem.offers("gradient")
    False
    """

    bounds: tuple[tuple[float, float], ...]
    cost: Vectorised
    value_and_grad: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    residuals: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
    least_squares: Any = None
    names: tuple[str, ...] = ()
    to_natural: Callable[[np.ndarray], np.ndarray] = _same
    to_search: Callable[[np.ndarray], np.ndarray] = _same
    missing: Mapping[str, str] = field(default_factory=dict)
    log_jacobian: Callable[[np.ndarray], np.ndarray] | None = None

    @classmethod
    def of(
        cls, cost: Vectorised, bounds: Iterable[tuple[float, float]], *,
        value_and_grad: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
        residuals: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
    ) -> FitProblem:
        """A problem from plain functions (a toy problem, a test): what is not given is missing."""
        given = {GRADIENT: value_and_grad, RESIDUALS: residuals}
        missing = {k: "not given to FitProblem.of" for k, v in given.items() if v is None}
        missing[LEAST_SQUARES] = "not given to FitProblem.of"
        return cls(tuple(map(tuple, bounds)), cost, value_and_grad, residuals, missing=missing)

    @property
    def dim(self) -> int:
        return len(self.bounds)

    def __call__(self, Y: np.ndarray) -> np.ndarray:
        return self.cost(np.atleast_2d(Y))

    def offers(self, capability: str) -> bool:
        return {GRADIENT: self.value_and_grad, RESIDUALS: self.residuals,
                LEAST_SQUARES: self.least_squares}[capability] is not None

    def require(self, capability: str, method: str) -> None:
        """A TypeError naming ``method`` and why this problem cannot give ``capability``."""
        if not self.offers(capability):
            raise TypeError(f"{method} needs {DESCRIBED[capability]}: {self.missing.get(capability, 'not offered')}")


DESCRIBED = {
    GRADIENT: "exact gradients (IDAKLU sensitivities)",
    RESIDUALS: "residuals with a Jacobian from sensitivities",
    LEAST_SQUARES: "one objective with a least-squares form (EIS)",
}


def missing(offered: Mapping[str, frozenset[str]], *, priors: frozenset[str] = frozenset()) -> dict[str, str]:
    """Why a fit of these objectives (name -> the capabilities it offers) with ``priors`` (their kinds:
    ``Normal``, ...) cannot offer each capability; a capability absent from the answer is offered. Used
    on the objective kinds of a spec (before anything runs) and on the built objectives of a problem,
    so both say the same thing."""
    found: dict[str, str] = {}
    without = {c: [n for n, has in offered.items() if c not in has] for c in CAPABILITIES}
    if without[GRADIENT]:
        found[GRADIENT] = (
            f"objective(s) {_names(without[GRADIENT])} give no sensitivities (an Experiment, EIS and electrode "
            "balancing do not; a current drive, CurrentDriven or Pulse, does): fit them with finite differences "
            "({type: ScipyMinimize, gradient: central}) or a population optimizer")
    if without[RESIDUALS]:
        found[RESIDUALS] = found.get(GRADIENT) or f"objective(s) {_names(without[RESIDUALS])} give no residuals"
    elif priors - {"Normal"}:
        found[RESIDUALS] = (f"{' and '.join(sorted(priors - {'Normal'}))} priors are not a sum of squares (Normal "
                            "priors are): fit with them by a gradient method ({type: ScipyMinimize, method: L-BFGS-B}) "
                            "or a population optimizer, not least squares")
    if without[LEAST_SQUARES]:
        found[LEAST_SQUARES] = (
            f"objective(s) {_names(without[LEAST_SQUARES])} give no least-squares form. Use a population "
            "optimizer for them, such as {type: ScipyDifferentialEvolution} or {type: CMAES}")
    elif len(offered) != 1:
        found[LEAST_SQUARES] = (
            f"it fits one objective at a time; this fit has {len(offered)} ({_names(list(offered))}). Fit each "
            "spectrum separately with element_type: array_data_fit (data: folder:DIR gives one per file), or all "
            "of them jointly with a population optimizer")
    elif priors:
        found[LEAST_SQUARES] = "it takes no priors: fit with priors by a population optimizer"
    return found


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


class Method:
    """What an optimizer, sampler or analysis declares: the capabilities of a fit problem it needs."""

    def needs(self) -> frozenset[str]:
        """Capabilities (``"gradient"``, ``"residuals"``, ``"least_squares"``) this method needs."""
        return frozenset()

    def incompatible(self, missing: Mapping[str, str], *, name: str) -> list[str]:
        """One message per needed capability in ``missing`` (see :func:`missing`)."""
        return [f"{name} needs {DESCRIBED[c]}: {missing[c]}" for c in sorted(self.needs()) if c in missing]


__all__ = ["CAPABILITIES", "GRADIENT", "LEAST_SQUARES", "RESIDUALS", "FitProblem", "Method", "Vectorised", "missing"]
