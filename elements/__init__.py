"""Element types, objectives, costs, optimizers, models and the worker-side solve engine.

Each registry maps the names users write in pipeline dicts to what they mean; modules fill them
when imported, other packages through entry points (see :mod:`elements.core.registry`).
"""

from __future__ import annotations

import importlib
from typing import Any

# The modules that register element types. They import PyBaMM, xarray and bokeh (about 1.5 s), so they
# are imported when a name below is first asked for, not with the package: `sweepfit status` reading a
# record through elements.core should not pay for them.
_REGISTERING = ("array_data_fit", "calculation", "data_fit", "entry", "linear_confidence_interval",
                "profile_likelihood", "sobol_sensitivity", "sweep", "validation", "eis.dataset")
_WHERE = {"COSTS": "costs", "Cost": "costs", "ELEMENTS": "element", "Context": "element", "ElementType": "element",
          "Result": "element", "MODELS": "models", "OBJECTIVES": "objectives", "Objective": "objectives",
          "ObjectiveKind": "objectives", "OPTIMIZERS": "optimizers", "Optimizer": "optimizers"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:  # a submodule (`from elements import engine`) is imported by Python itself
        raise AttributeError(f"module 'elements' has no attribute {name!r}")
    for module in _REGISTERING:
        importlib.import_module(f"elements.{module}")
    value = getattr(importlib.import_module(f"elements.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
