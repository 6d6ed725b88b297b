"""Equivalent-circuit models: PyBaMM's Thevenin model under ionworks' ``ECM`` options.

``model: {type: ECM, options: {rc pairs: 2, thermal: lumped}}`` builds
``pybamm.equivalent_circuit.Thevenin`` with ``number of rc elements: 2``. PyBaMM's own thermal
model is ionworks' ``two-state`` (a cell and a jig, each with a thermal mass). ``lumped`` holds the
jig at the ambient temperature, so the cell exchanges heat with the ambient through the
``Cell-jig heat transfer coefficient [W/K]``; ``isothermal`` (ionworks' default) holds the cell at
the ambient temperature. The ECM's parameters (``R0 [Ohm]``, ``R1 [Ohm]``, ``C1 [F]``, ...,
``Open-circuit voltage [V]``) are functions of temperature, current and SOC in PyBaMM; a fitted
number or a table over SOC (:mod:`elements.values`) replaces them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MODEL = "ECM"
SOC = "Initial SoC"
INITIAL_OVERPOTENTIAL = "Element-{i} initial overpotential [V]"
RC_NAMES = ("R{i} [Ohm]", "C{i} [F]")
THEVENIN_DEFAULTS = {"calculate discharge energy": "false", "diffusion element": "false", "operating mode": "current"}
# ionworks-schema's ECM options that PyBaMM's Thevenin model has no counterpart for: only their
# defaults are accepted.
UNSUPPORTED = {"capacity": "constant", "resistance scale": "constant", "butler-volmer": "false",
               "parameter_dependencies": None}


class EcmOptions(BaseModel):
    """ionworks-schema's ECM options, as written (``rc pairs`` as a number or its string)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    rc_pairs: int = Field(0, ge=0, le=5, alias="rc pairs")
    thermal: Literal["isothermal", "lumped", "two-state"] = "isothermal"

    @field_validator("rc_pairs", mode="before")
    @classmethod
    def _count(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.isdigit() else value


def options(given: dict[str, Any]) -> EcmOptions:
    """``given`` checked: ValueError naming each unsupported or unknown option and what is valid.

    Examples
    --------
    >>> options({"rc pairs": "2", "thermal": "lumped"}).rc_pairs
    2
    """
    given = dict(given)
    unsupported = [f"{name}: {given.pop(name)!r}" for name, default in UNSUPPORTED.items()
                   if name in given and given[name] != default]
    for name in UNSUPPORTED:
        given.pop(name, None)
    if unsupported:
        raise ValueError(f"ECM option(s) {', '.join(unsupported)} are not supported (PyBaMM's Thevenin model has "
                         f"no such term); remove them. Supported: 'rc pairs' (0-5), 'thermal' "
                         f"(isothermal, lumped, two-state)")
    try:
        return EcmOptions.model_validate(given)
    except ValidationError as exc:
        found = "; ".join(f"{'.'.join(map(str, e['loc']))} {e['input']!r}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid ECM option(s): {found}. Valid: 'rc pairs' (0-5), 'thermal' "
                         f"(isothermal, lumped, two-state)") from None


def from_thevenin(given: dict[str, Any]) -> dict[str, Any]:
    """ECM options for PyBaMM's own Thevenin options (what ionworks-schema's ``to_config()`` writes for a
    ``pybamm.equivalent_circuit.Thevenin`` object): its RC pairs, its two-state thermal model.

    Examples
    --------
    >>> from_thevenin({"number of rc elements": 2, "operating mode": "current"})
    {'rc pairs': 2, 'thermal': 'two-state'}
    """
    given = dict(given)
    pairs = given.pop("number of rc elements", 1)
    other = {k: v for k, v in given.items() if THEVENIN_DEFAULTS.get(k) != v}
    if other:
        raise ValueError(f"Thevenin option(s) {other} are not supported; sweepfit's ECM takes 'number of rc elements' "
                         f"and PyBaMM's defaults for the others ({THEVENIN_DEFAULTS})")
    return {"rc pairs": pairs, "thermal": "two-state"}


def thevenin(given: dict[str, Any]) -> Any:
    """PyBaMM's Thevenin model with the ECM ``given`` options."""
    import pybamm

    chosen = options(given)
    model = pybamm.equivalent_circuit.Thevenin(options={"number of rc elements": chosen.rc_pairs}, build=False)
    if chosen.thermal != "two-state":
        model.submodels["Thermal"] = _thermal(chosen.thermal)(model.param, model.options)
    model.build_model()
    return model


def _thermal(kind: str) -> type:
    """PyBaMM's two-state ECM thermal submodel with the jig (lumped) or the cell too (isothermal) at ambient."""
    import pybamm

    class AtAmbient(pybamm.equivalent_circuit_elements.ThermalSubModel):
        def get_fundamental_variables(self) -> dict[str, Any]:
            T_amb = self.param.T_amb(pybamm.t)
            T_cell = pybamm.Variable("Cell temperature [degC]") if kind == "lumped" else T_amb
            kelvin = 273.15
            return {
                "Cell temperature [degC]": T_cell, "Cell temperature [K]": T_cell + kelvin,
                "Jig temperature [degC]": T_amb, "Jig temperature [K]": T_amb + kelvin,
                "Ambient temperature [degC]": T_amb, "Ambient temperature [K]": T_amb + kelvin,
                "Heat transfer from cell to jig [W]": -self.param.k_cell_jig * (T_cell - T_amb),
                "Heat transfer from jig to ambient [W]": pybamm.Scalar(0),
            }

        def set_rhs(self, variables: dict[str, Any]) -> None:
            if kind == "lumped":
                T_cell = variables["Cell temperature [degC]"]
                heat = (variables["Irreversible heat generation [W]"] + variables["Reversible heat generation [W]"]
                        + variables["Heat transfer from cell to jig [W]"])
                self.rhs = {T_cell: heat / self.param.cth_cell}

        def set_initial_conditions(self, variables: dict[str, Any]) -> None:
            if kind == "lumped":
                self.initial_conditions = {variables["Cell temperature [degC]"]: self.param.initial_T_cell}

    return AtAmbient


def complete(values: Any, given: dict[str, Any]) -> Any:
    """``values`` with what ``rc pairs`` beyond the parameter set's need: each further pair's
    R and C as the set's first pair's (until fitted or given) and a zero initial overpotential
    (the test starts at rest)."""
    for i in range(2, options(given).rc_pairs + 1):
        for name in RC_NAMES:
            if name.format(i=i) not in values.keys():
                values.update({name.format(i=i): values[name.format(i=1)]}, check_already_exists=False)
        if INITIAL_OVERPOTENTIAL.format(i=i) not in values.keys():
            values.update({INITIAL_OVERPOTENTIAL.format(i=i): 0.0}, check_already_exists=False)
    return values


def initial_soc(values: Any, state: float | str) -> float:
    """The SOC (0-1) of a state given as a SOC or a voltage (``"3.9 V"``, on the OCV of ``values``).

    Raises ValueError for a voltage outside the cut-offs.
    """
    import pybamm

    found = pybamm.equivalent_circuit.set_initial_state(state, values, inplace=False)
    return float(found[SOC])


def is_resistance(name: str) -> bool:
    """Whether ``name`` is one of the circuit's resistances, ``R0 [Ohm]``, ``R1 [Ohm]``, ...

    Examples
    --------
    >>> is_resistance("R2 [Ohm]"), is_resistance("C1 [F]")
    (True, False)
    """
    return re.fullmatch(r"R\d \[Ohm\]", name) is not None


def is_ecm_set(name: str) -> bool:
    """Whether the PyBaMM parameter set ``name`` is for an equivalent circuit."""
    import pybamm

    return name in pybamm.parameter_sets and dict(pybamm.parameter_sets[name]).get("chemistry") == "ecm"
