"""Values over one numeric coordinate: an equivalent circuit's tables over SOC, an array fit's values per key."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from orchestrator.figures._common import MODEL, dataset, log_scale, named, new_figure, quantity
from orchestrator.figures.fit import _grid

OVER = ("soc", "temperature", "key")  # the coordinates a table or a per-key result lies on


def over(ds: xr.Dataset) -> str | None:
    """The numeric coordinate ``ds`` holds tables over (``soc``, ``temperature``, an array fit's numeric ``key``)."""
    return next((dim for dim in OVER if dim in ds.coords and ds[dim].ndim == 1 and np.issubdtype(ds[dim].dtype, np.number)),
                None)


def tables(node: xr.Dataset | xr.DataTree) -> Figure:
    """Each value over the coordinate, one panel each: a table's knots, or an array fit's ``best_x`` per key.
    A table over SOC and temperature is drawn over SOC, one line per temperature.

    Examples
    --------
    >>> tables(orchestrator.open_run(run_id)["tables"]).savefig("tables.png")  # doctest: +SKIP
    """
    ds = dataset(node)
    dim = over(ds)
    if "best_x" in ds and "parameter" in ds.dims:  # an array fit: one panel per fitted parameter
        values = {str(p): ds["best_x"].sel(parameter=p) for p in ds["parameter"].values}
    else:
        values = {str(n): ds[n] for n in ds.data_vars if ds[n].dims[:1] == (dim,) and ds[n].ndim <= 2
                  and np.issubdtype(ds[n].dtype, np.number)}
    fig, axes = new_figure(*_grid(len(values)))
    for ax, (name, da) in zip(axes.flat, values.items()):
        if da.ndim == 2:  # over SOC and temperature: a line per temperature
            named(da, *quantity(name)).plot.line(ax=ax, x=dim, hue=da.dims[1], marker="o")
        else:
            named(da, *quantity(name)).plot.line(ax=ax, x=dim, color=MODEL["color"], marker="o")
        if log_scale(da.values):
            ax.set_yscale("log")
        ax.set_title(name)
    for ax in axes.flat[len(values):]:
        ax.set_visible(False)
    return fig
