"""How sure a fit is: never worse than its start, convergence it reports, linear confidence intervals
and Sobol' indices."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import orchestrator
from elements.element import Context, serial_map
from elements.fit.driver import optimize
from elements.fit.evaluation import build
from elements.linear_confidence_interval import ConfidenceSpec, covariance, interval_dataset, jacobian
from elements.optimizers import OPTIMIZERS
from elements.sobol_sensitivity import indices
from orchestrator.cli import app
from tests.conftest import D_N, D_P, TRUE, run_serially

PARAMETERS = {D_N: {"bounds": [1e-15, 1e-12], "transform": "log10"},
              D_P: {"bounds": [1e-16, 1e-13], "transform": "log10"}}


def discharge(folder: Path, name: str, values: dict[str, float], noise: float = 0.0, seed: int = 0) -> Path:
    from elements.synthetic import synthetic_discharge

    path = folder / f"{name}.csv"
    synthetic_discharge(values=values, current=5.0, duration=600.0, noise=noise, seed=seed).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def noisy_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return discharge(tmp_path_factory.mktemp("data"), "noisy", TRUE, noise=0.002)


def objective(data: object) -> dict:
    return {"type": "CurrentDriven", "model": {"type": "SPMe"}, "data": data}


def confidence_spec(data: object, **options: object) -> ConfidenceSpec:
    return ConfidenceSpec.model_validate({"element_type": "linear_confidence_interval",
                                          "objectives": {"1C": objective(data)}, "parameters": PARAMETERS, **options})


def test_linear_intervals_cover_the_truth_at_their_confidence_level(noisy_csv):
    """40 noise seeds of 2 mV on the same discharge: each fitted by least squares, each 95 % interval
    of both diffusivities taken; both must hold the truth in at least 90 % of the seeds."""
    import pandas as pd

    spec = confidence_spec(pd.read_csv(noisy_csv))
    names = tuple(spec.parameters)
    params = [spec.parameters[n] for n in names]
    [built] = build(spec, names, Context(name="ci"))
    clean = built.solve(np.array([[TRUE[D_N], TRUE[D_P]]]))[0].value["Voltage [V]"]
    truth = np.array([p.to_search(TRUE[n]) for n, p in zip(names, params)])
    covered = 0
    for seed in range(40):
        noisy = clean + np.random.default_rng(seed).normal(0, 0.002, len(clean))
        one = dataclasses.replace(built, data={"Voltage [V]": noisy})  # same built model, new noise
        fitted = optimize(OPTIMIZERS["ScipyLeastSquares"](), [one], params, truth, mapper=lambda label: serial_map,
                          n_chunks=1)
        y = np.array([p.to_search(v) for p, v in zip(params, fitted.best_x[-1])])
        ds = interval_dataset(spec, params, y, *covariance(spec, [one], params, y))
        covered += all(ds["lower"].values[i] <= TRUE[n] <= ds["upper"].values[i] for i, n in enumerate(names))
        assert ds["sigma"].values[0] == pytest.approx(0.002, rel=0.3)  # the noise, estimated from the residuals
    assert covered >= 36, covered


def test_the_jacobian_from_sensitivities_equals_central_differences(noisy_csv):
    import pandas as pd

    spec = confidence_spec(pd.read_csv(noisy_csv))
    names = tuple(spec.parameters)
    params = [spec.parameters[n] for n in names]
    [built] = build(spec, names, Context(name="ci"))
    y = np.array([p.to_search(TRUE[n]) for n, p in zip(names, params)])
    r, exact, how = jacobian([built], params, y, 1e-4)
    assert how == "sensitivities"
    _, J, how = jacobian([_NoSensitivities(built)], params, y, 1e-4)
    assert how == "central differences"
    np.testing.assert_allclose(J["1C: Voltage [V]"], exact["1C: Voltage [V]"], rtol=2e-2, atol=1e-4)


@dataclasses.dataclass(frozen=True, eq=False)
class _NoSensitivities:
    """An objective that solves like ``inner`` but offers no sensitivities."""

    inner: object
    has_gradient: bool = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_a_confidence_interval_after_a_fit_in_a_pipeline(noisy_csv, tmp_path):
    import ionworks_schema as iws

    ci = iws.LinearConfidenceInterval(
        objectives={"1C": iws.objectives.CurrentDriven(data_input=f"file:{noisy_csv}", options={"model": {"type": "SPMe"}})},
        parameters={n: iws.transforms.Log10(parameter=iws.Parameter(n, initial_value=TRUE[n] * 2, bounds=tuple(b["bounds"])))
                    for n, b in PARAMETERS.items()})
    config = iws.Pipeline(elements={"ci": ci}).to_config()
    fit = {"element_type": "data_fit", "objectives": {"1C": objective(f"file:{noisy_csv}")},
           "parameters": PARAMETERS, "optimizer": {"type": "ScipyLeastSquares"}}
    pipeline = {"elements": {"fit": fit, **config["elements"]}}  # ionworks' element, unmodified, after a fit
    info = run_serially(pipeline, tmp_path)
    assert info["status"] == "completed", info
    ds = orchestrator.open_run(info["run_id"], tmp_path)["ci"].to_dataset()
    fitted = info["elements"]["fit"]["summary"]["parameters"]
    np.testing.assert_allclose(ds["value"].values, [fitted[D_N], fitted[D_P]])  # at the fit's point, not the guess
    assert (ds["lower"] < ds["value"]).all() and (ds["value"] < ds["upper"]).all()
    assert ds["correlation"].sel(parameter=D_N, parameter_2=D_N) == pytest.approx(1.0)
    assert ds.attrs["jacobian"] == "sensitivities" and ds["units"].values[0] == "m2.s-1"
    metrics = info["elements"]["ci"]["summary"]["metrics"]
    assert metrics[D_P]["lower"] == pytest.approx(float(ds["lower"].sel(parameter=D_P)))


def test_the_full_hessian_agrees_with_gauss_newton_at_a_good_fit(noisy_csv):
    import pandas as pd

    frame = pd.read_csv(noisy_csv)
    names = tuple(PARAMETERS)
    found = []
    for gauss_newton in (True, False):
        spec = confidence_spec(frame, gauss_newton=gauss_newton)
        params = [spec.parameters[n] for n in names]
        objectives = build(spec, names, Context(name="ci"))
        y0 = np.array([p.to_search(TRUE[n]) for n, p in zip(names, params)])
        fitted = optimize(OPTIMIZERS["ScipyLeastSquares"](), objectives, params, y0, mapper=lambda label: serial_map,
                          n_chunks=1)
        y = np.array([p.to_search(v) for p, v in zip(params, fitted.best_x[-1])])
        found.append(np.sqrt(np.diag(covariance(spec, objectives, params, y)[0])))
    np.testing.assert_allclose(found[1], found[0], rtol=0.2)


def test_sobol_indices_of_the_ishigami_function_are_its_analytic_values():
    from SALib.test_functions import Ishigami

    a, b = 7.0, 0.1  # Ishigami's analytic variances (Sobol' & Levitan 1999)
    v1 = 0.5 * (1 + b * np.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * np.pi**8 * (1 / 18 - 1 / 50)
    total = v1 + v2 + v13
    calls: list[int] = []

    def f(X: np.ndarray) -> np.ndarray:
        calls.append(len(X))
        return np.column_stack([Ishigami.evaluate(X), Ishigami.evaluate(X) + 1.0])

    ds = indices(f, [(-np.pi, np.pi)] * 3, ["x1", "x2", "x3"], ["f", "f + 1"], n_samples=2048, seed=2,
                 second_order=True, n_chunks=4)
    assert len(calls) == 4 and sum(calls) == 2048 * (2 * 3 + 2)
    np.testing.assert_allclose(ds["S1"].sel(output="f"), [v1 / total, v2 / total, 0.0], atol=0.05)
    np.testing.assert_allclose(ds["ST"].sel(output="f"), [(v1 + v13) / total, v2 / total, v13 / total], atol=0.05)
    assert float(ds["S2"].sel(output="f", parameter="x1", parameter_2="x3")) == pytest.approx(v13 / total, abs=0.05)
    np.testing.assert_allclose(ds["S1"].sel(output="f + 1"), ds["S1"].sel(output="f"))  # a shift changes nothing


def test_sobol_element_from_ionworks_config(noisy_csv, tmp_path):
    import ionworks_schema as iws

    sobol = iws.SobolSensitivity(
        objectives={"1C": iws.objectives.CurrentDriven(data_input=f"file:{noisy_csv}", options={"model": {"type": "SPMe"}})},
        parameters={n: iws.Parameter(n, initial_value=TRUE[n], bounds=tuple(b["bounds"])) for n, b in PARAMETERS.items()},
        n_samples=16, use_log_transform=True)
    info = run_serially(iws.Pipeline(elements={"sobol": sobol}).to_config(), tmp_path)
    assert info["status"] == "completed", info
    ds = orchestrator.open_run(info["run_id"], tmp_path)["sobol"].to_dataset()
    assert ds.attrs["evaluations"] == 16 * 4 and ds.sizes["sample"] == 64
    x = ds["x"].values  # drawn in log10 of the bounds, stored in the parameters' units
    assert (x[:, 0] >= 1e-15).all() and (x[:, 0] <= 1e-12).all() and np.median(x[:, 0]) < 1e-13
    assert (ds["ST"] >= 0).all() and ds.sizes["output"] == 1


def fit_two(cells: dict[str, Path], **element: object) -> dict:
    return {"elements": {"fit": {
        "element_type": "data_fit",
        "objectives": {name: {**objective(f"file:{path}"), "weight": 2.0 if name == "heavy" else 1.0}
                       for name, path in cells.items()},
        "parameters": {D_N: {"bounds": [10**-15.5, 1e-12], "transform": "log10", "initial_value": 3e-15}},
        **element,
    }}}


def test_a_refinement_that_cannot_improve_returns_its_start_and_says_so(tmp_path):
    # Two discharges that disagree on D_n, weighted 2:1: the summed RMSE is lowest at the heavy one's
    # value (3e-15), where least squares starts; least squares minimises the summed mean squares,
    # whose minimum lies elsewhere, so it walks away to a worse point by the fit's own cost.
    cells = {"heavy": discharge(tmp_path, "heavy", {**TRUE, D_N: 3e-15}),
             "light": discharge(tmp_path, "light", {**TRUE, D_N: 3.3e-14})}
    info = run_serially(fit_two(cells, optimizer={"type": "ScipyLeastSquares"}), tmp_path / "store")
    summary = info["elements"]["fit"]["summary"]
    ds = orchestrator.open_run(info["run_id"], tmp_path / "store")["fit"].to_dataset()
    assert float(ds["optimizer_cost"]) > float(ds["best_cost"])
    assert summary["parameters"][D_N] == pytest.approx(3e-15)  # its start, the best point it evaluated
    assert summary["cost"] == pytest.approx(float(ds["cost"][0]))
    assert any("worse than its start" in n for n in summary["notes"])
    assert any("not the fit's RMSE over 2 objective(s)" in n for n in summary["notes"])


def test_a_fit_stopped_by_its_budget_reads_not_converged(noisy_csv, tmp_path):
    spec = {"elements": {"fit": {"element_type": "data_fit", "objectives": {"1C": objective(f"file:{noisy_csv}")},
                                 "parameters": PARAMETERS,
                                 "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 2,
                                               "maxiter": 2}}}}
    info = run_serially(spec, tmp_path)
    done = CliRunner().invoke(app, ["result", info["run_id"], "--store", str(tmp_path), "--json"])
    summary = json.loads(done.output)["elements"]["fit"]["summary"]
    assert summary["converged"] is False and "Maximum number of iterations" in summary["stopped"]
    text = CliRunner().invoke(app, ["result", info["run_id"], "--store", str(tmp_path)]).output
    assert "NOT converged: Maximum number of iterations" in text
    ds = orchestrator.open_run(info["run_id"], tmp_path)["fit"].to_dataset()
    assert ds.attrs["converged"] == 0 or ds.attrs["converged"] is False


# A Gaussian posterior in search space: -log p = ((y - MU) / SD)**2 / 2.
MU, SD = np.array([0.3, -0.5]), np.array([0.05, 0.1])


def gaussian(Y: np.ndarray) -> np.ndarray:
    return 0.5 * (((np.atleast_2d(Y) - MU) / SD) ** 2).sum(axis=1)


def gaussian_gradient(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return gaussian(Y), (np.atleast_2d(Y) - MU) / SD**2


@pytest.mark.parametrize(("name", "options"), [
    ("EmceeSampler", {"steps": 2000, "walkers": 16}),
    ("PintsSampler", {"method": "DifferentialEvolutionMCMC", "max_iterations": 1500}),
    ("PintsSampler", {"method": "NoUTurnMCMC", "max_iterations": 600}),
], ids=["emcee", "pints-population", "pints-gradient"])
def test_samplers_draw_a_known_posterior(name, options):
    from elements.core.problem import FitProblem

    populations: list[int] = []

    def cost(Y: np.ndarray) -> np.ndarray:
        populations.append(len(Y))
        return gaussian(Y)

    problem = FitProblem.of(cost, [(-1.0, 1.0), (-2.0, 2.0)], value_and_grad=gaussian_gradient)
    result = OPTIMIZERS[name](seed=0, **options).minimize(problem, x0=None)
    kept = result.chains.kept.reshape(-1, 2)
    error = SD / np.sqrt(result.ess)  # the Monte Carlo error of each mean
    assert np.all(np.abs(kept.mean(axis=0) - MU) < 4 * error), (kept.mean(axis=0), error)
    np.testing.assert_allclose(kept.std(axis=0), SD, rtol=0.2)
    assert result.success and np.all(result.rhat < 1.05), result.message
    if populations:  # every step's proposals of all chains or walkers in one call
        assert max(populations) >= 4


def test_a_sampler_needs_a_likelihood_and_names_what_is_valid(noisy_csv):
    from orchestrator.spec import SpecError, load_pipeline

    fit = {"element_type": "data_fit", "objectives": {"1C": objective(f"file:{noisy_csv}")}, "parameters": PARAMETERS,
           "sampler": {"type": "EmceeSampler"}}
    with pytest.raises(SpecError, match="the cost must be a negative log-likelihood, not RMSE"):
        load_pipeline({"elements": {"fit": fit}})
    fit = {**fit, "cost": {"type": "GaussianLogLikelihood", "sigma": {"Voltage [V]": 0.002}},
           "sampler": {"type": "PintsSampler", "method": "HaarioBardenet"}}
    with pytest.raises(SpecError, match="unknown pints MCMC method 'HaarioBardenet'.*Did you mean 'HaarioBardenetACMC'"):
        load_pipeline({"elements": {"fit": fit}})


def test_sampling_agrees_with_the_linear_and_profile_intervals_and_resumes(noisy_csv, tmp_path):
    """A well-identified parameter (the positive diffusivity, 2 mV of known noise): the posterior's mean and
    standard deviation, the linear interval and the profile interval agree within 20 %; the sampler,
    written by ionworks-schema, runs unmodified; a rerun replays its journal and draws the same chains."""
    import ionworks_schema as iws

    sigma = {"Voltage [V]": 0.002}
    one = {D_P: PARAMETERS[D_P]}
    likelihood = {"type": "GaussianLogLikelihood", "sigma": sigma}
    data = f"file:{noisy_csv}"
    sampler = iws.DataFit(
        objectives={"1C": iws.objectives.CurrentDriven(data_input=data, options={"model": {"type": "SPMe"}})},
        parameters={D_P: iws.transforms.Log10(parameter=iws.Parameter(D_P, bounds=(1e-16, 1e-13)))},
        cost=iws.costs.GaussianLogLikelihood(sigma=sigma),
        optimizer=iws.parameter_estimators.PintsSampler(method="DifferentialEvolutionMCMC", max_iterations=400))
    pipeline = {"elements": {
        "fit": {"element_type": "data_fit", "objectives": {"1C": objective(data)}, "parameters": one,
                "cost": likelihood, "optimizer": {"type": "ScipyMinimize"}},
        "linear": {"element_type": "linear_confidence_interval", "objectives": {"1C": objective(data)},
                   "parameters": one, "variable_standard_deviations": sigma},
        "profile": {"element_type": "profile_likelihood", "objectives": {"1C": objective(data)}, "parameters": one,
                    "variable_standard_deviations": sigma, "points": 7},
        **{"posterior": {**iws.Pipeline(elements={"s": sampler}).to_config()["elements"]["s"]}},
    }}
    info = run_serially(pipeline, tmp_path / "store")
    assert info["status"] == "completed", info
    tree = orchestrator.open_run(info["run_id"], tmp_path / "store")
    linear, profile, posterior = (tree[k].to_dataset() for k in ("linear", "profile", "posterior"))
    draws = np.log10(posterior["chain"].values[int(posterior["burnin"]):].ravel())
    sd = float(linear["search_sd"][0])
    assert draws.std() == pytest.approx(sd, rel=0.2)
    assert abs(draws.mean() - float(linear["search_value"][0])) < 0.2 * sd
    width = np.log10(linear["upper"].values / linear["lower"].values)
    np.testing.assert_allclose(np.log10(profile["upper"].values / profile["lower"].values), width, rtol=0.2)
    summary = info["elements"]["posterior"]["summary"]
    assert set(summary["metrics"][D_P]) == {"mean", "sd", "2.5%", "97.5%", "R-hat", "ESS"}
    assert summary["converged"] is (float(posterior["rhat"][0]) < 1.05)
    # sweepfit plot draws the profile (its threshold line) and the posterior (every kept sample in the histogram)
    from orchestrator.figures import element_figures

    [drawn] = element_figures(info["run_id"], "profile", store=tmp_path / "store")["profiles"].axes
    assert drawn.get_lines()[0].get_ydata().tolist() == pytest.approx(profile["profile"].values[0].tolist())
    histogram = element_figures(info["run_id"], "posterior", store=tmp_path / "store")["posterior"].axes[0]
    assert sum(bar.get_height() for bar in histogram.patches) == draws.size


def test_a_sampler_killed_midway_resumes_from_its_journal(tmp_path):
    """Its proposals are journaled as they are evaluated: run again over the journal, the sampler
    replays every stored population (no evaluation) and draws the same chains."""
    from elements.fit.journal import Journal, folder
    from elements.priors import Normal, PriorTerm
    from elements.schema import ParameterSpec

    posterior = [PriorTerm({0: Normal(mean=0.3, std=0.05), 1: Normal(mean=-0.5, std=0.1)}, ("a", "b"))]
    params = [ParameterSpec(bounds=[-1.0, 1.0]), ParameterSpec(bounds=[-2.0, 2.0])]
    calls: list[int] = []

    def counted(label: str):
        def fan_out(func, items):
            items = list(items)
            calls.append(len(items))
            return [func(item) for item in items]
        return fan_out

    def sample() -> object:
        journal = Journal(folder(tmp_path, "posterior"), "problem")
        try:
            return optimize(OPTIMIZERS["EmceeSampler"](steps=60, seed=5), posterior, params, None, mapper=counted,
                            n_chunks=2, journal=journal)
        finally:
            journal.close()

    first = sample()
    assert len(calls) == 2 * 60 + 1  # the start, then two half-ensembles a step
    calls.clear()
    again = sample()
    assert calls == []
    np.testing.assert_array_equal(again.result.chains.samples, first.result.chains.samples)
