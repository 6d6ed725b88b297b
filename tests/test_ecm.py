"""The ECM model kind: PyBaMM's Thevenin model through sweepfit's engine and objectives."""

from __future__ import annotations

from pathlib import Path

import ionworks_schema as iws
import numpy as np
import pandas as pd
import pybamm
import pytest

from elements import engine
from elements.core import config
from elements.objectives.current_driven import CurrentDriven
from elements.objectives.pulse import Pulse
from elements.objectives.resistance import Resistance
from elements.values import apply, grid_table, table
from tests.conftest import run_serially

TIME = np.arange(0.0, 601.0, 5.0)
CURRENT = np.where((TIME >= 60) & (TIME < 300), 50.0, 0.0)  # a 0.5C discharge pulse of the 100 A.h example cell
SECOND_PAIR = {"R2 [Ohm]": 2e-3, "C2 [F]": 2e5, "Element-2 initial overpotential [V]": 0.0}


def direct(values: pybamm.ParameterValues, outputs: list[str], tolerances: dict | None = None) -> pybamm.Solution:
    """Thevenin with two RC pairs, solved by PyBaMM with the engine's solver settings."""
    values = values.copy()
    values["Current function [A]"] = pybamm.Interpolant(TIME, CURRENT, pybamm.t)
    tolerances = tolerances or {"rtol": float(config.get("solve.rtol")), "atol": float(config.get("solve.atol"))}
    solver = pybamm.IDAKLUSolver(**tolerances, output_variables=outputs)
    model = pybamm.equivalent_circuit.Thevenin(options={"number of rc elements": 2})
    t_span = np.union1d([0.0, TIME[-1]], engine.jumps(TIME, CURRENT))
    return pybamm.Simulation(model, parameter_values=values, solver=solver).solve(
        t_span, t_interp=np.union1d(TIME, t_span))


def through_engine(thermal: str, fixed: dict, outputs: tuple[str, ...], inputs: dict | None = None,
                   **tolerances: float) -> dict:
    setup = engine.Setup(**tolerances, model="ECM", model_options={"rc pairs": 2, "thermal": thermal}, parameter_set="ECM_Example",
                         fixed=fixed, inputs=tuple(inputs or {}), outputs=outputs, profile=(TIME, CURRENT),
                         duration=float(TIME[-1]), t_eval=TIME, breakpoints=engine.jumps(TIME, CURRENT))
    [outcome] = engine.solve(setup, [inputs or {}], lambda s: engine.Outcome({v: s[v].data for v in outputs}))
    assert outcome.status == "ok", outcome.message
    return outcome.value


def test_ecm_two_state_equals_thevenin_solved_directly():
    outputs = ("Voltage [V]", "Cell temperature [degC]", "Element-2 overpotential [V]")
    found = through_engine("two-state", SECOND_PAIR, outputs)
    values = pybamm.ParameterValues("ECM_Example")
    values.update(SECOND_PAIR, check_already_exists=False)
    expected = direct(values, list(outputs))
    for name in outputs:
        np.testing.assert_allclose(found[name], expected[name](t=TIME), rtol=0, atol=1e-8)
    assert found["Cell temperature [degC]"].max() > 25.01  # the pulse heats the cell


def test_fitted_inputs_solve_as_the_same_numbers_fixed():
    as_input = through_engine("two-state", {"C2 [F]": 2e5}, ("Voltage [V]",), {"R2 [Ohm]": 2e-3})
    as_number = through_engine("two-state", SECOND_PAIR, ("Voltage [V]",))
    np.testing.assert_allclose(as_input["Voltage [V]"], as_number["Voltage [V]"], rtol=0, atol=1e-8)


@pytest.mark.parametrize(("thermal", "still"), [("isothermal", "Cell thermal mass [J/K]"),
                                                 ("lumped", "Jig thermal mass [J/K]")])
def test_isothermal_and_lumped_equal_two_state_with_an_immovable_cell_or_jig(thermal, still):
    outputs = ("Voltage [V]", "Cell temperature [degC]", "Jig temperature [degC]")
    tight = {"rtol": 1e-9, "atol": 1e-11}  # two models with different states: equal to the solvers' tolerance
    found = through_engine(thermal, SECOND_PAIR, outputs, **tight)
    values = pybamm.ParameterValues("ECM_Example")
    values.update({**SECOND_PAIR, still: 1e30}, check_already_exists=False)
    expected = direct(values, list(outputs), tight)
    for name in outputs:
        np.testing.assert_allclose(found[name], expected[name](t=TIME), rtol=0, atol=1e-7)
    assert np.all(found["Jig temperature [degC]"] == 25.0)
    assert (found["Cell temperature [degC]"].max() > 25.01) == (thermal == "lumped")


def test_a_table_over_soc_is_what_the_model_uses():
    soc, r0 = [0.0, 0.5, 1.0], [0.004, 0.001, 0.002]
    found = through_engine("isothermal", {**SECOND_PAIR, "R0 [Ohm]": table(soc, r0, argument="SoC")},
                           ("R0 [Ohm]", "SoC"))
    np.testing.assert_allclose(found["R0 [Ohm]"], np.interp(found["SoC"], soc, r0), rtol=1e-12)
    assert np.ptp(found["SoC"]) > 0.03


def test_a_table_over_soc_and_temperature_is_what_the_model_uses_as_the_cell_warms():
    from scipy.interpolate import RegularGridInterpolator

    soc, celsius = [0.0, 0.5, 1.0], [20.0, 25.0, 40.0]
    r0 = [[0.004, 0.003, 0.001], [0.002, 0.0015, 0.0005], [0.003, 0.002, 0.001]]
    grid = grid_table([soc, celsius], r0, arguments=["SoC", "Cell temperature [degC]"])
    warming = {"Cell thermal mass [J/K]": 200.0, "Cell-jig heat transfer coefficient [W/K]": 0.5}
    found = through_engine("lumped", {**SECOND_PAIR, **warming, "R0 [Ohm]": grid},
                           ("R0 [Ohm]", "SoC", "Cell temperature [degC]"))
    assert np.ptp(found["Cell temperature [degC]"]) > 1 and np.ptp(found["SoC"]) > 0.03  # both arguments move
    expected = RegularGridInterpolator((soc, celsius), np.array(r0))(
        np.column_stack([found["SoC"], found["Cell temperature [degC]"]]))
    np.testing.assert_allclose(found["R0 [Ohm]"], expected, rtol=1e-9)


def test_a_grid_the_model_cannot_take_is_an_error_naming_the_parameter():
    values = pybamm.ParameterValues("ECM_Example")
    at = (pybamm.Scalar(25.0), pybamm.Scalar(1.0), pybamm.Scalar(0.5))
    holed = grid_table([[0.0, 1.0], [0.0, 25.0]], [[0.02, np.nan], [0.01, 0.01]],
                       arguments=["SoC", "Cell temperature [degC]"])
    apply(values, {"R0 [Ohm]": holed, "Open-circuit voltage [V]": {**holed, "y": [[3.0, 3.1], [4.0, 4.1]]}})
    with pytest.raises(ValueError, match=r"'R0 \[Ohm\]' has no value at 1 knot\(s\) \[\(0.0, 25.0\)\]"):
        values["R0 [Ohm]"](*at)
    with pytest.raises(ValueError, match=r"'Open-circuit voltage \[V\]' is a function of the SOC alone"):
        values["Open-circuit voltage [V]"](at[2])
    apply(values, {"R1 [Ohm]": {**holed, "arguments": ["SoC"]}})
    with pytest.raises(ValueError, match=r"'R1 \[Ohm\]' has 2 axes and arguments \['SoC'\]; a grid needs"):
        values["R1 [Ohm]"](*at)


def test_ecm_tables_of_pairs_name_both_arguments_and_need_every_knot():
    from pydantic import ValidationError

    from elements.calculations.ecm_tables import ECMTables
    from elements.values import per_key

    from elements.array_data_fit import ArrayDataFitSpec
    from elements.values import key_numbers

    # ionworks' ArrayDataFit takes any keys: a tuple is a pair, as "0.95, 25" is
    assert [key_numbers(k) for k in ArrayDataFitSpec._keys_as_text({(0.95, 25): {}, "0.5/0": {}})] == [
        (0.95, 25.0), (0.5, 0.0)]
    spec = {"element_type": "calculation", "calculation": "ECMTables", "fit": "pulses"}
    keys = ["0, 0.9", "25, 0.9", "0, 0.5", "25, 0.5"]  # temperature first
    r0 = np.array([[0.02], [0.01], [0.03], [0.015]])
    with pytest.raises(ValueError, match=r"keys of 'pulses' are pairs of numbers .* set argument to \[SoC, 'Cell"):
        ECMTables(**spec).derive_from(per_key("pulses", keys, ["R0 [Ohm]"], r0), None, Path())
    with pytest.raises(ValidationError, match="each once"):
        ECMTables(**spec, argument=["SoC", "SoC"])
    pairs = ECMTables(**spec, argument=["Cell temperature [degC]", "SoC"])
    found = pairs.derive_from(per_key("pulses", keys, ["R0 [Ohm]"], r0), None, Path())
    assert found.parameters["R0 [Ohm]"]["arguments"] == ["Cell temperature [degC]", "SoC"]
    stored = found.datasets[""]["R0 [Ohm]"]  # on soc x temperature, whatever the keys' order
    assert stored.dims == ("soc", "temperature") and stored.sel(soc=0.5, temperature=0.0).item() == 0.03
    r0[3] = np.nan  # a failed key
    with pytest.raises(ValueError, match=r"no result for 'R0 \[Ohm\]' at 1 key\(s\) .* \[\(25.0, 0.5\)\]"):
        pairs.derive_from(per_key("pulses", keys, ["R0 [Ohm]"], r0), None, Path())


def test_ionworks_ecm_config_is_read_and_its_other_options_are_errors_naming_them():
    config_ = iws.models.ECM(options={"rc pairs": "2", "thermal": "lumped"}).to_config()
    kind = CurrentDriven(data="file:x.csv", model=config_)
    assert (kind.model.type, kind.parameter_set) == ("ECM", "ECM_Example")
    with pytest.raises(ValueError, match=r"ECM option\(s\) capacity: 'function', butler-volmer: 'true' are not "
                                         r"supported .* Supported: 'rc pairs' \(0-5\)"):
        CurrentDriven(data="file:x.csv", model={"type": "ECM", "options": {"butler-volmer": "true",
                                                                          "capacity": "function"}})
    with pytest.raises(ValueError, match=r"invalid ECM option\(s\): rc pairs 7: Input should be less than or equal to 5"):
        CurrentDriven(data="file:x.csv", model={"type": "ECM", "options": {"rc pairs": 7}})
    with pytest.raises(ValueError, match=r"thermalmodel 'x': Extra inputs are not permitted"):
        CurrentDriven(data="file:x.csv", model={"type": "ECM", "options": {"thermalmodel": "x"}})
    with pytest.raises(ValueError, match="'ECM' with parameter set 'Chen2020'"):
        CurrentDriven(data="file:x.csv", model="ECM", parameter_set="Chen2020")
    with pytest.raises(ValueError, match="'SPMe' with parameter set 'ECM_Example'"):
        CurrentDriven(data="file:x.csv", parameter_set="ECM_Example")


def test_a_pulse_starts_at_the_soc_of_its_rest_voltage(tmp_path):
    values = pybamm.ParameterValues("ECM_Example")
    ocv_at_06 = values.evaluate(values["Open-circuit voltage [V]"](pybamm.Scalar(0.6))).item()
    frame = pd.DataFrame({"Time [s]": TIME, "Current [A]": CURRENT, "Voltage [V]": np.full_like(TIME, ocv_at_06)})
    frame.to_csv(tmp_path / "pulse.csv", index=False)
    kind = Pulse(data="file:pulse.csv", model={"type": "ECM", "options": {"rc pairs": 2}})
    [objective] = kind.build("pulse", inputs=("R0 [Ohm]",), existing={}, cost=None, base_dir=tmp_path)
    assert objective.setup.fixed["Initial SoC"] == pytest.approx(0.6, abs=1e-5)
    assert kind.unknown_parameters(["R0 [Ohm]", "R2 [Ohm]", "C2 [F]", "R3 [Ohm]"]) and \
        "R3 [Ohm]" in kind.unknown_parameters(["R3 [Ohm]"])[0]


def test_resistance_objective_fits_a_factor_on_the_sets_r0_and_reads_ionworks_config(tmp_path):
    values = pybamm.ParameterValues("ECM_Example")
    soc = np.linspace(0.1, 0.9, 9)
    r0 = [values.evaluate(values["R0 [Ohm]"](pybamm.Scalar(25.0), pybamm.Scalar(0.0), pybamm.Scalar(s))).item()
          for s in soc]
    pd.DataFrame({"SOC": soc, "Resistance [Ohm]": 1.3 * np.array(r0)}).to_csv(tmp_path / "dcir.csv", index=False)
    objective = iws.objectives.Resistance(data_input=f"file:{tmp_path / 'dcir.csv'}",
                                          options={"model": iws.models.ECM(options={"rc pairs": "1"})})
    fit = iws.DataFit(objectives={"dcir": objective},
                      parameters={"R0 [Ohm] factor": iws.Parameter("R0 [Ohm] factor", bounds=(0.5, 3.0), initial_value=1.0)},
                      optimizer=iws.optimizers.ScipyMinimize(method="Nelder-Mead"))
    config = iws.Pipeline(elements={"fit": fit}).to_config()
    info = run_serially(config, tmp_path)
    assert info["status"] == "completed", info
    assert info["elements"]["fit"]["parameters"]["R0 [Ohm] factor"] == pytest.approx(1.3, rel=1e-3)
    with pytest.raises(ValueError, match=r"resistances \['C1 \[F\]'\]: give the circuit's 'R0 \[Ohm\]'"):
        Resistance(data="file:dcir.csv", resistances=["C1 [F]"])
