"""`linear_confidence_interval`: how well the data determine each fitted parameter, from the residuals'
Jacobian at the fitted point (ionworks' ``LinearConfidenceInterval``).

The point is each parameter's value passed down by an earlier element (the fit before this one),
else its ``initial_value``. The residuals are every compared variable's model minus data, in its own
units; each variable's noise is ``variable_standard_deviations[variable]`` when given, else estimated
from its residuals (its mean square times N / (N - p) over all N points and p parameters). The
Jacobian comes from ONE solve with IDAKLU's sensitivities where every objective has them, else from
central differences (2p + 1 solves in one batch per objective). In search space (log10 for
``transform: log10``) the Fisher information is ``sum_v J_v^T J_v / sigma_v^2`` (Gauss–Newton), or,
with ``gauss_newton: false``, the Hessian of the negative log-likelihood by central differences of
its gradient. Its inverse is the covariance; each interval is ``y ± t * sd`` (Student's t with N - p
degrees of freedom at ``confidence_level``), mapped back to the parameter's units (asymmetric for
log10) and clipped to the bounds with ``use_parameter_bounds``.

It answers "how far can this parameter move before the fit gets measurably worse, with the others
re-fitted" to first order: a correlation near ±1 says two parameters trade off against each other
and the data pin only a combination of them.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import Field, model_validator

from elements.core.status import Summary
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.fit.evaluation import build, transform_jacobians
from elements.fit.spec import DataFitSpec, at_a_point, inputs
from elements.objectives import Objective
from elements.schema import ParameterSpec


class ConfidenceSpec(DataFitSpec):
    """The fit's objectives, parameters and cost (as a data_fit writes them), and how to read them."""

    element_type: Literal["linear_confidence_interval"]  # type: ignore[assignment]
    confidence_level: float = Field(0.95, gt=0, lt=1)
    gauss_newton: bool = True
    use_parameter_bounds: bool = True
    variable_standard_deviations: dict[str, float] | None = None
    step: float = Field(1e-4, gt=0, lt=0.1, description="finite-difference step in search units (a decade for log10)")

    _point_estimate = model_validator(mode="before")(at_a_point)

    @model_validator(mode="after")
    def _positive_noise(self) -> ConfidenceSpec:
        bad = {k: v for k, v in (self.variable_standard_deviations or {}).items() if not v > 0}
        if bad:
            raise ValueError(f"variable_standard_deviations must be positive, got {bad}")
        return self


def point(spec: DataFitSpec, upstream: dict[str, Any]) -> np.ndarray:
    """The fitted point: each parameter's upstream value, else its initial value (natural units)."""
    found, missing = [], []
    for name, p in spec.parameters.items():
        value = upstream.get(name, p.initial_value)
        if not isinstance(value, (int, float)):
            missing.append(name)
        found.append(value)
    if missing:
        raise ValueError(f"no fitted value for {missing}: place this element after the fit that finds them, or give "
                         "each an initial_value")
    return np.array(found, dtype=float)


def residual_blocks(objective: Objective, outcome: Any) -> dict[str, np.ndarray]:
    """Model minus data per compared variable, in the variable's own units (real and imaginary parts
    stacked for a spectrum); NaN where the solve failed."""
    if hasattr(objective, "impedance"):  # a spectrum
        z = objective.impedance
        model = outcome.value if outcome.value is not None else np.full_like(z, np.nan)
        return {f"{objective.name}: Z [Ohm]": np.concatenate([(model - z).real, (model - z).imag])}
    return {f"{objective.name}: {v}": (outcome.value[v] if outcome.value is not None else np.nan) - data
            for v, data in objective.data.items()}


def jacobian(objectives: list[Objective], params: list[ParameterSpec], y: np.ndarray, step: float
             ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], str]:
    """The residual blocks at ``y`` (search space) and their Jacobians d r / d y, with how they were taken."""
    x = np.array([p.from_search(v) for p, v in zip(params, y)])
    if all(o.has_gradient for o in objectives):
        dx_dy = transform_jacobians(params, y[None])[0]
        r, J = {}, {}
        for o in objectives:
            [found] = o.value_and_grad(x[None], residuals=True)
            at = 0
            for name, block in residual_blocks(o, found.outcome).items():
                n = len(block)
                # value_and_grad's residuals are scaled by sqrt(weight / n) / scale per variable: undo it
                v = name.split(": ", 1)[1]
                factor = np.sqrt((o.weights or {}).get(v, 1.0) / n) / (o.scales or {}).get(v, 1.0)
                r[name], J[name] = block, found.jacobian[at:at + n] @ dx_dy / factor
                at += n
        return r, J, "sensitivities"
    stencil = np.vstack([y, y + step * np.eye(len(y)), y - step * np.eye(len(y))])
    X = np.array([[p.from_search(v) for p, v in zip(params, row)] for row in stencil])
    r, J = {}, {}
    d = len(y)
    for o in objectives:
        outcomes = o.solve(X)
        blocks = [residual_blocks(o, out) for out in outcomes]
        for name, block in blocks[0].items():
            r[name] = block
            J[name] = np.column_stack([(blocks[1 + i][name] - blocks[1 + d + i][name]) / (2 * step) for i in range(d)])
    return r, J, "central differences"


def covariance(spec: ConfidenceSpec, objectives: list[Objective], params: list[ParameterSpec], y: np.ndarray
               ) -> tuple[np.ndarray, dict[str, float], int, str]:
    """The covariance of the search values at ``y``, each variable's noise, the degrees of freedom and
    how the Jacobian was taken."""
    r, J, how = jacobian(objectives, params, y, spec.step)
    bad = [k for k, v in r.items() if not np.isfinite(v).all() or not np.isfinite(J[k]).all()]
    if bad:
        raise ValueError(f"the model did not solve at the fitted point (or next to it) for {bad}: no interval "
                         "can be taken there")
    n, d = sum(len(v) for v in r.values()), len(y)
    dof = n - d
    if dof <= 0:
        raise ValueError(f"{n} data points cannot determine {d} parameters")
    given = spec.variable_standard_deviations or {}
    sigma = {k: float(given.get(k.split(": ", 1)[1], np.sqrt(np.mean(v**2) * n / dof))) for k, v in r.items()}
    if spec.gauss_newton:
        information = sum(J[k].T @ J[k] / sigma[k] ** 2 for k in r)
    else:
        information = hessian(spec, objectives, params, y, sigma)
    return np.linalg.pinv(information), sigma, dof, how


def hessian(spec: ConfidenceSpec, objectives: list[Objective], params: list[ParameterSpec], y: np.ndarray,
            sigma: dict[str, float]) -> np.ndarray:
    """The negative log-likelihood's Hessian by central differences of its gradient ``sum J^T r / sigma^2``."""
    def gradient(at: np.ndarray) -> np.ndarray:
        r, J, _ = jacobian(objectives, params, at, spec.step)
        return sum(J[k].T @ r[k] / sigma[k] ** 2 for k in r)

    h, d = spec.step, len(y)
    columns = [(gradient(y + h * e) - gradient(y - h * e)) / (2 * h) for e in np.eye(d)]
    H = np.column_stack(columns)
    return (H + H.T) / 2


def interval_dataset(spec: ConfidenceSpec, params: list[ParameterSpec], y: np.ndarray, cov: np.ndarray,
                     sigma: dict[str, float], dof: int, how: str) -> xr.Dataset:
    from scipy import stats

    names = list(spec.parameters)
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    t = float(stats.t.ppf((1 + spec.confidence_level) / 2, dof))
    natural = np.array([p.from_search(v) for p, v in zip(params, y)])
    ends = [np.array([p.from_search(v) for p, v in zip(params, y + sign * t * sd)]) for sign in (-1, 1)]
    lower, upper = np.minimum(*ends), np.maximum(*ends)
    if spec.use_parameter_bounds:
        lower = np.maximum(lower, [p.bounds[0] for p in params])
        upper = np.minimum(upper, [p.bounds[1] for p in params])
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = cov / np.outer(sd, sd)
    units = [n[n.rfind("[") + 1:-1] if n.endswith("]") and "[" in n else "" for n in names]
    variables = list(sigma)
    return xr.Dataset(
        {
            "value": ("parameter", natural, {"long_name": "the fitted point"}),
            "lower": ("parameter", lower, {"long_name": f"lower end of the {spec.confidence_level:.0%} interval"}),
            "upper": ("parameter", upper, {"long_name": f"upper end of the {spec.confidence_level:.0%} interval"}),
            "search_value": ("parameter", y),
            "search_sd": ("parameter", sd, {"long_name": "standard deviation in search space (decades for log10)"}),
            "covariance": (("parameter", "parameter_2"), cov, {"long_name": "covariance of the search values"}),
            "correlation": (("parameter", "parameter_2"), correlation),
            "units": ("parameter", np.array(units, dtype=object)),
            "transform": ("parameter", np.array([p.transform for p in params], dtype=object)),
            "sigma": ("variable", np.array([sigma[v] for v in variables]),
                      {"long_name": "noise standard deviation of each compared variable, in its units"}),
        },
        coords={"parameter": names, "parameter_2": names, "variable": variables},
        attrs={"confidence_level": spec.confidence_level, "degrees_of_freedom": dof,
               "method": "gauss-newton" if spec.gauss_newton else "hessian", "jacobian": how,
               "noise": "given" if spec.variable_standard_deviations else "estimated from the residuals"},
    )


def at_the_point(spec: DataFitSpec, ctx: Context
                 ) -> tuple[tuple[str, ...], list[ParameterSpec], list[Objective], np.ndarray, np.ndarray]:
    """The parameters' names and specs, the worker-side objectives, and the fitted point in natural
    units and in search space."""
    names = tuple(spec.parameters)
    params = [spec.parameters[n] for n in names]
    x = point(spec, ctx.parameters)
    return names, params, build(spec, names, ctx), x, np.array([p.to_search(v) for p, v in zip(params, x)])


def run(spec: ConfidenceSpec, ctx: Context) -> Result:
    names, params, objectives, _, y = at_the_point(spec, ctx)
    cov, sigma, dof, how = covariance(spec, objectives, params, y)
    ds = interval_dataset(spec, params, y, cov, sigma, dof, how)
    metrics = {n: {"value": float(ds["value"][i]), "lower": float(ds["lower"][i]), "upper": float(ds["upper"][i])}
               for i, n in enumerate(names)}
    strong = [f"{a} ~ {b}: correlation {ds['correlation'].values[i, j]:+.2f}"
              for i, a in enumerate(names) for j, b in enumerate(names) if i < j
              and abs(ds["correlation"].values[i, j]) > 0.9]
    notes = [f"strongly correlated (the data pin a combination, not each): {'; '.join(strong)}"] if strong else []
    return Result(parameters=dict(ctx.parameters), datasets={"": ds},
                  summary=Summary(metrics=metrics, counts={"confidence": spec.confidence_level, "jacobian": how},
                                  notes=notes))


ELEMENTS.register("linear_confidence_interval", ElementType(ConfidenceSpec, run, inputs))
