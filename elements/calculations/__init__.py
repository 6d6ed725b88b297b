"""Calculations: values derived from those so far, without a fit. Each kind is one module in this package.

A kind subclasses :class:`CalculationSpec` (the calculation element's spec, with the kind's own options
beside ``element_type``) and registers in :data:`CALCULATIONS` under the name users write as
``calculation`` (or ``type``, as ionworks-schema writes it). Every module here is imported on start-up.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from elements.core.registry import Registry, unknown_name
from elements.element import Result
from elements.schema import ModelSpec, ParameterSetName, Strict


class CalculationSpec(Strict):
    """A ``calculation`` element: validating this class picks the kind that ``calculation`` names."""

    element_type: Literal["calculation"]
    calculation: str
    parameter_set: ParameterSetName = "Chen2020"
    model: ModelSpec = Field(default_factory=ModelSpec)

    @model_validator(mode="wrap")
    @classmethod
    def _kind(cls, value: Any, handler: Any) -> Any:
        if cls is not CalculationSpec or not isinstance(value, dict):
            return handler(value)
        value = dict(value)
        if "type" in value:
            value.setdefault("calculation", value.pop("type"))
        if isinstance(value.get("options"), dict):  # ionworks-schema's options bag: the kind's own options
            value = {**value.pop("options"), **value}
        name = value.get("calculation")
        if name not in CALCULATIONS:
            raise ValidationError.from_exception_data("calculation", [{
                "type": "value_error", "loc": ("calculation",), "input": name,
                "ctx": {"error": ValueError(unknown_name("calculation", name, CALCULATIONS))},
            }])
        return CALCULATIONS[name].model_validate(value)

    def derive(self, values: Any, base_dir: Path) -> Result:
        """From the PyBaMM ParameterValues so far: the derived values only (numbers, or tables from
        :func:`elements.values.table`), a dataset to store and a summary."""
        raise NotImplementedError

    def derive_from(self, upstream: dict[str, Any], values: Any, base_dir: Path) -> Result:
        """:meth:`derive`, for kinds that read the values so far as they were passed on (``upstream``:
        numbers and tables) rather than as PyBaMM ParameterValues."""
        return self.derive(values, base_dir)

    def sources(self, base_dir: Path) -> dict[str, str]:
        """``{source: sha256}`` of every data set it reads; reading checks them."""
        return {}


CALCULATIONS: Registry[type[CalculationSpec]] = Registry("calculation")

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["CALCULATIONS", "CalculationSpec"]
