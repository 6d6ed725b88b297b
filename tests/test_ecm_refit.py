"""A whole-test refit of an equivalent circuit's tables: their knots fitted as parameters (``"R0 [Ohm] knot 3"``)
against all the pulses of an HPPC test at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pybamm
import pytest

from elements.models import MODELS, parameter_values
from elements.synthetic import SOC_GRID, synthetic_hppc, two_rc_cell, two_rc_grid
from elements.values import apply, table
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import run_serially

R0 = "R0 [Ohm]"
CELL = two_rc_cell()
FIXED = {"Cell capacity [A.h]": 5.0, "Lower voltage cut-off [V]": 2.5, "Upper voltage cut-off [V]": 4.4}


def r0_at(values: pybamm.ParameterValues, soc: np.ndarray, temperature: float = 25.0) -> pybamm.Symbol:
    """The parameter set's R0 as a symbol of the SOCs (and the cell temperature, for a grid)."""
    ones = pybamm.Vector(np.ones_like(soc))
    return values.process_symbol(pybamm.FunctionParameter(R0, {"Cell temperature [degC]": temperature * ones,
                                                               "Current [A]": 0 * ones, "SoC": pybamm.Vector(soc)}))


def test_a_table_with_fitted_knots_is_the_table_with_them_in_place():
    socs = np.linspace(-0.05, 1.05, 301)  # the ends extrapolated too
    knots = {f"{R0} knot 0": 0.03, f"{R0} knot 4": 0.004, f"{R0} knot 10": 0.02}
    fitted = apply(parameter_values("ECM_Example", "ECM"), {R0: CELL[R0], f"{R0} knot 4": 0.5},  # an input wins
                   inputs=tuple(knots))
    y = np.array(CELL[R0]["y"])
    y[[0, 4, 10]] = list(knots.values())
    plain = apply(parameter_values("ECM_Example", "ECM"), {R0: table(SOC_GRID, y, argument="SoC")})
    np.testing.assert_allclose(r0_at(fitted, socs).evaluate(inputs=knots).ravel(),
                               r0_at(plain, socs).evaluate().ravel(), rtol=0, atol=1e-12)

    grid = two_rc_grid({25.0: 1.0, 0.0: 2.5})[R0]  # a grid's knot i,j: bilinear, the same sum
    fitted = apply(parameter_values("ECM_Example", "ECM"), {R0: grid}, inputs=(f"{R0} knot 3,1",))
    y = np.array(grid["y"])
    y[3, 1] = 0.05
    plain = apply(parameter_values("ECM_Example", "ECM"), {R0: {**grid, "y": y.tolist()}})
    for celsius in (0.0, 12.5, 25.0):
        np.testing.assert_allclose(r0_at(fitted, socs, celsius).evaluate(inputs={f"{R0} knot 3,1": 0.05}).ravel(),
                                   r0_at(plain, socs, celsius).evaluate().ravel(), rtol=0, atol=1e-12)


def test_the_voltages_sensitivity_to_a_knot_is_its_finite_difference():
    """A 1C discharge from 55 % SOC through the knot at 50 %: IDAKLU's sensitivities against central differences."""
    knot = f"{R0} knot 5"
    values = apply(parameter_values("ECM_Example", "ECM", {"rc pairs": 2}),
                   {**CELL, **FIXED, "Initial SoC": 0.55, "Current function [A]": 5.0}, inputs=(knot,))
    simulation = pybamm.Simulation(MODELS["ECM"]({"rc pairs": 2}), parameter_values=values,
                                   solver=pybamm.IDAKLUSolver(rtol=1e-10, atol=1e-12))
    t = np.linspace(0, 600, 61)
    r0 = CELL[R0]["y"][5]

    def voltage(r: float, sensitivities: bool = False) -> pybamm.Solution:
        return simulation.solve([0, 600], t_interp=t, inputs={knot: r}, calculate_sensitivities=sensitivities)

    found = voltage(r0, sensitivities=True)["Voltage [V]"].sensitivities[knot].ravel()
    step = 1e-6
    expected = (voltage(r0 + step)["Voltage [V]"].entries - voltage(r0 - step)["Voltage [V]"].entries) / (2 * step)
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-7)
    # -5 A times the knot's weight: 1 at 50 % SOC (180 s in), 1/2 at 55 % and 45 % (360 s), 0 from 40 % on
    np.testing.assert_allclose(found[[0, 18, 36, 60]], [-2.5, -5.0, -2.5, 0.0], atol=1e-6)
