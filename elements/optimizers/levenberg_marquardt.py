"""``LevenbergMarquardt``: bounded Levenberg–Marquardt on objectives that give residuals and a Jacobian.

The population optimizers search with the fit's cost alone. This one takes each objective's
least-squares problem instead (``Objective.least_squares()``, a :class:`LeastSquares`) and solves it
from ``n_starts`` starts in ONE vectorised call: for EIS, :func:`elements.eis.fit.fit`, jit-compiled
JAX vmapped over the starts (on a GPU when JAX sees one). The starts and the end points are then
evaluated through the fit's objective like any candidate, so a data_fit's dataset keeps them
(generation 0: the starts, generation 1: where each ended) with their costs and statuses; ``nit`` is
the best start's iterations (each one residual and Jacobian evaluation inside the JAX call, not
recorded one by one), and the message says how every start ended.

It needs the problem's ``least_squares`` (one objective with a least-squares form): an objective
without one (a PyBaMM simulation), several objectives at once, or priors are spec errors (use an
``array_data_fit`` to fit spectra separately, or a population optimizer to fit them jointly).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import AliasChoices, Field
from scipy.optimize import OptimizeResult

from elements.core.problem import LEAST_SQUARES
from elements.optimizers import OPTIMIZERS, FitProblem, Optimizer


class LeastSquares(Protocol):
    """What ``Objective.least_squares()`` returns: a problem :class:`LevenbergMarquardt` can solve.

    Values are in the fitted parameters' own units and order. Problems with equal ``batch`` keys
    (for EIS: the same circuit, frequencies and weighting) are solved together in one
    ``fit_batch`` call, which returns an :class:`elements.eis.fit.FitResult` whose costs are the
    objectives' own (``Objective.cost``, before the objective's weight).
    """

    batch: Hashable

    def sample(self, n: int, *, lower: np.ndarray, upper: np.ndarray, seed: int) -> np.ndarray:
        """``n`` seeded start points within the bounds, shape (n, n_parameters)."""
        ...

    def fit_batch(
        self, problems: Sequence[Any], starts: np.ndarray, *, lower: np.ndarray, upper: np.ndarray,
        max_iterations: int, ftol: float, xtol: float,
    ) -> Any:
        """Fit every problem of the batch from the same ``starts`` (n_starts, n_parameters)."""
        ...


@OPTIMIZERS.register("LevenbergMarquardt")
class LevenbergMarquardt(Optimizer):
    """Levenberg–Marquardt from ``n_starts`` seeded starts (Latin hypercube, log-uniform for positive scales).

    ``n_starts`` (or ``multistarts``) left unset means one start in a data_fit, and the element's
    ``multistarts`` in an array_data_fit. The fit's initial values, when every parameter has one, are
    the first start. ``max_iterations``, ``ftol`` and ``xtol`` are :func:`elements.eis.fit.fit`'s.

    Examples
    --------
    >>> LevenbergMarquardt(multistarts=16).n_starts
    16
    """

    type: Literal["LevenbergMarquardt"] = "LevenbergMarquardt"
    max_iterations: int = Field(200, ge=1, description="iterations per start")
    ftol: float = Field(1e-12, gt=0, description="stop when the cost's relative decrease falls below")
    xtol: float = Field(1e-10, gt=0, description="stop when the step, relative to the (log) parameters, falls below")
    n_starts: int | None = Field(None, ge=1, validation_alias=AliasChoices("n_starts", "multistarts"))
    seed: int = Field(0, ge=0)

    def starts(
        self, problem: LeastSquares, lower: np.ndarray, upper: np.ndarray, *, n: int, x0: np.ndarray | None = None
    ) -> np.ndarray:
        """``n`` start points (n, n_parameters): ``x0`` first when given, the rest drawn by the problem."""
        drawn = n - (x0 is not None)
        points = problem.sample(drawn, lower=lower, upper=upper, seed=self.seed) if drawn else np.empty((0, len(lower)))
        return np.vstack([x0[None], points]) if x0 is not None else points

    def fit_problems(
        self, problems: Sequence[LeastSquares], *, starts: np.ndarray, lower: np.ndarray, upper: np.ndarray
    ) -> Any:
        """One batch of problems from shared ``starts``, in one call: an :class:`elements.eis.fit.FitResult`."""
        return problems[0].fit_batch(
            problems, starts, lower=lower, upper=upper, max_iterations=self.max_iterations, ftol=self.ftol,
            xtol=self.xtol,
        )

    def needs(self) -> frozenset[str]:
        return frozenset({LEAST_SQUARES})

    def minimize(self, problem: FitProblem, *, x0: np.ndarray | None) -> OptimizeResult:
        problem.require(LEAST_SQUARES, "LevenbergMarquardt")
        from elements.eis.fit import FitStatus

        lower, upper = problem.to_natural(np.array(problem.bounds, dtype=float).T)
        start = None if x0 is None else problem.to_natural(x0)[0]
        starts = self.starts(problem.least_squares, lower, upper, n=self.n_starts or 1, x0=start)
        found = self.fit_problems([problem.least_squares], starts=starts, lower=lower, upper=upper)
        ends = found.start_parameters[0]

        problem.cost(problem.to_search(starts))  # recorded as generation 0, the end points as generation 1
        costs = np.asarray(problem.cost(problem.to_search(ends)), dtype=float)
        best = int(np.argmin(np.where(np.isnan(costs), np.inf, costs)))
        status = [FitStatus(int(s)) for s in found.start_status[0]]
        iterations = found.start_iterations[0]
        return OptimizeResult(
            x=problem.to_search(ends[best : best + 1])[0],
            fun=float(costs[best]),
            nit=int(iterations[best]),
            nfev=2 * len(starts),
            success=status[best].converged,
            message=_message(status, iterations, best),
        )


def _message(status: list[Any], iterations: np.ndarray, best: int) -> str:
    """How the best start ended, and how all of them did."""
    text = f"{status[best].message} after {int(iterations[best])} iterations"
    if len(status) == 1:
        return text
    counts = ", ".join(f"{sum(s is kind for s in status)} {kind.name.lower()}" for kind in dict.fromkeys(status))
    return f"start {best} of {len(status)}: {text} (starts: {counts})"


__all__ = ["LeastSquares", "LevenbergMarquardt"]
