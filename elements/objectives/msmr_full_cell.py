"""``MSMRFullCell``: a full cell's capacity against its open-circuit voltage, by PyBaMM's MSMR electrodes.

Both electrodes are PyBaMM's MSMR occupancies (see :mod:`elements.objectives.msmr_half_cell`). At a
measured voltage ``V`` the negative electrode's potential ``U_n`` balances the lithium, as PyBaMM's
MSMR electrode state of health (``_ElectrodeSOHMSMR``, "cyclable lithium capacity" known) writes it:

    Q_n x_n(U_n) + Q_p x_p(U_n + V) = Q_Li,

one monotone equation per point, solved by SciPy's elementwise bracketing root finder. The
capacity is then the negative electrode's half-cell form,

    Q(V) = Q_n x_n(U_n) - Q_n_lower_excess,

so ``Capacity [A.h]`` is the charge passed into the cell from the data's origin: it rises with the
voltage (a discharge's capacity counted from the full end is ``max - capacity``). Its derivatives
come from the implicit function theorem on CasADi expressions of PyBaMM's symbols, so least-squares
and gradient optimizers fit it exactly. A candidate whose lithium admits no balance (``Q_Li`` outside
``(0, Q_n + Q_p)``) is a failed evaluation with its reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from dask.base import tokenize
from pydantic import AliasChoices, Field, field_validator

from elements import engine
from elements.core.data import VOLTAGE, DataError, DataInput, load_measurements
from elements.core.registry import unknown_name
from elements.costs import Cost
from elements.objectives import OBJECTIVES, ObjectiveKind
from elements.objectives.current_driven import label
from elements.objectives.msmr_half_cell import (
    CAPACITY,
    SPECIES,
    TEMPERATURE,
    CapacityCurve,
    Cutoff,
    MSMRHalfCellModel,
    msmr_options,
    name_pattern,
    occupancy,
    species_count,
    species_names,
    within_cutoff,
)
from elements.schema import Strict

LITHIUM = "Cyclable lithium capacity [A.h]"  # PyBaMM's electrode state-of-health name
ELECTRODES = ("Negative", "Positive")


class MSMRFullCellModel(Strict):
    """ionworks-schema's ``MSMRFullCellModel``: a negative and a positive ``MSMRHalfCellModel``."""

    type: Literal["MSMRFullCellModel"] = "MSMRFullCellModel"
    negative_electrode_model: MSMRHalfCellModel = Field(
        default_factory=lambda: MSMRHalfCellModel(electrode="negative", options={"species format": "Xj"}))
    positive_electrode_model: MSMRHalfCellModel = Field(
        default_factory=lambda: MSMRHalfCellModel(electrode="positive", options={"species format": "Xj"}))
    options: dict[str, Any] | None = None
    simulation_settings: None = None  # no mesh or solver: the balance is solved point by point

    @field_validator("negative_electrode_model", "positive_electrode_model")
    @classmethod
    def _its_electrode(cls, model: MSMRHalfCellModel, info: Any) -> MSMRHalfCellModel:
        expected = info.field_name.split("_")[0]
        if model.electrode != expected:
            raise ValueError(f"{info.field_name} describes the {model.electrode} electrode; give "
                             f"MSMRHalfCellModel(electrode={expected!r})")
        return model

    @field_validator("options")
    @classmethod
    def _no_options(cls, options: dict[str, Any] | None) -> None:
        if options:
            raise ValueError(f"options {sorted(options)}: the full cell takes its options from each electrode's "
                             "MSMRHalfCellModel; remove them")
        return None


@OBJECTIVES.register("MSMRFullCell")
class MSMRFullCell(ObjectiveKind):
    """Fit both electrodes' MSMR species and the cell's capacities to full-cell capacity–voltage data.

    Parameters are each electrode's ``"<Electrode> electrode host site standard potential (j) [V]"``,
    ``"... occupancy fraction (j)"``, ``"... ideality factor (j)"`` and ``"<Electrode> electrode
    capacity [A.h]"``, the ``"Negative electrode lower excess capacity [A.h]"`` (the negative's
    lithium at the data's zero capacity) and ``"Cyclable lithium capacity [A.h]"``, fitted or held in
    ``parameters`` or upstream; ``"Ambient temperature [K]"`` is 298.15 K unless set. Data are
    ``Capacity [A.h]`` and ``Voltage [V]``; ``dUdQ cutoff`` [V/A.h] leaves out the points where the
    data's ``|dV/dQ|`` exceeds it.
    """

    provides: ClassVar[frozenset[str]] = frozenset({"gradient", "residuals"})
    default_optimizer: ClassVar[str | None] = "ScipyLeastSquares"
    type: Literal["MSMRFullCell"] = "MSMRFullCell"
    data: DataInput
    model: MSMRFullCellModel = Field(default_factory=MSMRFullCellModel)
    dUdQ_cutoff: Cutoff = Field(None, validation_alias=AliasChoices("dUdQ cutoff", "dUdQ_cutoff"))  # noqa: N815
    parameters: dict[str, float] = Field(default_factory=dict)

    def measurements(self, base_dir: Path) -> list[Any]:
        return load_measurements(self.data, base_dir=base_dir, required=(CAPACITY, VOLTAGE))

    def sources(self, name: str, base_dir: Path) -> dict[str, str]:
        return {m.source: m.sha256 for m in self.measurements(base_dir)}

    def unknown_parameters(self, names: list[str]) -> list[str]:
        species = "|".join(map(name_pattern, SPECIES))
        pattern = re.compile(rf"(Negative|Positive) electrode (host site ({species})|capacity \[A\.h\])")
        valid = [n for e in ELECTRODES for n in (*species_names(e, 1), f"{e} electrode capacity [A.h]")]
        valid += ["Negative electrode lower excess capacity [A.h]", LITHIUM]
        held = {TEMPERATURE, "Number of reactions in negative electrode", "Number of reactions in positive electrode"}
        return [unknown_name("MSMR full-cell parameter", n, valid) for n in names
                if not pattern.fullmatch(n) and n not in valid and n not in held]

    def build(
        self, name: str, *, inputs: tuple[str, ...], existing: dict[str, Any], cost: Cost, base_dir: Path
    ) -> list[MSMRFullCellCapacity]:
        given = {k: float(v) for k, v in {**existing, **self.parameters}.items()
                 if k not in inputs and isinstance(v, (int, float)) and not isinstance(v, bool)
                 and (k in (TEMPERATURE, LITHIUM) or k.startswith(("Negative electrode ", "Positive electrode ")))}
        known = {*given, *inputs}
        species = tuple(species_count(e, known) for e in ELECTRODES)
        needed = [n for e, s in zip(ELECTRODES, species)
                  for n in (*species_names(e, s), f"{e} electrode capacity [A.h]")]
        needed += ["Negative electrode lower excess capacity [A.h]", LITHIUM]
        missing = [n for n in needed if n not in known]
        if not all(species) or missing:
            without = [f"{e.lower()} electrode's species ({species_names(e, 1)[0]}, ...)"
                       for e, s in zip(ELECTRODES, species) if not s]
            raise ValueError(f"objective {name!r}: the MSMR full cell needs {without + missing}: fit them, give them "
                             "in parameters or in an entry before")
        found = self.measurements(base_dir)
        objectives = []
        for m in found:
            q, v = m.frame[CAPACITY].to_numpy(dtype=float), m.voltage.astype(float)
            if np.corrcoef(q, v)[0, 1] < 0:
                raise DataError(f"objective {name!r}: in {m.source!r} the capacity falls as the voltage rises; "
                                f"{CAPACITY!r} is the charge passed into the cell, rising with the voltage: give "
                                f"max - capacity for a discharge counted from the full end")
            keep = within_cutoff(name, m.source, q, v, self.dUdQ_cutoff)
            objectives.append(MSMRFullCellCapacity(
                name=label(name, found, m), species=species, given=given, inputs=inputs, voltage=v[keep],
                capacity=q[keep], cost_kind=cost, weight=self.weight))
        return objectives


@dataclass(frozen=True, eq=False, kw_only=True)
class MSMRFullCellCapacity(CapacityCurve):
    """One measurement's capacities at its voltages; CasADi functions of PyBaMM's symbols, built once
    per process."""

    species: tuple[int, int]
    given: dict[str, float]

    def _built(self) -> tuple[Any, Any]:
        """``(balance, capacity)``: ``(U_n, V, p) -> g`` and ``(U_n, V, p) -> [Q, dQ/dp]`` at one point,
        for the fitted parameters ``p`` in the order of ``inputs``; both take rows of points at once."""

        def build() -> tuple[Any, Any]:
            import casadi
            import pybamm

            param = pybamm.LithiumIonParameters(msmr_options(*self.species))
            u_n, v = pybamm.InputParameter("U_n"), pybamm.InputParameter("V")
            t = pybamm.Parameter(TEMPERATURE)
            x_n = occupancy(param.n.prim, u_n, t, self.species[0])
            x_p = occupancy(param.p.prim, u_n + v, t, self.species[1])
            q_n, q_p = (pybamm.Parameter(f"{e} electrode capacity [A.h]") for e in ELECTRODES)
            balance = q_n * x_n + q_p * x_p - pybamm.Parameter(LITHIUM)
            capacity = q_n * x_n - pybamm.Parameter("Negative electrode lower excess capacity [A.h]")
            values = pybamm.ParameterValues({TEMPERATURE: 298.15, **self.given,
                                             **{k: pybamm.InputParameter(k) for k in self.inputs}})
            symbols = {k: casadi.MX.sym(k) for k in (*self.inputs, "U_n", "V")}
            p = casadi.vertcat(*(symbols[k] for k in self.inputs))
            g, q = (values.process_symbol(e).to_casadi(inputs=symbols) for e in (balance, capacity))
            u = symbols["U_n"]
            # dQ/dp along the balance: dU_n/dp = -(dg/dp) / (dg/dU_n)
            total = casadi.jacobian(q, p) - casadi.jacobian(q, u) / casadi.jacobian(g, u) * casadi.jacobian(g, p)
            arguments = [u, symbols["V"], p]
            return (casadi.Function("balance", arguments, [g]),
                    casadi.Function("capacity", arguments, [casadi.vertcat(q, total.T)]))

        return engine.cached("msmr-full-" + tokenize(self.species, sorted(self.given.items()), self.inputs), build)

    def _evaluate(self, row: np.ndarray) -> tuple[engine.Outcome, np.ndarray]:
        from scipy.optimize import elementwise

        balance, capacity = self._built()
        p = np.asarray(row, dtype=float)

        def g(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            return balance(u.reshape(1, -1), v.reshape(1, -1), p).full().reshape(u.shape)

        d = len(self.inputs)
        with np.errstate(over="ignore", invalid="ignore"):
            bracket = elementwise.bracket_root(g, 0.0, 0.5, xmin=-100.0, xmax=100.0, args=(self.voltage,))
            if not bracket.success.all():
                return engine.failed(f"no lithium balance at {int((~bracket.success).sum())} of {len(self.voltage)} "
                                     f"voltages: {LITHIUM!r} must lie between 0 and the electrodes' capacities' "
                                     "sum"), np.full((len(self.voltage), d), np.nan)
            root = elementwise.find_root(g, bracket.bracket, args=(self.voltage,),
                                         tolerances={"xatol": 1e-12, "xrtol": 0.0})
            found = capacity(root.x.reshape(1, -1), self.voltage.reshape(1, -1), p).full()
        q, jacobian = found[0], found[1:].T
        if not root.success.all() or not engine.finite({CAPACITY: q, "jacobian": jacobian}):
            return engine.failed("the MSMR full-cell capacity is NaN or inf at these parameters"), jacobian
        return engine.Outcome({CAPACITY: q}), jacobian


__all__ = ["LITHIUM", "MSMRFullCell", "MSMRFullCellCapacity", "MSMRFullCellModel"]
