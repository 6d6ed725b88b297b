"""Equivalent circuits for impedance spectra: impedance.py's circuit strings as JAX functions.

A string such as ``R0-p(R1,C1)-p(R2-Wo1,C2)`` is parsed once into a pure function of
``(params, f)``; ``-`` joins elements in series and ``p(a,b,...)`` in parallel, nested freely.
Elements, parameter names, units and default bounds follow impedance.py
(``impedance/models/circuits/elements.py``), so parameters read the same in both tools.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from elements.core.registry import did_you_mean

# Impedance fits need float64: spectra span decades and Jacobian columns differ by many orders of
# magnitude. This switches JAX to 64-bit for the whole process, as soon as this module is imported.
jax.config.update("jax_enable_x64", True)

Impedance = Callable[..., jax.Array]


@dataclass(frozen=True)
class CircuitElement:
    """One element type: its parameters' units and default bounds, and its impedance.

    ``impedance(omega, *params)`` takes angular frequencies and one array per parameter
    (broadcasting against ``omega``) and returns the complex impedance.
    """

    name: str
    units: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    impedance: Impedance

    @property
    def n_parameters(self) -> int:
        return len(self.units)


CIRCUIT_ELEMENTS: dict[str, CircuitElement] = {}

POSITIVE = (0.0, np.inf)
EXPONENT = (0.0, 1.0)  # impedance.py's default bounds on a CPE's alpha


def circuit_element(
    name: str, units: tuple[str, ...], bounds: tuple[tuple[float, float], ...]
) -> Callable[[Impedance], Impedance]:
    """Register an element type under the name circuit strings use for it."""

    def add(impedance: Impedance) -> Impedance:
        CIRCUIT_ELEMENTS[name] = CircuitElement(name, units, bounds, impedance)
        return impedance

    return add


@circuit_element("R", units=("Ohm",), bounds=(POSITIVE,))
def resistor(omega: jax.Array, r: jax.Array) -> jax.Array:
    return r + 0j * omega


@circuit_element("C", units=("F",), bounds=(POSITIVE,))
def capacitor(omega: jax.Array, c: jax.Array) -> jax.Array:
    return 1 / (1j * omega * c)


@circuit_element("L", units=("H",), bounds=(POSITIVE,))
def inductor(omega: jax.Array, inductance: jax.Array) -> jax.Array:
    return 1j * omega * inductance


@circuit_element("CPE", units=("Ohm^-1 sec^a", ""), bounds=(POSITIVE, EXPONENT))
def constant_phase(omega: jax.Array, q: jax.Array, alpha: jax.Array) -> jax.Array:
    # (j omega)^alpha written in polar form: the same value, with derivatives in alpha that stay real
    phase = jnp.pi / 2 * alpha
    return 1 / (q * omega**alpha * (jnp.cos(phase) + 1j * jnp.sin(phase)))


@circuit_element("W", units=("Ohm sec^-1/2",), bounds=(POSITIVE,))
def warburg(omega: jax.Array, a_w: jax.Array) -> jax.Array:
    return a_w * (1 - 1j) / jnp.sqrt(omega)


@circuit_element("Wo", units=("Ohm", "sec"), bounds=(POSITIVE, POSITIVE))
def warburg_open(omega: jax.Array, z0: jax.Array, tau: jax.Array) -> jax.Array:
    x = jnp.sqrt(1j * omega * tau)
    return z0 / (x * jnp.tanh(x))


@circuit_element("Ws", units=("Ohm", "sec"), bounds=(POSITIVE, POSITIVE))
def warburg_short(omega: jax.Array, z0: jax.Array, tau: jax.Array) -> jax.Array:
    x = jnp.sqrt(1j * omega * tau)
    return z0 * jnp.tanh(x) / x


class Circuit:
    """An equivalent circuit parsed from an impedance.py circuit string.

    Parameters
    ----------
    string : str
        Elements joined by ``-`` (series) and grouped by ``p(a,b,...)`` (parallel), nested freely.
        Each element is a type from ``CIRCUIT_ELEMENTS`` followed by a number that makes its name
        unique (``R0``, ``CPE1``, ``Wo_2``). Spaces are ignored.

    Attributes
    ----------
    elements : tuple of str
        The element names in the order the string gives them (``R0``, ``CPE1``).
    parameter_names : tuple of str
        impedance.py's names, in the order ``params`` takes them: ``R0``, or ``CPE1_0``,
        ``CPE1_1`` for elements with several parameters.
    units : tuple of str
        The unit of each parameter.
    default_bounds : tuple of ndarray
        ``(lower, upper)``, as impedance.py's ``set_default_bounds``: ``[0, inf)``, CPE alphas ``[0, 1]``.
    log_scaled : ndarray of bool
        Which parameters are positive scales (resistances, capacitances, time constants) rather
        than exponents; fits and samplers treat those in log space.

    Raises
    ------
    ValueError
        For a malformed string or an unknown element, naming the token and the valid elements.

    Examples
    --------
    >>> circuit = Circuit("R0-p(R1,C1)-Wo1")
    >>> circuit.parameter_names
    ('R0', 'R1', 'C1', 'Wo1_0', 'Wo1_1')
    >>> z = circuit.impedance([0.01, 0.02, 5.0, 0.05, 100.0], [0.1, 1.0, 10.0])
    >>> z.shape
    (3,)
    """

    def __init__(self, string: str) -> None:
        if not isinstance(string, str):
            raise TypeError(f"a circuit is given as a string such as 'R0-p(R1,C1)', not {type(string).__name__}")
        self.string = "".join(string.split())
        parser = _Parser(self.string)
        self._evaluate = parser.parse()
        self.elements: tuple[str, ...] = tuple(parser.names)
        names, units, bounds = [], [], []
        for name, element in zip(parser.names, parser.types, strict=True):
            several = element.n_parameters > 1
            names += [f"{name}_{i}" if several else name for i in range(element.n_parameters)]
            units += element.units
            bounds += element.bounds
        self.parameter_names: tuple[str, ...] = tuple(names)
        self.units: tuple[str, ...] = tuple(units)
        lower, upper = np.array(bounds, dtype=float).reshape(-1, 2).T
        self.default_bounds: tuple[np.ndarray, np.ndarray] = (lower, upper)
        self.log_scaled: np.ndarray = np.isinf(upper)  # exponents are the only parameters bounded above
        self._jitted = jax.jit(self._impedance)

    @property
    def n_parameters(self) -> int:
        return len(self.parameter_names)

    def impedance(self, params: ArrayLike, f: ArrayLike) -> jax.Array:
        """The circuit's complex impedance at frequencies ``f``; jit-compiled, vmappable, differentiable.

        Parameters
        ----------
        params : array_like, shape (..., n_parameters)
            Parameter values in ``parameter_names`` order; leading axes are batch axes.
        f : array_like, shape (n_freq,)
            Frequencies [Hz].

        Returns
        -------
        jax.Array, complex, shape (..., n_freq)

        Examples
        --------
        >>> circuit = Circuit("R0-p(R1,C1)")
        >>> z = circuit.impedance([[1.0, 2.0, 0.1], [1.0, 4.0, 0.1]], [1e-4, 1e4])
        >>> np.round(z.real, 3).tolist()
        [[3.0, 1.0], [5.0, 1.0]]
        """
        return self._jitted(jnp.asarray(params, dtype=float), jnp.asarray(f, dtype=float))

    def _impedance(self, params: jax.Array, f: jax.Array) -> jax.Array:
        if params.ndim == 0 or params.shape[-1] != self.n_parameters:
            raise ValueError(
                f"circuit {self.string!r} takes {self.n_parameters} parameters "
                f"({', '.join(self.parameter_names)}) along the last axis; got params of shape {params.shape}"
            )
        if f.ndim != 1:
            raise ValueError(f"f must be one-dimensional (n_freq,); got shape {f.shape}")
        columns = [params[..., i, None] for i in range(self.n_parameters)]
        return self._evaluate(columns, 2 * jnp.pi * f)

    def __repr__(self) -> str:
        return f"Circuit({self.string!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Circuit) and other.string == self.string

    def __hash__(self) -> int:
        return hash((Circuit, self.string))


Node = Callable[[list, jax.Array], jax.Array]
TOKEN = re.compile(r"[A-Za-z]+[0-9_]*|[-(),]")
SYMBOLS = {"-", "(", ")", ","}


class _Parser:
    """Recursive descent over ``series := term ('-' term)*``, ``term := p(series, series, ...) | NAME``."""

    def __init__(self, string: str) -> None:
        self.string = string
        self.tokens = self._tokenize()
        self.position = 0
        self.names: list[str] = []
        self.types: list[CircuitElement] = []
        self.n_parameters = 0

    def parse(self) -> Node:
        if not self.string:
            raise ValueError("empty circuit string; write one such as 'R0-p(R1,C1)'")
        node = self._series()
        if self.position < len(self.tokens):
            self._fail("expected '-' or the end of the string")
        return node

    def _tokenize(self) -> list[tuple[str, int]]:
        tokens, position = [], 0
        while position < len(self.string):
            match = TOKEN.match(self.string, position)
            if match is None:
                raise ValueError(self._message(f"unexpected character {self.string[position]!r}", position))
            tokens.append((match.group(), position))
            position = match.end()
        return tokens

    def _series(self) -> Node:
        parts = [self._term()]
        while self._peek() == "-":
            self.position += 1
            parts.append(self._term())
        if len(parts) == 1:
            return parts[0]
        return lambda params, omega: sum(part(params, omega) for part in parts)

    def _term(self) -> Node:
        token = self._peek()
        if token == "p" and self._peek(1) == "(":
            return self._parallel()
        if token is None or token in SYMBOLS:
            self._fail("expected an element or 'p('")
        return self._element(token)

    def _parallel(self) -> Node:
        opened = self.tokens[self.position][1]
        self.position += 2
        branches = [self._series()]
        while self._peek() == ",":
            self.position += 1
            branches.append(self._series())
        if self._peek() != ")":
            self._fail(f"expected ',' or ')' to close the 'p(' at position {opened}")
        self.position += 1
        if len(branches) < 2:
            raise ValueError(self._message("p(...) needs at least two branches, as in p(R1,C1)", opened))
        return lambda params, omega: 1 / sum(1 / branch(params, omega) for branch in branches)

    def _element(self, name: str) -> Node:
        at = self.tokens[self.position][1]
        kind = name.rstrip("0123456789_")
        if kind not in CIRCUIT_ELEMENTS:
            same_letters = [valid for valid in CIRCUIT_ELEMENTS if valid.lower() == kind.lower()]
            hint = did_you_mean(kind, CIRCUIT_ELEMENTS, n=2, first=same_letters)
            valid = ", ".join(sorted(CIRCUIT_ELEMENTS))
            problem = f"unknown circuit element {kind!r} in {name!r}; valid elements: {valid}.{hint}"
            raise ValueError(self._message(problem, at))
        if name in self.names:
            problem = f"element name {name!r} is used twice; number each element uniquely, as in 'R0-R1'"
            raise ValueError(self._message(problem, at))
        element, first = CIRCUIT_ELEMENTS[kind], self.n_parameters
        self.names.append(name)
        self.types.append(element)
        self.n_parameters += element.n_parameters
        self.position += 1
        return lambda params, omega: element.impedance(omega, *params[first : first + element.n_parameters])

    def _peek(self, ahead: int = 0) -> str | None:
        index = self.position + ahead
        return self.tokens[index][0] if index < len(self.tokens) else None

    def _fail(self, expected: str) -> None:
        if self.position < len(self.tokens):
            token, at = self.tokens[self.position]
            found = f"found {token!r}"
        else:
            at, found = len(self.string), "found the end of the string"
        raise ValueError(self._message(f"{expected}, {found}", at))

    def _message(self, problem: str, at: int) -> str:
        return f"invalid circuit {self.string!r} at position {at}: {problem}\n    {self.string}\n    {' ' * at}^"


def parse(string: str) -> Circuit:
    """The circuit of an impedance.py string; a ValueError that points at a malformed part."""
    return Circuit(string)


@lru_cache(maxsize=64)
def fitted_circuit(string: str, names: tuple[str, ...], held: tuple[tuple[str, float], ...]) -> Circuit:
    """``string``'s circuit as a function of ``names`` in that order, its other parameters at ``held``.

    Cached per process: a worker builds (and JAX compiles) each circuit once, whatever the number
    of tasks that use it.

    Examples
    --------
    >>> circuit = fitted_circuit("R0-p(R1,C1)", ("C1", "R1"), (("R0", 0.01),))
    >>> circuit.parameter_names
    ('C1', 'R1')
    >>> round(float(circuit.impedance([5.0, 0.02], [1e-6]).real[0]), 6)  # R0 + R1 at low frequency
    0.03
    """
    full = parse(string)
    if names == full.parameter_names and not held:
        return full
    return _held_class()(string, names, dict(held))


@lru_cache(maxsize=1)
def _held_class() -> type:
    """The class of circuits with held parameters."""
    class Held(Circuit):
        """A circuit whose parameters ``names`` (in that order) are free and the rest held at values.

        :func:`elements.eis.fit.fit` takes it as any circuit, so it fits a subset of the parameters,
        in the fit's order.
        """

        def __init__(self, string: str, names: tuple[str, ...], held: dict[str, float]) -> None:
            super().__init__(string)
            full = self.parameter_names
            index = [full.index(name) for name in names]
            self.held = tuple(sorted(held.items()))
            self._free = np.array(index, dtype=int)
            self._values = np.array([held.get(name, np.nan) for name in full], dtype=float)
            self.parameter_names = tuple(names)
            self.units = tuple(self.units[i] for i in index)
            lower, upper = self.default_bounds
            self.default_bounds = (lower[index], upper[index])
            self.log_scaled = self.log_scaled[index]

        def _impedance(self, params: Any, f: Any) -> Any:
            import jax.numpy as jnp

            if params.ndim == 0 or params.shape[-1] != self.n_parameters:
                raise ValueError(f"{self!r} takes {self.n_parameters} parameters ({', '.join(self.parameter_names)}) "
                                 f"along the last axis; got params of shape {params.shape}")
            values = jnp.broadcast_to(self._values, (*params.shape[:-1], len(self._values)))
            values = values.at[..., self._free].set(params)
            return self._evaluate([values[..., i, None] for i in range(len(self._values))], 2 * jnp.pi * f)

        def __repr__(self) -> str:
            return f"Circuit({self.string!r}, free {self.parameter_names}, held {dict(self.held)})"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Held) and (other.string, other.parameter_names, other.held) == (
                self.string, self.parameter_names, self.held)

        def __hash__(self) -> int:
            return hash((Held, self.string, self.parameter_names, self.held))

    return Held
