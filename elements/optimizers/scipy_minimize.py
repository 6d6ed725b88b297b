"""``ScipyMinimize``: scipy's local methods, with exact gradients from IDAKLU's sensitivities or finite
differences evaluated as one vectorised call."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator
from scipy.optimize import OptimizeResult, minimize

from elements.core.problem import GRADIENT
from elements.core.registry import unknown_name
from elements.optimizers import OPTIMIZERS, FitProblem, Optimizer
from elements.optimizers._box import UnitBox

Method = Literal["Nelder-Mead", "Powell", "L-BFGS-B", "TNC", "SLSQP", "trust-constr", "COBYLA", "COBYQA"]
GRADIENT_METHODS = ("L-BFGS-B", "TNC", "SLSQP", "trust-constr")

# scipy hands ``options`` to one private function per method and warns (at run time) about keys
# that function does not take; its signature is where the valid keys are written down.
SOLVERS = {
    "Nelder-Mead": "neldermead", "Powell": "powell", "L-BFGS-B": "lbfgsb", "TNC": "tnc", "SLSQP": "slsqp",
    "trust-constr": "trustregion_constr", "COBYLA": "cobyla", "COBYQA": "cobyqa",
}
# Arguments of those functions that minimize() fills in itself, and finite-difference settings
# that the gradient sweepfit computes replaces.
NOT_OPTIONS = {"fun", "func", "x0", "args", "jac", "grad", "hess", "hessp", "bounds", "constraints", "callback",
               "unknown_options"}
STEP = "sweepfit computes the gradient: set the optimizer's `step` (a fraction of each range) instead"
REPLACED = {"eps": STEP, "finite_diff_rel_step": STEP,
            "workers": "sweepfit already evaluates a gradient's points in parallel on the cluster: remove it"}


def option_names(method: str) -> list[str]:
    """The keys scipy's ``method`` takes in ``options`` (those sweepfit sets itself left out)."""
    import scipy.optimize._minimize as scipy_minimize

    solver = getattr(scipy_minimize, f"_minimize_{SOLVERS[method]}")
    return sorted(set(inspect.signature(solver).parameters) - NOT_OPTIONS - set(REPLACED))


@OPTIMIZERS.register("ScipyMinimize")
class ScipyMinimize(Optimizer):
    """``scipy.optimize.minimize`` within the bounds, in their unit box; ``options`` go to scipy.

    For the gradient methods (L-BFGS-B, TNC, SLSQP, trust-constr) ``gradient: sensitivities`` (the
    default where every objective has them: a current drive) takes the cost and its exact gradient
    from ONE solve with IDAKLU's forward sensitivities. ``forward`` and ``central`` take a finite
    difference of ``step`` (a fraction of each parameter's range) instead: ``forward`` evaluates
    d + 1 points, ``central`` 2d + 1 (the centre gives the cost), and each gradient is ONE vectorised
    call, so its points run in parallel on the cluster instead of one after another. A difference
    that would leave the box is taken inward. Derivative-free methods evaluate one point per call.
    Lengths among scipy's ``options`` (``xatol``, ``rhobeg``, ``initial_simplex``...) are in the
    unit box too; ``x0`` (initial values, or a multistart's start point) is where it starts, else
    the box's centre.

    Examples
    --------
    >>> ScipyMinimize(method="L-BFGS-B", gradient="central", options={"maxiter": 50}).step
    1e-06
    >>> ScipyMinimize(method="TNC", gradient="sensitivities").method
    'TNC'
    """

    type: Literal["ScipyMinimize"] = "ScipyMinimize"
    ionworks_fields: ClassVar[dict[str, str]] = {"max_iterations": "options.maxiter"}
    method: Method = "L-BFGS-B"
    options: dict[str, Any] = Field(default_factory=dict, description="scipy's options for the method")
    tol: float | None = Field(None, gt=0)
    gradient: Literal["sensitivities", "forward", "central"] | None = Field(
        None, description="sensitivities where every objective has them, else forward")
    step: float = Field(1e-6, gt=0, lt=0.5, description="finite-difference step, as a fraction of each range")

    @field_validator("options")
    @classmethod
    def _scipy_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        method = info.data.get("method")
        if method is None:  # the method itself was invalid; that error is reported
            return options
        valid = option_names(method)
        problems = []
        for key in options:
            if key in REPLACED:
                problems.append(f"option {key!r}: {REPLACED[key]}")
            elif key not in valid:
                problems.append(unknown_name(f"scipy {method} option", key, valid))
        if problems:
            raise ValueError("; ".join(problems))
        return options

    @model_validator(mode="after")
    def _gradient_only_for_gradient_methods(self) -> ScipyMinimize:
        given = sorted({"gradient", "step"} & self.model_fields_set)
        if given and self.method not in GRADIENT_METHODS:
            raise ValueError(f"{' and '.join(given)}: only the gradient methods {list(GRADIENT_METHODS)} use "
                             f"{'them' if len(given) > 1 else 'it'}; {self.method} takes no gradient, so remove "
                             f"{' and '.join(given)} or pick a gradient method")
        if self.gradient == "sensitivities" and "step" in self.model_fields_set:
            raise ValueError("step: the finite-difference step means nothing with gradient: sensitivities "
                             "(exact gradients); remove step, or set gradient: central or forward")
        return self

    def needs(self) -> frozenset[str]:
        return frozenset({GRADIENT}) if self.gradient == "sensitivities" else frozenset()

    def gradient_for(self, problem: FitProblem) -> str:
        """The gradient this fit takes: as asked, or sensitivities where every objective has them."""
        if self.gradient == "sensitivities":
            problem.require(GRADIENT, "ScipyMinimize gradient: sensitivities")
        return self.gradient or ("sensitivities" if problem.offers(GRADIENT) else "forward")

    def minimize(self, problem: FitProblem, *, x0: np.ndarray | None) -> OptimizeResult:
        box = UnitBox.of(problem.bounds)
        f = box.wrap(problem.cost)
        nfev = 0

        def evaluate(U: np.ndarray) -> np.ndarray:
            nonlocal nfev
            nfev += len(U)
            return f(U)

        def exact(u: np.ndarray) -> tuple[float, np.ndarray]:
            nonlocal nfev
            nfev += 1
            costs, gradients = problem.value_and_grad(box.from_unit(np.clip(u, 0.0, 1.0))[None, :])
            return float(costs[0]), gradients[0] * box.width  # d/du = d/dy * dy/du

        def value_and_gradient(u: np.ndarray) -> tuple[float, np.ndarray]:
            points, spans = self.stencil(u)
            costs = evaluate(points)
            ahead = costs[1:box.dim + 1]
            behind = costs[0] if self.gradient != "central" else costs[box.dim + 1:]
            with np.errstate(invalid="ignore"):  # a failed solve costs inf: its difference is nan, and scipy stops
                return float(costs[0]), (ahead - behind) / spans

        if self.method not in GRADIENT_METHODS:
            fun, jac = (lambda u: float(evaluate(u[None, :])[0])), None
        else:
            fun, jac = (exact if self.gradient_for(problem) == "sensitivities" else value_and_gradient), True
        result = minimize(fun, box.start(x0), method=self.method, jac=jac,
                          bounds=[(0.0, 1.0)] * box.dim, tol=self.tol, options=self.options)
        return box.result(result.x, result.fun, nit=result.get("nit", result.nfev), nfev=nfev, success=result.success,
                          message=str(result.message))

    def stencil(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The points of one finite-difference gradient, centre first, and the width each difference spans."""
        eye = np.eye(len(u))
        if self.gradient != "central":
            h = np.where(u + self.step <= 1.0, self.step, -self.step)
            return np.vstack([u, u + h[:, None] * eye]), h
        up, down = np.minimum(u + self.step, 1.0) - u, u - np.maximum(u - self.step, 0.0)
        return np.vstack([u, u + up[:, None] * eye, u - down[:, None] * eye]), up + down
