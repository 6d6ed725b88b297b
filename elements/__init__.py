"""Element types, objectives, costs, optimizers, models and the worker-side solve engine."""

from elements import calculation, data_fit, entry, sweep, validation  # noqa: F401 - modules register their element types
from elements.base import ELEMENTS, Context, ElementType, Result
from elements.costs import COSTS
from elements.models import MODELS
from elements.optimizers import OPTIMIZERS

__all__ = ["COSTS", "ELEMENTS", "MODELS", "OPTIMIZERS", "Context", "ElementType", "Result"]
