"""``ElectrodeBalancing``: the electrode capacities and lithium inventory that make the parameter
set's open-circuit potentials reproduce a low-rate (pseudo-OCV) curve.

No time solve: the open-circuit voltage after a discharged capacity ``Q`` [A.h] is

    U_p(y0 + Q / Q_p) - U_n(x0 - Q / Q_n),     x0 = c_n0 / c_n_max,  y0 = c_p0 / c_p_max,
    Q_e = F c_e_max eps_e L_e (H W N) / 3600,

so a candidate costs two interpolations. The fitted names are the parameter set's own (active
material volume fractions, maximum and initial concentrations), so the balanced values flow into
later elements as they are, and ``initial_state`` there starts from the balanced electrodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import Field
from scipy.integrate import cumulative_trapezoid

from elements import engine
from elements.core.data import (
    DataError,
    DataInput,
    Measurement,
    load_measurements,
)
from elements.core.registry import unknown_name
from elements.costs import Cost
from elements.models import parameter_values
from elements.objectives import OBJECTIVES, Objective, ObjectiveKind
from elements.objectives.current_driven import label
from elements.schema import ParameterSetName
from elements.values import apply

FARADAY = 96485.33212  # C/mol
ELECTRODES = ("negative", "positive")
# What the open-circuit voltage depends on, and so what a balancing can fit.
FITTABLE = tuple(
    name
    for e in ELECTRODES
    for name in (f"{e.capitalize()} electrode active material volume fraction",
                 f"Maximum concentration in {e} electrode [mol.m-3]",
                 f"Initial concentration in {e} electrode [mol.m-3]")
)
GEOMETRY = ("Negative electrode thickness [m]", "Positive electrode thickness [m]", "Electrode height [m]",
            "Electrode width [m]", "Number of electrodes connected in parallel to make a cell")
VOLTAGE, CAPACITY = "Voltage [V]", "Discharge capacity [A.h]"
STOICHIOMETRY = {e: f"{e.capitalize()} particle stoichiometry" for e in ELECTRODES}
GRID = np.linspace(0.0, 1.0, 10_001)  # linear interpolation error ~1e-5 V on steep graphite ends


def capacity(values: dict[str, float], electrode: str) -> float:
    """An electrode's capacity [A.h] from its maximum concentration, active fraction and size.

    Examples
    --------
    >>> import pybamm
    >>> values = pybamm.ParameterValues("Ai2020")
    >>> round(capacity(values, "negative"), 3)
    2.925
    """
    e = electrode.capitalize()
    area = values["Electrode height [m]"] * values["Electrode width [m]"] * values[GEOMETRY[-1]]
    return (FARADAY * values[f"Maximum concentration in {electrode} electrode [mol.m-3]"]
            * values[f"{e} electrode active material volume fraction"] * values[f"{e} electrode thickness [m]"]
            * area / 3600)


def stoichiometries(values: dict[str, float], discharged: np.ndarray) -> dict[str, np.ndarray]:
    """Each electrode's stoichiometry after ``discharged`` A.h (negative on charge).

    Examples
    --------
    >>> import pybamm
    >>> found = stoichiometries(pybamm.ParameterValues("Ai2020"), np.array([0.0, 2.0]))
    >>> found["negative"].round(3), found["positive"].round(3)
    (array([0.84 , 0.156]), array([0.435, 0.87 ]))
    """
    found = {}
    for e, sign in zip(ELECTRODES, (-1.0, 1.0)):
        start = values[f"Initial concentration in {e} electrode [mol.m-3]"] / values[
            f"Maximum concentration in {e} electrode [mol.m-3]"]
        found[e] = start + sign * np.asarray(discharged, dtype=float) / capacity(values, e)
    return found


def ocp_on_grid(values: Any, electrode: str) -> tuple[np.ndarray, np.ndarray]:
    """The parameter set's open-circuit potential of ``electrode`` on :data:`GRID` (where finite)."""
    import pybamm

    name = f"{electrode.capitalize()} electrode OCP [V]"
    if name not in values:
        raise ValueError(f"parameter set has no {name!r}; ElectrodeBalancing needs each electrode's OCP "
                         f"(a set with lithiation/delithiation OCPs is not supported)")
    symbol = pybamm.FunctionParameter(name, {f"{electrode.capitalize()} particle stoichiometry": pybamm.Vector(GRID)})
    potential = np.asarray(values.evaluate(symbol), dtype=float).ravel()
    finite = np.isfinite(potential)
    return GRID[finite], potential[finite]


@OBJECTIVES.register("ElectrodeBalancing")
class ElectrodeBalancing(ObjectiveKind):
    """Fit electrode capacities and lithium inventory to a low-rate or pseudo-OCV curve.

    The data is a measured discharge (or charge) slow enough to be near equilibrium, with
    ``Time [s]``, ``Current [A]`` and ``Voltage [V]``; its discharged capacity is the integral of
    the current. Fit any of :data:`FITTABLE` (e.g. both active material volume fractions and both
    initial concentrations: four numbers that set the two stoichiometry windows); the rest come
    from the parameter set and the elements before. The OCPs are taken at the reference
    temperature. A candidate that drives a stoichiometry out of the OCPs' range is infeasible.

    Examples
    --------
    >>> kind = ElectrodeBalancing(data="file:0.1C.csv", parameter_set="Ai2020")
    >>> kind.unknown_parameters(["Negative particle radius [m]"])[0][:70]
    "unknown parameter 'Negative particle radius [m]' of ElectrodeBalancing"
    """

    type: Literal["ElectrodeBalancing"] = "ElectrodeBalancing"
    data: DataInput
    parameter_set: ParameterSetName = "Chen2020"
    parameters: dict[str, float] = Field(default_factory=dict)

    def measurements(self, base_dir: Path) -> list[Measurement]:
        return load_measurements(self.data, base_dir=base_dir)

    def sources(self, name: str, base_dir: Path) -> dict[str, str]:
        return {m.source: m.sha256 for m in self.measurements(base_dir)}

    def unknown_parameters(self, names: list[str]) -> list[str]:
        return [unknown_name("parameter", n, FITTABLE, of="ElectrodeBalancing") for n in names if n not in FITTABLE]

    def build(
        self, name: str, *, inputs: tuple[str, ...], existing: dict[str, float], cost: Cost, base_dir: Path
    ) -> list[Balance]:
        values = apply(parameter_values(self.parameter_set), {**existing, **self.parameters})
        fixed = {}
        for n in (*FITTABLE, *GEOMETRY):
            if n not in inputs:
                try:
                    fixed[n] = float(values[n])
                except (TypeError, KeyError) as exc:
                    raise ValueError(f"objective {name!r}: ElectrodeBalancing needs a number for {n!r}; "
                                     f"{self.parameter_set} gives {values.get(n)!r}. Set it "
                                     f"in 'parameters' "
                                     f"or fit it") from exc
        ocps = {e: ocp_on_grid(values, e) for e in ELECTRODES}
        found = self.measurements(base_dir)
        objectives = []
        for m in found:
            discharged = cumulative_trapezoid(m.current, m.time, initial=0.0) / 3600
            if np.ptp(discharged) <= 0:
                raise DataError(f"objective {name!r}: data {m.source!r} passes no charge; ElectrodeBalancing "
                                f"needs a low-rate discharge or charge")
            objectives.append(Balance(
                name=label(name, found, m), time=m.time, discharged=discharged,
                data={VOLTAGE: m.voltage.astype(float)}, fixed=fixed, inputs=inputs, ocps=ocps,
                cost_kind=cost, weight=self.weight,
            ))
        return objectives


@dataclass(frozen=True, eq=False)
class Balance(Objective):
    """Worker side: the OCV model of one measured curve."""

    name: str
    time: np.ndarray
    discharged: np.ndarray
    data: dict[str, np.ndarray]
    fixed: dict[str, float]
    inputs: tuple[str, ...]
    ocps: dict[str, tuple[np.ndarray, np.ndarray]]
    cost_kind: Cost
    weight: float = 1.0

    def solve(self, X: np.ndarray) -> list[engine.Outcome]:
        return [self._one({**self.fixed, **dict(zip(self.inputs, map(float, row)))}) for row in np.atleast_2d(X)]

    def _one(self, values: dict[str, float]) -> engine.Outcome:
        sto = stoichiometries(values, self.discharged)
        potential = {}
        for e, x in sto.items():
            grid, ocp = self.ocps[e]
            if x.min() < grid[0] or x.max() > grid[-1]:
                return engine.failed(f"{e} stoichiometry spans [{x.min():.4g}, {x.max():.4g}], outside the "
                                     f"OCP's [{grid[0]:.4g}, {grid[-1]:.4g}]")
            potential[e] = np.interp(x, grid, ocp)
        return engine.Outcome({VOLTAGE: potential["positive"] - potential["negative"],
                               **{STOICHIOMETRY[e]: x for e, x in sto.items()}})

    def cost(self, outcome: engine.Outcome, cost: Cost | None = None) -> float:
        if outcome.value is None:
            return float("inf")
        return float((cost or self.cost_kind)(outcome.value[VOLTAGE], self.data[VOLTAGE], VOLTAGE))

    def traces(self, outcome: engine.Outcome) -> xr.Dataset:
        found: dict[str, Any] = {CAPACITY: ("time", self.discharged), f"data {VOLTAGE}": ("time", self.data[VOLTAGE])}
        for key in (VOLTAGE, *STOICHIOMETRY.values()):
            model = outcome.value[key] if outcome.value else np.full_like(self.time, np.nan)
            found[f"model {key}" if key == VOLTAGE else key] = ("time", model)
        return xr.Dataset(found, coords={"time": self.time},
                          attrs={"status": str(outcome.status), "message": outcome.message})


__all__ = ["Balance", "ElectrodeBalancing", "capacity", "ocp_on_grid", "stoichiometries"]
