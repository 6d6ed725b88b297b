"""ionworks-schema 0.33's own worked examples (``docs/examples/*.py`` of its sdist, MIT), built with the
same calls as the example scripts and run unmodified from ``to_config()``; each recovers the truth its
data generator (``docs/examples/data/generate_*.py``) states."""

from __future__ import annotations

import json
from pathlib import Path

import ionworks_schema as iws
import numpy as np
import pandas as pd
import pybamm
import pytest

from rich.console import Console

import orchestrator
from elements.values import apply
from orchestrator import lineage
from orchestrator.cache import element_keys
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import run_serially

DATA = Path(__file__).parent / "data" / "ionworks"
J0_REF = "Negative electrode reference exchange-current density [A.m-2]"


def current_driven() -> dict:
    """``docs/examples/current_driven.py`` up to the client call (``generate_current_driven.py``: j0_ref = 3.0)."""
    data = {"0.5 C": pd.read_csv(iws.example_data("current_driven_discharge"))}
    baseline = pybamm.ParameterValues("Chen2020")
    baseline["Negative electrode reaction activation energy [J.mol-1]"] = 0.0
    known = iws.direct_entries.DirectEntry(parameters=baseline)
    j0_function = iws.direct_entries.arrhenius_butler_volmer_exchange_current_density(electrode="negative")
    parameters = {J0_REF: iws.Parameter(J0_REF, initial_value=1.0, bounds=(0.1, 10.0))}
    fit = iws.DataFit(
        objectives={
            rate: iws.objectives.CurrentDriven(
                data=df, options=iws.objectives.CurrentDrivenOptions(model=pybamm.lithium_ion.SPMe()))
            for rate, df in data.items()
        },
        parameters=parameters,
        cost=iws.costs.RMSE(),
        optimizer=iws.optimizers.ScipyMinimize(method="Nelder-Mead", max_iterations=20),
    )
    return iws.Pipeline({"known": known, "j0_function": j0_function, "fit": fit}).to_config()


@pytest.fixture(scope="module")
def current_driven_config() -> dict:
    return current_driven()


def test_current_driven_example_recovers_the_reference_exchange_current_density(current_driven_config, tmp_path):
    info = run_serially(current_driven_config, tmp_path)
    assert info["status"] == "completed", info
    assert info["elements"]["fit"]["summary"]["parameters"][J0_REF] == pytest.approx(3.0, rel=0.02)
    entry = orchestrator.open_run(info["run_id"], tmp_path)["known"].to_dataset()
    functions = entry.attrs["functions"]
    assert functions["Negative electrode OCP [V]"]["func_name"] == "graphite_LGM50_ocp_Chen2020"  # stored as written
    assert float(entry["value"].sel(parameter="Negative electrode reaction activation energy [J.mol-1]")) == 0.0
    found = lineage.run_lineage(info["run_id"], tmp_path)["elements"]
    assert found["known"]["functions"]["Negative electrode OCP [V]"]["function"] == "graphite_LGM50_ocp_Chen2020(sto)"
    assert found["j0_function"]["library"] == {"type": "arrhenius_butler_volmer_exchange_current_density",
                                               "electrode": "negative", "direction": "", "phase": ""}
    text = Console(width=200, record=True)
    text.print(lineage.tree(lineage.run_lineage(info["run_id"], tmp_path)))
    shown = text.export_text()
    assert "library entry arrhenius_butler_volmer_exchange_current_density(electrode='negative'" in shown
    assert "function Electrolyte diffusivity [m2.s-1] = electrolyte_diffusivity_Nyman2008(c_e, T)" in shown


def eis() -> dict:
    """``docs/examples/eis.py`` up to the client call (``generate_eis_synthetic.py``: TRUE_J0 = 3.0)."""
    data = pd.read_csv(iws.example_data("eis_synthetic"))
    baseline = pybamm.ParameterValues("Chen2020")
    baseline["Negative electrode reaction activation energy [J.mol-1]"] = 0.0
    known = iws.direct_entries.DirectEntry(parameters=baseline)
    j0_function = iws.direct_entries.arrhenius_butler_volmer_exchange_current_density(electrode="negative")
    parameters = {J0_REF: iws.Parameter(J0_REF, initial_value=1.0, bounds=(0.1, 10.0))}
    objectives = {"impedance": iws.objectives.EIS(data=data, options=iws.objectives.EISOptions(
        model=pybamm.lithium_ion.DFN(options={"surface form": "differential"})))}
    fit = iws.DataFit(objectives=objectives, parameters=parameters, cost=iws.costs.RMSE(),
                      optimizer=iws.optimizers.ScipyMinimize(method="Nelder-Mead", max_iterations=20))
    return iws.Pipeline({"known": known, "j0_function": j0_function, "eis": fit}).to_config()


def test_eis_example_recovers_the_reference_exchange_current_density(tmp_path):
    """The example as written: a DFN's impedance at its 51 frequencies, j0_ref fitted by Nelder-Mead
    from 1.0; the exchange-current density the fit varies is the one the upstream entry introduced."""
    info = run_serially(eis(), tmp_path)
    assert info["status"] == "completed", info
    assert info["elements"]["eis"]["summary"]["parameters"][J0_REF] == pytest.approx(3.0, rel=0.02)
    traces = orchestrator.open_run(info["run_id"], tmp_path)["eis/traces/impedance"].to_dataset()
    assert traces.attrs["model"] == "DFN" and traces.sizes["frequency"] == 51
    modulus = np.hypot(traces["Z_real"], traces["Z_imag"])
    assert float((np.hypot(traces["Z_real_fit"] - traces["Z_real"], traces["Z_imag_fit"] - traces["Z_imag"])
                  / modulus).max()) < 0.01


def test_a_whole_parameter_set_is_hashed_stably_into_the_cache_keys(current_driven_config):
    def keys(config: dict) -> dict[str, str]:
        return element_keys(load_pipeline(config).to_dict()["elements"], {}, {})

    again = current_driven()  # built afresh: the same set must give the same keys
    assert keys(again) == keys(current_driven_config)
    changed = current_driven()
    ocp = changed["elements"]["known"]["values"]["Negative electrode OCP [V]"]
    ocp["children"][0]["children"][0]["children"][0]["children"][0]["children"][0]["value"] = 0.25  # 0.2482 V
    assert keys(changed)["known"] != keys(current_driven_config)["known"]
    assert keys(changed)["fit"] != keys(current_driven_config)["fit"]  # downstream of a changed function


def test_a_fitted_parameter_must_be_introduced_by_an_entry(current_driven_config):
    without = {**current_driven_config, "elements": {
        k: v for k, v in current_driven_config["elements"].items() if k != "j0_function"}}
    with pytest.raises(SpecError) as caught:
        load_pipeline(without)
    assert f"unknown parameter of Chen2020 '{J0_REF}'" in str(caught.value)


def test_an_unreadable_function_is_an_error_naming_it(current_driven_config):
    config = current_driven()
    config["elements"]["known"]["values"]["Negative electrode OCP [V]"] = {"$type": "pybamm.NoSuchSymbol"}
    with pytest.raises(SpecError) as caught:
        load_pipeline(config)
    assert "'Negative electrode OCP [V]': PyBaMM cannot read this serialised function" in str(caught.value)
    config["elements"]["j0_function"]["electrode"] = "middle"
    with pytest.raises(SpecError, match=r"elements.j0_function.function.electrode"):
        load_pipeline(config)


def msmr_ocp() -> dict:
    """``docs/examples/msmr_ocp.py`` up to the client call (``generate_msmr_ocp.py``: capacity 1.0 A.h)."""
    data = pd.read_csv(iws.example_data("msmr_half_cell_ocp"))
    known = iws.direct_entries.DirectEntry(parameters={"Ambient temperature [K]": 298.15})
    material = iws.Material.from_library("Graphite - Verbrugge 2017")
    initial_values = pybamm.scalarize_dict({k: v for k, v in material.parameter_values.items() if "host site" in k})
    Q_data = float(data["Capacity [A.h]"].max() - data["Capacity [A.h]"].min())
    initial_values["Negative electrode capacity [A.h]"] = Q_data
    initial_values["Negative electrode lower excess capacity [A.h]"] = 0.01 * Q_data

    def bounds_function(var, initial_value):
        if "host site occupancy fraction" in var:
            return (max(0.0, initial_value - 0.1), min(1.0, initial_value + 0.1))
        elif "ideality factor" in var:
            return (1e-2, 100.0)
        elif "standard potential" in var:
            return (initial_value - 0.2, initial_value + 0.2)
        elif "capacity" in var:
            return (initial_value * 0.98, initial_value * 1.02)
        else:
            raise ValueError(f"No bounds defined for parameter: {var}")

    def prior_function(var, initial_value):
        if "standard potential" in var:
            return iws.stats.Normal(mean=initial_value, std=0.01)
        else:
            return None

    parameters = {}
    for name, value in initial_values.items():
        parameter = iws.Parameter(name, initial_value=value, bounds=bounds_function(name, value),
                                  prior=prior_function(name, value))
        parameters[name] = iws.transforms.Log10(parameter) if "ideality factor" in name else parameter
    objectives = {"msmr": iws.objectives.MSMRHalfCell(data=data, options=iws.objectives.MSMRHalfCellOptions(
        model=iws.models.MSMRHalfCellModel(electrode="negative", options={"species format": "Xj"})))}
    fit = iws.DataFit(objectives=objectives, parameters=parameters,
                      optimizer=iws.optimizers.ScipyLeastSquares(max_nfev=50))
    return iws.Pipeline({"known": known, "msmr": fit}).to_config()


Q_N = "Negative electrode capacity [A.h]"


def test_msmr_example_recovers_the_electrode_capacity(tmp_path):
    """The example as written: its Normal priors (std 10 mV on each standard potential, the truth
    25 mV off) outweigh a capacity RMSE, so the capacity settles at its upper bound (+0.57 %)."""
    info = run_serially(msmr_ocp(), tmp_path)
    assert info["status"] == "completed", info
    assert info["elements"]["msmr"]["summary"]["parameters"][Q_N] == pytest.approx(1.0, rel=0.02)


def test_msmr_example_without_its_priors_recovers_every_capacity_closely(tmp_path):
    config = msmr_ocp()
    for parameter in config["elements"]["msmr"]["parameters"].values():
        parameter.pop("prior", None)
    info = run_serially(config, tmp_path)
    found = info["elements"]["msmr"]["summary"]["parameters"]
    assert found[Q_N] == pytest.approx(1.0, rel=1e-3)
    assert found["Negative electrode lower excess capacity [A.h]"] == pytest.approx(0.01, rel=1e-2)
    traces = orchestrator.open_run(info["run_id"], tmp_path)["msmr/traces/msmr"].to_dataset()
    assert float(abs(traces["model Capacity [A.h]"] - traces["data Capacity [A.h]"]).max()) < 1e-3


def test_msmr_names_outside_the_model_are_errors_listing_its_names():
    config = msmr_ocp()
    config["elements"]["msmr"]["parameters"]["Negative particle radius [m]"] = {"bounds": [1e-6, 1e-5]}
    with pytest.raises(SpecError) as caught:
        load_pipeline(config)
    assert "unknown MSMR parameter of the negative electrode 'Negative particle radius [m]'" in str(caught.value)


def test_demo_config_runs_to_completion(tmp_path):
    """ionworks-schema's ``demo/config.json`` (an MSMR fit of a positive electrode to a C/20 discharge,
    with fixed values among its parameters and loader options), with 4 of its 50 multistarts."""
    config = json.loads((DATA / "demo_config.json").read_text())
    config["elements"]["cathode_ocp_fit"]["multistarts"] = 4
    fit = load_pipeline(config).elements["cathode_ocp_fit"]
    assert fit.optimizer.type == "ScipyLeastSquares"  # an MSMR fit's default, as ionworks'
    assert fit.objectives["ocp"].parameters["Number of reactions in positive electrode"] == 4
    info = run_serially(config, tmp_path)
    assert info["status"] == "completed", info
    summary = info["elements"]["cathode_ocp_fit"]["summary"]
    assert summary["cost"] < 0.01  # A.h, of a 5.1 A.h curve
    run = orchestrator.open_run(info["run_id"], tmp_path)
    assert run["cathode_ocp_fit"].to_dataset().sizes["start"] == 4
    data = config["elements"]["cathode_ocp_fit"]["objectives"]["ocp"]["data"]["data"]
    slope = np.abs(np.gradient(data["Voltage [V]"], data["Capacity [A.h]"]))
    kept = run["cathode_ocp_fit/traces/ocp"].to_dataset()["data Capacity [A.h]"].values
    np.testing.assert_allclose(kept, np.asarray(data["Capacity [A.h]"])[slope <= 0.2681048690637935])  # dUdQ cutoff
    assert 0 < len(kept) < len(slope)


def cycle_ageing() -> dict:
    """``docs/examples/cycle_ageing.py`` up to the client call (``generate_cycle_ageing.py``: 2e-19 m2.s-1)."""
    data = pd.read_csv(iws.example_data("cycle_ageing_summary"))
    known = iws.direct_entries.DirectEntry(parameters=dict(pybamm.ParameterValues("Chen2020")))
    rpt = [
        {"type": "c-rate", "value": 0.2, "terminations": [{"type": "voltage", "value": 2.5}], "period": 60.0},
        {"type": "rest", "duration": "10 minutes"},
    ]
    cc_cycle = [
        {"type": "c-rate", "value": 1.0, "terminations": [{"type": "voltage", "value": 2.5}]},
        {"type": "c-rate", "value": -0.5, "terminations": [{"type": "voltage", "value": 4.2}]},
    ]
    experiment = {"cycles": [rpt] + ([cc_cycle] * 3 + [rpt]) * 2}
    objectives = {"aging": iws.objectives.CycleAgeing(data=data, options=iws.objectives.CycleAgeingOptions(
        model=pybamm.lithium_ion.SPMe(options={"SEI": "solvent-diffusion limited"}),
        experiment=experiment, objective_variables=["LLI [%]"]))}
    parameters = {"SEI solvent diffusivity [m2.s-1]": iws.Parameter(
        "SEI solvent diffusivity [m2.s-1]", initial_value=5e-19, bounds=(1e-20, 1e-18))}
    fit = iws.DataFit(objectives=objectives, parameters=parameters, cost=iws.costs.RMSE(),
                      optimizer=iws.optimizers.PSO(population_size=10, max_iterations=15),
                      options=iws.DataFitOptions(seed=0))
    return iws.Pipeline({"known": known, "aging": fit}).to_config()


D_SEI = "SEI solvent diffusivity [m2.s-1]"


def test_cycle_ageing_example_recovers_the_sei_solvent_diffusivity(tmp_path):
    """The example with a budget for tests: one Powell line search (9 solves of the 9-cycle experiment)
    in place of its PSO's 10 x 15."""
    config = cycle_ageing()
    config["elements"]["aging"]["optimizer"] = {"type": "ScipyMinimize", "method": "Powell", "max_iterations": 1,
                                                "options": {"xtol": 0.02}}
    info = run_serially(config, tmp_path)
    assert info["status"] == "completed", info
    assert info["elements"]["aging"]["summary"]["parameters"][D_SEI] == pytest.approx(2e-19, rel=0.02)
    traces = orchestrator.open_run(info["run_id"], tmp_path)["aging/traces/aging"].to_dataset()
    assert list(traces["cycle"].values) == [0, 4, 8]
    assert float(abs(traces["model LLI [%]"] - traces["data LLI [%]"]).max()) < 0.01  # % of lithium, of 1.47


@pytest.mark.slow
def test_cycle_ageing_example_as_written_on_a_cluster(client, tmp_path):
    """Its PSO (10 particles, 15 iterations, seed 0), each population fanned out over two workers."""
    info = orchestrator.run(cycle_ageing(), client=client, store=tmp_path)
    assert info["status"] == "completed", info
    assert info["elements"]["aging"]["summary"]["parameters"][D_SEI] == pytest.approx(2e-19, rel=0.02)


def test_cycle_ageing_options_outside_the_defaults_are_errors_naming_them():
    config = cycle_ageing()
    objective = config["elements"]["aging"]["objectives"]["aging"]["options"]
    objective["objective variables"] = ["SOH [%]"]
    objective["metrics"] = {"C/5 capacity [A.h]": {"type": "ComposedMetric"}}
    objective["experiment"]["cycles"][0][0]["type"] = "power-ish"
    with pytest.raises(SpecError) as caught:
        load_pipeline(config)
    text = str(caught.value)
    assert "unknown cycle-ageing metric 'SOH [%]'; valid cycle-ageing metrics: 'LAM_ne [%]'" in text
    assert "ionworks' custom metrics (CyclewiseMetric, ComposedMetric ...) are not supported" in text
    assert "PyBaMM cannot read this experiment: Unknown step type: 'power-ish'" in text


def test_calendar_ageing_is_an_error_saying_what_ionworks_leaves_undefined():
    """ionworks-schema 0.33's CalendarAgeing has options but no data format (no columns, no storage
    conditions); its one test of it checks option names only."""
    data = pd.DataFrame({"Time [days]": [0.0, 10.0], "LLI [%]": [0.0, 1.0]})
    objective = iws.objectives.CalendarAgeing(data=data, options=iws.objectives.CalendarAgeingOptions(
        model=pybamm.lithium_ion.SPM(options={"SEI": "solvent-diffusion limited"}), modes=["LLI [%]"]))
    fit = iws.DataFit(objectives={"storage": objective}, cost=iws.costs.RMSE(),
                      parameters={D_SEI: iws.Parameter(D_SEI, initial_value=5e-19, bounds=(1e-20, 1e-18))})
    with pytest.raises(SpecError) as caught:
        load_pipeline(iws.Pipeline({"fit": fit}).to_config())
    text = str(caught.value)
    assert "elements.fit.objectives.storage: objective 'CalendarAgeing' is not supported" in text
    assert "defines its options (model, modes, simulation_kwargs) but not its data" in text


def test_storage_as_rest_cycles_recovers_the_sei_solvent_diffusivity(tmp_path):
    """What the CalendarAgeing error suggests: ten days at rest, one a cycle, LLI each day (PyBaMM's
    summary variable at 2e-19 m2.s-1), fitted as a CycleAgeing with one Powell line search."""
    model = pybamm.lithium_ion.SPM(options={"SEI": "solvent-diffusion limited"})
    truth = pybamm.ParameterValues("Chen2020")
    truth[D_SEI] = 2e-19
    days = pybamm.Simulation(model, parameter_values=truth, experiment=pybamm.Experiment([("Rest for 24 hours",)] * 10))
    lli = [0.0, *days.solve().summary_variables["Loss of lithium inventory [%]"]]
    data = pd.DataFrame({"Cycle number": range(11), "LLI [%]": lli})
    objective = iws.objectives.CycleAgeing(data=data, options=iws.objectives.CycleAgeingOptions(
        model=model, experiment={"cycles": [[{"type": "rest", "duration": "24 hours"}]] * 10},
        objective_variables=["LLI [%]"]))
    fit = iws.DataFit(objectives={"storage": objective}, cost=iws.costs.RMSE(),
                      parameters={D_SEI: iws.Parameter(D_SEI, initial_value=5e-19, bounds=(1e-20, 1e-18))},
                      optimizer=iws.optimizers.ScipyMinimize(method="Powell", max_iterations=1, options={"xtol": 0.02}))
    info = run_serially(iws.Pipeline({"fit": fit}).to_config(), tmp_path)
    assert info["status"] == "completed", info
    assert info["elements"]["fit"]["summary"]["parameters"][D_SEI] == pytest.approx(2e-19, rel=0.02)
    assert lli[-1] > 1.0  # % of lithium: ten days of SEI growth the fit can see


def test_initial_state_entries_set_the_initial_concentrations(tmp_path):
    """ionworks' InitialVoltage entry sets the concentrations PyBaMM's set_initial_state gives; its
    InitialStateOfCharge and InitialTemperature entries write values sweepfit already reads."""
    config = iws.Pipeline({"v": iws.direct_entries.InitialVoltage(4.0), "t": iws.direct_entries.InitialTemperature(300.0),
                           "b": iws.direct_entries.bruggeman(electrode=1.5, electrolyte=1.5)}).to_config()
    given = run_serially(config, tmp_path)["elements"]["b"]["parameters"]  # every entry's values, accumulated
    assert given["Initial voltage [V]"] == 4.0 and given["Initial temperature [K]"] == 300.0
    expected = pybamm.ParameterValues("Chen2020")
    expected.set_initial_state("4.0 V")
    found = apply(pybamm.ParameterValues("Chen2020"), given)
    for electrode in ("negative", "positive"):
        name = f"Initial concentration in {electrode} electrode [mol.m-3]"
        assert float(found[name]) == pytest.approx(float(expected[name]), rel=1e-9)
    assert found["Separator Bruggeman coefficient (electrolyte)"] == 1.5


def test_per_electrode_model_options_survive_a_json_file(tmp_path):
    """JSON has no tuples: ``{"SEI": ["solvent-diffusion limited", "none"]}`` from a file is PyBaMM's tuple."""
    path = tmp_path / "cycle_ageing.json"
    path.write_text(json.dumps(cycle_ageing()))
    spec = load_pipeline(str(path)).elements["aging"].objectives["aging"]
    assert spec.model.options["SEI"] == ("solvent-diffusion limited", "none")


def test_library_entries_take_ionworks_defaults_and_an_unknown_one_lists_the_library():
    spec = load_pipeline(iws.Pipeline({"t": iws.direct_entries.temperatures(),
                                       "b": iws.direct_entries.bruggeman()}).to_config())  # defaults left out
    assert spec.elements["t"].all_values()["Reference temperature [K]"] == 298.15
    assert spec.elements["b"].all_values()["Separator Bruggeman coefficient (electrolyte)"] == 1.5
    with pytest.raises(SpecError) as caught:
        load_pipeline(iws.Pipeline({"sei": iws.direct_entries.sei_defaults()}).to_config())
    assert ("unknown direct-entry function 'sei_defaults'; valid direct-entry functions: "
            "'arrhenius_butler_volmer_exchange_current_density'") in str(caught.value)


def test_an_msmr_fit_missing_a_species_value_fails_naming_it(tmp_path):
    config = msmr_ocp()
    del config["elements"]["msmr"]["parameters"]["Negative electrode host site ideality factor (3)"]
    info = run_serially_failing(config, tmp_path)
    assert "needs ['Negative electrode host site ideality factor (3)']" in info


def run_serially_failing(config: dict, store: Path) -> str:
    with pytest.raises(Exception) as caught:
        run_serially(config, store)
    return str(caught.value)
