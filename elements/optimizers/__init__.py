"""Optimizers, chosen by ``type``. Each kind is one module in this package.

A kind is a pydantic model whose fields are its options (so impossible options are rejected with
the spec), registered in :data:`OPTIMIZERS`. :meth:`Optimizer.minimize` receives a
:class:`~elements.core.problem.FitProblem` — the search box, the vectorised cost of a population
and, where the objectives give them, gradients or residuals — and hands its cost whole populations,
which the data_fit element fans out over the cluster. :meth:`Optimizer.needs` declares what else of
the problem a kind uses; a fit that cannot give it is a spec error. Every module here is imported on start-up;
other packages add kinds through the ``sweepfit.optimizers`` entry-point group.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, ClassVar

import numpy as np
from pydantic import model_validator
from scipy.optimize import OptimizeResult

from elements.core.problem import FitProblem, Method, Vectorised
from elements.core.registry import Registry
from elements.schema import Kind


# ionworks-schema writes these stopping rules of its own ask/tell loop into every CMAES, PSO and XNES
# (the defaults below, even when unset); each optimizer here stops by its own rules instead.
ASK_TELL_DEFAULTS = {"log_to_screen": False, "min_iterations": 1, "max_evaluations": 1_000_000,
                     "absolute_tolerance": 1e-5, "relative_tolerance": 1e-2, "xtol": 1e-6,
                     "population_convergence_tol": 5e-3, "convergence_patience": 3,
                     "surrogate_convergence_tol": 1e-3}
# ionworks-schema's generic forms naming the algorithm in ``method``.
BY_METHOD = ("AskTellOptimizer", "Pints")


class Optimizer(Kind, Method):
    """Options of one optimizer; :meth:`minimize` runs it.

    ``ionworks_fields`` maps ionworks-schema's names of options to this optimizer's (a dotted
    target sets a key of a dict option); its ask/tell stopping rules at their defaults are dropped,
    and any other value of them is an unknown option.
    """

    ionworks_fields: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _ionworks(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        value = dict(value)
        for theirs, ours in cls.ionworks_fields.items():
            field, _, key = ours.partition(".")
            if theirs not in value or (value.get(ours) if not key else (value.get(field) or {}).get(key)) is not None:
                continue
            if key:
                value[field] = {**(value.get(field) or {}), key: value.pop(theirs)}
            else:
                value[field] = value.pop(theirs)
        for name, default in ASK_TELL_DEFAULTS.items():
            if name in value and name not in cls.model_fields and value[name] in (default, None):
                value.pop(name)
        return value

    def minimize(self, problem: FitProblem, *, x0: np.ndarray | None) -> OptimizeResult:
        """Minimise ``problem`` within its bounds from ``x0`` (search space; None: the method's own start);
        the result has ``x``, ``fun``, ``nit``, ``nfev``, ``success``, ``message``."""
        raise NotImplementedError

    def budget(self) -> int | None:
        """The most objective calls it makes (a progress bar's total); None without a fixed budget."""
        return None


OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer")


def by_method(value: dict[str, Any]) -> dict[str, Any]:
    """ionworks-schema's ``{type: AskTellOptimizer, method: XNES, ...}`` as ``{type: XNES, ...}``."""
    if value.get("type") in BY_METHOD and isinstance(value.get("method"), str):
        value = dict(value)
        value["type"] = value.pop("method")
    return value

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["OPTIMIZERS", "FitProblem", "Optimizer", "Vectorised", "by_method"]
