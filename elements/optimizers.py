"""Optimizers by name. Each takes a vectorised objective and fans populations out through it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import ConfigDict, field_validator, model_validator
from scipy.optimize import OptimizeResult, differential_evolution

from elements.registry import Registry
from elements.schema import Strict, known

# optimizer(objective(Y: (n, d) search-space rows) -> costs (n,), bounds, *, x0, options)
Optimizer = Callable[..., OptimizeResult]
OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")

# sweepfit owns these: it evaluates whole populations in parallel chunks.
_OWNED = {"func", "bounds", "args", "workers", "vectorized", "updating", "callback", "x0"}
DE_OPTIONS = sorted(set(inspect.signature(differential_evolution).parameters) - _OWNED)


class OptimizerSpec(Strict):
    """``{"type": "ScipyDifferentialEvolution", <scipy options>}``; options pass through to scipy."""

    model_config = ConfigDict(extra="allow")
    type: str = "ScipyDifferentialEvolution"

    _known = field_validator("type")(lambda cls, v: known(OPTIMIZERS, v))

    @model_validator(mode="after")
    def _options(self) -> OptimizerSpec:
        bad = sorted(set(self.options) - set(DE_OPTIONS))
        if bad:
            raise ValueError(
                f"unknown option(s) {bad} for {self.type}; valid options are scipy's "
                f"differential_evolution arguments: {DE_OPTIONS}"
            )
        return self

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


@OPTIMIZERS.register("ScipyDifferentialEvolution")
def scipy_de(
    objective: Callable[[np.ndarray], np.ndarray],
    bounds: list[tuple[float, float]],
    *,
    x0: np.ndarray | None,
    options: dict[str, Any],
) -> OptimizeResult:
    """scipy's differential evolution, one vectorised call per population (same seed, same answer)."""
    options = {"polish": False, **options}
    return differential_evolution(
        lambda Y: objective(np.asarray(Y).T),
        bounds,
        x0=x0,
        vectorized=True,
        updating="deferred",
        **options,
    )
