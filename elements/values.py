"""How named values enter a PyBaMM ParameterValues: numbers, tables, functions, factors on functions,
the initial SOC.

Values pass between elements as JSON-ready numbers, as a **table** ``{"x": [...], "y": [...]}`` (an
OCP from data), which becomes a PyBaMM Interpolant of the function's first argument, as a **grid**
``{"x": [[...], [...]], "y": [[...], ...], "arguments": [...]}`` (an ECM's R0 over SOC and
temperature), a 2-D PyBaMM Interpolant of the two arguments it names, or as a
**function** in PyBaMM's own serialised form (what ``ParameterValues.to_json()`` and ionworks-schema
write: ``{"name": ..., "func_name": ..., "func_args": [...], "children": [...], "$type": ...}``), read
back with PyBaMM's serialiser. Being plain JSON, all three are stored and hashed as they are written.
Three kinds of name are not parameters of the set but act on them:

- ``"<function> factor"`` multiplies a function-valued parameter: the model sees ``factor * f(*args)``,
  so a fit keeps the function's shape (Chen2020's exchange-current density, Ai2020's diffusivities) and
  the factor is one InputParameter, solvable in one batched IDAKLU call and differentiable.
- ``"Initial SOC"`` (or ``"Initial SOC [%]"``) sets both initial concentrations through the parameter
  set's stoichiometry windows, ``c0 = c_max * (x0 + soc * (x100 - x0))``, as PyBaMM's
  ``set_initial_state`` does; the windows are solved once, so a fitted SOC is an InputParameter too.
- ``"Initial voltage [V]"`` (ionworks' ``InitialVoltage`` entry) sets them with PyBaMM's
  ``set_initial_state`` at that open-circuit voltage (a given value, not a fitted one).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from elements.core.registry import unknown_name

FACTOR = " factor"
SOC_SCALES = {"Initial SOC": 1.0, "Initial SOC [%]": 0.01}  # name -> to a fraction
INITIAL_VOLTAGE = "Initial voltage [V]"  # ionworks' InitialVoltage entry: set_initial_state at that voltage
# Where PyBaMM's equivalent-circuit functions (pybamm.EcmParameters) take the arguments a table can be
# over: R0, R_i and C_i take (temperature, current, SoC), the open-circuit voltage (SoC).
ARGUMENTS = {"SoC": -1, "Cell temperature [degC]": 0}
ELECTRODES = ("negative", "positive")
MAX_CONCENTRATION = {e: f"Maximum concentration in {e} electrode [mol.m-3]" for e in ELECTRODES}
INITIAL_CONCENTRATION = {e: f"Initial concentration in {e} electrode [mol.m-3]" for e in ELECTRODES}


def table(
    x: Iterable[float], y: Iterable[float], *, interpolator: str = "linear", argument: str | None = None
) -> dict[str, Any]:
    """A tabulated function value, as it passes between elements and into the store (plain JSON).

    ``argument`` names the function's argument the table is over, one of :data:`ARGUMENTS` (an
    ECM's ``R0 [Ohm]`` over ``"SoC"``); by default its first (an OCP's stoichiometry).

    Examples
    --------
    >>> table([0, 1], [1.0, 0.5])
    {'x': [0.0, 1.0], 'y': [1.0, 0.5], 'interpolator': 'linear'}
    >>> table([0, 1], [0.02, 0.01], argument="SoC")["argument"]
    'SoC'
    """
    found = {"x": [float(v) for v in x], "y": [float(v) for v in y], "interpolator": interpolator}
    return found if argument is None else {**found, "argument": argument}


def grid_table(
    axes: Sequence[Iterable[float]], y: Any, *, interpolator: str = "linear", arguments: Sequence[str] | None = None
) -> dict[str, Any]:
    """A function of two arguments tabulated on a grid: ``y[i][j]`` at ``(axes[0][i], axes[1][j])``,
    plain JSON (NaN where a knot has no value). ``arguments`` names what each axis is, from
    :data:`ARGUMENTS`, in the axes' order.

    Examples
    --------
    >>> grid_table([[0.1, 0.9], [0, 25]], [[0.03, 0.02], [0.025, 0.01]], arguments=["SoC", "Cell temperature [degC]"])
    {'x': [[0.1, 0.9], [0.0, 25.0]], 'y': [[0.03, 0.02], [0.025, 0.01]], 'interpolator': 'linear', \
'arguments': ['SoC', 'Cell temperature [degC]']}
    """
    found = {"x": [[float(v) for v in axis] for axis in axes],
             "y": [[float(v) for v in row] for row in np.asarray(y, dtype=float)], "interpolator": interpolator}
    return found if arguments is None else {**found, "arguments": list(arguments)}


def key_numbers(key: str) -> tuple[float, ...] | None:
    """An array fit's key as numbers: ``"0.9"`` one, ``"0.9, 25"`` (or ``"0.9/25"``) two; None for a name.

    Examples
    --------
    >>> key_numbers("0.9, 25"), key_numbers("25C")
    ((0.9, 25.0), None)
    """
    try:
        return tuple(float(part) for part in re.split(r"[,/]", key))
    except ValueError:
        return None


def per_key(element: str, keys: Iterable[str], names: Iterable[str], values: np.ndarray) -> dict[str, Any]:
    """An ``array_data_fit``'s per-key results as tables over its keys, ``"<element>/<name>"`` each, for a
    calculation to assemble (:mod:`elements.calculations.ecm_tables`): over one number where every key
    is one (a SOC), a grid where every key is a pair (``"0.9, 25"``: a SOC and a temperature); none
    otherwise. ``values`` has one row per key, one column per name; a row with a non-finite value is
    left out of a table, and is NaN in a grid.

    Examples
    --------
    >>> per_key("pulses", ["0.9", "0.5"], ["R0 [Ohm]"], np.array([[0.011], [0.010]]))
    {'pulses/R0 [Ohm]': {'x': [0.5, 0.9], 'y': [0.01, 0.011], 'interpolator': 'linear'}}
    >>> per_key("pulses", ["0.9, 0", "0.9, 25"], ["R0 [Ohm]"], np.array([[0.02], [0.01]]))["pulses/R0 [Ohm]"]["y"]
    [[0.02, 0.01]]
    """
    found = [key_numbers(k) for k in keys]
    sizes = {None if f is None else len(f) for f in found}
    if sizes == {1}:
        x = np.array([f[0] for f in found])
        order = np.argsort(x)
        kept = order[np.all(np.isfinite(values[order]), axis=1)]
        return {f"{element}/{name}": table(x[kept], values[kept, j]) for j, name in enumerate(names)}
    if sizes != {2}:
        return {}
    points = np.array(found)
    axes = [np.unique(points[:, 0]), np.unique(points[:, 1])]
    at = tuple(np.searchsorted(axis, points[:, i]) for i, axis in enumerate(axes))
    tables = {}
    for j, name in enumerate(names):
        y = np.full((len(axes[0]), len(axes[1])), np.nan)
        y[at] = values[:, j]
        tables[f"{element}/{name}"] = grid_table(axes, y)
    return tables


def is_table(value: Any) -> bool:
    """Whether ``value`` is a table or a grid (:func:`table`, :func:`grid_table`)."""
    return isinstance(value, Mapping) and {"x", "y"} <= set(value)


def is_grid(value: Any) -> bool:
    """Whether ``value`` is a table over two arguments (:func:`grid_table`)."""
    return is_table(value) and len(value["x"]) > 0 and isinstance(value["x"][0], (list, tuple, np.ndarray))


def is_serialised(value: Any) -> bool:
    """Whether ``value`` is a symbol in PyBaMM's serialised form (kernel ``$type`` or legacy ``type`` tag)."""
    return isinstance(value, Mapping) and ("$type" in value or "type" in value)


def serialised(name: str, function: Callable[..., Any]) -> dict[str, Any]:
    """A function of PyBaMM symbols (``f(c_e, c_s_surf, c_s_max, T)``) in PyBaMM's serialised form."""
    from pybamm.expression_tree.operations.serialise import (
        convert_function_to_symbolic_expression,
        convert_symbol_to_json,
    )

    return convert_symbol_to_json(convert_function_to_symbolic_expression(function, name))


def deserialised(value: Mapping[str, Any]) -> Any:
    """The PyBaMM symbol a serialised value holds, read by PyBaMM's serialiser."""
    from pybamm.parameters.parameter_values import deserialize_parameter_value

    return deserialize_parameter_value(dict(value))


def is_function(value: Any) -> bool:
    """Whether a ParameterValues entry is a function of its arguments (callable, PyBaMM's data tuple, or a
    function read from PyBaMM's serialised form)."""
    return callable(value) or isinstance(value, tuple) or hasattr(value, "func_args")


def factor_of(name: str, known: Iterable[str]) -> str | None:
    """The parameter ``name`` is a factor on, or None (a parameter's own name is never a factor)."""
    known = set(known)
    if name.endswith(FACTOR) and name not in known and name[: -len(FACTOR)] in known:
        return name[: -len(FACTOR)]
    return None


def name_problems(values: Any, names: Iterable[str], *, of: str) -> list[str]:
    """Messages for names that ``values`` (the parameter set ``of``) cannot take; factors and the initial
    SOC are accepted, a factor on a number is not.

    Examples
    --------
    >>> import pybamm
    >>> name_problems(pybamm.ParameterValues("Chen2020"), ["Negative particle radius [m] factor"],
    ...               of="Chen2020")[0][:81]
    "'Negative particle radius [m] factor': 'Negative particle radius [m]' is a number"
    """
    known = values.keys()
    problems = []
    for name in names:
        if name in known or name in SOC_SCALES:
            continue
        base = factor_of(name, known)
        if base is None:
            problems.append(unknown_name(f"parameter of {of}", name, [*known, *SOC_SCALES]))
        elif not is_function(values[base]):
            problems.append(f"{name!r}: {base!r} is a number in {of} ({values[base]:.6g}), not a function; "
                            f"fit or set {base!r} itself (a factor multiplies a function-valued parameter)")
    return problems


def replaced_functions(values: Any, names: Iterable[str], *, of: str) -> list[str]:
    """Messages for fitted names whose parameter is a function in ``values``: a number would replace it."""
    return [
        f"{name!r} is a function in {of}; a fitted number would replace it by a constant. Fit a factor on it "
        f"as '{name}{FACTOR}', or add replace_function: true to fit a constant in its place"
        for name in names
        if name in values and is_function(values[name])
    ]


def apply(values: Any, given: Mapping[str, Any], *, inputs: Iterable[str] = (), options: Any = None) -> Any:
    """Put ``given`` values, and ``inputs`` as InputParameters, into the ParameterValues ``values``.

    Numbers and tables replace entries; factors scale functions; an initial SOC sets the initial
    concentrations, from stoichiometry windows solved with the given values (before any input:
    the windows do not follow other parameters fitted in the same element, only the maximum
    concentrations do). ``options`` are the model options the windows are solved with.
    """
    import pybamm

    inputs = tuple(inputs)
    known = set(values.keys())
    soc = next((n for n in SOC_SCALES if n not in known and (n in given or n in inputs)), None)
    _put(values, {k: v for k, v in given.items() if k not in inputs}, known)
    if INITIAL_VOLTAGE in given and INITIAL_VOLTAGE not in known:
        values.set_initial_state(f"{float(given[INITIAL_VOLTAGE])} V",
                                 options=pybamm.BatteryModelOptions(dict(options or {})))
    windows = _windows(values, options) if soc is not None else {}
    _put(values, {n: pybamm.InputParameter(n) for n in inputs}, known)
    if soc is not None:
        fraction = SOC_SCALES[soc] * (pybamm.InputParameter(soc) if soc in inputs else float(given[soc]))
        for e, (empty, full) in windows.items():
            c_max = values[MAX_CONCENTRATION[e]]
            scale = c_max if isinstance(c_max, numbers.Number) else pybamm.Parameter(MAX_CONCENTRATION[e])
            values[INITIAL_CONCENTRATION[e]] = scale * (empty + fraction * (full - empty))
    return values


def _put(values: Any, found: Mapping[str, Any], known: set[str]) -> None:
    """Numbers, tables and symbols replace entries; factors scale their functions; the SOC waits."""
    for name, value in found.items():
        if (base := factor_of(name, known)) is not None:
            values[base] = _scaled(base, values[base], value)
        elif name in known or name not in (*SOC_SCALES, INITIAL_VOLTAGE):
            values.update({name: _as_value(name, value)}, check_already_exists=False)


def _as_value(name: str, value: Any) -> Any:
    if is_table(value):
        return _interpolant(name, value)
    return deserialised(value) if is_serialised(value) else value


def _interpolant(name: str, found: Mapping[str, Any]) -> Callable[..., Any]:
    """A table as a function of its ``argument`` (by default the first: an OCP's stoichiometry), the
    others ignored; a grid as a function of its two ``arguments``."""
    import pybamm

    if is_grid(found):
        return _grid_interpolant(name, found)
    x, y = np.asarray(found["x"], dtype=float), np.asarray(found["y"], dtype=float)
    interpolator = found.get("interpolator", "linear")
    argument = found.get("argument")
    if argument is not None and argument not in ARGUMENTS:
        raise ValueError(unknown_name(f"argument of the table for {name!r}", argument, ARGUMENTS))
    position = 0 if argument is None else ARGUMENTS[argument]
    name = re.sub(r"\W+", "_", name).strip("_")  # CasADi names a cubic interpolant's function after it

    def tabulated(*args: Any) -> Any:
        return pybamm.Interpolant(x, y, args[position], name=name, interpolator=interpolator)

    return tabulated


def _grid_interpolant(name: str, found: Mapping[str, Any]) -> Callable[..., Any]:
    """A grid as a 2-D PyBaMM Interpolant of the two arguments it names (bilinear or cubic), checked
    when the model calls it: an array fit's per-key grids pass through parameter sets unnamed and unused."""
    import pybamm

    axes = tuple(np.asarray(axis, dtype=float) for axis in found["x"])
    y = np.asarray(found["y"], dtype=float)
    arguments = list(found.get("arguments") or [])
    interpolator = found.get("interpolator", "linear")
    label = re.sub(r"\W+", "_", name).strip("_")

    def tabulated(*args: Any) -> Any:
        if len(args) < 2:  # the open-circuit voltage: a function of the SOC alone
            raise ValueError(f"{name!r} is a function of the SOC alone in PyBaMM's ECM, not of {arguments}: a "
                             "grid over SOC and temperature fits the circuit's R0, R1, C1, ...; give the "
                             "open-circuit voltage a table over SoC")
        _check_grid(name, axes, y, arguments)
        return pybamm.Interpolant(axes, y, [args[ARGUMENTS[a]] for a in arguments], name=label,
                                  interpolator=interpolator)

    return tabulated


def _check_grid(name: str, axes: tuple[np.ndarray, ...], y: np.ndarray, arguments: list[str]) -> None:
    """ValueError for a grid PyBaMM cannot interpolate: arguments, shape, and knots without a value."""
    if len(axes) != 2 or len(arguments) != 2 or len(set(arguments)) != 2 or not set(arguments) <= set(ARGUMENTS):
        raise ValueError(f"the grid for {name!r} has {len(axes)} axes and arguments {arguments}; a grid needs "
                         f"arguments: two of {sorted(ARGUMENTS)}, one for each axis, in the axes' order")
    if y.shape != tuple(len(axis) for axis in axes):
        raise ValueError(f"the grid for {name!r} has y of shape {y.shape} over axes of {[len(a) for a in axes]} "
                         "knots; y[i][j] is the value at (x[0][i], x[1][j])")
    holes = [(float(axes[0][i]), float(axes[1][j])) for i, j in zip(*np.nonzero(~np.isfinite(y)))]
    if holes:
        raise ValueError(f"the grid for {name!r} has no value at {len(holes)} knot(s) {holes[:5]} of "
                         f"({', '.join(arguments)}); PyBaMM interpolates a full grid: give every knot a value")


def _scaled(base: str, original: Any, factor: Any) -> Any:
    if hasattr(original, "func_args"):  # read from PyBaMM's serialised form: scale its expression
        return type(original)(original.name, factor * original.child, original.func_name, original.func_args)
    if isinstance(original, tuple):  # PyBaMM's (name, (x, y)) data, interpolated as PyBaMM does
        label, (inputs, output) = original
        if len(inputs) != 1:
            raise TypeError(f"'{base}{FACTOR}': {base!r} is a table of {len(inputs)} variables; a factor "
                            f"scales a function or a table of one variable")
        original = _interpolant(label, {"x": inputs[0], "y": output})
    if not callable(original):
        raise TypeError(f"'{base}{FACTOR}': {base!r} is {original!r}, not a function; set {base!r} itself")

    def scaled(*args: Any) -> Any:
        return factor * original(*args)

    return scaled


def _windows(values: Any, options: Any) -> dict[str, tuple[float, float]]:
    """Each electrode's stoichiometry at 0 % and at 100 % SOC for ``values``."""
    import pybamm

    x0, x100, y100, y0 = pybamm.lithium_ion.get_min_max_stoichiometries(
        values, options=pybamm.BatteryModelOptions(dict(options or {})))
    return {"negative": (float(x0), float(x100)), "positive": (float(y0), float(y100))}


__all__ = ["ARGUMENTS", "FACTOR", "SOC_SCALES", "apply", "deserialised", "factor_of", "grid_table", "is_function",
           "is_grid", "is_serialised", "is_table", "key_numbers", "name_problems", "per_key", "replaced_functions",
           "serialised", "table"]
