"""Priors: -log densities against scipy.stats, their jax gradients, and how iws spells them."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from scipy import stats

from elements.priors import PriorKind, PriorTerm

PRIOR = TypeAdapter(PriorKind)


@pytest.mark.parametrize("config, frozen, x", [
    ({"distribution": "Normal", "mean": 1.0, "std": 0.5}, stats.norm(1.0, 0.5), [0.2, 1.0, 2.7]),
    ({"distribution": "LogNormal", "mean": -32.0, "std": 2.0}, stats.lognorm(s=2.0, scale=math.exp(-32.0)),
     [1e-16, 1e-14, 3e-13]),
    ({"distribution": "Uniform", "lb": 2.0, "ub": 6.0}, stats.uniform(2.0, 4.0), [2.0, 3.5, 6.0]),
])
def test_neg_log_density_is_scipys(config, frozen, x):
    prior = PRIOR.validate_python(config)
    np.testing.assert_allclose([float(prior.neg_log_density(v)) for v in x], -frozen.logpdf(x), rtol=1e-12)


def test_outside_the_support_is_infinite():
    assert PRIOR.validate_python({"distribution": "Uniform", "lb": 0, "ub": 1}).neg_log_density(1.5) == np.inf
    assert PRIOR.validate_python({"distribution": "LogNormal", "mean": 0, "std": 1}).neg_log_density(-1.0) == np.inf


def test_jax_grad_gives_the_gradient():
    normal = PRIOR.validate_python({"distribution": "Normal", "mean": 1.0, "std": 0.5})
    assert float(jax.grad(normal.neg_log_density)(2.0)) == pytest.approx((2.0 - 1.0) / 0.25)
    lognormal = PRIOR.validate_python({"distribution": "LogNormal", "mean": 0.0, "std": 1.0})
    x = 2.0  # d/dx [log x + (log x)^2 / 2] = (1 + log x) / x
    assert float(jax.grad(lognormal.neg_log_density)(x)) == pytest.approx((1 + math.log(x)) / x)


def test_ionworks_prior_forms_and_weight():
    nested = PRIOR.validate_python({"type": "Prior", "distribution": {"distribution": "Normal", "mean": 0, "std": 1},
                                    "regularizer_weight": 3.0})
    flat = PRIOR.validate_python({"distribution": "Normal", "mean": 0, "std": 1, "regularizer_weight": 3.0})
    assert nested == flat and nested.weight == 3.0
    term = PriorTerm({0: nested}, ("x",))
    [outcome] = term.solve(np.array([[2.0]]))
    assert term.cost(outcome) == pytest.approx(3.0 * (2.0 + 0.5 * math.log(2 * math.pi)))


def test_bad_priors_name_the_problem():
    with pytest.raises(ValidationError, match="unknown prior 'Dirichlet'; valid priors: 'LogNormal', 'Normal', 'Uniform'"):
        PRIOR.validate_python({"distribution": "Dirichlet", "alpha": [2, 2]})
    with pytest.raises(ValidationError, match="std"):
        PRIOR.validate_python({"distribution": "Normal", "mean": 0, "std": -1})
    with pytest.raises(ValidationError, match="lb < ub"):
        PRIOR.validate_python({"distribution": "Uniform", "lb": 1, "ub": 0})


def test_normal_priors_are_least_squares_residuals_and_others_are_refused():
    normal = TypeAdapter(PriorKind).validate_python({"type": "Normal", "mean": 1.0, "std": 0.5, "weight": 2.0})
    term = PriorTerm({1: normal}, ("a", "b"))
    [found] = term.value_and_grad(np.array([[7.0, 2.0]]), residuals=True)
    constant = 2.0 * (math.log(0.5) + 0.5 * math.log(2 * math.pi))
    assert float(np.sum(found.residuals**2)) == pytest.approx(found.cost - constant)  # the term less its constant
    np.testing.assert_allclose(found.jacobian, [[0.0, 2.0]])  # sqrt(weight / 2) / std on its own column
    uniform = TypeAdapter(PriorKind).validate_python({"type": "Uniform", "lb": 0.0, "ub": 3.0})
    with pytest.raises(TypeError, match="Uniform priors are not a sum of squares"):
        PriorTerm({0: uniform}, ("a",)).value_and_grad(np.array([[1.0]]), residuals=True)
