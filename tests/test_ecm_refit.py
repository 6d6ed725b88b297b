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


SOCS = [0.9, 0.7, 0.5, 0.3]  # 1C between the pulses: the SOC moves through every knot from 0.3 to 0.9
FITTED = range(3, 10)
MODEL = {"type": "ECM", "options": {"rc pairs": 2}}


@pytest.fixture(scope="module")
def hppc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2-RC cell's HPPC test at four SOCs (7,000 s), 0.1 mV of noise."""
    path = tmp_path_factory.mktemp("refit") / "hppc.csv"
    synthetic_hppc(values=CELL, socs=SOCS, capacity=5.0).to_csv(path, index=False)
    return path


def refit(data: Path, tables: dict) -> dict:
    """``tables`` as an earlier element passes them on, the whole test's voltage with them, their R0 knots refitted
    against the whole test, and its voltage again with the refitted tables."""
    whole = {"whole test": {"type": "CurrentDriven", "data": f"file:{data}", "initial_state": "from data",
                            "model": MODEL, "parameters": FIXED}}
    return {"elements": {
        "tables": {"element_type": "entry", "values": tables},
        "before": {"element_type": "validation", "objectives": whole},
        "refit": {"element_type": "data_fit", "objectives": whole, "optimizer": {"type": "ScipyLeastSquares"},
                  "parameters": {f"{R0} knot {i}": {"bounds": [1e-3, 0.05], "transform": "log10"} for i in FITTED}},
        "after": {"element_type": "validation", "objectives": whole},
    }}


def test_a_whole_test_refit_of_r0s_knots_corrects_per_pulse_tables(hppc, tmp_path):
    truth = np.array(CELL[R0]["y"])
    off = truth * (1 + 0.15 * (-1) ** np.arange(len(truth)))  # per-pulse values 15 % off, alternately high and low
    info = run_serially(refit(hppc, {**CELL, R0: table(SOC_GRID, off, argument="SoC")}), tmp_path)
    assert info["status"] == "completed", info
    elements = info["elements"]
    rmse = {when: elements[when]["summary"]["metrics"]["whole test"]["RMSE"] for when in ("before", "after")}
    found = np.array(elements["refit"]["parameters"][R0]["y"])  # the refitted knots in the table passed on
    errors = np.abs(found[FITTED] / truth[FITTED] - 1)
    print(f"RMSE {rmse['before'] * 1e3:.3f} -> {rmse['after'] * 1e3:.3f} mV; knot errors {np.round(errors * 100, 2)} %")
    assert rmse["before"] > 1e-3 and rmse["after"] < 1.5e-4  # from millivolts to the 0.1 mV noise
    assert np.all(errors < 0.01)
    np.testing.assert_array_equal(np.delete(found, FITTED), np.delete(off, FITTED))  # knots not fitted kept
    assert [elements["refit"]["summary"]["parameters"][f"{R0} knot {i}"] for i in FITTED] == found[FITTED].tolist()
    again = run_serially(refit(hppc, {**CELL, R0: table(SOC_GRID, off, argument="SoC")}), tmp_path)
    assert all("cached_from" in e for e in again["elements"].values())  # knots hash and store as any parameter
    assert again["elements"]["refit"]["parameters"][R0] == elements["refit"]["parameters"][R0]


def per_pulse(data: str, knots: dict[str, dict]) -> dict:
    """An array fit at four SOCs, its tables, and a fit of ``knots``."""
    objective = {"type": "CurrentDriven", "data": data, "model": MODEL}
    return {"elements": {
        "pulses": {"element_type": "array_data_fit", "objectives": {str(s): objective for s in SOCS},
                   "parameters": {R0: {"bounds": [1e-3, 0.1]}}},
        "tables": {"element_type": "calculation", "calculation": "ECMTables", "fit": "pulses"},
        "refit": {"element_type": "data_fit", "objectives": {"whole": objective}, "parameters": knots},
    }}


@pytest.mark.parametrize(("name", "message"), [
    (f"{R0} knot 4", f"'{R0} knot 4': '{R0}' upstream is a table of 4 knots; valid: '{R0} knot 0' to '{R0} knot 3'"),
    (f"{R0} knot 1,2", f"'{R0} knot 1,2': '{R0}' upstream is a table of 4 knots; valid: '{R0} knot 0' to"),
    ("R1 [Ohm] knot 0", "'R1 [Ohm] knot 0': 'R1 [Ohm]' is a function in ECM_Example and no earlier element passes "
                        "on a table for it; a knot is a value of a table: put an ECMTables"),
    ("R7 [Ohm] knot 0", "'R7 [Ohm] knot 0': 'R7 [Ohm]' is not a parameter in ECM_Example"),
    (f"{R0} knot first", f"'{R0} knot first': a knot is named '<table> knot <i>' with i its 0-based index"),
])
def test_a_knot_without_its_table_is_a_spec_error_naming_it(name, message):
    with pytest.raises(SpecError) as raised:
        load_pipeline(per_pulse("file:hppc.csv", {name: {"bounds": [1e-3, 0.1]}}))
    [(path, found)] = raised.value.problems
    assert path == "elements.refit" and message in found, found
    load_pipeline(per_pulse("file:hppc.csv", {f"{R0} knot 3": {"bounds": [1e-3, 0.1]}}))  # the last knot is valid
