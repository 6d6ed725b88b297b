"""Pipelines written with ionworks-schema (``iws.Pipeline(...).to_config()``) run unmodified."""

from __future__ import annotations

import ionworks_schema as iws
import numpy as np
import pandas as pd
import pybamm
import pytest

from elements.objectives.electrode_balancing import FITTABLE
from elements.synthetic import synthetic_discharge
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import D_N, TRUE, run_serially

P = iws.parameter_estimators
D_TRUE = TRUE[D_N]
NOISE = 1e-3


@pytest.fixture(scope="module")
def discharge() -> pd.DataFrame:
    """10 minutes of a 1C SPM discharge (Chen2020, true diffusivities) with 1 mV noise."""
    return synthetic_discharge(values=TRUE, model="SPM", current=5.0, duration=600.0, step=20.0, noise=NOISE)


def diffusivity(**prior: object) -> iws.transforms.Log10:
    return iws.transforms.Log10(parameter=iws.Parameter(D_N, initial_value=1e-14, bounds=(1e-15, 1e-12), **prior))


def fit_config(data: pd.DataFrame, **fit: object) -> dict:
    objective = iws.objectives.CurrentDriven(data_input=data, options={"model": pybamm.lithium_ion.SPM()})
    parameters = fit.pop("parameters", {D_N: diffusivity()})
    return iws.Pipeline(elements={"fit": iws.DataFit(objectives={"1C": objective}, parameters=parameters, **fit)}).to_config()


def fitted(config: dict, tmp_path) -> dict:
    info = run_serially(config, tmp_path)
    assert info["status"] == "completed", info
    return info["elements"]["fit"]["summary"]


OPTIMIZERS = {
    "ScipyDifferentialEvolution": P.ScipyDifferentialEvolution(max_iterations=4, population_size=4, seed=0),
    "ScipyMinimize": P.ScipyMinimize(method="Nelder-Mead", max_iterations=12),
    "ScipyMinimize(L-BFGS-B)": P.ScipyMinimize(method="L-BFGS-B", max_iterations=12),
    "ScipyLeastSquares": P.ScipyLeastSquares(max_iterations=12),
    "CMAES": P.CMAES(max_iterations=4, population_size=4),
    "PSO": P.PSO(max_iterations=4, population_size=4),
    "XNES": P.XNES(max_iterations=4, population_size=4),
    "AskTellOptimizer(XNES)": P.AskTellOptimizer(method="XNES", max_iterations=4, population_size=4),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_runs_and_improves_on_the_start(name, discharge, tmp_path):
    summary = fitted(fit_config(discharge, optimizer=OPTIMIZERS[name], options={"seed": 1}), tmp_path)
    start = load_pipeline(fit_config(discharge)).elements["fit"]
    [problem] = start.objectives["1C"].build("1C", inputs=(D_N,), existing={}, cost=start.cost, base_dir=tmp_path)
    at_start = problem.cost(problem.solve(np.array([[1e-14]]))[0])
    assert summary["cost"] < at_start
    assert summary["cost"] < 0.01  # volts: the start is ~30 mV off


def test_optimizer_fields_map_to_sweepfit_names(discharge):
    spec = load_pipeline(fit_config(discharge, optimizer=P.CMAES(max_iterations=7, population_size=5, threshold=1e-4),
                                    options={"seed": 3})).elements["fit"]
    assert (spec.optimizer.maxiter, spec.optimizer.popsize, spec.optimizer.ftarget, spec.optimizer.seed) == (7, 5, 1e-4, 3)
    spec = load_pipeline(fit_config(discharge, optimizer=P.ScipyMinimize(method="Powell"),
                                    options={"max_iterations": 9})).elements["fit"]
    assert spec.optimizer.options == {"maxiter": 9}
    assert spec.initial_guess_sampler.seed is None


@pytest.mark.parametrize("cost, expected", [
    (iws.costs.SSE(), "SSE"), (iws.costs.MSE(), "MSE"), (iws.costs.RMSE(), "RMSE"), (iws.costs.MAE(), "MAE"),
    (iws.costs.Max(), "Max"), (iws.costs.GaussianLogLikelihood(sigma={"Voltage [V]": NOISE}), "GaussianLogLikelihood"),
])
def test_every_cost_runs(cost, expected, discharge, tmp_path):
    config = fit_config(discharge, cost=cost, optimizer=P.ScipyMinimize(method="Nelder-Mead", max_iterations=12))
    assert load_pipeline(config).elements["fit"].cost.type == expected
    summary = fitted(config, tmp_path)
    assert abs(np.log10(summary["parameters"][D_N] / D_TRUE)) < 0.5


def test_per_objective_cost_and_inline_data_are_used(discharge, tmp_path):
    config = fit_config(discharge, optimizer=P.ScipyMinimize(method="Nelder-Mead", max_iterations=12))
    config["elements"]["fit"]["objectives"]["1C"]["cost"] = {"type": "SSE"}
    spec = load_pipeline(config).elements["fit"]
    assert spec.objectives["1C"].cost.type == "SSE"
    info = run_serially(config, tmp_path)
    import orchestrator

    trace = orchestrator.open_run(info["run_id"], tmp_path)["fit/traces/1C"].to_dataset()
    residual = (trace["model Voltage [V]"] - trace["data Voltage [V]"]).values
    np.testing.assert_allclose(trace["data Voltage [V]"].values, discharge["Voltage [V]"].values)  # the inline data
    # the fit's cost is the objective's SSE, not the fit's default RMSE
    assert info["elements"]["fit"]["summary"]["cost"] == pytest.approx(np.sum(residual**2), rel=1e-9)


def test_fitted_noise_level_is_estimated(discharge, tmp_path):
    sigma = iws.Parameter("sigma_V", initial_value=0.01, bounds=(1e-4, 0.05))
    config = fit_config(
        discharge, parameters={D_N: diffusivity(), "sigma_V": iws.transforms.Log10(parameter=sigma)},
        cost=iws.costs.GaussianLogLikelihood(sigma={"Voltage [V]": "sigma_V"}),
        optimizer=P.ScipyMinimize(method="Nelder-Mead", max_iterations=80),
    )
    summary = fitted(config, tmp_path)
    assert abs(np.log10(summary["parameters"][D_N] / D_TRUE)) < 0.3
    assert 0.5 * NOISE < summary["parameters"]["sigma_V"] < 2 * NOISE  # the noise the data was made with


def test_a_prior_pulls_the_fit_towards_its_mean(discharge, tmp_path):
    """Only 31 points of 1 mV noise against a prior of 0.05 decades: the posterior mode sits near the prior."""
    far = 3e-13
    prior = iws.stats.LogNormal(mean=float(np.log(far)), std=0.05 * np.log(10))
    run = dict(cost=iws.costs.GaussianLogLikelihood(sigma={"Voltage [V]": 0.05}),
               optimizer=P.ScipyMinimize(method="Nelder-Mead", max_iterations=40))
    free = fitted(fit_config(discharge, **run), tmp_path / "free")["parameters"][D_N]
    with_prior = fitted(fit_config(discharge, parameters={D_N: diffusivity(prior=prior)}, **run), tmp_path / "prior")
    assert abs(np.log10(with_prior["parameters"][D_N] / far)) < abs(np.log10(free / far)) - 0.3
    by_mapping = fit_config(discharge, priors={D_N: iws.priors.Prior(D_N, prior)}, **run)
    assert load_pipeline(by_mapping).elements["fit"].priors[D_N].type == "LogNormal"


def test_initial_guesses_start_the_multistarts(discharge, tmp_path):
    guesses = [{D_N: 2e-14}, {D_N: 5e-14}]
    config = fit_config(discharge, initial_guesses=guesses, multistarts=3, initial_guess_sampler={"type": "Uniform"},
                        optimizer=P.ScipyMinimize(method="Nelder-Mead", max_iterations=3), options={"seed": 0})
    info = run_serially(config, tmp_path)
    import orchestrator

    ds = orchestrator.open_run(info["run_id"], tmp_path)["fit"].to_dataset()
    np.testing.assert_allclose(ds.start_x.values[:2, 0], [2e-14, 5e-14], rtol=1e-12)
    assert ds.sizes["start"] == 3


def test_entry_and_validation(discharge, tmp_path):
    objective = iws.objectives.CurrentDriven(data_input=discharge, options={"model": "SPM"})
    config = iws.Pipeline(elements={
        "known": iws.direct_entries.DirectEntry(parameters={D_N: D_TRUE}, source="paper"),
        "check": iws.Validation(objectives={"1C": objective}, summary_stats=[iws.costs.RMSE(), iws.costs.Max()]),
    }).to_config()
    info = run_serially(config, tmp_path)
    metrics = info["elements"]["check"]["summary"]["metrics"]["1C"]
    assert set(metrics) >= {"RMSE", "Max"} and "MAE" not in metrics
    assert metrics["RMSE"] < 2 * NOISE  # the true values: only the noise is left


def test_electrode_balancing(tmp_path):
    """A C/50 SPM discharge is close to the open-circuit curve: balancing recovers
    electrode's active fraction it was made with."""
    true = {"Positive electrode active material volume fraction": 0.70}
    data = synthetic_discharge(values=true, model="SPM", current=0.1, duration=90000.0, step=1000.0, noise=0.0)
    name = FITTABLE[3]
    fit = iws.DataFit(
        objectives={"ocv": iws.objectives.ElectrodeBalancing(data_input=data)},
        parameters={name: iws.Parameter(name, initial_value=0.6, bounds=(0.5, 0.9))},
        optimizer=P.ScipyMinimize(method="Nelder-Mead", max_iterations=40),
    )
    summary = fitted(iws.Pipeline(elements={"fit": fit}).to_config(), tmp_path)
    assert summary["parameters"][name] == pytest.approx(0.70, abs=0.03)


def test_pulse(tmp_path):
    pybamm_values = pybamm.ParameterValues("Chen2020")
    pybamm_values.update(TRUE)
    experiment = pybamm.Experiment(["Rest for 60 s", "Discharge at 1C for 120 s", "Rest for 120 s"], period="10 s")
    solution = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=pybamm_values,
                                 experiment=experiment).solve()
    data = pd.DataFrame({"Time [s]": solution["Time [s]"].entries, "Current [A]": solution["Current [A]"].entries,
                         "Voltage [V]": solution["Voltage [V]"].entries}).drop_duplicates("Time [s]")
    fit = iws.DataFit(objectives={"gitt": iws.objectives.Pulse(data_input=data, options={"model": pybamm.lithium_ion.SPM()})},
                      parameters={D_N: diffusivity()}, optimizer=P.ScipyMinimize(method="Nelder-Mead", max_iterations=20))
    summary = fitted(iws.Pipeline(elements={"fit": fit}).to_config(), tmp_path)
    assert summary["cost"] < 0.002


def test_eis(tmp_path):
    from elements.eis.circuits import Circuit

    frequency = np.logspace(-1, 4, 30)
    z = np.asarray(Circuit("R0-p(R1,C1)").impedance([0.01, 0.02, 5.0], frequency))
    data = pd.DataFrame({"Frequency [Hz]": frequency, "Z_real [Ohm]": z.real, "Z_imag [Ohm]": z.imag})
    parameters = {"R0": (0.001, 0.1), "R1": (0.001, 0.1), "C1": (0.1, 50.0)}
    fit = iws.DataFit(
        objectives={"eis": iws.objectives.EIS(data_input=data, options={"model": "R0-p(R1,C1)"})},
        parameters={n: iws.transforms.Log10(parameter=iws.Parameter(n, bounds=b)) for n, b in parameters.items()},
        optimizer=P.CMAES(max_iterations=60, population_size=8), options={"seed": 0},
    )
    summary = fitted(iws.Pipeline(elements={"fit": fit}).to_config(), tmp_path)
    assert summary["parameters"]["R1"] == pytest.approx(0.02, rel=0.05)


def problems(config: dict) -> str:
    with pytest.raises(SpecError) as caught:
        load_pipeline(config)
    return str(caught.value)


@pytest.mark.parametrize("fit, expected", [
    ({"optimizer": P.GridSearch(npts=3)}, "unknown optimizer 'GridSearch'; valid optimizers: 'CMAES'"),
    ({"cost": iws.costs.Wasserstein()}, "unknown cost 'Wasserstein'; valid costs: 'GaussianLogLikelihood'"),
    ({"cost": iws.costs.RMSE(variable_weights={"Voltage [V]": 2.0})}, "variable_weights: give the objective's variables"),
    ({"options": {"maxtime": 60}}, "maxtime 60.0: sweepfit has no wall-time limit"),
    ({"parameters": {D_N: iws.transforms.Log(parameter=iws.Parameter(D_N, bounds=(1e-15, 1e-12)))}},
     "unknown transform 'Log'; valid transforms: 'Identity', 'Log10'"),
    ({"parameters": {D_N: diffusivity(prior=iws.stats.PointMass(value=1e-14))}}, "unknown prior 'PointMass'"),
])
def test_unsupported_fit_fields_are_errors_naming_them(fit, expected, discharge):
    assert expected in problems(fit_config(discharge, **fit))


def test_unsupported_kinds_are_errors_listing_the_supported(discharge):
    half_cell = iws.objectives.ElectrodeBalancingHalfCell(electrode="positive", data_input="file:half.csv")
    fit = iws.DataFit(objectives={"half": half_cell}, parameters={D_N: diffusivity()})
    assert ("unknown objective 'ElectrodeBalancingHalfCell'; valid objectives: 'CurrentDriven', 'CycleAgeing', 'EIS'"
            in problems(iws.Pipeline(elements={"fit": fit}).to_config()))
    calculation = iws.Pipeline(elements={"soc": iws.calculations.InitialSOC(soc=0.5)}).to_config()
    assert "unknown calculation 'InitialSOC'; valid calculations: 'ECMTables', 'HPPCTables', 'InitialState'" in problems(calculation)


def test_unsupported_models_are_errors(discharge):
    mpm = fit_config(discharge)
    mpm["elements"]["fit"]["objectives"]["1C"]["options"]["model"]["type"] = "MPM"
    assert "unknown model 'MPM'; valid models: 'DFN', 'ECM', 'SPM', 'SPMe'" in problems(mpm)
    model = pybamm.equivalent_circuit.Thevenin(options={"diffusion element": "true"})
    thevenin = iws.objectives.CurrentDriven(data_input=discharge, options={"model": model})
    config = iws.Pipeline(elements={"fit": iws.DataFit(objectives={"1C": thevenin}, parameters={"R0 [Ohm]": diffusivity()})})
    assert "Thevenin option(s) {'diffusion element': 'true'} are not supported" in problems(config.to_config())
    lead_acid = fit_config(discharge)
    lead_acid["elements"]["fit"]["objectives"]["1C"]["options"]["model"] = {"type": "LOQS", "module": "lead_acid"}
    assert "from pybamm.lead_acid: sweepfit has the pybamm.lithium_ion models" in problems(lead_acid)
    eis = iws.objectives.EIS(data_input=discharge, options={"model": pybamm.lithium_ion.SPM()})
    config = iws.Pipeline(elements={"fit": iws.DataFit(objectives={"eis": eis}, parameters={"R0": diffusivity()})})
    assert "unknown parameter of Chen2020 'R0'" in problems(config.to_config())  # a model's EIS: its parameters


def test_ocp_from_half_cell_data_and_an_ocp_half_cell_fit_from_ionworks_schema(tmp_path):
    """iws's OCPDataInterpolant feeds the positive OCP table (of a cathode 30 mV above Chen2020's) to an
    OCPHalfCell fit of its stoichiometry scale."""
    u_p = "Positive electrode OCP [V]"
    values = pybamm.ParameterValues("Chen2020")
    rng = np.random.default_rng(3)

    def ocp(x: np.ndarray) -> np.ndarray:
        return np.asarray(values.evaluate(values[u_p](pybamm.Vector(x))), dtype=float).ravel() + 0.03

    x = np.sort(rng.uniform(0.02, 0.98, 400))
    table = pd.DataFrame({"Stoichiometry": x, "Voltage [V]": ocp(x) + rng.normal(0, 1e-3, len(x))})
    s = np.linspace(0.0, 1.0, 200)
    measured = pd.DataFrame({"Stoichiometry": s, "Voltage [V]": ocp(0.1 + 0.8 * s) + rng.normal(0, 1e-3, len(s))})
    offset, scale = "Positive electrode OCP stoichiometry offset", "Positive electrode OCP stoichiometry scale"
    fit = iws.DataFit(
        objectives={"nmc": iws.objectives.OCPHalfCell(electrode="positive", data_input=measured)},
        parameters={offset: iws.Parameter(offset, initial_value=0.05, bounds=(0.0, 0.2)),
                    scale: iws.Parameter(scale, initial_value=0.9, bounds=(0.6, 1.0))},
        optimizer=P.ScipyMinimize(method="Nelder-Mead", max_iterations=300),
    )
    config = iws.Pipeline(elements={
        "ocp": iws.calculations.OCPDataInterpolant(electrode="positive", data=table), "fit": fit}).to_config()
    info = run_serially(config, tmp_path)
    assert info["status"] == "completed", info
    assert info["elements"]["ocp"]["parameters"][u_p]["x"]  # a table, passed downstream
    found = info["elements"]["fit"]["summary"]["parameters"]
    assert found[offset] == pytest.approx(0.1, abs=0.01) and found[scale] == pytest.approx(0.8, abs=0.01)
    assert info["elements"]["fit"]["summary"]["cost"] < 3e-3  # Chen2020's own OCP would leave ~30 mV
