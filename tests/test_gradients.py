"""Exact gradients from IDAKLU's forward sensitivities, and the optimizers that use them.

Fits recover the two particle diffusivities from a noise-free 10-minute SPM discharge, so the truth
is the cost's minimum (up to the solver's tolerance) and "within 1 %" measures the optimizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.config
import numpy as np
import pytest
from scipy.optimize import OptimizeResult

import orchestrator
from elements.core.problem import FitProblem
from elements.element import serial_map
from elements.fit.driver import optimize
from elements.fit.evaluation import natural
from elements.optimizers import Optimizer
from elements.optimizers.scipy_minimize import ScipyMinimize
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import D_N, D_P, TRUE, run_serially

C_N = "Initial concentration in negative electrode [mol.m-3]"  # Chen2020's maximum is 33133
# D_P before D_N: PyBaMM returns sensitivities sorted by name, the fit keeps its own order.
BOUNDS = {D_P: [1e-16, 1e-13], D_N: [1e-15, 1e-12]}


@pytest.fixture(scope="module")
def clean_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from elements.synthetic import synthetic_discharge

    path = tmp_path_factory.mktemp("data") / "clean.csv"
    synthetic_discharge(values=TRUE, model="SPM", current=5.0, duration=600.0, noise=0.0).to_csv(path, index=False)
    return path


def fit(data: Path, optimizer: dict, parameters: dict | None = None, **objective: object) -> dict:
    return {"elements": {"fit": {
        "element_type": "data_fit",
        "objectives": {"1C": {"objective": "CurrentDriven", "model": {"type": "SPM"}, "data": f"file:{data}",
                              **objective}},
        "parameters": parameters or {n: {"bounds": b, "transform": "log10"} for n, b in BOUNDS.items()},
        "optimizer": optimizer,
    }}}


def fitted(spec: dict, store: Path) -> tuple[dict, object]:
    info = run_serially(spec, store)
    return info, orchestrator.open_run(info["run_id"], store)["fit"].to_dataset()


class Probe(Optimizer):
    """Evaluates the fit's search-space gradient at one point and its central differences."""

    type: str = "Probe"
    y: list[float]
    h: float
    found: Any = None

    def minimize(self, problem, *, x0):
        y = np.array(self.y)
        costs, gradients = problem.value_and_grad(y[None, :])
        stencil = np.vstack([y + self.h * np.eye(len(y)), y - self.h * np.eye(len(y))])
        # the differences of the function the optimizer minimises: costs of solves with sensitivities
        around, _ = problem.value_and_grad(stencil)
        plain = problem.cost(y[None, :])
        d = len(y)
        self.found = (costs[0], gradients[0], (around[:d] - around[d:]) / (2 * self.h), plain[0])
        return OptimizeResult(x=y, fun=costs[0], nit=1, success=True, message="probed")


@pytest.mark.parametrize(("cost", "rtol"), [("RMSE", 1e-6), ("SSE", 1e-6), ("MAE", 1e-6), ("RMSE", 1e-4)])
def test_sensitivity_gradient_matches_central_differences(clean_csv, cost, rtol):
    with dask.config.set({"sweepfit.solve.rtol": rtol, "sweepfit.solve.atol": rtol / 100}):
        check_gradient(clean_csv, cost, agree=1e-4 if rtol < 1e-4 else 1e-3)


def check_gradient(clean_csv: Path, cost: str, agree: float) -> None:
    """Both the sensitivities and the differences carry the solver's error: with PyBaMM's default
    tolerances (rtol 1e-4) they agree to 2.4e-4 here, with rtol 1e-6 to 1e-6."""
    pipeline = fit(clean_csv, {"type": "ScipyMinimize"})
    pipeline["elements"]["fit"]["cost"] = cost
    spec = load_pipeline(pipeline).elements["fit"]
    params = list(spec.parameters.values())
    [objective] = spec.objectives["1C"].build("1C", inputs=tuple(BOUNDS), existing={}, cost=spec.cost,
                                              base_dir=clean_csv.parent)
    # away from the truth, so the cost and its gradient are far from zero; the step (in log10) lies
    # where central differences agree to 6 digits from 1e-3 down to 1e-6
    probe = Probe(y=[np.log10(6e-15), np.log10(2e-14)], h=1e-4)
    run = optimize(probe, [objective], params, None, mapper=lambda label: serial_map, n_chunks=1)
    value, gradient, differences, plain = probe.found
    assert value > 0 and np.all(np.abs(gradient) > 1e-3)
    np.testing.assert_allclose(gradient, differences, rtol=agree)
    assert value == pytest.approx(plain, rel=1e-4)  # the same cost as a solve without sensitivities
    # every evaluation is recorded; the gradient where one was taken, NaN elsewhere
    assert len(run.x) == 1 + 4 + 1
    np.testing.assert_allclose(run.gradient[0], gradient)
    assert np.isnan(run.gradient[-1]).all() and not np.isnan(run.gradient[:-1]).any()
    np.testing.assert_allclose(run.x[0], natural(params, np.array(probe.y))[0])


def test_a_priors_gradient_joins_the_sensitivity_gradient(clean_csv):
    from elements.priors import LogNormal, Normal, PriorTerm

    pipeline = fit(clean_csv, {"type": "ScipyMinimize"})
    spec = load_pipeline(pipeline).elements["fit"]
    params = list(spec.parameters.values())
    [objective] = spec.objectives["1C"].build("1C", inputs=tuple(BOUNDS), existing={}, cost=spec.cost,
                                              base_dir=clean_csv.parent)
    # priors in each parameter's own units: the chain rule through log10 is the fit's, as for the model
    priors = PriorTerm({0: LogNormal(mean=np.log(3e-15), std=0.5), 1: Normal(mean=1e-14, std=1e-14)},
                       tuple(BOUNDS))
    probe = Probe(y=[np.log10(6e-15), np.log10(2e-14)], h=1e-4)
    with dask.config.set({"sweepfit.solve.rtol": 1e-6, "sweepfit.solve.atol": 1e-8}):
        optimize(probe, [objective, priors], params, None, mapper=lambda label: serial_map, n_chunks=1)
        alone = Probe(y=probe.y, h=probe.h)
        optimize(alone, [objective], params, None, mapper=lambda label: serial_map, n_chunks=1)
    value, gradient, differences, plain = probe.found
    np.testing.assert_allclose(gradient, differences, rtol=1e-4)
    assert value == pytest.approx(plain, rel=1e-4)
    assert np.all(np.abs(gradient - alone.found[1]) > 1e-3)  # the prior moved the gradient


def test_least_squares_refuses_priors_that_are_not_a_sum_of_squares(clean_csv):
    pipeline = fit(clean_csv, {"type": "ScipyLeastSquares"})
    pipeline["elements"]["fit"]["priors"] = {D_N: {"type": "Uniform", "lb": 1e-14, "ub": 1e-13}}
    with pytest.raises(SpecError, match="Uniform priors are not a sum of squares"):
        load_pipeline(pipeline)


def test_lbfgsb_with_sensitivities_reaches_the_truth_in_few_solves(clean_csv, tmp_path):
    info, ds = fitted(fit(clean_csv, {"type": "ScipyMinimize", "method": "L-BFGS-B"}), tmp_path)
    summary = info["elements"]["fit"]["summary"]
    for name in BOUNDS:
        assert summary["parameters"][name] == pytest.approx(TRUE[name], rel=0.01)
    # sensitivities are the default: one solve per evaluation, each with its gradient
    assert ds.sizes["evaluation"] == summary["evaluations"] < 60
    assert not np.isnan(ds.gradient.values).any() and (ds.status == "ok").all()
    assert ds.gradient.dims == ("evaluation", "parameter")


def test_least_squares_reaches_the_truth_in_few_solves(clean_csv, tmp_path):
    info, ds = fitted(fit(clean_csv, {"type": "ScipyLeastSquares", "options": {"max_nfev": 50}}), tmp_path)
    summary = info["elements"]["fit"]["summary"]
    for name in BOUNDS:
        assert summary["parameters"][name] == pytest.approx(TRUE[name], rel=0.01)
    assert ds.sizes["evaluation"] < 60 and not np.isnan(ds.gradient.values).any()
    # the recorded cost is the fit's own (RMSE), the best of the evaluations
    assert float(ds.best_cost) == pytest.approx(float(ds.cost.min()))
    assert float(ds.best_cost) < 1e-4


@pytest.mark.parametrize("optimizer", [{"type": "ScipyMinimize", "method": "L-BFGS-B"}, {"type": "ScipyLeastSquares"}],
                         ids=lambda o: o["type"])
def test_a_gradient_fit_whose_every_solve_failed_ends_failed(clean_csv, tmp_path, optimizer):
    # an initial concentration above the electrode's maximum has no consistent initial state: the
    # gradient methods stop at the start, so nothing solved and there is no fitted value to report
    from elements.data_fit import FitFailed

    parameters = {D_N: {"bounds": [1e-15, 1e-12], "transform": "log10", "initial_value": 3.3e-14},
                  C_N: {"bounds": [20000, 40000], "initial_value": 38000}}
    with pytest.raises(FitFailed, match=r"all \d+ evaluations failed; \d+ of them: .*non-positive at initial conditions"):
        run_serially(fit(clean_csv, optimizer, parameters), tmp_path)


def test_gradient_options_are_checked(clean_csv):
    cases = [
        ({"type": "ScipyMinimize", "gradient": "sensitivities", "step": 1e-4}, "step means nothing"),
        ({"type": "ScipyMinimize", "gradient": "adjoint"}, "optimizer.gradient"),
        ({"type": "ScipyLeastSquares", "method": "lm"}, "'lm' (MINPACK's Levenberg-Marquardt) takes no bounds"),
        ({"type": "ScipyLeastSquares", "options": {"ftoll": 1e-6}}, "Did you mean 'ftol'"),
        ({"type": "ScipyLeastSquares", "options": {"diff_step": 1e-3}}, "the Jacobian comes from IDAKLU's sensitivities"),
        ({"type": "ScipyLeastSquares", "options": {"loss": "l1"}}, "`loss` must be one of"),
    ]
    for optimizer, named in cases:
        with pytest.raises(SpecError) as raised:
            load_pipeline(fit(clean_csv, optimizer))
        assert named in str(raised.value) and "elements.fit.optimizer" in str(raised.value)


def test_objectives_without_sensitivities_say_so(clean_csv, tmp_path):
    spec = fit(clean_csv, {"type": "ScipyLeastSquares"}, type="Experiment",
               experiment=["Discharge at 5 A for 600 seconds"])
    spec["elements"]["fit"]["objectives"]["1C"].pop("objective")
    with pytest.raises(SpecError, match=r"elements.fit: optimizer: ScipyLeastSquares needs .* '1C' give no sensitivities"):
        load_pipeline(spec)
    with pytest.raises(TypeError, match="not given to FitProblem.of"):
        ScipyMinimize(gradient="sensitivities").minimize(FitProblem.of(lambda Y: np.zeros(len(Y)), [(0, 1)]), x0=None)
    # asked for nothing, a gradient method falls back to finite differences there
    found = ScipyMinimize(options={"maxiter": 2}).minimize(FitProblem.of(lambda Y: np.sum(Y**2, axis=1), [(-1, 1)]),
                                                            x0=None)
    assert found.fun == pytest.approx(0.0, abs=1e-8)


@pytest.mark.slow
def test_gradient_fit_on_the_cluster(clean_csv, client, tmp_path):
    info = orchestrator.run(fit(clean_csv, {"type": "ScipyLeastSquares"}), client=client, store=tmp_path)
    ds = orchestrator.open_run(info["run_id"], tmp_path)["fit"].to_dataset()
    for name in BOUNDS:
        assert info["elements"]["fit"]["summary"]["parameters"][name] == pytest.approx(TRUE[name], rel=0.01)
    assert not np.isnan(ds.gradient.values).any()
