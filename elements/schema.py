"""Pydantic models for the parts that several element types share, and kinds chosen by ``type``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from elements.core.registry import Registry, unknown_name
from elements import ecm
from elements.models import MODELS, check_options


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class Kind(Strict):
    """A kind users pick by name with ``type`` (an optimizer, an objective, a cost); its fields are
    its options, so each kind owns its schema."""

    type: str


def known(registry: Any, name: str) -> str:
    if name not in registry:
        raise ValueError(unknown_name(registry.kind, name, registry))
    return name


def kind_of(registry: Registry[type[Kind]], *, default: str | None = None, prepare: Any = None) -> Any:
    """A field type for a ``{type: NAME, <options>}`` mapping (or just ``NAME``), validated by the
    schema of the kind registered as NAME; errors keep their paths inside it, and an unknown option
    lists the valid ones. A mapping without ``type`` means ``default``; ``prepare(value)`` may first
    rewrite older forms of the mapping.

    Examples
    --------
    >>> from elements.costs import COSTS
    >>> class Fit(Strict):
    ...     cost: kind_of(COSTS, default="RMSE") = Field("RMSE", validate_default=True)
    >>> Fit(cost={"type": "MAE"}).cost.type
    'MAE'
    """

    def validate(value: Any) -> Kind:
        if isinstance(value, Kind):
            return value
        if isinstance(value, str):
            value = {"type": value}
        if prepare is not None and isinstance(value, dict):
            value = prepare(value)
        if isinstance(value, dict) and default is not None:
            value = {"type": default, **value}
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise ValueError(f"{registry.kind} must be a mapping with a type, one of {sorted(registry)}; "
                             f"got {value!r}")
        if value["type"] not in registry:
            raise ValidationError.from_exception_data(registry.kind, [{
                "type": "value_error", "loc": ("type",), "input": value["type"],
                "ctx": {"error": ValueError(unknown_name(registry.kind, value["type"], registry))},
            }])
        cls = registry[value["type"]]
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            raise ValidationError.from_exception_data(registry.kind, [_explained(e, cls) for e in exc.errors()]) from None

    return Annotated[Any, PlainValidator(validate)]


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


# ionworks-schema's transform names for the ones sweepfit has.
TRANSFORMS = {"Identity": "none", "Log10": "log10"}


class ParameterSpec(Strict):
    """A parameter to fit: bounds in the parameter's own units, searched in `transform` space.

    ``prior`` (a ``Normal``, ``LogNormal`` or ``Uniform``, see :mod:`elements.priors`, checked by
    the fit that reads it) adds its ``-log`` density to the fit's cost. ionworks-schema's ``Parameter`` fields are read as
    they are written: ``transform: Log10`` (from ``iws.transforms.Log10``); ``normalize``,
    ``check_bounds`` and ``check_initial_value`` are accepted and change nothing (the search
    runs in the bounds' unit box, and bounds and initial values are always checked).
    """

    bounds: list[float] = Field(min_length=2, max_length=2, description="[lower, upper]")
    initial_value: float | None = None
    transform: Literal["none", "log10"] = "none"
    replace_function: bool = Field(False, description="fit a number in place of a function-valued parameter "
                                                      "(else fit a factor on it: '<name> factor')")
    prior: Any = None
    normalize: bool | None = None
    check_bounds: bool | None = None
    check_initial_value: bool | None = None

    @field_validator("transform", mode="before")
    @classmethod
    def _ionworks_transform(cls, value: Any) -> Any:
        if isinstance(value, str) and value[:1].isupper() and value not in TRANSFORMS:
            raise ValueError(unknown_name("transform", value, TRANSFORMS))
        return TRANSFORMS.get(value, value) if isinstance(value, str) else value

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
    """A PyBaMM model by name with its options: ``"SPM"``, or ``{type: SPM, options: {...}}``, or
    ionworks-schema's ``{type, module: lithium_ion, options}`` (what ``to_config()`` writes for a
    ``pybamm.lithium_ion`` model object); ``{type: ECM, options: {rc pairs: 2}}`` is ionworks' equivalent
    circuit (:mod:`elements.ecm`), which a ``pybamm.equivalent_circuit.Thevenin`` object's config becomes."""

    type: str = "SPMe"
    module: Literal["lithium_ion"] | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    _known = field_validator("type")(lambda cls, v: known(MODELS, v))

    @model_validator(mode="before")
    @classmethod
    def _by_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"type": value}
        if isinstance(value, dict) and (value.get("module"), value.get("type")) == ("equivalent_circuit", "Thevenin"):
            return {"type": ecm.MODEL, "options": ecm.from_thevenin(value.get("options") or {})}
        if isinstance(value, dict) and value.get("module") not in (None, "lithium_ion"):
            raise ValueError(f"model {value.get('type')!r} from pybamm.{value['module']}: sweepfit has the "
                             f"pybamm.lithium_ion models, pybamm.equivalent_circuit.Thevenin and ionworks' ECM, "
                             f"{sorted(MODELS)}, only")
        return value

    @field_validator("options")
    @classmethod
    def _options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # JSON has no tuples: PyBaMM's per-electrode options (("solvent-diffusion limited", "none")) arrive as lists
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
        if "type" in info.data:  # else the type's own error is reported
            check_options(info.data["type"], options)
        return options


def _explained(error: Any, cls: type[Kind]) -> dict[str, Any]:
    """Pydantic's error as raised again; an unknown option says which options the kind has."""
    if error["type"] != "extra_forbidden" or len(error["loc"]) != 1:
        return {k: error[k] for k in ("type", "loc", "input", "ctx") if k in error}
    options = [name for name in cls.model_fields if name != "type"]
    message = unknown_name("option", error["loc"][0], options, of=cls.__name__)
    return {"type": "value_error", "loc": error["loc"], "input": error["input"], "ctx": {"error": ValueError(message)}}


class Span(Strict):
    """``{linspace: [a, b, n]}`` or ``{logspace: [a, b, n]}`` (n values log-evenly between a and b)."""

    linspace: tuple[float, float, int] | None = None
    logspace: tuple[float, float, int] | None = None

    @model_validator(mode="after")
    def _check(self) -> Span:
        given = [k for k in ("linspace", "logspace") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of linspace: [a, b, n] or logspace: [a, b, n]")
        a, b, n = getattr(self, given[0])
        if n < 1:
            raise ValueError(f"{given[0]} needs n >= 1 values, got {n}")
        if given[0] == "logspace" and (a <= 0 or b <= 0):
            raise ValueError(f"logspace needs positive ends, got [{a}, {b}]")
        return self

    @property
    def n(self) -> int:
        return (self.linspace or self.logspace)[2]

    def values(self) -> list[float]:
        if self.linspace:
            return np.linspace(*self.linspace).tolist()
        return np.geomspace(*self.logspace).tolist()
