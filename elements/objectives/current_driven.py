"""``CurrentDriven``: a measured current drives the model; voltage (or other columns) is compared."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from elements import ecm, engine
from elements.core.data import (
    CURRENT,
    TIME_SERIES,
    VOLTAGE,
    DataError,
    DataInput,
    Measurement,
    load_measurements,
)
from elements.costs import Cost
from elements.models import check_parameter_set, parameter_values, unknown_parameters
from elements.objectives import OBJECTIVES, ObjectiveKind
from elements.objectives.simulated import SimulatedSeries
from elements.schema import ModelSpec, ParameterSetName, Strict
from elements.values import apply

INITIAL_CONCENTRATIONS = tuple(f"Initial concentration in {e} electrode [mol.m-3]" for e in ("negative", "positive"))
FROM_DATA = "from data"
ECM_SET = "ECM_Example"  # PyBaMM's equivalent-circuit parameter set
# Beyond these a measurement is not one the model can follow: mA given as A, a wrong parameter set.
# Power cells pulse at 20-30C; data a little past a cut-off (ohmic overshoot) is common.
MAX_C_RATE = 50.0
VOLTAGE_MARGIN = 0.1  # V
_VOLTS = re.compile(r"\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*V\s*")


class Variable(Strict):
    """How one compared variable counts in the objective's cost."""

    weight: float = Field(1.0, gt=0)


@OBJECTIVES.register("CurrentDriven")
class CurrentDriven(ObjectiveKind):
    """One measured data set (or a folder of them) and the model that the measured current drives.

    ``variables`` lists the compared variables, or maps each to its options (``weight``). With
    ``normalise``, each variable's residual is divided by the standard deviation of its data before
    the cost is taken: a volt and a kelvin are not commensurable, and a residual in units of the
    data's own spread makes an RMSE ``sqrt(1 - R^2)`` for every variable, so voltage and
    temperature count alike whatever their units, offsets (an ambient of 298 K) or swings, and
    ``weight`` then says how much each counts. The standard deviation rather than the range, as
    one noisy sample moves a range but hardly a standard deviation. ``normalise`` defaults to
    on when more than one variable is compared; a single variable keeps its cost in its own units.

    ``initial_state`` starts each simulation at a state of charge (0-1), a voltage (``"4.1 V"``)
    or ``"from data"``: the measurement's first voltage, which should be a rest (open-circuit)
    reading. The initial concentrations follow from the parameter values the objective is built
    with (upstream results included, so after an electrode balancing), as
    ``ParameterValues.set_initial_state`` computes them; for an ``ECM`` model, the ``Initial SoC``
    on its open-circuit voltage. An ``ECM`` reads PyBaMM's ``ECM_Example`` parameter set unless
    ``parameter_set`` names another equivalent-circuit set.
    """

    provides: ClassVar[frozenset[str]] = frozenset({"gradient", "residuals"})  # sensitivities of a current drive
    type: Literal["CurrentDriven"] = "CurrentDriven"
    data: DataInput
    model: ModelSpec = Field(default_factory=ModelSpec)
    parameter_set: ParameterSetName = "Chen2020"
    parameters: dict[str, float] = Field(default_factory=dict)
    variables: list[str] | dict[str, Variable] = Field(default_factory=lambda: ["Voltage [V]"], min_length=1)
    normalise: bool | None = None
    initial_state: float | str | None = None

    @model_validator(mode="before")
    @classmethod
    def _ionworks(cls, value: Any) -> Any:
        """ionworks-schema's option names: ``objective_variables`` are the compared ``variables``; its
        ``independent_variable`` can only be time here."""
        if not isinstance(value, dict):
            return value
        value = dict(value)
        for key in ("objective_variables", "objective variables"):  # the ageing options write it with a space
            if key in value:
                value.setdefault("variables", value.pop(key))
        if value.get("independent_variable", "time") != "time":
            raise ValueError(f"independent_variable {value['independent_variable']!r}: {cls.__name__} compares "
                             f"on time only; remove it or set it to 'time'")
        value.pop("independent_variable", None)
        return value

    @model_validator(mode="after")
    def _parameter_set_of_model(self) -> CurrentDriven:
        """An ECM reads PyBaMM's ECM parameter set unless another is named; a set of the wrong kind is an error."""
        if self.model.type == ecm.MODEL and "parameter_set" not in self.model_fields_set:
            self.parameter_set = ECM_SET
        check_parameter_set(self.model.type, self.parameter_set)
        return self

    @field_validator("initial_state")
    @classmethod
    def _initial_state(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, str) and value != FROM_DATA and not _VOLTS.fullmatch(value):
            raise ValueError(f"initial_state must be a state of charge in [0, 1], a voltage such as '4.1 V', "
                             f"or {FROM_DATA!r}; got {value!r}")
        if isinstance(value, (int, float)) and not 0 <= value <= 1:
            raise ValueError(f"initial_state as a state of charge must lie in [0, 1], got {value}")
        return value

    @property
    def weights(self) -> dict[str, float]:
        """Each compared variable's weight."""
        if isinstance(self.variables, list):
            return dict.fromkeys(self.variables, 1.0)
        return {name: v.weight for name, v in self.variables.items()}

    def required(self) -> tuple[str, ...]:
        """The columns every data set must have."""
        return TIME_SERIES

    def measurements(self, name: str, base_dir: Path) -> list[Measurement]:
        """The data sets, each checked to hold every variable it is compared on."""
        found = load_measurements(self.data, base_dir=base_dir, required=self.required())
        for m in found:
            missing = [v for v in self.weights if v not in m.frame.columns]
            if missing:
                raise DataError(
                    f"objective {name!r}: data {m.source!r} has no column {missing[0]!r} to compare "
                    f"against; columns present: {list(m.frame.columns)}. Map it with column_map or "
                    f"change 'variables'."
                )
        return found

    def sources(self, name: str, base_dir: Path) -> dict[str, str]:
        return {m.source: m.sha256 for m in self.measurements(name, base_dir)}

    def implausible(self, name: str, base_dir: Path) -> list[str]:
        """Data the model cannot follow: a current many times the parameter set's nominal capacity,
        voltages outside its cut-offs (every candidate of a fit on it would fail)."""
        params = apply(parameter_values(self.parameter_set), self.parameters, options=self.model.options)
        rating = ("Nominal cell capacity [A.h]", "Lower voltage cut-off [V]", "Upper voltage cut-off [V]")
        if any(n not in params for n in rating):  # an equivalent circuit's set names none of them
            return []
        capacity = float(params["Nominal cell capacity [A.h]"])
        window = [float(params[f"{s} voltage cut-off [V]"]) for s in ("Lower", "Upper")]
        found = []
        for m in self.measurements(name, base_dir):
            if CURRENT not in m.frame or VOLTAGE not in m.frame:  # per-cycle summaries (CycleAgeing), say
                continue
            peak = float(np.max(np.abs(m.current)))
            if peak > MAX_C_RATE * capacity:
                found.append(f"objective {name!r}: data {m.source!r} draws up to {peak:.4g} A, {peak / capacity:.3g}C "
                             f"for {self.parameter_set}'s nominal capacity of {capacity:g} A.h (above {MAX_C_RATE:g}C "
                             f"every candidate is likely to fail); check the current's units and the parameter set")
            low, high = float(np.min(m.voltage)), float(np.max(m.voltage))
            if low < window[0] - VOLTAGE_MARGIN or high > window[1] + VOLTAGE_MARGIN:
                found.append(f"objective {name!r}: data {m.source!r} spans {low:.4g}-{high:.4g} V, outside "
                             f"{self.parameter_set}'s voltage cut-offs {window[0]:g}-{window[1]:g} V, where the model "
                             f"stops; check the voltage's units, cut the data (time_range=, steps=) or set the "
                             f"cut-offs in parameters")
        return found

    def unknown_parameters(self, names: list[str]) -> list[str]:
        return unknown_parameters(self.parameter_set, names, self.model.type, self.model.options)

    def unknown_knots(self, names: list[str], tables: dict[str, tuple[int, ...] | None]) -> list[str]:
        return unknown_parameters(self.parameter_set, names, self.model.type, self.model.options, tables=tables)

    def fixed(
        self, name: str, m: Measurement, *, inputs: tuple[str, ...], existing: dict[str, float]
    ) -> dict[str, float]:
        """The values a simulation of ``m`` holds fixed: those so far, the objective's own, and the
        initial concentrations of ``initial_state``."""
        fixed = {k: v for k, v in existing.items() if k not in inputs}
        fixed.update(self.parameters)
        if self.initial_state is None:
            return fixed
        state = f"{float(m.voltage[0])} V" if self.initial_state == FROM_DATA else self.initial_state
        try:
            if self.model.type == ecm.MODEL:
                values = apply(parameter_values(self.parameter_set, ecm.MODEL, self.model.options), fixed)
                return {**fixed, **({} if ecm.SOC in inputs else {ecm.SOC: ecm.initial_soc(values, state)})}
            found = initial_concentrations(self.parameter_set, fixed, state, self.model.options)
        except ValueError as exc:
            raise DataError(f"objective {name!r}: initial_state {state!r} (from {m.source!r}) is not a state of "
                            f"{self.parameter_set} with the values so far: {exc}. Start the data at a rest "
                            f"within the cut-offs (time_range=, steps=), or give a voltage or state of charge") from exc
        return {**fixed, **{c: v for c, v in found.items() if c not in inputs}}

    def series(self, label: str, m: Measurement, setup: engine.Setup, cost: Cost) -> dict[str, Any]:
        """The arguments of a :class:`SimulatedSeries` named ``label`` comparing ``m`` with ``setup``."""
        weights = self.weights
        data = {v: m.frame[v].to_numpy(dtype=float) for v in weights}
        # a likelihood's sigma is in the variables' own units: it is never normalised
        normalise = len(weights) > 1 and not cost.likelihood if self.normalise is None else self.normalise
        if normalise:
            flat = [v for v, values in data.items() if not np.std(values) > 0]
            if flat:
                raise DataError(f"objective {label!r}: data {m.source!r} has no spread in {flat} to normalise "
                                f"by; compare other variables or set normalise: false")
        return {
            "name": label, "setup": setup, "time": m.time, "data": data, "cost_kind": cost,
            "weight": self.weight, "weights": weights,
            "scales": {v: float(np.std(values)) for v, values in data.items()} if normalise else None,
            "extra": {"current": m.frame[CURRENT].to_numpy(dtype=float)} if CURRENT in m.frame else None,
        }

    def build(
        self, name: str, *, inputs: tuple[str, ...], existing: dict[str, float], cost: Cost, base_dir: Path
    ) -> list[SimulatedSeries]:
        found = self.measurements(name, base_dir)
        objectives = []
        for m in found:
            setup = engine.Setup(
                model=self.model.type, model_options=dict(self.model.options), parameter_set=self.parameter_set,
                fixed=self.fixed(name, m, inputs=inputs, existing=existing), inputs=inputs,
                outputs=tuple(self.weights), profile=(m.time, m.current), duration=float(m.time[-1]), t_eval=m.time,
                breakpoints=engine.jumps(m.time, m.current),
            )
            objectives.append(SimulatedSeries(**self.series(label(name, found, m), m, setup, cost)))
        return objectives


def label(name: str, found: list[Measurement], m: Measurement) -> str:
    """An objective's name, or ``name/<file>`` when its source gives several measurements."""
    return name if len(found) == 1 else f"{name}/{m.name}"


def initial_concentrations(
    parameter_set: str, values: dict[str, float], state: float | str, options: dict[str, Any]
) -> dict[str, float]:
    """Both electrodes' initial concentrations at a state of charge (0-1) or a voltage (``"4.1 V"``).

    Raises ValueError for a voltage outside the cut-offs, where PyBaMM only warns and saturates.

    Examples
    --------
    >>> found = initial_concentrations("Chen2020", {}, "4.0 V", {})
    >>> round(found["Initial concentration in negative electrode [mol.m-3]"])
    23024
    """
    import pybamm

    params = apply(parameter_values(parameter_set), values, options=options)
    if isinstance(state, str):
        volts = float(_VOLTS.fullmatch(state)[1])
        limits = [float(params[f"{s} voltage cut-off [V]"]) for s in ("Lower", "Upper")]
        if not limits[0] <= volts <= limits[1]:
            raise ValueError(f"{volts} V lies outside the voltage cut-offs {limits}")
    params.set_initial_state(state, options=pybamm.BatteryModelOptions(dict(options)))
    return {c: float(params[c]) for c in INITIAL_CONCENTRATIONS}


__all__ = ["CurrentDriven", "Variable", "initial_concentrations", "label"]
