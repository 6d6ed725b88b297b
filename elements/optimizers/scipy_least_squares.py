"""``ScipyLeastSquares``: scipy's least_squares on the residuals of every objective, with the Jacobian
from IDAKLU's sensitivities."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from scipy.optimize import OptimizeResult, least_squares

from elements.core.problem import RESIDUALS
from elements.core.registry import unknown_name
from elements.optimizers import OPTIMIZERS, FitProblem, Optimizer
from elements.optimizers._box import UnitBox

# least_squares' arguments that sweepfit fills in itself, and those its Jacobian replaces.
NOT_OPTIONS = {"fun", "x0", "jac", "bounds", "method", "args", "kwargs", "callback"}
REPLACED = {
    "diff_step": "the Jacobian comes from IDAKLU's sensitivities, not finite differences: remove it",
    "jac_sparsity": "the Jacobian comes from IDAKLU's sensitivities, not finite differences: remove it",
    "workers": "sweepfit already evaluates on the cluster: remove it",
}


def option_names() -> list[str]:
    """The keyword arguments of ``scipy.optimize.least_squares`` that ``options`` may set."""
    return sorted(set(inspect.signature(least_squares).parameters) - NOT_OPTIONS - set(REPLACED))


@OPTIMIZERS.register("ScipyLeastSquares")
class ScipyLeastSquares(Optimizer):
    """``scipy.optimize.least_squares`` within the bounds, searched in their unit box.

    The residual vector stacks every objective's residuals, each objective's times the square root
    of its weight and each variable's divided by its scale (``normalise``) and by the square root of
    its length, so half its sum of squares is half the weighted sum of the objectives' mean squared
    residuals: for one objective RMSE, MSE and SSE share its minimum. The dataset's ``cost`` keeps the
    fit's own ``cost`` of every evaluation. Each evaluation is ONE solve with sensitivities giving
    the residuals and their Jacobian, so only objectives with a current drive (CurrentDriven,
    Pulse) can be fitted. ``options`` are least_squares' (``ftol``, ``xtol``, ``gtol``, ``max_nfev``,
    ``loss``, ``f_scale``, ``x_scale``, ``tr_solver``, ...), checked when the spec is read; lengths
    among them are fractions of each parameter's range.

    ``method`` is ``trf`` (trust-region reflective, the default) or ``dogbox``; MINPACK's ``lm``
    takes no bounds, and every fitted parameter has them.

    Examples
    --------
    >>> ScipyLeastSquares(method="dogbox", options={"max_nfev": 50}).options
    {'max_nfev': 50}
    """

    # each least_squares iteration evaluates the residuals about once: its max_nfev caps iterations
    ionworks_fields: ClassVar[dict[str, str]] = {"max_iterations": "options.max_nfev", "max_nfev": "options.max_nfev"}
    type: Literal["ScipyLeastSquares"] = "ScipyLeastSquares"
    method: Literal["trf", "dogbox", "lm"] = "trf"
    options: dict[str, Any] = Field(default_factory=dict, description="scipy.optimize.least_squares' options")

    @field_validator("method")
    @classmethod
    def _bounded(cls, method: str) -> str:
        if method == "lm":
            raise ValueError("'lm' (MINPACK's Levenberg-Marquardt) takes no bounds, and every fitted parameter has "
                             "them: use 'trf' (trust-region reflective, Levenberg-Marquardt-like within bounds) or "
                             "'dogbox'")
        return method

    @field_validator("options")
    @classmethod
    def _scipy_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        method = info.data.get("method")
        if method is None:  # the method itself was invalid; that error is reported
            return options
        valid = option_names()
        problems = [f"option {key!r}: {REPLACED[key]}" if key in REPLACED else
                    unknown_name("scipy least_squares option", key, valid)
                    for key in options if key not in valid]
        if not problems:
            # scipy checks the values (a loss it knows, positive tolerances...) as it starts: let it, on a
            # problem it solves at once, so a bad value is reported with the spec rather than mid-run.
            try:
                least_squares(lambda u: u - 0.5, [0.5], bounds=(0.0, 1.0), method=method, **options)
            except (ValueError, TypeError) as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        return options

    def needs(self) -> frozenset[str]:
        return frozenset({RESIDUALS})

    def minimize(self, problem: FitProblem, *, x0: np.ndarray | None) -> OptimizeResult:
        problem.require(RESIDUALS, "ScipyLeastSquares")
        box = UnitBox.of(problem.bounds)
        costs: dict[bytes, float] = {}
        last: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

        def solved(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            # scipy asks for the residuals, then the Jacobian at the same point: one solve gives both
            key = np.asarray(u, dtype=float).tobytes()
            if key not in last:
                cost, r, J = problem.residuals(box.from_unit(np.clip(u, 0.0, 1.0))[None, :])
                last.clear()
                last[key] = r[0], J[0] * box.width  # d/du = d/dy * dy/du
                costs[key] = float(cost[0])
            return last[key]

        start = box.start(x0)
        if not np.all(np.isfinite(solved(start)[0])):
            return box.result(start, costs[start.tobytes()], nit=0, nfev=1, success=False,
                              message="the start point failed to solve (its status and message are in the evaluations)")
        result = least_squares(lambda u: solved(u)[0], start, jac=lambda u: solved(u)[1], bounds=(0.0, 1.0),
                               method=self.method, **self.options)
        cost = costs.get(result.x.tobytes())
        if cost is None:  # scipy returns a point it evaluated; this guards the bookkeeping, not the maths
            cost = float(problem.cost(box.from_unit(result.x)[None, :])[0])
        return box.result(result.x, cost, nit=result.njev, nfev=len(costs), success=result.success,
                          message=str(result.message))
