"""Units and long names of stored variables, read from their PyBaMM-style names.

Every variable sweepfit stores gets a ``long_name`` and, when it is a number of known units,
``units`` (CF's ``"1"`` for counts), so ``ds[name].plot()`` labels its axes ("Voltage [V]")
without knowing where the data came from. :func:`describe` fills them in one place: from the
name itself (``"Voltage [V]"``, ``"data Voltage [V]"``), from the names sweepfit uses (``time``,
``cost``, ``Z_real``, ...), from the ``parameter`` coordinate a fit's values lie on, and for costs
from the element's spec. Text (a status, a message) has no units, nor has a number whose units
are unknown (parameters of different units on one axis, a cost over variables of different
units): none rather than a wrong one. Attributes an element set itself are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

_NAMED = re.compile(r"^(?P<name>.*?)\s*\[(?P<units>[^\[\]]*)\]$")

# Names sweepfit writes that carry no "[units]" of their own: long name, units.
KNOWN: dict[str, tuple[str, str]] = {
    "time": ("Time", "s"),
    "step_time": ("Time", "s"),
    "current": ("Current", "A"),
    "frequency": ("Frequency", "Hz"),
    "Z_real": ("Re(Z)", "Ohm"),
    "Z_imag": ("Im(Z)", "Ohm"),
    "Z_real_fit": ("Re(Z), fit", "Ohm"),
    "Z_imag_fit": ("Im(Z), fit", "Ohm"),
    "c_rate": ("C-rate", "C"),
    "generation": ("generation", "1"),
    "evaluation": ("evaluation", "1"),
    "start": ("start", "1"),
    "point": ("point", "1"),
    "solve_count": ("solves", "1"),
}
# Cost-valued names: their long name says which cost ("best cost (RMSE)").
COSTS = {"cost": "cost", "best_cost": "best cost", "best_cost_per_generation": "best cost per generation",
         "end_cost": "end cost", "optimizer_cost": "the optimizer's end cost"}
# A validation's metrics, and the costs whose units follow from the compared variables' units.
METRICS = {"RMSE": "RMSE", "MAE": "MAE", "Max": "largest absolute error"}
COST_POWER = {"RMSE": 1, "MAE": 1, "Max": 1, "MSE": 2, "SSE": 2}
# Values on a fit's ``parameter`` coordinate: they carry the parameters' units when all share one.
PARAMETER_VALUES = {"x": "parameter value", "best_x": "best parameter value", "lower_bound": "lower bound",
                    "upper_bound": "upper bound", "best_x_per_generation": "best parameter value",
                    "start_x": "start point", "end_x": "end point", "chain": "sample",
                    "posterior_mean": "posterior mean", "posterior_sd": "posterior standard deviation",
                    "posterior_lower": "posterior 2.5 % quantile", "posterior_upper": "posterior 97.5 % quantile",
                    "value": "fitted value", "lower": "interval's lower end", "upper": "interval's upper end"}


def split(name: str) -> tuple[str, str] | None:
    """A PyBaMM-style name as (long name, units), or None when it has no ``[units]``.

    Examples
    --------
    >>> split("Negative particle diffusivity [m2.s-1]")
    ('Negative particle diffusivity', 'm2.s-1')
    >>> split("data Voltage [V]")
    ('data Voltage', 'V')
    >>> split("cost") is None
    True
    """
    found = _NAMED.match(name)
    return (found["name"], found["units"]) if found else None


def label(name: str, units: str) -> str:
    """An axis label: ``"Voltage [V]"``, or the bare name when there are no units."""
    return f"{name} [{units}]" if units else name


def _parameter_units(ds: xr.Dataset) -> str | None:
    if "parameter" not in ds.coords:
        return None
    found = {(split(str(p)) or ("", None))[1] for p in np.asarray(ds["parameter"].values).ravel()}
    return found.pop() if len(found) == 1 else None


def _per_search(cost_units: str | None, spec: Mapping[str, Any], parameter_units: str | None) -> str | None:
    transforms = {str(p.get("transform", "none")).lower() for p in (spec.get("parameters") or {}).values()
                  if isinstance(p, Mapping)}
    if cost_units is None or not transforms:
        return None
    if transforms == {"log10"}:
        return cost_units
    return f"{cost_units}/({parameter_units})" if transforms == {"none"} and parameter_units else None


def _compared_units(spec: Mapping[str, Any]) -> str | None:
    # The units every objective of a fit or validation compares, when they share one.
    names = {v for o in (spec.get("objectives") or {}).values() if isinstance(o, Mapping)
             for v in o.get("variables") or ["Voltage [V]"]}
    found = {(split(str(n)) or ("", None))[1] for n in names}
    return found.pop() if len(found) == 1 else None


def _power(unit: str | None, power: int | None) -> str | None:
    if unit is None or power is None:
        return None
    return unit if power == 1 else f"{unit}{power}" if re.fullmatch(r"[A-Za-z]+", unit) else f"({unit}){power}"


def describe(ds: xr.Dataset, *, spec: Mapping[str, Any] | None = None) -> xr.Dataset:
    """A copy of ``ds`` whose variables and coordinates all have a ``long_name``, numbers their ``units``.

    Parameters
    ----------
    ds : xarray.Dataset
        Left unchanged; attributes already set on a variable are kept.
    spec : mapping, optional
        The element's spec as stored with the run: its ``cost`` names the cost variables
        ("cost (RMSE)"), and its objectives' compared variables give costs and metrics their units.

    Examples
    --------
    >>> ds = describe(xr.Dataset({"model Voltage [V]": ("time", [4.1, 4.0])}, coords={"time": [0.0, 10.0]}))
    >>> ds["model Voltage [V]"].attrs
    {'long_name': 'model Voltage', 'units': 'V'}
    >>> ds["time"].attrs
    {'long_name': 'Time', 'units': 's'}
    >>> costs = describe(xr.Dataset({"cost": ("evaluation", [0.002])}), spec={"cost": {"type": "MSE"}, "objectives": {"1C": {}}})
    >>> costs["cost"].attrs
    {'long_name': 'cost (MSE)', 'units': 'V2'}
    """
    spec = spec or {}
    cost = spec.get("cost")
    cost = cost.get("type") if isinstance(cost, Mapping) else cost
    compared = _compared_units(spec)
    ds = ds.copy(deep=False)
    parameter_units = _parameter_units(ds)
    for name, variable in ds.variables.items():
        key = str(name)
        if key in COSTS:
            long_name, units = f"{COSTS[key]} ({cost})" if cost else COSTS[key], _power(compared, COST_POWER.get(cost))
        elif key == "gradient":  # per unit of the search space: a decade for a log10 parameter
            long_name, units = "d cost / d search value", _per_search(_power(compared, COST_POWER.get(cost)),
                                                                       spec, parameter_units)
        elif key in METRICS:
            long_name, units = METRICS[key], compared
        elif key in PARAMETER_VALUES and "parameter" in variable.dims:
            long_name, units = PARAMETER_VALUES[key], parameter_units
        else:
            long_name, units = split(key) or KNOWN.get(key) or (key.replace("_", " "), None)
        variable.attrs.setdefault("long_name", long_name)
        if units is not None and variable.dtype.kind in "iufb":
            variable.attrs.setdefault("units", units)
    return ds
