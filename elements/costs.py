"""Costs comparing a simulated trace with measured data, chosen by ``type``; each owns its options."""

from __future__ import annotations

from typing import Literal

import numpy as np

from elements.core.registry import Registry
from elements.schema import Kind


class Cost(Kind):
    """A cost: ``cost(model, data)`` -> float, smaller is better."""

    def __call__(self, model: np.ndarray, data: np.ndarray) -> float:
        raise NotImplementedError


COSTS: Registry[type[Cost]] = Registry("cost")


@COSTS.register("SSE")
class SSE(Cost):
    type: Literal["SSE"] = "SSE"

    def __call__(self, model: np.ndarray, data: np.ndarray) -> float:
        return float(np.sum((model - data) ** 2))


@COSTS.register("MSE")
class MSE(Cost):
    type: Literal["MSE"] = "MSE"

    def __call__(self, model: np.ndarray, data: np.ndarray) -> float:
        return float(np.mean((model - data) ** 2))


@COSTS.register("RMSE")
class RMSE(Cost):
    type: Literal["RMSE"] = "RMSE"

    def __call__(self, model: np.ndarray, data: np.ndarray) -> float:
        return float(np.sqrt(np.mean((model - data) ** 2)))


@COSTS.register("MAE")
class MAE(Cost):
    type: Literal["MAE"] = "MAE"

    def __call__(self, model: np.ndarray, data: np.ndarray) -> float:
        return float(np.mean(np.abs(model - data)))


@COSTS.register("Max")
class Max(Cost):
    type: Literal["Max"] = "Max"

    def __call__(self, model: np.ndarray, data: np.ndarray) -> float:
        return float(np.max(np.abs(model - data)))
