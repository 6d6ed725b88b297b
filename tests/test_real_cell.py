"""Fits that hold on real cells: data windows, Experiment-driven and thermal objectives, per-variable
weights, electrode balancing, initial states from the data, and the Enertech pipeline.

Measured files: examples/real_cell (Enertech, Ai et al. 2020, BSD-3-Clause as shipped in PyBaMM) and
tests/data/lgm50_rpt_25degC.parquet (LG M50 reference test, PyProBE, BSD-3-Clause).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pybamm
import pytest

from elements.core.data import DataError, load_measurements
from elements.core.status import SolveStatus
from elements.costs import COSTS
from elements.engine import Outcome
from elements.objectives import OBJECTIVES
from elements.objectives.electrode_balancing import stoichiometries
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import run_serially

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "real_cell"
LGM50 = Path(__file__).resolve().parent / "data" / "lgm50_rpt_25degC.parquet"
V, T = "Voltage [V]", "Volume-averaged cell temperature [K]"
EPS = [f"{e} electrode active material volume fraction" for e in ("Negative", "Positive")]
C0 = [f"Initial concentration in {e} electrode [mol.m-3]" for e in ("negative", "positive")]
RMSE = COSTS["RMSE"]()


def frame(**columns: list[float]) -> pd.DataFrame:
    return pd.DataFrame({name.replace("_", " "): values for name, values in columns.items()})


# --- data windows ---------------------------------------------------------------------------------

WINDOWED = pd.DataFrame({
    "Time [s]": [0.0, 10.0, 20.0, 30.0, 40.0, 50.0],
    "Voltage [V]": [4.20, 4.10, 4.00, 3.90, 3.80, 3.70],
    "Current [A]": [0.0, 1.0, 1.0, 0.0005, 1.0, 0.0],
    "Step": [1, 2, 2, 3, 4, 5],
})


def load(frame: pd.DataFrame, tmp_path: Path, **options: object) -> pd.DataFrame:
    frame.to_csv(tmp_path / "cell.csv", index=False)
    [m] = load_measurements({"source": "file:cell.csv", **options}, base_dir=tmp_path)
    return m.frame


def test_voltage_range_keeps_rows_within_and_shifts_time(tmp_path):
    kept = load(WINDOWED, tmp_path, voltage_range=[3.85, 4.15])
    np.testing.assert_array_equal(kept["Voltage [V]"], [4.10, 4.00, 3.90])
    np.testing.assert_array_equal(kept["Time [s]"], [0.0, 10.0, 20.0])


def test_drop_rests_drops_currents_below_the_threshold(tmp_path):
    np.testing.assert_array_equal(load(WINDOWED, tmp_path, drop_rests=True)["Step"], [2, 2, 4])
    # a higher threshold drops the 1 A rows too; a lower one keeps the 0.5 mA row
    np.testing.assert_array_equal(load(WINDOWED, tmp_path, drop_rests=True, rest_current=1e-4)["Step"], [2, 2, 3, 4])
    with pytest.raises(DataError, match="no data rows after filtering"):
        load(WINDOWED, tmp_path, drop_rests=True, rest_current=2.0)


def test_resample_interpolates_numbers_and_holds_steps(tmp_path):
    resampled = load(WINDOWED, tmp_path, resample=4.0)
    np.testing.assert_allclose(resampled["Time [s]"], np.arange(0.0, 50.0, 4.0))
    np.testing.assert_allclose(resampled["Voltage [V]"], 4.2 - 0.01 * np.arange(0.0, 50.0, 4.0))
    np.testing.assert_allclose(resampled["Current [A]"][:4], [0.0, 0.4, 0.8, 1.0])
    np.testing.assert_array_equal(resampled["Step"], [1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 4, 4, 4])  # previous sample


def test_windows_apply_in_order_before_resampling(tmp_path):
    # steps 2-4, then 3.85-4.15 V: rows at 10, 20, 30 s; time from 0; then a 5 s base
    found = load(WINDOWED, tmp_path, steps=[2, 3, 4], voltage_range=[3.85, 4.15], resample=5.0)
    np.testing.assert_allclose(found["Time [s]"], [0.0, 5.0, 10.0, 15.0, 20.0])
    np.testing.assert_allclose(found["Voltage [V]"], [4.10, 4.05, 4.00, 3.95, 3.90])


@pytest.mark.parametrize(("options", "fragment"), [
    ({"voltage_range": [4.0, 3.0]}, "v0 < v1"),
    ({"resample": 0}, "greater than 0"),
    ({"rest_current": -1}, "greater than 0"),
])
def test_bad_windows_say_what_is_wrong(tmp_path, options, fragment):
    with pytest.raises(DataError, match=fragment):
        load(WINDOWED, tmp_path, **options)


def test_voltage_range_needs_a_voltage_column(tmp_path):
    pd.DataFrame({"Time [s]": [0, 1], "Current [A]": [1, 1]}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(DataError, match="missing column"):
        load_measurements({"source": "file:c.csv", "voltage_range": [3, 4]}, base_dir=tmp_path,
                          required=("Time [s]",))


# --- Experiment objective --------------------------------------------------------------------------

STEPS = ["Discharge at 1C for 10 minutes", "Rest for 5 minutes", "Charge at 1C until 4.1 V",
         "Hold at 4.1 V until 0.5 A"]


def test_experiment_equals_a_direct_pybamm_solve_on_the_data_times():
    times = np.arange(0.0, 2400.0, 7.0)
    data = frame(Time_s=list(times), Voltage_V=[3.8] * len(times)).rename(
        columns={"Time s": "Time [s]", "Voltage V": V})
    kind = OBJECTIVES["Experiment"](data=data, experiment=STEPS, model={"type": "SPM"}, initial_state=0.5)
    [objective] = kind.build("cccv", inputs=(), existing={}, cost=RMSE, base_dir=Path.cwd())
    outcome = objective.solve(np.empty((1, 0)))[0]

    values = pybamm.ParameterValues("Chen2020")
    values.set_initial_state(0.5)
    solution = pybamm.Simulation(pybamm.lithium_ion.SPM(), experiment=pybamm.Experiment(STEPS),
                                 parameter_values=values, solver=pybamm.IDAKLUSolver()).solve()
    assert solution.t[-1] > times[-1]
    assert outcome.status is SolveStatus.OK
    np.testing.assert_allclose(outcome.value[V], solution[V](t=times), rtol=0, atol=1e-8)
    assert objective.cost(outcome) == pytest.approx(RMSE(solution[V](t=times), data[V].to_numpy()))


def test_data_past_the_experiment_holds_its_last_value():
    times = np.arange(0.0, 900.0, 10.0)
    data = pd.DataFrame({"Time [s]": times, V: 3.7})
    kind = OBJECTIVES["Experiment"](data=data, experiment=["Discharge at 1C for 5 minutes"], model={"type": "SPM"})
    [objective] = kind.build("short", inputs=(), existing={}, cost=RMSE, base_dir=Path.cwd())
    outcome = objective.solve(np.empty((1, 0)))[0]
    assert outcome.status is SolveStatus.TERMINATED and "ended at t=300" in outcome.message
    after = outcome.value[V][times > 300]
    np.testing.assert_array_equal(after, after[0])


# --- several variables: weights and normalisation ---------------------------------------------------

def two_variable_objective(**options: object):
    t = np.linspace(0.0, 100.0, 11)
    data = pd.DataFrame({"Time [s]": t, "Current [A]": 1.0, V: 4.2 - 0.01 * t, T: 298.15 + 0.1 * t})
    kind = OBJECTIVES["CurrentDriven"](data=data, **options)
    [objective] = kind.build("hot", inputs=(), existing={}, cost=RMSE, base_dir=Path.cwd())
    return objective, data


def test_normalised_voltage_and_temperature_count_alike_and_weights_scale_them():
    objective, data = two_variable_objective(variables=[V, T])
    spread = {v: float(np.std(data[v])) for v in (V, T)}
    # the same error relative to each variable's spread: 1 % of it everywhere
    outcome = Outcome({v: data[v].to_numpy() + 0.01 * spread[v] for v in (V, T)})
    assert objective.scales == pytest.approx(spread)
    assert objective.cost(outcome) == pytest.approx(0.01 + 0.01)

    weighted, _ = two_variable_objective(variables={V: {"weight": 1.0}, T: {"weight": 3.0}})
    assert weighted.cost(outcome) == pytest.approx(1 * 0.01 + 3 * 0.01)

    raw, _ = two_variable_objective(variables={V: {}, T: {"weight": 3.0}}, normalise=False)
    assert raw.cost(outcome) == pytest.approx(0.01 * spread[V] + 3 * 0.01 * spread[T])


def test_one_variable_keeps_its_units():
    objective, data = two_variable_objective()
    outcome = Outcome({V: data[V].to_numpy() + 0.002})
    assert objective.scales is None
    assert objective.cost(outcome) == pytest.approx(0.002)


def test_lumped_thermal_model_compares_temperature_with_voltage():
    kind = OBJECTIVES["CurrentDriven"](
        data=f"file:{EXAMPLE / '2C.csv'}", parameter_set="Ai2020",
        model={"type": "SPMe", "options": {"thermal": "lumped"}}, variables={V: {"weight": 1}, T: {"weight": 1}})
    [objective] = kind.build("2C", inputs=("Total heat transfer coefficient [W.m-2.K-1]",), existing={},
                             cost=RMSE, base_dir=Path.cwd())
    cooled, hot = objective.solve(np.array([[35.0], [10.0]]))  # Ai2020's own coefficient, and less
    parts = {v: RMSE(cooled.value[v] / objective.scales[v], objective.data[v] / objective.scales[v]) for v in (V, T)}
    assert objective.cost(cooled) == pytest.approx(parts[V] + parts[T])
    # each within a factor 3 of the other, where their raw RMSEs (V and K) differ more than tenfold
    assert 1 / 3 < parts[V] / parts[T] < 3
    raw = {v: RMSE(cooled.value[v], objective.data[v]) for v in (V, T)}
    assert raw[T] / raw[V] > 10
    # a poorly cooled cell heats more: the heat-transfer coefficient is a fit parameter like any other
    assert hot.value[T][-1] > cooled.value[T][-1] + 1.0


# --- initial state from the data -----------------------------------------------------------------

def test_initial_state_from_data_starts_at_the_first_voltage():
    t = np.arange(0.0, 60.0, 10.0)
    # at rest at t = 0, so the first voltage is open-circuit
    data = pd.DataFrame({"Time [s]": t, "Current [A]": np.minimum(t, 1.0), V: np.linspace(3.9, 3.85, len(t))})
    kind = OBJECTIVES["CurrentDriven"](data=data, initial_state="from data",
                                       model={"type": "SPMe", "options": {"thermal": "lumped"}})
    [objective] = kind.build("start", inputs=(), existing={}, cost=RMSE, base_dir=Path.cwd())
    expected = pybamm.ParameterValues("Chen2020")
    expected.set_initial_state("3.9 V")
    for name in C0:
        assert objective.setup.fixed[name] == pytest.approx(expected[name])
    assert objective.solve(np.empty((1, 0)))[0].value[V][0] == pytest.approx(3.9, abs=1e-4)


def test_initial_state_outside_the_cell_names_the_data():
    data = pd.DataFrame({"Time [s]": [0.0, 1.0], "Current [A]": 1.0, V: [5.5, 5.4]})
    kind = OBJECTIVES["CurrentDriven"](data=data, initial_state="from data")
    with pytest.raises(DataError, match=r"initial_state '5.5 V' \(from 'dataframe'\)"):
        kind.build("bad", inputs=(), existing={}, cost=RMSE, base_dir=Path.cwd())


@pytest.mark.parametrize("state", ["4.1 volts", 1.5, "from the data"])
def test_bad_initial_state_is_a_spec_problem(state):
    spec = {"elements": {"check": {"element_type": "validation", "objectives": {
        "1C": {"data": "file:x.csv", "initial_state": state}}}}}
    with pytest.raises(SpecError, match="initial_state"):
        load_pipeline(spec)


# --- electrode balancing ----------------------------------------------------------------------------

BALANCED = {EPS[0]: 0.56, EPS[1]: 0.58, C0[0]: 25000.0, C0[1]: 22000.0}


def ocv_curve(values: dict[str, float], noise: float = 0.0) -> pd.DataFrame:
    """A C/10 open-circuit curve of Ai2020 at ``values``, straight from PyBaMM's OCP functions."""
    params = pybamm.ParameterValues("Ai2020")
    params.update(values)
    t = np.arange(0.0, 33000.0, 30.0)
    sto = stoichiometries(params, t * 0.228 / 3600)

    def ocp(electrode: str, x: np.ndarray) -> np.ndarray:
        name = f"{electrode} electrode OCP [V]"
        return params.evaluate(pybamm.FunctionParameter(name, {"sto": pybamm.Vector(x)})).ravel()

    voltage = ocp("Positive", sto["positive"]) - ocp("Negative", sto["negative"])
    voltage += np.random.default_rng(0).normal(0.0, noise, len(t))
    return pd.DataFrame({"Time [s]": t, "Current [A]": 0.228, V: voltage})


def test_balancing_model_is_the_parameter_sets_ocv():
    data = ocv_curve(BALANCED)
    kind = OBJECTIVES["ElectrodeBalancing"](data=data, parameter_set="Ai2020")
    [objective] = kind.build("ocv", inputs=(EPS[0], C0[0]), existing={EPS[1]: BALANCED[EPS[1]], C0[1]: BALANCED[C0[1]]},
                             cost=RMSE, base_dir=Path.cwd())
    good, infeasible = objective.solve(np.array([[BALANCED[EPS[0]], BALANCED[C0[0]]], [0.56, 5000.0]]))
    assert objective.cost(good) < 2e-5
    assert infeasible.status is SolveStatus.INFEASIBLE and "negative stoichiometry" in infeasible.message
    assert objective.cost(infeasible) == float("inf")
    traces = objective.traces(good)
    assert float(traces["Discharge capacity [A.h]"][-1]) == pytest.approx(32970 * 0.228 / 3600)


def test_balancing_recovers_stoichiometry_windows(tmp_path):
    data = tmp_path / "ocv.csv"
    ocv_curve(BALANCED, noise=0.5e-3).to_csv(data, index=False)
    spec = {"elements": {"balance": {
        "element_type": "data_fit",
        "objectives": {"C/10": {"type": "ElectrodeBalancing", "parameter_set": "Ai2020", "data": f"file:{data}"}},
        "parameters": {EPS[0]: {"bounds": [0.4, 0.8]}, EPS[1]: {"bounds": [0.4, 0.8]},
                       C0[0]: {"bounds": [15000, 28000]}, C0[1]: {"bounds": [10000, 30000]}},
        "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 10, "tol": 1e-8},
    }}}
    fitted = run_serially(spec, tmp_path / "store")["elements"]["balance"]["summary"]["parameters"]
    ends = np.array([0.0, 32970 * 0.228 / 3600])
    truth, found = pybamm.ParameterValues("Ai2020"), pybamm.ParameterValues("Ai2020")
    truth.update(BALANCED)
    found.update(fitted)
    for electrode, window in stoichiometries(truth, ends).items():
        np.testing.assert_allclose(stoichiometries(found, ends)[electrode], window, rtol=0.01)


def test_balancing_the_lgm50_c10_discharge_brings_chen2020_within_10_mv(tmp_path):
    # The LG M50's own reference test, C/10 discharge (step 5), against Chen2020: the parameter set of
    # this cell, from another sample, whose windows put the OCV 133 mV RMSE off this one's curve.
    ocv = {"type": "ElectrodeBalancing", "parameter_set": "Chen2020",
           "data": {"source": f"file:{LGM50}", "steps": [5], "current_sign": "positive_charge"}}
    spec = {"elements": {
        "published": {"element_type": "validation", "objectives": {"C/10": ocv}},
        "balance": {"element_type": "data_fit", "objectives": {"C/10": ocv},
                    "parameters": {EPS[0]: {"bounds": [0.5, 0.9]}, EPS[1]: {"bounds": [0.5, 0.9]},
                                   C0[0]: {"bounds": [20000, 33133]}, C0[1]: {"bounds": [10000, 40000]}},
                    "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 10, "tol": 1e-6}},
        "balanced": {"element_type": "validation", "objectives": {"C/10": ocv}},
    }}
    elements = run_serially(spec, tmp_path)["elements"]
    assert elements["published"]["summary"]["metrics"]["C/10"]["RMSE"] > 0.1
    assert elements["balanced"]["summary"]["metrics"]["C/10"]["RMSE"] < 0.010


def test_balancing_fits_only_what_the_ocv_depends_on():
    spec = {"elements": {"balance": {
        "element_type": "data_fit", "objectives": {"ocv": {"type": "ElectrodeBalancing", "data": "file:x.csv"}},
        "parameters": {"Negative particle radius [m]": {"bounds": [1e-6, 1e-5]}}}}}
    with pytest.raises(SpecError, match="of ElectrodeBalancing; valid parameters: .*active material volume fraction"):
        load_pipeline(spec)


# --- the Enertech pipeline --------------------------------------------------------------------------

def test_balancing_then_a_fit_carry_their_values_down_the_enertech_pipeline(tmp_path):
    """Balance on 0.1C, fit electrolyte tortuosity and cooling to 2C, validate every rate."""
    model = {"type": "SPMe", "options": {"thermal": "lumped"}}
    rates = {r: {"type": "CurrentDriven", "parameter_set": "Ai2020", "model": model,
                 "data": f"file:{EXAMPLE / f'{r}.csv'}"} for r in ("0.1C", "1C", "2C")}
    check = {"element_type": "validation", "objectives": rates}
    bruggeman = "Negative electrode Bruggeman coefficient (electrolyte)"
    cooling = "Total heat transfer coefficient [W.m-2.K-1]"
    spec = {"elements": {
        "before": check,
        "balance": {
            "element_type": "data_fit",
            "objectives": {"0.1C": {"type": "ElectrodeBalancing", "parameter_set": "Ai2020",
                                    "data": f"file:{EXAMPLE / '0.1C.csv'}"}},
            "parameters": {EPS[0]: {"bounds": [0.4, 0.8]}, EPS[1]: {"bounds": [0.4, 0.8]},
                           C0[0]: {"bounds": [15000, 28700]}, C0[1]: {"bounds": [10000, 30000]}},
            "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 10, "tol": 1e-6},
        },
        "balanced": check,
        "fit": {
            "element_type": "data_fit",
            "objectives": {"2C": rates["2C"]},
            # started at Ai2020's own values, so the fit can only improve on the balanced 2C
            "parameters": {bruggeman: {"bounds": [1.5, 4.0], "initial_value": 2.914},
                           cooling: {"bounds": [5, 100], "initial_value": 35}},
            "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 4, "maxiter": 3},
        },
        "after": check,
    }}
    info = run_serially(spec, tmp_path)
    elements = info["elements"]
    balanced = elements["balance"]["summary"]
    assert balanced["cost"] < 0.005  # the 0.1C curve within 5 mV of the balanced OCV
    rmse = {k: {r: m["RMSE"] for r, m in elements[k]["summary"]["metrics"].items()}
            for k in ("before", "balanced", "after")}
    for r in rates:  # balancing alone takes a third or more off every rate's error
        assert rmse["balanced"][r] < rmse["before"][r] / 1.5
    assert rmse["after"]["2C"] <= rmse["balanced"]["2C"]
    assert elements["fit"]["summary"]["cost"] == pytest.approx(rmse["after"]["2C"])
    downstream = elements["after"]["parameters"]
    assert downstream[C0[0]] == balanced["parameters"][C0[0]]
    assert downstream[bruggeman] == elements["fit"]["summary"]["parameters"][bruggeman]


# --- pulses -------------------------------------------------------------------------------------------

D_N, D_P = "Negative particle diffusivity [m2.s-1]", "Positive particle diffusivity [m2.s-1]"


def gitt(d_n: float, *, relaxed: dict[str, float]) -> pd.DataFrame:
    """Three 1C pulses of 5 min, each followed by 30 min of rest, from 90 % charge: SPM, Chen2020."""
    t = np.arange(0.0, 60.0 + 3 * 2100.0, 10.0)
    current = np.where(((t - 60.0) % 2100.0 < 300.0) & (t >= 60.0), 5.0, 0.0)
    values = pybamm.ParameterValues("Chen2020")
    values.update({**relaxed, D_N: d_n, "Current function [A]": pybamm.Interpolant(t, current, pybamm.t)})
    values.set_initial_state(0.9)
    # IDAKLU steps over a pulse that follows a long rest unless told where the current turns
    turns = np.flatnonzero(np.diff(current))
    breaks = np.unique(np.r_[0.0, t[turns], t[turns + 1], t[-1]])
    solution = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=values,
                                 solver=pybamm.IDAKLUSolver()).solve(breaks, t_interp=t)
    return pd.DataFrame({"Time [s]": t, "Current [A]": current, V: solution[V].entries})


def test_pulses_are_cut_at_their_rests_and_selected():
    kind = OBJECTIVES["Pulse"](data=gitt(3.3e-14, relaxed={D_P: 1e-13}), model={"type": "SPM"}, pulses=[0, 2])
    found = kind.measurements("gitt", Path.cwd())
    assert [m.name for m in found] == ["dataframe pulse 0", "dataframe pulse 2"]
    for m in found:
        assert m.current[0] == 0.0 and m.current[1] == 5.0 and m.time[0] == 0.0
        assert m.time[-1] == 2100.0  # up to the next pulse's rest sample
    with pytest.raises(DataError, match=r"has 3 pulse\(s\).*pulses \[3\] do not exist"):
        OBJECTIVES["Pulse"](data=gitt(3.3e-14, relaxed={}), pulses=[3]).measurements("gitt", Path.cwd())


def test_a_pulse_fit_recovers_a_diffusivity(tmp_path):
    # a fast positive electrode relaxes fully in the rests, so each pulse starts from an open circuit
    relaxed = {D_P: 1e-13}
    data = tmp_path / "gitt.csv"
    gitt(3.3e-14, relaxed=relaxed).to_csv(data, index=False)
    spec = {"elements": {"pulses": {
        "element_type": "data_fit",
        "objectives": {"gitt": {"type": "Pulse", "model": {"type": "SPM"}, "parameters": relaxed,
                                "data": f"file:{data}"}},
        "parameters": {D_N: {"bounds": [1e-14, 1e-13], "transform": "log10"}},
        "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 5, "tol": 1e-3},
    }}}
    fit = run_serially(spec, tmp_path / "store")["elements"]["pulses"]["summary"]
    assert fit["parameters"][D_N] == pytest.approx(3.3e-14, rel=0.02)
    assert fit["cost"] < 1e-4 * 3  # three pulses, each within 0.1 mV
