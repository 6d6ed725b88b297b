"""How named values enter a PyBaMM ParameterValues: numbers, tables, functions, factors on functions,
the initial SOC.

Values pass between elements as JSON-ready numbers, as a **table** ``{"x": [...], "y": [...]}`` (an
OCP from data), which becomes a PyBaMM Interpolant of the function's first argument, as a **grid**
``{"x": [[...], [...]], "y": [[...], ...], "arguments": [...]}`` (an ECM's R0 over SOC and
temperature), a 2-D PyBaMM Interpolant of the two arguments it names, or as a
**function** in PyBaMM's own serialised form (what ``ParameterValues.to_json()`` and ionworks-schema
write: ``{"name": ..., "func_name": ..., "func_args": [...], "children": [...], "$type": ...}``), read
back with PyBaMM's serialiser. Being plain JSON, all three are stored and hashed as they are written.
Four kinds of name are not parameters of the set but act on them:

- ``"<function> factor"`` multiplies a function-valued parameter: the model sees ``factor * f(*args)``,
  so a fit keeps the function's shape (Chen2020's exchange-current density, Ai2020's diffusivities) and
  the factor is one InputParameter, solvable in one batched IDAKLU call and differentiable.
- ``"<table> knot <i>"`` is the i-th ``y`` value of a linear table (``"R0 [Ohm] knot 3"``; ``"knot i,j"`` in a
  grid), the table passed on from upstream or the parameter set's: a fit of knots refits a table
  against a whole test. Linear interpolation is linear in ``y``, so the model sees the table with
  the fitted knots zeroed plus each knot times the interpolant of its unit vector: the knots are
  InputParameters, solvable in one batched call and differentiable.
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
KNOT = " knot "
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


def knot_of(name: str) -> tuple[str, tuple[int, ...]] | None:
    """The table ``name`` is a knot of and the knot's index, ``(i,)`` in a table, ``(i, j)`` in a grid; None
    for a name that is not ``"<table> knot <i>"``.

    Examples
    --------
    >>> knot_of("R0 [Ohm] knot 3"), knot_of("R0 [Ohm] knot 3,1"), knot_of("R0 [Ohm]")
    (('R0 [Ohm]', (3,)), ('R0 [Ohm]', (3, 1)), None)
    """
    base, found, index = name.rpartition(KNOT)
    matched = re.fullmatch(r"(\d+)(?:\s*,\s*(\d+))?", index)
    if not found or not base or matched is None:
        return None
    return base, tuple(int(i) for i in matched.groups() if i is not None)


def table_of(value: Any) -> dict[str, Any] | None:
    """``value`` as a table or grid: itself, or a parameter set's PyBaMM data ``(name, ([x], y))``; None
    for anything else (a number, a function)."""
    if is_table(value):
        return dict(value)
    if isinstance(value, tuple) and len(value) == 2 and len(value[1]) == 2 and len(value[1][0]) == 1:
        return {"x": [float(v) for v in value[1][0][0]], "y": [float(v) for v in value[1][1]]}
    return None


def shape_of(found: Mapping[str, Any]) -> tuple[int, ...]:
    """How many knots a table has, ``(n,)``, or a grid on each axis, ``(n, m)``.

    Examples
    --------
    >>> shape_of(table([0, 0.5, 1], [1, 2, 3])), shape_of(grid_table([[0, 1], [0, 25]], [[1, 2], [3, 4]]))
    ((3,), (2, 2))
    """
    return tuple(len(axis) for axis in found["x"]) if is_grid(found) else (len(found["x"]),)


def knot_problem(name: str, shape: tuple[int, ...], *, where: str) -> str | None:
    """A message for a knot ``name`` outside a table of ``shape`` (held ``where``), or None."""
    base, index = knot_of(name)
    if len(index) == len(shape) and all(0 <= i < n for i, n in zip(index, shape)):
        return None
    if len(shape) == 1:
        return (f"{name!r}: {base!r} {where} is a table of {shape[0]} knots; valid: '{base}{KNOT}0' to "
                f"'{base}{KNOT}{shape[0] - 1}' (0-based, in the order of its x)")
    return (f"{name!r}: {base!r} {where} is a grid of {shape[0]} x {shape[1]} knots; valid: '{base}{KNOT}i,j' "
            f"with i in 0-{shape[0] - 1} and j in 0-{shape[1] - 1} (0-based, in the order of its axes)")


def name_problems(
    values: Any, names: Iterable[str], *, of: str, tables: Mapping[str, tuple[int, ...] | None] | None = None
) -> list[str]:
    """Messages for names that ``values`` (the parameter set ``of``) cannot take; factors and the initial
    SOC are accepted, a factor on a number is not. A knot must be of a table: one of ``tables`` (those
    earlier elements pass on, by name, with their shape, or None where only the run will tell) or of
    the parameter set, within its shape.

    Examples
    --------
    >>> import pybamm
    >>> name_problems(pybamm.ParameterValues("Chen2020"), ["Negative particle radius [m] factor"],
    ...               of="Chen2020")[0][:81]
    "'Negative particle radius [m] factor': 'Negative particle radius [m]' is a number"
    """
    known = values.keys()
    tables = tables or {}
    problems = []
    for name in names:
        if name in known or name in SOC_SCALES:
            continue
        if KNOT in name:
            problems += _knot_problems(values, name, tables, of=of)
            continue
        base = factor_of(name, known)
        if base is None:
            problems.append(unknown_name(f"parameter of {of}", name, [*known, *SOC_SCALES]))
        elif not is_function(values[base]):
            problems.append(f"{name!r}: {base!r} is a number in {of} ({values[base]:.6g}), not a function; "
                            f"fit or set {base!r} itself (a factor multiplies a function-valued parameter)")
    return problems


def _knot_problems(values: Any, name: str, tables: Mapping[str, tuple[int, ...] | None], *, of: str) -> list[str]:
    knot = knot_of(name)
    if knot is None:
        return [f"{name!r}: a knot is named '<table>{KNOT}<i>' with i its 0-based index (or 'i,j' in a grid), as "
                f"'R0 [Ohm]{KNOT}3'"]
    base = knot[0]
    if base in tables:
        shape, where = tables[base], "upstream"
    elif base in values.keys() and (found := table_of(values[base])) is not None:
        shape, where = shape_of(found), f"in {of}"
    else:
        what = "not a parameter" if base not in values.keys() else (
            "a function" if is_function(values[base]) else f"the number {values[base]:.6g}")
        return [f"{name!r}: {base!r} is {what} in {of} and no earlier element passes on a table for it; a knot is "
                f"a value of a table: put an ECMTables (or an entry with a table for {base!r}) before this "
                f"element, or fit {base!r} itself"]
    problem = None if shape is None else knot_problem(name, shape, where=where)
    return [] if problem is None else [problem]


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
    knots = [n for n in (*given, *inputs) if n not in known and knot_of(n) is not None]
    tables = _knotted_tables(values, given, inputs, knots)
    soc = next((n for n in SOC_SCALES if n not in known and (n in given or n in inputs)), None)
    _put(values, {k: v for k, v in given.items() if k not in inputs and k not in knots and k not in tables}, known)
    values.update(tables, check_already_exists=False)
    if INITIAL_VOLTAGE in given and INITIAL_VOLTAGE not in known:
        values.set_initial_state(f"{float(given[INITIAL_VOLTAGE])} V",
                                 options=pybamm.BatteryModelOptions(dict(options or {})))
    windows = _windows(values, options) if soc is not None else {}
    _put(values, {n: pybamm.InputParameter(n) for n in inputs if n not in knots}, known)
    if soc is not None:
        fraction = SOC_SCALES[soc] * (pybamm.InputParameter(soc) if soc in inputs else float(given[soc]))
        for e, (empty, full) in windows.items():
            c_max = values[MAX_CONCENTRATION[e]]
            scale = c_max if isinstance(c_max, numbers.Number) else pybamm.Parameter(MAX_CONCENTRATION[e])
            values[INITIAL_CONCENTRATION[e]] = scale * (empty + fraction * (full - empty))
    return values


def with_knots(found: Mapping[str, Any]) -> dict[str, Any]:
    """``found`` with each knot's value (``"R0 [Ohm] knot 3": 0.011``) in the table of ``found`` it is a
    knot of: a fit of knots passes on the tables it refitted.

    Examples
    --------
    >>> with_knots({"R0 [Ohm]": table([0, 1], [0.02, 0.01]), "R0 [Ohm] knot 1": 0.012})["R0 [Ohm]"]["y"]
    [0.02, 0.012]
    """
    out = dict(found)
    for name, value in found.items():
        knot = knot_of(name)
        if knot is not None and is_table(out.get(knot[0])):
            y = np.array(out[knot[0]]["y"], dtype=float)
            y[knot[1]] = value
            out[knot[0]] = {**out[knot[0]], "y": y.tolist()}
    return out


def passed_value(found: Mapping[str, Any], name: str) -> Any:
    """The value ``found`` passes on for ``name``: its own, or for a knot the value at that knot of its
    table (a refit of a table starts from it); None when there is none."""
    if name in found:
        return found[name]
    knot = knot_of(name)
    if knot is None or not is_table(found.get(knot[0])):
        return None
    y = np.asarray(found[knot[0]]["y"], dtype=float)
    return float(y[knot[1]]) if knot_problem(name, y.shape, where="") is None else None


def _knotted_tables(values: Any, given: Mapping[str, Any], inputs: tuple[str, ...],
                    knots: list[str]) -> dict[str, Callable[..., Any]]:
    """The tables some of whose knots are given or fitted, as functions of their arguments."""
    import pybamm

    at: dict[str, dict[tuple[int, ...], Any]] = {}
    for name in knots:
        base, index = knot_of(name)
        at.setdefault(base, {})[index] = pybamm.InputParameter(name) if name in inputs else float(given[name])
    found = {}
    for base, knotted in at.items():
        held = given[base] if base in given else values[base] if base in values.keys() else None
        tabulated = table_of(held)
        if tabulated is None:
            raise ValueError(f"'{base}{KNOT}...': {base!r} is {'not given' if held is None else 'not a table'} here; "
                             f"a knot is a value of a table: pass on a table for {base!r} (ECMTables, an entry) "
                             f"before fitting its knots")
        found[base] = _knotted(base, tabulated, knotted)
    return found


def _knotted(name: str, found: Mapping[str, Any], at: Mapping[tuple[int, ...], Any]) -> Callable[..., Any]:
    """The table ``found`` with the values ``at`` its knots: numbers replace the knots' y; for symbols (the
    fitted knots), the table with them zeroed plus each symbol times the interpolant of its unit vector,
    which linear interpolation makes exactly the table with them in place."""
    if found.get("interpolator", "linear") != "linear":
        raise ValueError(f"the knots of {name!r} are fitted, but its table interpolates {found['interpolator']!r}; "
                         f"knots are fitted in a linear table: make it with interpolator: linear")
    y = np.array(found["y"], dtype=float)
    names = {index: f"{name}{KNOT}{','.join(map(str, index))}" for index in at}
    for index in at:
        problem = knot_problem(names[index], y.shape, where="here")
        if problem is not None:
            raise ValueError(problem)
    symbols = {index: v for index, v in at.items() if not isinstance(v, numbers.Number)}
    for index, v in at.items():
        y[index] = 0.0 if index in symbols else v
    rest = _interpolant(name, {**found, "y": y})
    hats = []
    for index, symbol in symbols.items():
        unit = np.zeros_like(y)
        unit[index] = 1.0
        hats.append((symbol, _interpolant(names[index], {**found, "y": unit})))

    def tabulated(*args: Any) -> Any:
        return sum((symbol * hat(*args) for symbol, hat in hats), rest(*args))

    return tabulated


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


__all__ = ["ARGUMENTS", "FACTOR", "KNOT", "SOC_SCALES", "apply", "deserialised", "factor_of", "grid_table",
           "is_function", "is_grid", "is_serialised", "is_table", "key_numbers", "knot_of", "knot_problem",
           "name_problems", "passed_value", "per_key", "replaced_functions", "serialised", "shape_of", "table",
           "table_of", "with_knots"]
