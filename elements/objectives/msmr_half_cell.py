"""``MSMRHalfCell``: an electrode's capacity against its potential, by PyBaMM's MSMR model.

No time solve: PyBaMM's MSMR occupancy of each host site j (Baker and Verbrugge 2018, as
``pybamm.LithiumIonParameters`` writes it),

    x_j(U) = X_j / (1 + exp(F (U - U0_j) / (R T w_j))),

gives the capacity at a measured potential ``U`` as

    Q(U) = Q_electrode * sum_j x_j(U) / sum_j X_j - Q_lower_excess,

the occupancy fractions ``X_j`` taken as shares of the sites (ionworks projects them onto the
simplex: their sum and ``Q_electrode`` are otherwise one degree of freedom). Data are
``Capacity [A.h]`` and ``Voltage [V]`` (the electrode's potential), as ionworks-schema writes them.
``dUdQ cutoff`` [V/A.h] leaves out the points where the data's ``|dU/dQ|`` exceeds it: the steep
ends of a curve, where the potential, not the capacity, is what the data pins down.
The capacities and their Jacobian come from one CasADi function of the fitted parameters, so
least-squares and gradient optimizers fit it exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import xarray as xr
from dask.base import tokenize
from pydantic import AliasChoices, BeforeValidator, Field, PositiveFloat

from elements import engine
from elements.core.data import VOLTAGE, DataError, DataInput, load_measurements
from elements.core.registry import unknown_name
from elements.costs import Cost
from elements.objectives import OBJECTIVES, Gradient, Objective, ObjectiveKind
from elements.objectives.current_driven import label
from elements.schema import Strict

CAPACITY = "Capacity [A.h]"
TEMPERATURE = "Ambient temperature [K]"
SPECIES = ("standard potential ({j}) [V]", "occupancy fraction ({j})", "ideality factor ({j})")
# [V/A.h]; ionworks writes "none" for no cutoff
Cutoff = Annotated[PositiveFloat | None, BeforeValidator(lambda value: None if value == "none" else value)]


class MSMRHalfCellModel(Strict):
    """ionworks-schema's ``MSMRHalfCellModel``: which electrode, its species named ``... (j)`` (``Xj``)."""

    type: Literal["MSMRHalfCellModel"] = "MSMRHalfCellModel"
    electrode: Literal["negative", "positive"]
    options: dict[Literal["species format"], Literal["Xj"]] = Field(default_factory=dict)


@OBJECTIVES.register("MSMRHalfCell")
class MSMRHalfCell(ObjectiveKind):
    """Fit an electrode's MSMR species and capacities to half-cell capacity–potential data.

    Parameters are ``"<Electrode> electrode host site standard potential (j) [V]"``, ``"... occupancy
    fraction (j)"``, ``"... ideality factor (j)"`` for each species j, ``"<Electrode> electrode
    capacity [A.h]"`` and ``"... lower excess capacity [A.h]"``, fitted or held in ``parameters``;
    ``"Ambient temperature [K]"`` comes from upstream (298.15 K when none sets it).
    """

    provides: ClassVar[frozenset[str]] = frozenset({"gradient", "residuals"})  # a CasADi Jacobian of the occupancies
    default_optimizer: ClassVar[str | None] = "ScipyLeastSquares"
    type: Literal["MSMRHalfCell"] = "MSMRHalfCell"
    data: DataInput
    model: MSMRHalfCellModel
    dUdQ_cutoff: Cutoff = Field(None, validation_alias=AliasChoices("dUdQ cutoff", "dUdQ_cutoff"))  # noqa: N815
    parameters: dict[str, float] = Field(default_factory=dict)

    @property
    def electrode(self) -> str:
        return self.model.electrode.capitalize()

    def measurements(self, base_dir: Path) -> list[Any]:
        return load_measurements(self.data, base_dir=base_dir, required=(CAPACITY, VOLTAGE))

    def sources(self, name: str, base_dir: Path) -> dict[str, str]:
        return {m.source: m.sha256 for m in self.measurements(base_dir)}

    def unknown_parameters(self, names: list[str]) -> list[str]:
        pattern = re.compile(rf"{self.electrode} electrode (host site ({'|'.join(map(name_pattern, SPECIES))})|"
                             rf"capacity \[A\.h\]|lower excess capacity \[A\.h\])")
        valid = [f"{self.electrode} electrode host site {s.format(j=0)}" for s in SPECIES] + \
                [f"{self.electrode} electrode capacity [A.h]", f"{self.electrode} electrode lower excess capacity [A.h]"]
        return [unknown_name(f"MSMR parameter of the {self.model.electrode} electrode", n, valid)
                for n in names if not pattern.fullmatch(n) and n not in (TEMPERATURE, self.reactions)]

    @property
    def reactions(self) -> str:
        """ionworks' name for the number of species (the names of the species say it here)."""
        return f"Number of reactions in {self.model.electrode} electrode"

    def build(
        self, name: str, *, inputs: tuple[str, ...], existing: dict[str, Any], cost: Cost, base_dir: Path
    ) -> list[MSMRCapacity]:
        given = {k: float(v) for k, v in {**existing, **self.parameters}.items()
                 if k not in inputs and (k == TEMPERATURE or k.startswith(f"{self.electrode} electrode "))
                 and isinstance(v, (int, float))}
        known = {*given, *inputs}
        species = species_count(self.electrode, known)
        needed = species_names(self.electrode, species)
        needed += [f"{self.electrode} electrode capacity [A.h]", f"{self.electrode} electrode lower excess capacity [A.h]"]
        missing = [n for n in needed if n not in known]
        if not species or missing:
            raise ValueError(f"objective {name!r}: the MSMR model of the {self.model.electrode} electrode needs "
                             f"{missing or needed[:3]}: fit them, give them in parameters or in an entry before")
        found = self.measurements(base_dir)
        objectives = []
        for m in found:
            q, u = m.frame[CAPACITY].to_numpy(dtype=float), m.voltage.astype(float)
            keep = within_cutoff(name, m.source, q, u, self.dUdQ_cutoff)
            objectives.append(MSMRCapacity(
                name=label(name, found, m), electrode=self.electrode, species=species, given=given, inputs=inputs,
                voltage=u[keep], capacity=q[keep], cost_kind=cost, weight=self.weight))
        return objectives


def species_count(electrode: str, known: set[str]) -> int:
    """How many species the names in ``known`` give the electrode (``Electrode``), by its standard potentials."""
    prefix = f"{electrode} electrode host site standard potential ("
    return 1 + max((int(n[len(prefix):].split(")")[0]) for n in known if n.startswith(prefix)), default=-1)


def species_names(electrode: str, species: int) -> list[str]:
    return [f"{electrode} electrode host site {s.format(j=j)}" for j in range(species) for s in SPECIES]


def within_cutoff(name: str, source: str, q: np.ndarray, u: np.ndarray, cutoff: float | None) -> np.ndarray:
    """The points where the data's ``|dU/dQ|`` is at most ``cutoff`` (all, without one)."""
    if cutoff is None:
        return np.ones(len(u), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.abs(np.gradient(u, q)) <= cutoff
    if keep.sum() < 2:
        raise DataError(f"objective {name!r}: dUdQ cutoff {cutoff} leaves {keep.sum()} of {len(u)} points of "
                        f"{source!r}; raise it")
    return keep


def name_pattern(species: str) -> str:
    """A regular expression of a species name, any number in place of ``{j}``."""
    return re.escape(species).replace(re.escape("{j}"), r"\d+")


@dataclass(frozen=True, eq=False, kw_only=True)
class CapacityCurve(Objective):
    """Worker side: a model's capacities at a measurement's voltages against its capacities. Subclasses
    give :meth:`_evaluate`, the capacities and their Jacobian in the fitted parameters."""

    name: str
    inputs: tuple[str, ...]
    voltage: np.ndarray
    capacity: np.ndarray
    cost_kind: Cost
    weight: float = 1.0
    has_gradient = True

    def _evaluate(self, row: np.ndarray) -> tuple[engine.Outcome, np.ndarray]:
        raise NotImplementedError

    def solve(self, X: np.ndarray) -> list[engine.Outcome]:
        return [self._evaluate(row)[0] for row in np.atleast_2d(X)]

    def value_and_grad(self, X: np.ndarray, *, residuals: bool = False) -> list[Gradient]:
        found = []
        for row in np.atleast_2d(X):
            outcome, S = self._evaluate(row)
            d = len(self.inputs)
            if outcome.value is None:
                n = len(self.capacity)
                found.append(Gradient(outcome, float("inf"), np.full(d, np.nan),
                                      *((np.full(n, np.nan), np.full((n, d), np.nan)) if residuals else ())))
                continue
            model = outcome.value[CAPACITY]
            value, d_model = self.cost_kind.value_and_grad(model, self.capacity, CAPACITY)
            extra = ()
            if residuals:  # sum(r**2) is the mean squared residual, as for every objective
                factor = np.sqrt(1.0 / len(model))
                extra = (factor * (model - self.capacity), factor * S)
            found.append(Gradient(outcome, value, d_model @ S, *extra))
        return found

    def cost(self, outcome: engine.Outcome, cost: Cost | None = None) -> float:
        if outcome.value is None:
            return float("inf")
        return float((cost or self.cost_kind)(outcome.value[CAPACITY], self.capacity, CAPACITY))

    def traces(self, outcome: engine.Outcome) -> xr.Dataset:
        model = outcome.value[CAPACITY] if outcome.value else np.full_like(self.capacity, np.nan)
        return xr.Dataset({f"data {CAPACITY}": ("point", self.capacity), f"model {CAPACITY}": ("point", model)},
                          coords={"voltage": ("point", self.voltage)},
                          attrs={"status": str(outcome.status), "message": outcome.message})


@dataclass(frozen=True, eq=False, kw_only=True)
class MSMRCapacity(CapacityCurve):
    """One measurement's capacities at its potentials, a CasADi function built once per process."""

    electrode: str
    species: int
    given: dict[str, float]

    def _built(self) -> Any:
        """``p -> (Q, dQ/dp)`` for the fitted parameters ``p``, in the order of ``inputs``."""

        def build() -> Any:
            import casadi
            import pybamm

            n = self.species
            side = getattr(pybamm.LithiumIonParameters(msmr_options(n, n)), self.electrode[0].lower()).prim
            u, t = pybamm.Vector(self.voltage), pybamm.Parameter(TEMPERATURE)
            e = f"{self.electrode} electrode"
            q = pybamm.Parameter(f"{e} capacity [A.h]") * occupancy(side, u, t, n) - \
                pybamm.Parameter(f"{e} lower excess capacity [A.h]")
            values = pybamm.ParameterValues({TEMPERATURE: 298.15, **self.given,
                                             **{k: pybamm.InputParameter(k) for k in self.inputs}})
            symbols = {k: casadi.MX.sym(k) for k in self.inputs}
            p = casadi.vertcat(*symbols.values())
            expression = values.process_symbol(q).to_casadi(inputs=symbols)
            return casadi.Function("msmr", [p], [expression, casadi.jacobian(expression, p)])

        return engine.cached("msmr-" + tokenize(self.electrode, sorted(self.given.items()), self.inputs,
                                                self.voltage), build)

    def _evaluate(self, row: np.ndarray) -> tuple[engine.Outcome, np.ndarray]:
        q, jacobian = (v.full() for v in self._built()(np.asarray(row, dtype=float)))
        q = q.ravel()
        if not engine.finite({CAPACITY: q, "jacobian": jacobian}):
            return engine.failed("the MSMR capacity is NaN or inf at these parameters"), jacobian
        return engine.Outcome({CAPACITY: q}), jacobian.reshape(len(q), len(self.inputs))


def msmr_options(negative: int, positive: int) -> dict[str, Any]:
    """PyBaMM's model options for MSMR electrodes of ``negative`` and ``positive`` species."""
    return {"open-circuit potential": "MSMR", "particle": "MSMR", "intercalation kinetics": "MSMR",
            "number of MSMR reactions": (str(negative), str(positive))}


def occupancy(side: Any, u: Any, t: Any, species: int) -> Any:
    """The electrode's lithiated fraction at potential ``u``: PyBaMM's ``x_j`` summed over its species,
    over the sum of their ``X_j`` (shares of the sites, as ionworks projects them)."""
    return sum(side.x_j(u, t, j) for j in range(species)) / sum(side.X_j(t, j) for j in range(species))


__all__ = ["CAPACITY", "CapacityCurve", "Cutoff", "MSMRCapacity", "MSMRHalfCell", "MSMRHalfCellModel", "msmr_options",
           "name_pattern", "occupancy", "species_count", "species_names", "within_cutoff"]
