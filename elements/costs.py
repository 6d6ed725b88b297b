"""Costs comparing a simulated trace with measured data, chosen by ``type``; each owns its options.

ionworks-schema writes the same names (``SSE``, ``MSE``, ``RMSE``, ``MAE``, ``Max``,
``GaussianLogLikelihood``) with the same fields; fields that would change the answer and that
sweepfit has no meaning for are rejected, naming the field.

Each cost is written once, in :meth:`Cost.measure`, against an array module: numpy to evaluate
it, jax.numpy for jax to differentiate it (the gradient of a fit through IDAKLU's sensitivities).
"""

from __future__ import annotations

import math
from functools import partial
from types import ModuleType
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from elements.core.registry import Registry
from elements.schema import Kind

# ionworks-schema's cost fields that sweepfit expresses elsewhere: where to say it instead.
ELSEWHERE = {
    "objective_weights": "give each objective its own weight: {objective: {weight: 2.0, ...}}",
    "variable_weights": "give the objective's variables weights: variables: {'Voltage [V]': {weight: 2.0}}",
    "nan_values": "a solution with NaN is a failed solve in sweepfit (cost inf, reason kept); remove it",
    "calculation_structure": "each objective compares its own variables (its 'variables'); remove it",
    "objective_names": "each objective compares its own variables (its 'variables'); remove it",
}


class Cost(Kind):
    """A cost: ``cost(model, data, variable)`` -> float, smaller is better.

    ``normalization`` divides model and data by a scale taken from the data before comparing:
    ``identity`` (or unset: none), ``mean`` (``|mean(data)|``), ``range`` (``max - min``),
    ``root_mean_squares`` (``sqrt(mean(data**2))``) or a number. Unset means none in sweepfit;
    ionworks' server divides by the mean when it is unset, which leaves the best fit of one
    variable of one objective unchanged and weighs several differently.
    """

    likelihood: ClassVar[bool] = False  # a negative log-likelihood, to which priors add as a posterior
    normalization: Literal["identity", "mean", "range", "root_mean_squares"] | float | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_here(cls, value: Any) -> Any:
        if isinstance(value, dict):
            found = [f"{k}: {ELSEWHERE[k]}" for k in ELSEWHERE if value.get(k) is not None]
            if found:
                raise ValueError("; ".join(found))
        return value

    def scale(self, data: np.ndarray) -> float:
        """The normalization's scale, taken from the data (1 for none)."""
        how = self.normalization
        if how in (None, "identity"):
            return 1.0
        return float({"mean": lambda: abs(np.mean(data)), "range": lambda: np.ptp(data),
                      "root_mean_squares": lambda: np.sqrt(np.mean(data**2))}.get(how, lambda: how)())

    def __call__(self, model: np.ndarray, data: np.ndarray, variable: str | None = None) -> float:
        data = np.asarray(data, dtype=float)
        scale = self.scale(data)
        return float(self.measure(np, np.asarray(model, dtype=float) / scale, data / scale, variable))

    def measure(self, xp: ModuleType, model: Any, data: Any, variable: str | None) -> Any:
        """The cost of one ``variable`` as an expression in the array module ``xp`` (numpy or jax.numpy)."""
        raise NotImplementedError(f"cost {self.type!r} gives no measure(xp, model, data, variable)")

    def value_and_grad(self, model: np.ndarray, data: np.ndarray, variable: str | None = None) -> tuple[float, np.ndarray]:
        """The cost and d cost / d model. Where the cost is not differentiable (RMSE at 0, MAE and
        Max where residuals tie or vanish) this is jax's choice of subgradient, or NaN."""
        key = (self.model_dump_json(), variable)
        if key not in _compiled:
            import jax
            import jax.numpy as jnp

            jax.config.update("jax_enable_x64", True)  # residuals of micro-volts in float32 are noise
            # compiled once per cost and variable: ~0.1 ms a call where op-by-op took ~2.5 ms
            measure = partial(self.measure, jnp, variable=variable)
            _compiled[key] = jax.jit(jax.value_and_grad(lambda m, d, s: measure(m / s, d / s)))
        data = np.asarray(data, dtype=float)
        value, grad = _compiled[key](np.asarray(model, dtype=float), data, self.scale(data))
        return float(value), np.asarray(grad)


_compiled: dict[tuple[str, str | None], Any] = {}  # per process: a cost's jitted value_and_grad


COSTS: Registry[type[Cost]] = Registry("cost")


@COSTS.register("SSE")
class SSE(Cost):
    type: Literal["SSE"] = "SSE"

    def measure(self, xp: ModuleType, model: Any, data: Any, variable: str | None) -> Any:
        return xp.sum((model - data) ** 2)


@COSTS.register("MSE")
class MSE(Cost):
    type: Literal["MSE"] = "MSE"

    def measure(self, xp: ModuleType, model: Any, data: Any, variable: str | None) -> Any:
        return xp.mean((model - data) ** 2)


@COSTS.register("RMSE")
class RMSE(Cost):
    type: Literal["RMSE"] = "RMSE"

    def measure(self, xp: ModuleType, model: Any, data: Any, variable: str | None) -> Any:
        return xp.sqrt(xp.mean((model - data) ** 2))


@COSTS.register("MAE")
class MAE(Cost):
    type: Literal["MAE"] = "MAE"

    def measure(self, xp: ModuleType, model: Any, data: Any, variable: str | None) -> Any:
        return xp.mean(xp.abs(model - data))


@COSTS.register("Max")
class Max(Cost):
    type: Literal["Max"] = "Max"

    def measure(self, xp: ModuleType, model: Any, data: Any, variable: str | None) -> Any:
        return xp.max(xp.abs(model - data))


@COSTS.register("GaussianLogLikelihood")
class GaussianLogLikelihood(Cost):
    """The negative log-likelihood of the data under independent Gaussian noise, per variable:

        0.5 * (N * log(2 pi sigma**2) + sum((model - data)**2) / sigma**2)

    ``sigma`` maps each compared variable to its noise standard deviation, in the variable's units:
    a number (known noise), or the name of a fitted parameter (listed in the fit's ``parameters``
    with bounds), which the fit then estimates with the model's parameters. Spelled as in
    ionworks-schema.

    Examples
    --------
    >>> cost = GaussianLogLikelihood(sigma={"Voltage [V]": 0.5})
    >>> round(cost(np.array([1.0, 2.0]), np.array([1.5, 2.0]), "Voltage [V]"), 6)  # log(2 pi 0.25) + 0.5
    0.952476
    """

    likelihood: ClassVar[bool] = True
    type: Literal["GaussianLogLikelihood"] = "GaussianLogLikelihood"
    sigma: dict[str, float | str] = Field(min_length=1)

    @field_validator("sigma")
    @classmethod
    def _positive(cls, sigma: dict[str, float | str]) -> dict[str, float | str]:
        bad = {k: v for k, v in sigma.items() if not isinstance(v, str) and not (v > 0 and math.isfinite(v))}
        if bad:
            raise ValueError(f"sigma must be positive and finite (or a fitted parameter's name), got {bad}")
        return sigma

    @property
    def fitted(self) -> set[str]:
        """The names of the fitted parameters that are noise levels."""
        return {v for v in self.sigma.values() if isinstance(v, str)}

    def bound(self, values: dict[str, float]) -> GaussianLogLikelihood:
        """This cost with its fitted noise levels set to ``values``."""
        return self.model_copy(update={"sigma": {k: values.get(v, v) if isinstance(v, str) else v
                                                 for k, v in self.sigma.items()}})

    def measure(self, xp: ModuleType, model: Any, data: Any, variable: str | None) -> Any:
        if variable not in self.sigma:
            raise ValueError(f"GaussianLogLikelihood has no sigma for {variable!r}; sigma gives {sorted(self.sigma)}")
        sigma = self.sigma[variable]
        if isinstance(sigma, str):
            raise ValueError(f"sigma of {variable!r} is the fitted parameter {sigma!r}, which has no value here")
        if not sigma > 0:
            return xp.inf
        return 0.5 * (data.size * xp.log(2 * xp.pi * sigma**2) + xp.sum((model - data) ** 2) / sigma**2)
