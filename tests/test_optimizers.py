"""Optimizers (CMA-ES, pints' XNES/SNES/PSO, scipy's local methods) and multistart fits.

Recovery tests fit the two particle diffusivities to a noise-free 10-minute SPMe discharge, so the
truth is the cost's minimum and "within 2 %" measures the optimizer, not the noise. (With the
1 mV noise of ``short_csv`` the minimum itself lies ~20 % from the true negative diffusivity.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import orchestrator
from elements.core.problem import FitProblem
from elements.fit.spec import InitialGuessSampler
from elements.optimizers import OPTIMIZERS
from elements.optimizers.scipy_minimize import ScipyMinimize
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import D_N, D_P, TRUE, run_serially

BOUNDS = {D_N: [1e-15, 1e-12], D_P: [1e-16, 1e-13]}
# Two discharges that disagree on the negative diffusivity (3e-15 and 3.3e-14), weighted 2:1: their
# summed cost has a narrow deep basin at the heavier cell's value (cost 0.0067) and a wide shallow
# one at 1.6e-14 (0.0131), measured by a scan of log10 D_n in [-16, -12] and local fits from 9 starts.
GLOBAL, LOCAL = 3e-15, 1.605e-14


def discharge(folder: Path, name: str, values: dict[str, float]) -> Path:
    from elements.synthetic import synthetic_discharge

    path = folder / f"{name}.csv"
    synthetic_discharge(values=values, current=5.0, duration=600.0, noise=0.0).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def clean_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return discharge(tmp_path_factory.mktemp("data"), "clean", TRUE)


@pytest.fixture(scope="module")
def two_cells(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cells")
    return {"heavy": discharge(folder, "heavy", {**TRUE, D_N: GLOBAL}),
            "light": discharge(folder, "light", {**TRUE, D_N: 3.3e-14})}


def fit(data: Path, optimizer: dict) -> dict:
    return {"elements": {"fit": {
        "element_type": "data_fit",
        "objectives": {"1C": {"objective": "CurrentDriven", "model": {"type": "SPMe"}, "data": f"file:{data}"}},
        "parameters": {n: {"bounds": b, "transform": "log10"} for n, b in BOUNDS.items()},
        "optimizer": optimizer,
    }}}


def two_basin_fit(cells: dict[str, Path], **element: object) -> dict:
    objective = {"objective": "CurrentDriven", "model": {"type": "SPMe"}}
    return {"elements": {"fit": {
        "element_type": "data_fit",
        "objectives": {name: {**objective, "data": f"file:{path}", "weight": 2.0 if name == "heavy" else 1.0}
                       for name, path in cells.items()},
        "parameters": {D_N: {"bounds": [10**-15.5, 1e-12], "transform": "log10"}},
        "optimizer": {"type": "ScipyMinimize", "method": "Nelder-Mead"},
        **element,
    }}}


def fitted(info: dict) -> dict[str, float]:
    assert info["status"] == "completed", info
    return info["elements"]["fit"]["summary"]["parameters"]


@pytest.mark.parametrize("optimizer", [
    {"type": "CMAES", "seed": 0, "tolx": 1e-4},
    {"type": "XNES", "seed": 0, "relative_tolerance": 1e-3},
    {"type": "SNES", "seed": 0, "relative_tolerance": 1e-3},
    {"type": "ScipyMinimize", "method": "L-BFGS-B"},
    {"type": "ScipyMinimize", "method": "Nelder-Mead"},
], ids=lambda o: o.get("method", o["type"]))
def test_optimizer_recovers_truth(clean_csv, tmp_path, optimizer):
    found = fitted(run_serially(fit(clean_csv, optimizer), tmp_path))
    for name, truth in TRUE.items():
        assert found[name] == pytest.approx(truth, rel=0.02)


def test_pso_pins_the_well_determined_diffusivity(clean_csv, tmp_path):
    # pints' PSO has no inertia decay: it finds the well-determined D_p but refines the flat D_n
    # direction slowly (measured: D_n off by 1-15 % after ~1700 solves), so D_n is not asserted.
    info = run_serially(fit(clean_csv, {"type": "PSO", "seed": 0, "popsize": 12, "maxiter": 40}), tmp_path)
    assert fitted(info)[D_P] == pytest.approx(TRUE[D_P], rel=0.02)
    assert info["elements"]["fit"]["summary"]["cost"] < 1e-3


def quadratic(X: np.ndarray) -> np.ndarray:
    X = np.atleast_2d(X)
    return (X[:, 0] - 2) ** 2 + 10 * (X[:, 1] + 1) ** 2


@pytest.mark.parametrize("method", ["XNES", "PSO"])
def test_pints_loop_follows_pints_own_controller(method):
    """Same seed, same iterations: the ask/tell loop, the unit box and the RNG swap change nothing."""
    import pints

    lower, width = np.array([0.0, -3.0]), np.array([5.0, 6.0])

    class Cost(pints.ErrorMeasure):
        def n_parameters(self) -> int:
            return 2

        def __call__(self, u: np.ndarray) -> float:
            return float(quadratic(lower + np.asarray(u) * width)[0])

    outside = np.random.get_state()
    ours = OPTIMIZERS[method](seed=3, popsize=8, maxiter=60, max_unchanged_iterations=1000)
    result = ours.minimize(FitProblem.of(quadratic, [(0, 5), (-3, 3)]), x0=None)
    assert all(np.array_equal(a, b) for a, b in zip(outside, np.random.get_state()))  # caller's RNG untouched

    np.random.seed(3)
    controller = pints.OptimisationController(Cost(), [0.5, 0.5], sigma0=1 / 6, method=getattr(pints, method),
                                              boundaries=pints.RectangularBoundaries([0, 0], [1, 1]))
    controller.optimiser().set_population_size(8)
    controller.set_max_iterations(60)
    controller.set_function_tolerance(None)
    controller.set_log_to_screen(False)
    u, cost = controller.run()
    np.testing.assert_array_equal(result.x, lower + u * width)
    assert result.fun == cost and result.nit == 60


def test_cmaes_is_seeded_and_keeps_to_the_bounds():
    seen: list[np.ndarray] = []

    def recorded(X: np.ndarray) -> np.ndarray:
        seen.append(X)
        return quadratic(X)

    bounds = [(2.5, 5.0), (-3.0, 3.0)]  # the minimum (2, -1) lies outside: the answer is on the bound
    first = OPTIMIZERS["CMAES"](seed=7, tolx=1e-8).minimize(FitProblem.of(recorded, bounds), x0=None)
    again = OPTIMIZERS["CMAES"](seed=7, tolx=1e-8).minimize(FitProblem.of(quadratic, bounds), x0=None)
    np.testing.assert_array_equal(first.x, again.x)
    X = np.vstack(seen)
    assert (X[:, 0] >= 2.5).all() and (X[:, 0] <= 5).all() and (np.abs(X[:, 1]) <= 3).all()
    np.testing.assert_allclose(first.x, [2.5, -1.0], atol=1e-4)
    assert first.nfev == len(X) and first.nit == len(seen) and first.success, first.message


@pytest.mark.parametrize(("gradient", "points"), [("forward", 3), ("central", 5)])
def test_gradient_is_one_call_of_all_its_points(clean_csv, tmp_path, gradient, points):
    spec = fit(clean_csv, {"type": "ScipyMinimize", "method": "L-BFGS-B", "gradient": gradient,
                           "options": {"maxiter": 3}})
    info = run_serially(spec, tmp_path)
    ds = orchestrator.open_run(info["run_id"], tmp_path)["fit"].to_dataset()
    # every objective call (a "generation") is one gradient: the centre and its differences
    assert set(np.bincount(ds.generation.values)) == {points}
    assert ds.attrs["optimizer"] == "ScipyMinimize" and "ITERATIONS REACHED LIMIT" in ds.attrs["message"]


def test_differences_stay_in_the_box():
    forward = ScipyMinimize(step=0.1)
    points, spans = forward.stencil(np.array([0.95, 0.5]))
    np.testing.assert_allclose(points[1:], [[0.85, 0.5], [0.95, 0.6]])  # inward at the upper bound
    np.testing.assert_allclose(spans, [-0.1, 0.1])
    points, spans = ScipyMinimize(step=0.1, gradient="central").stencil(np.array([0.0, 0.5]))
    assert points.min() >= 0 and points.max() <= 1
    np.testing.assert_allclose(spans, [0.1, 0.2])


@pytest.mark.parametrize(("optimizer", "named"), [
    ({"type": "CMAES", "sigma0": 2}, "optimizer.sigma0"),
    ({"type": "CMAES", "popsize": 1}, "optimizer.popsize"),
    ({"type": "CMAES", "sigma": 0.3}, "Did you mean 'sigma0'"),
    ({"type": "XNES", "relative_tolerance": -1}, "optimizer.relative_tolerance"),
    ({"type": "SNES", "maxiter": 0}, "optimizer.maxiter"),
    ({"type": "PSO", "local_global_balance": 2}, "optimizer.local_global_balance"),
    ({"type": "ScipyMinimize", "method": "BFGS"}, "optimizer.method"),
    ({"type": "ScipyMinimize", "options": {"maxiterr": 5}}, "Did you mean 'maxiter'"),
    ({"type": "ScipyMinimize", "options": {"eps": 1e-3}}, "option 'eps': sweepfit computes the gradient: set the optimizer's `step`"),
    ({"type": "ScipyMinimize", "method": "Nelder-Mead", "step": 1e-4}, "Nelder-Mead takes no gradient"),
    ({"type": "ScipyMinimize", "method": "COBYLA", "options": {"xatol": 1}}, "unknown scipy COBYLA option 'xatol'"),
], ids=str)
def test_impossible_options_are_rejected_by_name(clean_csv, optimizer, named):
    with pytest.raises(SpecError) as raised:
        load_pipeline(fit(clean_csv, optimizer))
    assert named in str(raised.value)


def test_multistart_options_are_checked(clean_csv):
    spec = fit(clean_csv, {"type": "CMAES"})
    spec["elements"]["fit"].update(multistarts=0, initial_guess_sampler={"type": "Sobol", "seed": -1})
    with pytest.raises(SpecError) as raised:
        load_pipeline(spec)
    message = str(raised.value)
    assert all(f"elements.fit.{p}" in message for p in ("multistarts", "initial_guess_sampler.type",
                                                       "initial_guess_sampler.seed"))


def test_sampler_draws_starts_in_the_box_with_a_seed_each():
    bounds = [(-15.0, -12.0), (0.0, 1.0)]
    points, seeds = InitialGuessSampler(seed=4).starts(5, bounds, x0=np.array([-13.0, 0.5]))
    again, same = InitialGuessSampler(seed=4).starts(5, bounds, x0=np.array([-13.0, 0.5]))
    np.testing.assert_array_equal(points, again)
    assert seeds == same and len(set(seeds)) == 5
    np.testing.assert_array_equal(points[0], [-13.0, 0.5])  # the initial values are the first start
    drawn = points[1:]
    assert ((drawn >= [-15, 0]) & (drawn <= [-12, 1])).all()
    # a Latin hypercube: one point in each quarter of every range
    assert sorted(np.floor((drawn[:, 0] + 15) / 0.75).astype(int)) == [0, 1, 2, 3]
    uniform, _ = InitialGuessSampler(type="Uniform", seed=4).starts(4, bounds, x0=None)
    assert not np.allclose(uniform, drawn)


def test_a_single_start_ends_in_the_wide_shallow_basin(two_cells, tmp_path):
    info = run_serially(two_basin_fit(two_cells), tmp_path)  # Nelder-Mead from the box's centre
    assert fitted(info)[D_N] == pytest.approx(LOCAL, rel=0.02)
    assert info["elements"]["fit"]["summary"]["cost"] > 1.5 * 0.0067  # the global minimum's cost


def test_multistart_finds_the_global_basin_and_keeps_every_start(two_cells, tmp_path):
    # 6 starts reached both basins, and so the global minimum, for each sampler seed 0-5 tried
    spec = two_basin_fit(two_cells, multistarts=6, initial_guess_sampler={"type": "LatinHypercube", "seed": 0})
    info = run_serially(spec, tmp_path)
    assert fitted(info)[D_N] == pytest.approx(GLOBAL, rel=0.02)
    ds = orchestrator.open_run(info["run_id"], tmp_path)["fit"].to_dataset()
    assert ds.sizes["start"] == 6 and ds.attrs["multistarts"] == 6
    ends = ds.end_x.sel(parameter=D_N).values
    assert (np.abs(ends / LOCAL - 1) < 0.02).any() and (np.abs(ends / GLOBAL - 1) < 0.02).any()  # both basins
    best = int(np.argmin(ds.end_cost.values))
    assert ds.attrs["best_start"] == best and float(ds.best_cost) == float(ds.end_cost[best])
    np.testing.assert_array_equal(ds.best_x.values, ds.end_x[best].values)
    # every evaluation of every start is in the store, each with its start
    summary = info["elements"]["fit"]["summary"]
    assert ds.sizes["evaluation"] == summary["evaluations"] == int(ds.start_nfev.sum()) == ds.attrs["nfev"]
    np.testing.assert_array_equal(np.bincount(ds.start_index.values), ds.start_nfev.values)
    starts = ds.start_x.sel(parameter=D_N).values
    assert ((starts >= 10**-15.5) & (starts <= 1e-12)).all() and len(set(starts)) == 6
    assert summary["iterations"] == int(ds.start_nit.sum())
    assert all(ds.start_success.values) and all("terminated successfully" in m for m in ds.start_message.values)
    assert summary["cost"] == pytest.approx(float(ds.best_cost))


@pytest.mark.slow
def test_multistart_starts_run_concurrently_on_the_cluster(two_cells, client, tmp_path):
    from distributed import get_task_stream

    spec = two_basin_fit(two_cells, multistarts=6, initial_guess_sampler={"seed": 0})
    with get_task_stream(client) as stream:
        info = orchestrator.run(spec, client=client, store=tmp_path / "cluster")
    assert fitted(info)[D_N] == pytest.approx(GLOBAL, rel=0.02)
    runs = [(t["worker"], s["start"], s["stop"]) for t in stream.data if "-starts-" in str(t["key"])
            for s in t["startstops"] if s["action"] == "compute"]
    assert len(runs) == 6 and len({w for w, _, _ in runs}) == 2
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in runs for b in runs)  # two at once
    serial = run_serially(spec, tmp_path / "serial")
    assert serial["elements"]["fit"]["summary"] == info["elements"]["fit"]["summary"]


@pytest.mark.parametrize("passed_down, start", [(2e-14, 2e-14), (1e-11, 10**-13.5)],
                         ids=["within bounds", "outside bounds: the box centre"])
def test_a_fit_without_initial_values_starts_from_the_value_passed_down(short_csv, tmp_path, passed_down, start):
    spec = {"elements": {
        "known": {"element_type": "entry", "values": {D_N: passed_down}},
        "fit": {"element_type": "data_fit",
                "objectives": {"1C": {"objective": "CurrentDriven", "model": {"type": "SPMe"},
                                      "data": f"file:{short_csv}"}},
                "parameters": {D_N: {"bounds": BOUNDS[D_N], "transform": "log10"}},
                "optimizer": {"type": "ScipyMinimize", "method": "Nelder-Mead", "options": {"maxfev": 3}}},
    }}
    info = run_serially(spec, tmp_path)
    ds = orchestrator.open_run(info["run_id"], tmp_path)["fit"].to_dataset()
    np.testing.assert_allclose(ds.x.values[0, 0], start, rtol=1e-9)
