"""Pydantic models for the parts that several element types share."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from elements.costs import COSTS
from elements.models import MODELS
from elements.registry import unknown_name
from orchestrator.data import DataOptions, dataframe_sha256


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


def known(registry: Any, name: str) -> str:
    if name not in registry:
        raise ValueError(unknown_name(registry.kind, name, registry))
    return name


def _known_parameter_set(name: str) -> str:
    from elements.models import parameter_set_names

    if name not in parameter_set_names():
        raise ValueError(unknown_name("parameter set", name, parameter_set_names()))
    return name


ParameterSetName = Annotated[str, AfterValidator(_known_parameter_set)]


def check_bounds(bounds: Sequence[float], *, log: bool, what: str) -> None:
    """Raise for bounds that are not finite with lower < upper, or not positive when ``log``."""
    lo, hi = bounds
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ValueError(f"bounds must be finite with lower < upper, got {list(bounds)}")
    if log and lo <= 0:
        raise ValueError(f"{what} needs positive bounds, got lower bound {lo}")


class ParameterSpec(Strict):
    """A parameter to fit: bounds in the parameter's own units, searched in `transform` space."""

    bounds: list[float] = Field(min_length=2, max_length=2, description="[lower, upper]")
    initial_value: float | None = None
    transform: Literal["none", "log10"] = "none"

    @model_validator(mode="after")
    def _check(self) -> ParameterSpec:
        check_bounds(self.bounds, log=self.transform == "log10", what="log10 transform")
        lo, hi = self.bounds
        if self.initial_value is not None and not lo <= self.initial_value <= hi:
            raise ValueError(
                f"initial_value {self.initial_value} lies outside bounds {list(self.bounds)}"
            )
        return self

    def to_search(self, value: float) -> float:
        return math.log10(value) if self.transform == "log10" else value

    def from_search(self, value: float) -> float:
        return 10.0**value if self.transform == "log10" else value

    @property
    def search_bounds(self) -> tuple[float, float]:
        return (self.to_search(self.bounds[0]), self.to_search(self.bounds[1]))


class ModelSpec(Strict):
    type: str = "SPMe"
    options: dict[str, Any] = Field(default_factory=dict)

    _known = field_validator("type")(lambda cls, v: known(MODELS, v))

    @field_validator("options")
    @classmethod
    def _options(cls, options: dict[str, Any]) -> dict[str, Any]:
        import pybamm

        try:
            pybamm.BatteryModelOptions(options)
        except pybamm.OptionError as exc:
            raise ValueError(f"invalid PyBaMM model option: {str(exc).strip()}") from exc
        return options


class CostSpec(Strict):
    type: str = "RMSE"

    _known = field_validator("type")(lambda cls, v: known(COSTS, v))


class ObjectiveSpec(Strict):
    """One measured data set and how to simulate it.

    Accepts the legacy form ``{"objective": "CurrentDriven", "model": ...}`` and the current form
    ``{"type": "CurrentDriven", "options": {"model": ...}}``.
    """

    type: Literal["CurrentDriven"] = "CurrentDriven"
    data: str | DataOptions | pd.DataFrame
    model: ModelSpec = Field(default_factory=ModelSpec)
    parameter_set: ParameterSetName = "Chen2020"
    parameters: dict[str, float] = Field(default_factory=dict)
    variables: list[str] = Field(default_factory=lambda: ["Voltage [V]"], min_length=1)
    weight: float = Field(1.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        value = dict(value)
        if "objective" in value:
            value.setdefault("type", value.pop("objective"))
        options = value.pop("options", None)
        if isinstance(options, dict):
            value = {**options, **value}
        elif options is not None:
            raise ValueError("options must be a dict of objective options such as 'model'")
        return value

    @field_serializer("data")
    def _data(self, data: Any) -> Any:
        if isinstance(data, pd.DataFrame):
            return f"dataframe:{dataframe_sha256(data)}"
        return data.model_dump() if isinstance(data, DataOptions) else data
