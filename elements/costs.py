"""Costs comparing a simulated trace with measured data, chosen by ``type``; each owns its options.

Each cost is written once, in :meth:`Cost.measure`, against an array module: numpy to evaluate
it, jax.numpy for jax to differentiate it (the gradient of a fit through IDAKLU's sensitivities).
"""

from __future__ import annotations

from functools import partial
from types import ModuleType
from typing import Any, Literal

import numpy as np

from elements.core.registry import Registry
from elements.schema import Kind


class Cost(Kind):
    """A cost: ``cost(model, data)`` -> float, smaller is better."""

    def __call__(self, model: np.ndarray, data: np.ndarray) -> float:
        return float(self.measure(np, np.asarray(model), np.asarray(data)))

    def measure(self, xp: ModuleType, model: Any, data: Any) -> Any:
        """The cost as an expression in the array module ``xp`` (numpy or jax.numpy)."""
        raise NotImplementedError(f"cost {self.type!r} gives no measure(xp, model, data), so it has no gradient")

    def value_and_grad(self, model: np.ndarray, data: np.ndarray) -> tuple[float, np.ndarray]:
        """The cost and d cost / d model. Where the cost is not differentiable (RMSE at 0, MAE and
        Max where residuals tie or vanish) this is jax's choice of subgradient, or NaN."""
        key = self.model_dump_json()
        if key not in _compiled:
            import jax
            import jax.numpy as jnp

            jax.config.update("jax_enable_x64", True)  # residuals of micro-volts in float32 are noise
            # compiled once per cost and data length: ~0.1 ms a call where op-by-op took ~2.5 ms
            _compiled[key] = jax.jit(jax.value_and_grad(partial(self.measure, jnp)))
        value, grad = _compiled[key](np.asarray(model, dtype=float), np.asarray(data, dtype=float))
        return float(value), np.asarray(grad)


_compiled: dict[str, Any] = {}  # per process: a cost's jitted value_and_grad, by its options


COSTS: Registry[type[Cost]] = Registry("cost")


@COSTS.register("SSE")
class SSE(Cost):
    type: Literal["SSE"] = "SSE"

    def measure(self, xp: ModuleType, model: Any, data: Any) -> Any:
        return xp.sum((model - data) ** 2)


@COSTS.register("MSE")
class MSE(Cost):
    type: Literal["MSE"] = "MSE"

    def measure(self, xp: ModuleType, model: Any, data: Any) -> Any:
        return xp.mean((model - data) ** 2)


@COSTS.register("RMSE")
class RMSE(Cost):
    type: Literal["RMSE"] = "RMSE"

    def measure(self, xp: ModuleType, model: Any, data: Any) -> Any:
        return xp.sqrt(xp.mean((model - data) ** 2))


@COSTS.register("MAE")
class MAE(Cost):
    type: Literal["MAE"] = "MAE"

    def measure(self, xp: ModuleType, model: Any, data: Any) -> Any:
        return xp.mean(xp.abs(model - data))


@COSTS.register("Max")
class Max(Cost):
    type: Literal["Max"] = "Max"

    def measure(self, xp: ModuleType, model: Any, data: Any) -> Any:
        return xp.max(xp.abs(model - data))
