"""What every figure shares: an Agg canvas (no display, no pyplot state), labels, scales."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from elements.core import units

DATA = {"color": "0.35", "marker": ".", "linestyle": "none", "markersize": 3}  # measured: grey points
MODEL = {"color": "#d62728", "linewidth": 1.6}  # simulated: a red line over them
PANEL = (4.6, 3.4)  # inches per panel


def new_figure(
    rows: int = 1, cols: int = 1, *, panel: tuple[float, float] = PANEL, **subplots: Any
) -> tuple[Figure, np.ndarray]:
    """A figure on an Agg canvas and its axes as a (rows, cols) array.

    Not made through pyplot: nothing opens a window, nothing is kept in a global figure list, and
    a Jupyter session's own backend is left alone.
    """
    fig = Figure(figsize=(panel[0] * cols, panel[1] * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False, **subplots)
    return fig, axes


def label(da: xr.DataArray) -> str:
    """``"Voltage [V]"`` from a variable's ``long_name`` and ``units`` (or its PyBaMM-style name)."""
    long_name, found = units.split(str(da.name)) or (str(da.name), "")
    return units.label(da.attrs.get("long_name", long_name), da.attrs.get("units", found))


def named(da: xr.DataArray, long_name: str, unit: str) -> xr.DataArray:
    """``da`` labelled for xarray's plots: no ``units`` at all when there are none (not "[]")."""
    return da.assign_attrs(long_name=long_name, **({"units": unit} if unit else {}))


def quantity(name: str) -> tuple[str, str]:
    """(long name, units) of a PyBaMM-style name, or the name without units."""
    return units.split(name) or units.KNOWN.get(name) or (name, "")


def log_scale(values: Any, *, ratio: float = 5.0) -> bool:
    """Whether positive values spread wide enough (largest / smallest > ratio) for a log axis."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return finite.size > 1 and finite.min() > 0 and finite.max() / finite.min() > ratio


def dataset(node: xr.Dataset | xr.DataTree) -> xr.Dataset:
    """A DataTree node's own variables (not its parent's coordinates) as a Dataset."""
    return node.to_dataset(inherit=False) if isinstance(node, xr.DataTree) else node
