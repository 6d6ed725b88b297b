"""Costs and parameter transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from elements.costs import COSTS
from elements.schema import ParameterSpec

MODEL = np.array([1.0, 2.0, 3.0, 4.0])
DATA = np.array([1.0, 1.0, 5.0, 4.0])  # errors 0, 1, -2, 0


@pytest.mark.parametrize(
    "name, expected",
    [("SSE", 5.0), ("MSE", 1.25), ("RMSE", math.sqrt(1.25)), ("MAE", 0.75), ("Max", 2.0)],
)
def test_costs(name, expected):
    assert COSTS[name]()(MODEL, DATA) == pytest.approx(expected)


def test_costs_are_zero_on_a_perfect_fit():
    assert all(COSTS[name]()(DATA, DATA) == 0 for name in COSTS if name != "GaussianLogLikelihood")


def test_gaussian_log_likelihood_by_hand():
    sigma = 0.5
    expected = 0.5 * (4 * math.log(2 * math.pi * sigma**2) + 5.0 / sigma**2)  # SSE = 5
    cost = COSTS["GaussianLogLikelihood"](sigma={"Voltage [V]": sigma})
    assert cost(MODEL, DATA, "Voltage [V]") == pytest.approx(expected)
    fitted = COSTS["GaussianLogLikelihood"](sigma={"Voltage [V]": "noise"})
    assert fitted.fitted == {"noise"}
    assert fitted.bound({"noise": sigma})(MODEL, DATA, "Voltage [V]") == pytest.approx(expected)
    with pytest.raises(ValueError, match="no sigma for 'Temperature \\[K\\]'"):
        cost(MODEL, DATA, "Temperature [K]")
    with pytest.raises(ValueError, match="sigma must be positive"):
        COSTS["GaussianLogLikelihood"](sigma={"Voltage [V]": 0.0})


@pytest.mark.parametrize("normalization, scale", [("mean", 2.75), ("range", 4.0), (0.5, 0.5), ("identity", 1.0),
                                                  ("root_mean_squares", math.sqrt(43 / 4))])
def test_normalization_divides_by_the_datas_scale(normalization, scale):
    assert COSTS["SSE"](normalization=normalization)(MODEL, DATA) == pytest.approx(5.0 / scale**2)


def test_unknown_cost_lists_valid_names():
    with pytest.raises(KeyError, match="valid costs: 'GaussianLogLikelihood', 'MAE', 'MSE', 'Max', 'RMSE', 'SSE'"):
        COSTS["R2"]


def test_log10_transform_round_trips_and_maps_bounds():
    spec = ParameterSpec(bounds=[1e-15, 1e-12], transform="log10", initial_value=1e-14)
    assert spec.search_bounds == pytest.approx((-15, -12))
    assert spec.to_search(1e-14) == pytest.approx(-14)
    assert spec.from_search(spec.to_search(3.3e-14)) == pytest.approx(3.3e-14, rel=1e-12)


def test_identity_transform():
    spec = ParameterSpec(bounds=[0.5, 2.0])
    assert spec.search_bounds == (0.5, 2.0)
    assert spec.from_search(1.5) == 1.5


def test_log10_needs_positive_bounds():
    with pytest.raises(ValueError, match="positive bounds"):
        ParameterSpec(bounds=[0, 1], transform="log10")
