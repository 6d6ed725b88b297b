"""Element types, objectives, costs, optimizers, models and the worker-side solve engine.

Each registry maps the names users write in pipeline dicts to what they mean; modules fill them
when imported, other packages through entry points (see :mod:`elements.core.registry`).
"""

from elements import (  # noqa: F401 - modules register their element types
    array_data_fit,
    calculation,
    data_fit,
    entry,
    linear_confidence_interval,
    profile_likelihood,
    sobol_sensitivity,
    sweep,
    validation,
)
from elements.eis import dataset  # noqa: F401 - registers eis_dataset
from elements.costs import COSTS, Cost
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.models import MODELS
from elements.objectives import OBJECTIVES, Objective, ObjectiveKind
from elements.optimizers import OPTIMIZERS, Optimizer

__all__ = ["COSTS", "ELEMENTS", "MODELS", "OBJECTIVES", "OPTIMIZERS", "Context", "Cost", "ElementType", "Objective",
           "ObjectiveKind", "Optimizer", "Result"]
