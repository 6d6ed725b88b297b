"""Factors on function-valued parameters, a fitted initial SOC, and OCPs made from data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pybamm
import pytest

import orchestrator
from elements import engine
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import run_serially

J_N = "Negative electrode exchange-current density [A.m-2]"
D_N = "Negative particle diffusivity [m2.s-1]"
C_N, C_P = (f"Initial concentration in {e} electrode [mol.m-3]" for e in ("negative", "positive"))


def pulses(values: pybamm.ParameterValues, path: Path, *, noise: float = 5e-4) -> Path:
    """Rest, a 3C discharge pulse, rest, a 2C pulse, rest (SPM), with ``noise`` V, as a CSV file."""
    time = np.arange(0.0, 481.0, 2.0)
    current = np.select([(time >= 60) & (time < 180), (time >= 300) & (time < 360)], [15.0, 10.0], 0.0)
    values = values.copy()
    values["Current function [A]"] = pybamm.Interpolant(time, current, pybamm.t, interpolator="linear")
    solver = pybamm.IDAKLUSolver()
    solution = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=values, solver=solver).solve(
        [0, time[-1]], t_interp=time)
    voltage = solution["Voltage [V]"].entries + np.random.default_rng(0).normal(0, noise, len(time))
    pd.DataFrame({"Time [s]": time, "Current [A]": current, "Voltage [V]": voltage}).to_csv(path, index=False)
    return path


def fit(data: Path, parameters: dict, **objective: object) -> dict:
    return {"elements": {"fit": {
        "element_type": "data_fit",
        "objectives": {"pulses": {"type": "CurrentDriven", "model": {"type": "SPM"}, "data": f"file:{data}", **objective}},
        "parameters": parameters,
        "optimizer": {"type": "ScipyMinimize", "method": "L-BFGS-B", "gradient": "central"},
    }}}


def test_a_factor_on_chen2020_exchange_current_density_is_recovered(tmp_path):
    truth = pybamm.ParameterValues("Chen2020")
    original = truth[J_N]
    truth[J_N] = lambda *args: 1.7 * original(*args)
    data = pulses(truth, tmp_path / "pulses.csv")
    spec = fit(data, {f"{J_N} factor": {"bounds": [0.3, 3.0], "transform": "log10", "initial_value": 1.0}})
    info = run_serially(spec, tmp_path)
    found = info["elements"]["fit"]["parameters"][f"{J_N} factor"]
    assert found == pytest.approx(1.7, rel=0.02)
    assert info["elements"]["fit"]["summary"]["cost"] < 1e-3  # the 0.5 mV noise, not a misfit


def test_factors_solve_in_one_batch_and_change_only_the_scaled_function():
    t = np.linspace(0.0, 120.0, 13)
    setup = engine.Setup(model="SPM", model_options={}, parameter_set="Chen2020", fixed={}, inputs=(f"{J_N} factor",),
                         outputs=("Voltage [V]", "X-averaged negative electrode reaction overpotential [V]"),
                         current=15.0, duration=120.0, t_eval=t)
    out = engine.solve(setup, [{f"{J_N} factor": f} for f in (0.5, 1.0, 2.0)],
                       lambda s: engine.Outcome(s["X-averaged negative electrode reaction overpotential [V]"].data))
    eta = np.array([o.value[-1] for o in out])
    plain = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=pybamm.ParameterValues(
        {**pybamm.ParameterValues("Chen2020"), "Current function [A]": 15.0}))
    expected = plain.solve([0, 120.0], t_interp=t)["X-averaged negative electrode reaction overpotential [V]"].entries
    assert eta[1] == pytest.approx(expected[-1], rel=1e-4)
    # Butler-Volmer: eta = 2RT/F asinh(j / (2 j0)); a larger j0 means a smaller overpotential
    assert abs(eta[0]) > abs(eta[1]) > abs(eta[2])


def test_a_factor_on_a_number_and_a_function_fitted_directly_are_clear_errors(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_pipeline(fit(Path("x.csv"), {f"{D_N} factor": {"bounds": [0.5, 2]}}))
    [(path, message)] = caught.value.problems
    assert path == "elements.fit"
    assert f"{D_N!r} is a number in Chen2020" in message and f"fit or set {D_N!r} itself" in message

    with pytest.raises(SpecError) as caught:
        load_pipeline(fit(Path("x.csv"), {J_N: {"bounds": [0.5, 2]}}))
    message = caught.value.problems[0][1]
    assert f"{J_N!r} is a function in Chen2020" in message and f"'{J_N} factor'" in message
    assert "replace_function: true" in message

    spec = load_pipeline(fit(Path("x.csv"), {J_N: {"bounds": [0.5, 2], "replace_function": True}}))
    assert spec.elements["fit"].parameters[J_N].replace_function


def test_a_fixed_initial_soc_matches_pybamm_set_initial_state():
    setup = engine.Setup(model="SPM", model_options={}, parameter_set="Chen2020", fixed={"Initial SOC [%]": 62.0},
                         inputs=(), outputs=("Voltage [V]",), current=5.0, duration=10.0, t_eval=np.array([0.0, 10.0]))
    found = engine.parameter_values_for(setup)
    expected = pybamm.ParameterValues("Chen2020")
    expected.set_initial_state(0.62)
    assert found[C_N] == pytest.approx(expected[C_N], rel=1e-9)
    assert found[C_P] == pytest.approx(expected[C_P], rel=1e-9)


def test_a_fitted_initial_soc_is_recovered(tmp_path):
    truth = pybamm.ParameterValues("Chen2020")
    truth.set_initial_state(0.62)
    data = pulses(truth, tmp_path / "pulses.csv")
    info = run_serially(fit(data, {"Initial SOC": {"bounds": [0.1, 1.0], "initial_value": 0.9}}), tmp_path)
    assert info["elements"]["fit"]["parameters"]["Initial SOC"] == pytest.approx(0.62, abs=0.005)


# --- OCPs from data -----------------------------------------------------------------------------------

U_N, U_P = "Negative electrode OCP [V]", "Positive electrode OCP [V]"


def chen2020_ocp(name: str, x: np.ndarray, shift: float = 0.0) -> np.ndarray:
    values = pybamm.ParameterValues("Chen2020")
    return np.asarray(values.evaluate(values[name](pybamm.Vector(x))), dtype=float).ravel() + shift


def half_cell(path: Path, name: str, *, shift: float = 0.0, n: int = 600, noise: float = 1e-3) -> Path:
    """Shuffled noisy samples of a Chen2020 OCP (plus ``shift`` V), every tenth one twice."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0.01, 0.99, n)
    x = np.concatenate([x, x[::10]])
    voltage = chen2020_ocp(name, x, shift) + rng.normal(0, noise, len(x))
    pd.DataFrame({"Stoichiometry": x, "Voltage [V]": voltage}).to_csv(path, index=False)
    return path


def test_an_ocp_table_from_noisy_half_cell_data_reproduces_the_ocp(tmp_path):
    data = half_cell(tmp_path / "graphite.csv", U_N)
    spec = {"elements": {"ocp": {"element_type": "calculation", "type": "OCPDataInterpolant", "electrode": "negative",
                                 "data": f"file:{data}"}}}
    info = run_serially(spec, tmp_path)["elements"]["ocp"]
    found = info["parameters"][U_N]  # as the store keeps it: plain JSON
    x, y = np.array(found["x"]), np.array(found["y"])
    assert len(x) == 201 and np.all(np.diff(y) <= 0)
    inner = (x > 0.05) & (x < 0.95)
    assert np.max(np.abs(y - chen2020_ocp(U_N, x))[inner]) < 3e-3
    assert 0.8e-3 < info["summary"]["metrics"][U_N]["RMSE"] < 1.5e-3  # about the 1 mV noise


def test_a_later_validation_simulates_with_the_ocp_table(tmp_path):
    truth = pybamm.ParameterValues("Chen2020")
    original = truth[U_N]
    truth[U_N] = lambda sto: original(sto) + 0.03  # a graphite 30 mV higher: the cell 30 mV lower
    pulses(truth, tmp_path / "cell.csv")
    check = {"element_type": "validation", "objectives": {"cell": {
        "type": "CurrentDriven", "model": {"type": "SPM"}, "data": f"file:{tmp_path / 'cell.csv'}"}}}
    spec = {"elements": {
        "before": check,
        "ocp": {"element_type": "calculation", "calculation": "OCPDataInterpolant", "electrode": "negative",
                "data": f"file:{half_cell(tmp_path / 'graphite.csv', U_N, shift=0.03)}", "interpolator": "cubic"},
        "after": check,
    }}
    info = run_serially(spec, tmp_path)["elements"]
    assert info["before"]["summary"]["metrics"]["cell"]["RMSE"] == pytest.approx(0.03, abs=0.003)
    assert info["after"]["summary"]["metrics"]["cell"]["RMSE"] < 0.004


def test_a_rising_ocp_and_too_few_points_are_clear_errors(tmp_path):
    from elements.calculations.ocp_data_interpolant import smoothed_ocp
    from elements.core.data import DataError

    x = np.linspace(0.1, 0.9, 20)
    with pytest.raises(DataError, match="rises with 'Stoichiometry'.*1 - the column"):
        smoothed_ocp(x, 3.0 + x)
    with pytest.raises(DataError, match="3 distinct stoichiometries .* at least 5"):
        smoothed_ocp(np.array([0.1, 0.1, 0.2, 0.3]), np.array([4.0, 4.0, 3.9, 3.8]))


def test_ocp_half_cell_recovers_the_stoichiometry_scale(tmp_path):
    s = np.linspace(0.0, 1.0, 300)
    rng = np.random.default_rng(2)
    voltage = chen2020_ocp(U_P, 0.05 + 0.85 * s) + rng.normal(0, 1e-3, len(s))
    pd.DataFrame({"Stoichiometry": s, "Voltage [V]": voltage}).to_csv(tmp_path / "nmc.csv", index=False)
    offset, scale = "Positive electrode OCP stoichiometry offset", "Positive electrode OCP stoichiometry scale"
    spec = {"elements": {"fit": {
        "element_type": "data_fit",
        "objectives": {"nmc": {"type": "OCPHalfCell", "electrode": "positive", "data": f"file:{tmp_path / 'nmc.csv'}"}},
        "parameters": {offset: {"bounds": [0.0, 0.2], "initial_value": 0.1},
                       scale: {"bounds": [0.6, 1.0], "initial_value": 0.8}},
        "optimizer": {"type": "ScipyMinimize", "method": "L-BFGS-B", "gradient": "central"},
    }}}
    info = run_serially(spec, tmp_path)["elements"]["fit"]
    assert info["parameters"][offset] == pytest.approx(0.05, abs=0.005)
    assert info["parameters"][scale] == pytest.approx(0.85, abs=0.005)
    assert info["summary"]["cost"] == pytest.approx(1e-3, rel=0.2)


def test_a_sweep_over_a_factor(tmp_path):
    spec = {"elements": {"rates": {
        "element_type": "sweep", "model": {"type": "SPM"}, "protocol": {"current": 15.0, "duration": 120},
        "grid": {f"{J_N} factor": [0.5, 1.0, 2.0]},
        "outputs": {"variables": ["Voltage [V]"], "time": {"stop": 120, "step": 60}, "summaries": ["final_voltage"]},
    }}}
    info = run_serially(spec, tmp_path)
    final = orchestrator.open_sweep(info["run_id"], "rates", store=tmp_path).final_voltage.values
    assert np.all(np.diff(final) > 0)  # faster kinetics, less overpotential, a higher voltage under load
