"""Circuit strings as JAX impedance functions: elements, nesting, parsing, derivatives, jit and vmap."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from impedance.models.circuits import CustomCircuit
from impedance.models.circuits.elements import circuit_elements
from jax.typing import ArrayLike

from elements.eis.circuits import CIRCUIT_ELEMENTS, Circuit
from elements.eis.fit import _residual

F = np.logspace(-4, 6, 41)
W = 2 * np.pi * F


def coth(x: np.ndarray) -> np.ndarray:
    return 1 / np.tanh(x)


# Each element's impedance in closed form, written independently of the module under test.
CLOSED_FORMS = {
    "R": ([2.5], lambda r: r + 0 * W),
    "C": ([3e-3], lambda c: 1 / (1j * W * c)),
    "L": ([2e-6], lambda inductance: 1j * W * inductance),
    "CPE": ([4e-2, 0.8], lambda q, a: 1 / (q * (1j * W) ** a)),
    "W": ([0.3], lambda a_w: a_w * (1 - 1j) / np.sqrt(W)),
    "Wo": ([0.05, 120.0], lambda z0, tau: z0 * coth(np.sqrt(1j * W * tau)) / np.sqrt(1j * W * tau)),
    "Ws": ([0.05, 120.0], lambda z0, tau: z0 * np.tanh(np.sqrt(1j * W * tau)) / np.sqrt(1j * W * tau)),
}


def test_every_element_has_a_closed_form_here() -> None:
    assert set(CLOSED_FORMS) == set(CIRCUIT_ELEMENTS)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_element_matches_its_closed_form(name: str) -> None:
    params, closed_form = CLOSED_FORMS[name]
    z = np.asarray(Circuit(f"{name}1").impedance(params, F))
    np.testing.assert_allclose(z, closed_form(*params), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_element_matches_impedance_py(name: str) -> None:
    params, _ = CLOSED_FORMS[name]
    theirs = circuit_elements[name]
    ours = CIRCUIT_ELEMENTS[name]
    assert (ours.n_parameters, list(ours.units)) == (theirs.num_params, theirs.units)
    np.testing.assert_allclose(Circuit(name).impedance(params, F), theirs(params, list(F)), rtol=1e-12)


def test_series_and_parallel_nest_as_computed_by_hand() -> None:
    circuit = Circuit("R0-p(R1,C1)-p(R2-Wo1,C2)")
    r0, r1, c1, r2, z0, tau, c2 = params = [0.016, 0.0087, 3.3, 0.0054, 0.063, 233.0, 0.22]
    x = np.sqrt(1j * W * tau)
    warburg = z0 * coth(x) / x
    by_hand = r0 + 1 / (1 / r1 + 1j * W * c1) + 1 / (1 / (r2 + warburg) + 1j * W * c2)
    np.testing.assert_allclose(circuit.impedance(params, F), by_hand, rtol=1e-12)


def test_deep_nesting_as_computed_by_hand() -> None:
    circuit = Circuit("p(R1,p(C1,R2-L1),CPE1)-W1")
    r1, c1, r2, l1, q, alpha, a_w = params = [1.0, 1e-3, 2.0, 1e-4, 0.1, 0.7, 0.5]
    inner = 1 / (1j * W * c1 + 1 / (r2 + 1j * W * l1))
    by_hand = 1 / (1 / r1 + 1 / inner + q * (1j * W) ** alpha) + a_w * (1 - 1j) / np.sqrt(W)
    np.testing.assert_allclose(circuit.impedance(params, F), by_hand, rtol=1e-12)


@pytest.mark.parametrize(
    "string", ["R0-p(R1,C1)-p(R2-Wo1,C2)", "R0-p(R1-Ws1,CPE1)-L1", "p(R1,p(C1,R2-L1),CPE1)-W1", "CPE_1"]
)
def test_names_units_and_values_match_impedance_py(string: str) -> None:
    circuit = Circuit(string)
    params = np.linspace(0.3, 0.9, circuit.n_parameters)
    theirs = CustomCircuit(string, initial_guess=list(params))
    names, units = theirs.get_param_names()
    assert (list(circuit.parameter_names), list(circuit.units)) == (names, units)
    with pytest.warns(UserWarning, match="initial parameters"):
        expected = theirs.predict(F, use_initial=True)
    np.testing.assert_allclose(circuit.impedance(params, F), expected, rtol=1e-12)


def test_default_bounds_and_log_scaling() -> None:
    circuit = Circuit("R0-p(R1,CPE1)")
    assert circuit.parameter_names == ("R0", "R1", "CPE1_0", "CPE1_1")
    lower, upper = circuit.default_bounds
    np.testing.assert_array_equal(lower, [0, 0, 0, 0])
    np.testing.assert_array_equal(upper, [np.inf, np.inf, np.inf, 1])
    np.testing.assert_array_equal(circuit.log_scaled, [True, True, True, False])


@pytest.mark.parametrize(
    ("string", "message"),
    [
        ("R0-Q1", r"unknown circuit element 'Q' in 'Q1'; valid elements: C, CPE, L, R, W, Wo, Ws"),
        ("R0-cpe1", r"Did you mean 'CPE'\?"),
        ("R0-p(R1,C1", r"expected ',' or '\)' to close the 'p\(' at position 3, found the end of the string"),
        ("R0-p(R1,C1))", r"expected '-' or the end of the string, found '\)'"),
        ("R0--R1", r"position 3: expected an element or 'p\(', found '-'"),
        ("R0-p(R1)", r"p\(...\) needs at least two branches"),
        ("R0-R0", r"element name 'R0' is used twice"),
        ("R0+C1", r"unexpected character '\+'"),
        ("  ", r"empty circuit string"),
    ],
)
def test_bad_strings_name_the_problem(string: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Circuit(string)


def test_wrong_parameter_count_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match=r"takes 3 parameters \(R0, R1, C1\).*shape \(2,\)"):
        Circuit("R0-p(R1,C1)").impedance([1.0, 2.0], F)


def test_a_circuit_is_a_string() -> None:
    with pytest.raises(TypeError, match="not list"):
        Circuit(["R0"])


def central_differences(function: Callable[[np.ndarray], ArrayLike], x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The Jacobian of ``function`` at ``x``, one column per ``x[i]`` moved by ``±steps[i]``."""
    columns = []
    for i, h in enumerate(steps):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        columns.append((np.asarray(function(up)) - np.asarray(function(down))) / (2 * h))
    return np.stack(columns, axis=-1)


CIRCUIT = Circuit("R0-p(R1,CPE1)-p(R2-Wo1,C2)-Ws1")
PARAMS = np.array([0.016, 0.0087, 3.3, 0.85, 0.0054, 0.063, 23.0, 0.22, 0.02, 5.0])
F_FIT = np.logspace(-3, 4, 15)


def test_impedance_jacobian_matches_finite_differences() -> None:
    def stacked(params: np.ndarray) -> jax.Array:
        z = CIRCUIT.impedance(params, F_FIT)
        return jnp.concatenate([z.real, z.imag])

    exact = np.asarray(jax.jacfwd(stacked)(PARAMS))
    approx = central_differences(stacked, PARAMS, steps=1e-6 * PARAMS)  # parameters span five decades
    np.testing.assert_allclose(exact, approx, rtol=1e-6, atol=1e-9 * np.abs(exact).max())


def test_fit_residual_jacobian_matches_finite_differences() -> None:
    measured = CIRCUIT.impedance(PARAMS * 1.1, F_FIT)
    data = np.concatenate([measured.real, measured.imag])
    weight = 1 / np.tile(np.abs(measured), 2)
    u = np.where(CIRCUIT.log_scaled, np.log(PARAMS), PARAMS)

    def residual(u: np.ndarray) -> jax.Array:
        return _residual(CIRCUIT, jnp.asarray(u), jnp.asarray(F_FIT), data, weight)

    exact = np.asarray(jax.jacfwd(residual)(u))
    approx = central_differences(residual, u, steps=np.full(len(u), 1e-6))
    np.testing.assert_allclose(exact, approx, rtol=1e-6, atol=1e-9 * np.abs(exact).max())


def test_impedance_jits_and_vmaps_over_parameters() -> None:
    batch = PARAMS * np.linspace(0.5, 1.5, 6)[:, None]
    one_by_one = np.stack([np.asarray(CIRCUIT.impedance(p, F_FIT)) for p in batch])
    mapped = jax.jit(jax.vmap(CIRCUIT.impedance, in_axes=(0, None)))(batch, F_FIT)
    broadcast = CIRCUIT.impedance(batch.reshape(2, 3, -1), F_FIT)
    assert mapped.shape == (6, len(F_FIT)) and broadcast.shape == (2, 3, len(F_FIT))
    assert mapped.dtype == jnp.complex128
    np.testing.assert_allclose(mapped, one_by_one, rtol=1e-13)
    np.testing.assert_allclose(broadcast.reshape(6, -1), one_by_one, rtol=1e-13)
