"""Costs comparing a simulated trace with measured data, looked up by name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from elements.registry import Registry

Cost = Callable[[np.ndarray, np.ndarray], float]
COSTS: Registry[Cost] = Registry("cost")


@COSTS.register("SSE")
def sse(model: np.ndarray, data: np.ndarray) -> float:
    return float(np.sum((model - data) ** 2))


@COSTS.register("MSE")
def mse(model: np.ndarray, data: np.ndarray) -> float:
    return float(np.mean((model - data) ** 2))


@COSTS.register("RMSE")
def rmse(model: np.ndarray, data: np.ndarray) -> float:
    return float(np.sqrt(np.mean((model - data) ** 2)))


@COSTS.register("MAE")
def mae(model: np.ndarray, data: np.ndarray) -> float:
    return float(np.mean(np.abs(model - data)))


@COSTS.register("Max")
def max_error(model: np.ndarray, data: np.ndarray) -> float:
    return float(np.max(np.abs(model - data)))
