"""Optimizers, chosen by ``type``. Each kind is one module in this package.

A kind is a pydantic model whose fields are its options (so impossible options are rejected with
the spec), registered in :data:`OPTIMIZERS`. :meth:`Optimizer.minimize` receives a vectorised
objective — rows of candidates in search space in, costs out — and hands it whole populations,
which the data_fit element fans out over the cluster. Every module here is imported on start-up;
other packages add kinds through the ``sweepfit.optimizers`` entry-point group.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

import numpy as np
from scipy.optimize import OptimizeResult

from elements.core.registry import Registry
from elements.schema import Kind

Vectorised = Callable[[np.ndarray], np.ndarray]  # (n, d) search-space rows -> (n,) costs


class Optimizer(Kind):
    """Options of one optimizer; :meth:`minimize` runs it."""

    def minimize(
        self, objective: Vectorised, bounds: list[tuple[float, float]], *, x0: np.ndarray | None
    ) -> OptimizeResult:
        """Minimise within ``bounds``; the result has ``x``, ``fun``, ``nit``, ``success``, ``message``."""
        raise NotImplementedError


OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer")

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["OPTIMIZERS", "Optimizer", "Vectorised"]
