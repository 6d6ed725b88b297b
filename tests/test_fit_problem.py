"""The fit problem every optimizer receives: each optimizer on toy problems with no PyBaMM in them,
and a method that needs what the objectives cannot give is a spec error before any cluster starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import orchestrator
from elements.core.problem import FitProblem
from elements.objectives.eis import CircuitProblem
from elements.optimizers import OPTIMIZERS
from orchestrator import lifecycle
from orchestrator.spec import SpecError

CENTRE = np.array([0.3, -0.7])
BOX = [(-1.0, 1.0), (-2.0, 2.0)]


def bowl(Y: np.ndarray) -> np.ndarray:
    """A shifted, stretched quadratic with its minimum 0 at CENTRE."""
    Y = np.atleast_2d(Y)
    return (Y[:, 0] - CENTRE[0]) ** 2 + 5 * (Y[:, 1] - CENTRE[1]) ** 2


def rosenbrock(Y: np.ndarray) -> np.ndarray:
    Y = np.atleast_2d(Y)
    return 100 * (Y[:, 1] - Y[:, 0] ** 2) ** 2 + (1 - Y[:, 0]) ** 2


def rosenbrock_grad(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    Y = np.atleast_2d(Y)
    a, b = Y[:, 0], Y[:, 1]
    return rosenbrock(Y), np.column_stack([-400 * a * (b - a**2) - 2 * (1 - a), 200 * (b - a**2)])


# A small least-squares problem: y = A exp(-k t) at 20 times, A = 2, k = 0.7; sum(r**2) is the cost.
T = np.linspace(0, 5, 20)
DECAY = 2.0 * np.exp(-0.7 * T)


def decay_residuals(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Y = np.atleast_2d(Y)
    model = Y[:, :1] * np.exp(-Y[:, 1:] * T)
    r = model - DECAY
    J = np.stack([np.exp(-Y[:, 1:] * T), -Y[:, :1] * T * np.exp(-Y[:, 1:] * T)], axis=-1)
    return (r**2).sum(axis=1), r, J


POPULATION = {
    "ScipyDifferentialEvolution": {"seed": 0, "tol": 1e-8},
    "CMAES": {"seed": 0, "tolx": 1e-8},
    # SNES's best can stand still for 15 generations early on: patience 50
    "XNES": {"seed": 0, "absolute_tolerance": 1e-12, "relative_tolerance": 1e-9, "max_unchanged_iterations": 50},
    "SNES": {"seed": 0, "absolute_tolerance": 1e-12, "relative_tolerance": 1e-9, "max_unchanged_iterations": 50},
    "PSO": {"seed": 0, "popsize": 20, "maxiter": 300, "absolute_tolerance": 1e-12, "relative_tolerance": 1e-9,
            "max_unchanged_iterations": 60},
}


def test_every_optimizer_has_a_toy_problem_here():
    samplers = {"EmceeSampler", "PintsSampler"}  # their toy posterior is in test_uncertainty.py
    assert set(OPTIMIZERS) == {*POPULATION, "ScipyMinimize", "ScipyLeastSquares", "LevenbergMarquardt", *samplers}


@pytest.mark.parametrize("name", sorted(POPULATION))
def test_population_optimizers_find_the_bottom_of_a_bowl(name):
    calls: list[int] = []

    def cost(Y: np.ndarray) -> np.ndarray:
        calls.append(len(Y))
        return bowl(Y)

    result = OPTIMIZERS[name](**POPULATION[name]).minimize(FitProblem.of(cost, BOX), x0=None)
    # pints' PSO has no inertia decay and refines slowly near the end (see test_optimizers)
    np.testing.assert_allclose(result.x, CENTRE, atol=1e-2 if name == "PSO" else 2e-3)
    assert result.fun == pytest.approx(float(bowl(result.x)[0]))
    assert max(calls) > 1  # whole populations in one call, which the fit fans out


@pytest.mark.parametrize("method", ["Nelder-Mead", "Powell", "L-BFGS-B", "TNC", "SLSQP"])
def test_scipy_minimize_from_a_start(method):
    result = OPTIMIZERS["ScipyMinimize"](method=method).minimize(FitProblem.of(bowl, BOX), x0=np.array([-0.5, 1.0]))
    np.testing.assert_allclose(result.x, CENTRE, atol=1e-3)


def test_scipy_minimize_takes_the_problems_exact_gradient_on_rosenbrock():
    evaluated: list[int] = []

    def value_and_grad(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        evaluated.append(len(Y))
        return rosenbrock_grad(Y)

    problem = FitProblem.of(rosenbrock, [(-2.0, 2.0), (-1.0, 3.0)], value_and_grad=value_and_grad)
    result = OPTIMIZERS["ScipyMinimize"](method="L-BFGS-B", options={"maxiter": 500}).minimize(
        problem, x0=np.array([-1.2, 1.0]))
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-4)
    assert evaluated and set(evaluated) == {1}  # one point per call: the gradient came with the value
    # without a gradient it differences the cost instead (d + 1 points per call)
    stencil: list[int] = []
    plain = FitProblem.of(lambda Y: stencil.append(len(Y)) or rosenbrock(Y), [(-2.0, 2.0), (-1.0, 3.0)])
    OPTIMIZERS["ScipyMinimize"](method="L-BFGS-B", options={"maxiter": 5}).minimize(plain, x0=np.array([-1.2, 1.0]))
    assert set(stencil) == {3}


def test_scipy_least_squares_fits_the_residuals():
    problem = FitProblem.of(lambda Y: decay_residuals(Y)[0], [(0.1, 5.0), (0.01, 3.0)], residuals=decay_residuals)
    result = OPTIMIZERS["ScipyLeastSquares"]().minimize(problem, x0=np.array([1.0, 0.2]))
    np.testing.assert_allclose(result.x, [2.0, 0.7], rtol=1e-6)
    assert result.fun < 1e-12 and result.success


def test_levenberg_marquardt_solves_the_problems_least_squares_form():
    omega = 2 * np.pi * np.logspace(-2, 4, 30)
    truth = {"R0": 0.02, "R1": 0.05, "C1": 2.0}
    z = truth["R0"] + truth["R1"] / (1 + 1j * omega * truth["R1"] * truth["C1"])
    names = ("R0", "R1", "C1")
    circuit = CircuitProblem("R0-p(R1,C1)", names, (), omega / (2 * np.pi), z, "unit")

    def cost(Y: np.ndarray) -> np.ndarray:  # the same sum of squares, in numpy
        X = 10.0 ** np.atleast_2d(Y)
        model = X[:, :1] + X[:, 1:2] / (1 + 1j * omega * X[:, 1:2] * X[:, 2:3])
        return (np.abs(model - z) ** 2).sum(axis=1)

    problem = FitProblem(((-4.0, 0.0), (-4.0, 0.0), (-2.0, 2.0)), cost, least_squares=circuit, names=names,
                         to_natural=lambda Y: 10.0 ** np.atleast_2d(Y), to_search=lambda X: np.log10(np.atleast_2d(X)))
    result = OPTIMIZERS["LevenbergMarquardt"](n_starts=4).minimize(problem, x0=None)
    np.testing.assert_allclose(10.0 ** result.x, list(truth.values()), rtol=1e-5)
    assert result.success and result.fun < 1e-12
    with pytest.raises(TypeError, match="LevenbergMarquardt needs one objective with a least-squares form"):
        OPTIMIZERS["LevenbergMarquardt"]().minimize(FitProblem.of(cost, problem.bounds), x0=None)


def fit(objectives: dict, optimizer: dict, **element: object) -> dict:
    circuit = all(o["type"] == "EIS" for o in objectives.values())
    parameters = ({"R0": {"bounds": [1e-3, 1.0]}} if circuit else
                  {"Negative particle diffusivity [m2.s-1]": {"bounds": [1e-15, 1e-12], "transform": "log10"}})
    return {"elements": {"fit": {"element_type": "data_fit", "objectives": objectives, "parameters": parameters,
                                 "optimizer": optimizer, **element}}}


DISCHARGE = {"type": "CurrentDriven", "data": "file:1C.csv"}
CASES = [
    (fit({"1C": DISCHARGE}, {"type": "LevenbergMarquardt"}), "LevenbergMarquardt needs one objective with a "
     "least-squares form (EIS): objective(s) '1C' give no least-squares form"),
    (fit({"a": {"type": "EIS", "circuit": "R0", "data": "file:a.csv"},
          "b": {"type": "EIS", "circuit": "R0", "data": "file:b.csv"}}, {"type": "LevenbergMarquardt"}),
     "it fits one objective at a time; this fit has 2 ('a', 'b')"),
    (fit({"1C": DISCHARGE}, {"type": "ScipyLeastSquares"},
         priors={"Negative particle diffusivity [m2.s-1]": {"type": "Uniform", "lb": 1e-14, "ub": 1e-13}}),
     "ScipyLeastSquares needs residuals with a Jacobian from sensitivities: Uniform priors are not a sum of squares"),
    (fit({"1C": {"type": "Experiment", "experiment": ["Discharge at 1C for 10 minutes"], "data": "file:1C.csv"}},
         {"type": "ScipyMinimize", "gradient": "sensitivities"}),
     "ScipyMinimize needs exact gradients (IDAKLU sensitivities): objective(s) '1C' give no sensitivities"),
    (fit({"s": {"type": "EIS", "circuit": "R0", "data": "file:a.csv"}}, {"type": "ScipyLeastSquares"}),
     "objective(s) 's' give no sensitivities"),
]


@pytest.mark.parametrize(("pipeline", "message"), CASES, ids=["lm-simulation", "lm-two", "lsq-priors",
                                                              "sensitivities-experiment", "lsq-eis"])
def test_an_optimizer_the_objectives_cannot_serve_is_a_spec_error_before_any_cluster(
    pipeline, message, tmp_path, monkeypatch
):
    def no_cluster(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cluster was started for an invalid pipeline")

    monkeypatch.setattr(lifecycle, "execute", no_cluster)
    with pytest.raises(SpecError) as raised:
        orchestrator.run(pipeline, store=tmp_path / "store", base_dir=Path(tmp_path))
    assert message in str(raised.value) and "elements.fit" in str(raised.value)
    assert not (tmp_path / "store" / "runs").exists() or not any((tmp_path / "store" / "runs").iterdir())


def test_an_array_fit_checks_each_key_alone():
    from orchestrator.spec import load_pipeline

    spectra = {str(k): {"type": "EIS", "circuit": "R0", "data": "file:a.csv"} for k in (0.2, 0.5)}
    spec = {"elements": {"fit": {"element_type": "array_data_fit", "objectives": spectra,
                                 "parameters": {"R0": {"bounds": [1e-3, 1.0]}}, "optimizer": "LevenbergMarquardt"}}}
    assert load_pipeline(spec).elements["fit"].optimizer.type == "LevenbergMarquardt"
