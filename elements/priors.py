"""Priors on fitted parameters, chosen by name as ionworks-schema writes them (``distribution``).

A fit with priors minimises ``cost + sum_k weight_k * (-log p_k(theta_k))`` over its candidates,
with ``p_k`` the full density (normalising constant included) of parameter ``k`` in its own units.
With a likelihood cost (``GaussianLogLikelihood``) that sum is the negative log posterior, up to a
constant: the fit is a MAP estimate. With any other cost the same number is added to it as a
penalty, so its balance against the cost depends on the cost's units (an RMSE in volts): scale
it with ``regularizer_weight``.

Each kind's :meth:`Prior.neg_log_density` is written with ``jax.numpy``, so ``jax.grad`` of it
gives the prior's gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import AliasChoices, Field, model_validator

from elements import engine
from elements.core.registry import Registry
from elements.objectives import Gradient, Objective
from elements.schema import Kind, kind_of


def _jnp() -> Any:
    """``jax.numpy`` in 64-bit mode; imported on first use, as sweepfit starts without JAX."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jnp


class Prior(Kind):
    """A prior density on one parameter; ``weight`` (ionworks' ``regularizer_weight``) scales its term."""

    weight: float = Field(1.0, ge=0, validation_alias=AliasChoices("weight", "regularizer_weight"))

    def neg_log_density(self, x: Any) -> Any:
        """``-log p(x)``, in ``jax.numpy`` (differentiable with ``jax.grad``); ``inf`` outside the support."""
        raise NotImplementedError


PRIORS: Registry[type[Prior]] = Registry("prior")
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@PRIORS.register("Normal")
class Normal(Prior):
    """Normal(mean, std) in the parameter's units.

    Examples
    --------
    >>> round(float(Normal(mean=1.0, std=0.5).neg_log_density(2.0)), 6)  # 2 + log(0.5) + log(2 pi) / 2
    2.225791
    """

    type: Literal["Normal"] = "Normal"
    mean: float
    std: float = Field(gt=0)

    def neg_log_density(self, x: Any) -> Any:
        jnp = _jnp()
        z = (jnp.asarray(x) - self.mean) / self.std
        return 0.5 * z**2 + jnp.log(self.std) + HALF_LOG_2PI


@PRIORS.register("LogNormal")
class LogNormal(Prior):
    """LogNormal: ``log(x)`` is Normal(mean, std), as ionworks-schema's ``LogNormal`` (and scipy's
    ``lognorm(s=std, scale=exp(mean))``); the density is that of ``x``, so it has the ``log(x)`` term."""

    type: Literal["LogNormal"] = "LogNormal"
    mean: float
    std: float = Field(gt=0)

    def neg_log_density(self, x: Any) -> Any:
        jnp = _jnp()
        x = jnp.asarray(x)
        positive = x > 0
        log_x = jnp.log(jnp.where(positive, x, 1.0))  # keeps the gradient finite where x <= 0
        z = (log_x - self.mean) / self.std
        return jnp.where(positive, 0.5 * z**2 + log_x + jnp.log(self.std) + HALF_LOG_2PI, jnp.inf)


@PRIORS.register("Uniform")
class Uniform(Prior):
    """Uniform on ``[lb, ub]``: a constant ``log(ub - lb)`` inside, ``inf`` outside."""

    type: Literal["Uniform"] = "Uniform"
    lb: float
    ub: float

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if not self.lb < self.ub:
            raise ValueError(f"Uniform needs lb < ub, got lb={self.lb}, ub={self.ub}")
        return self

    def neg_log_density(self, x: Any) -> Any:
        jnp = _jnp()
        x = jnp.asarray(x)
        return jnp.where((x >= self.lb) & (x <= self.ub), jnp.log(self.ub - self.lb), jnp.inf)


def ionworks(value: dict[str, Any]) -> dict[str, Any]:
    """ionworks-schema's forms as ``{type: <distribution>, <its fields>, weight}``: a distribution
    ``{distribution: Normal, mean, std}``, or a ``Prior`` ``{type: Prior, distribution: {...},
    regularizer_weight}``, nested or flat."""
    value = dict(value)
    if value.get("type") == "Prior":
        value.pop("type")
    value.pop("name", None)  # the parameter's name: the mapping key says it
    distribution = value.pop("distribution", None)
    if isinstance(distribution, dict):
        value = {**{k: v for k, v in distribution.items() if k != "distribution"}, **value,
                 "type": distribution.get("distribution", distribution.get("type"))}
    elif distribution is not None:
        value["type"] = distribution
    if value.get("regularizer_weight", 0) is None:
        value.pop("regularizer_weight")
    return value


PriorKind = kind_of(PRIORS, prepare=ionworks)


@dataclass(frozen=True, eq=False)
class PriorTerm(Objective):
    """Worker side: the priors' term of the cost, ``sum_k weight_k * -log p_k(x[column_k])``, as one
    more objective of a fit, so every optimizer and every way of fanning out sees the same cost."""

    priors: dict[int, Prior]  # column of the candidate -> its prior
    names: tuple[str, ...]
    name: str = "priors"
    weight: float = 1.0

    def solve(self, X: np.ndarray) -> list[engine.Outcome]:
        return [engine.Outcome(np.asarray(row, dtype=float)) for row in np.atleast_2d(X)]

    def cost(self, outcome: engine.Outcome, cost: Any = None) -> float:
        return float(sum(p.weight * float(p.neg_log_density(outcome.value[i])) for i, p in self.priors.items()))

    has_gradient = True

    def value_and_grad(self, X: np.ndarray, *, residuals: bool = False) -> list[Gradient]:
        """The term and its gradient by jax; with ``residuals``, Normal priors as a sum of squares,
        ``r_k = sqrt(weight_k / 2) (x_k - mean_k) / std_k`` (the term less its constant); other priors have none."""
        if residuals:
            return self._residuals(X)
        import jax

        found = []
        for outcome in self.solve(X):
            gradient = np.zeros(len(outcome.value))
            for i, p in self.priors.items():
                gradient[i] = p.weight * float(jax.grad(p.neg_log_density)(float(outcome.value[i])))
            found.append(Gradient(outcome, self.cost(outcome), gradient))
        return found

    def _residuals(self, X: np.ndarray) -> list[Gradient]:
        other = sorted({type(p).__name__ for p in self.priors.values() if not isinstance(p, Normal)})
        if other:
            raise TypeError(f"{' and '.join(other)} priors are not a sum of squares: fit with them by a gradient "
                            "method ({type: ScipyMinimize, method: L-BFGS-B}) or a population optimizer, not least "
                            "squares (Normal priors are a sum of squares)")
        columns = list(self.priors)
        scale = np.array([np.sqrt(p.weight / 2) / p.std for p in self.priors.values()])
        mean = np.array([p.mean for p in self.priors.values()])
        found = []
        for outcome in self.solve(X):
            jacobian = np.zeros((len(columns), len(outcome.value)))
            jacobian[np.arange(len(columns)), columns] = scale
            r = scale * (outcome.value[columns] - mean)
            gradient = 2 * jacobian.T @ r  # d sum(r**2) / dx, the term's gradient (its constant has none)
            found.append(Gradient(outcome, self.cost(outcome), gradient, r, jacobian))
        return found

    def traces(self, outcome: engine.Outcome) -> xr.Dataset:
        terms = [p.weight * float(p.neg_log_density(outcome.value[i])) for i, p in self.priors.items()]
        return xr.Dataset({"neg_log_prior": ("parameter", terms)},
                          coords={"parameter": [self.names[i] for i in self.priors]})


__all__ = ["PRIORS", "LogNormal", "Normal", "Prior", "PriorKind", "PriorTerm", "Uniform", "ionworks"]
