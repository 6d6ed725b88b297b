"""Figures of a sweep: each summary over the swept variables, and families of curves."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from elements.core import units
from orchestrator.figures._common import label, log_scale, new_figure, quantity

PANELS = 4  # values of a second swept variable shown side by side in a family of curves
LINES = 20  # points drawn when a sampler's points have no grid to pick lines from


def swept(ds: xr.Dataset) -> list[str]:
    """The sweep's dimensions: one per swept variable for a grid, else ``["point"]``."""
    return [str(d) for d in ds.attrs.get("sweep_dims", [])] or [d for d in ("point",) if d in ds.dims]


def summaries(ds: xr.Dataset) -> list[str]:
    """The numeric summaries: one value per point."""
    dims = tuple(swept(ds))
    return [str(n) for n, v in ds.data_vars.items() if v.dims == dims and v.dtype.kind == "f"]


def series(ds: xr.Dataset) -> list[str]:
    """The time series: per point, along ``time`` (or ``step`` and ``sample``)."""
    dims = set(swept(ds))
    return [str(n) for n, v in ds.data_vars.items()
            if dims < set(v.dims) and ({"time"} & set(v.dims) or {"step", "sample"} <= set(v.dims))
            and n != "step_time"]


def _value(ds: xr.Dataset, dim: str, index: int) -> str:
    value = ds[dim].values[index] if dim in ds.coords else index
    shown = f"{value:.6g}" if isinstance(value, (int, float, np.number)) else str(value)
    return f"{units.label(*quantity(dim))} = {shown}"


def _at(ds: xr.Dataset, fixed: list[str]) -> tuple[dict[str, int], str]:
    # Dimensions beyond those drawn are held at their first value, and the title says so.
    return {d: 0 for d in fixed}, ", ".join(_value(ds, d, 0) for d in fixed)


def _scales(ds: xr.Dataset, x: str, y: str | None = None) -> dict[str, str]:
    found = {"xscale": "log" if x in ds.coords and log_scale(ds[x].values) else "linear"}
    if y is not None:
        found["yscale"] = "log" if y in ds.coords and log_scale(ds[y].values) else "linear"
    return found


def summary_map(ds: xr.Dataset, summary: str) -> Figure:
    """A summary over two swept variables (a grid's first two), or along one, or over sampled points.

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep's dataset, as :func:`orchestrator.open_sweep` gives it.
    summary : str
        One of its summaries (``"final_voltage"``).

    Examples
    --------
    >>> ds = orchestrator.open_sweep(run_id, "rates")  # doctest: +SKIP
    >>> summary_map(ds, "discharge_capacity").savefig("capacity.png")  # doctest: +SKIP
    """
    ds = units.describe(ds)
    da = ds[summary]
    dims = swept(ds)
    fig, axes = new_figure()
    ax = axes[0, 0]
    if dims == ["point"]:
        names = [str(n) for n in ds.attrs.get("sweep_variables", []) if n in ds.coords][:2]
        if len(names) == 2:
            drawn = ax.scatter(ds[names[0]].values, ds[names[1]].values, c=da.values, s=30)
            fig.colorbar(drawn, ax=ax, label=label(da))
            ax.set(xlabel=label(ds[names[0]]), ylabel=label(ds[names[1]]), **_scales(ds, *names))
        else:
            ax.scatter(ds[names[0]].values, da.values, s=20)
            ax.set(xlabel=label(ds[names[0]]), ylabel=label(da), **_scales(ds, names[0]))
        ax.set_title(f"{da.attrs['long_name']}, {ds.sizes['point']} points")
        return fig
    where, text = _at(ds, dims[2:])
    da = da.isel(where)
    if len(dims) >= 2:
        da.plot.pcolormesh(ax=ax, x=dims[1], y=dims[0], **_scales(ds, dims[1], dims[0]))
    else:
        da.plot.line(ax=ax, x=dims[0], marker="o", **_scales(ds, dims[0]))
    ax.set_title(", ".join(t for t in (da.attrs["long_name"], text) if t))
    return fig


def _sampled_curves(ds: xr.Dataset, da: xr.DataArray, x: str) -> Figure:
    # Sampled points have no grid to pick lines from: the first few, coloured by the first variable.
    fig, axes = new_figure()
    ax = axes[0, 0]
    shown = da.isel(point=slice(0, LINES))
    times = shown[x].broadcast_like(shown) if shown[x].ndim < shown.ndim else shown[x]
    colour_by = next((str(n) for n in ds.attrs.get("sweep_variables", [])
                      if n in ds.coords and ds[n].dtype.kind in "iuf"), None)
    values = shown[colour_by].values.astype(float) if colour_by else np.arange(shown.sizes["point"], dtype=float)
    norm = LogNorm if log_scale(values) else Normalize
    mappable = ScalarMappable(norm(np.nanmin(values), np.nanmax(values)), "viridis")
    for i in range(shown.sizes["point"]):
        ax.plot(times.isel(point=i).values, shown.isel(point=i).values, color=mappable.to_rgba(values[i]), linewidth=1)
    if colour_by:
        fig.colorbar(mappable, ax=ax, label=label(ds[colour_by]))
    ax.set(xlabel=label(ds[x]), ylabel=label(da), title=f"{shown.sizes['point']} of {da.sizes['point']} points")
    return fig


def curve_family(ds: xr.Dataset, variable: str) -> Figure:
    """A series against time, one line per value of the first swept variable.

    A second swept variable gets a panel per value (up to four); further ones are held at their
    first value. Sampled points (no grid) draw one line per point, up to twenty.

    Examples
    --------
    >>> curve_family(orchestrator.open_sweep(run_id, "rates"), "Voltage [V]").savefig("voltage.png")  # doctest: +SKIP
    """
    ds = units.describe(ds)
    da = ds[variable]
    per_step = "time" not in da.dims
    if per_step:  # samples per experiment step, each on its own times: one time axis per point
        da = da.stack(sampled=("step", "sample")).assign_coords(
            step_time=ds["step_time"].stack(sampled=("step", "sample")))
    x, along = ("step_time", "sampled") if per_step else ("time", "time")
    dims = swept(ds)
    if dims == ["point"]:
        return _sampled_curves(ds, da, x)
    panels = [None]
    if len(dims) >= 2:
        n = ds.sizes[dims[1]]
        panels = sorted(set(np.linspace(0, n - 1, min(n, PANELS)).round().astype(int).tolist()))
    where, text = _at(ds, dims[2:])
    da = da.isel(where)
    fig, axes = new_figure(1, len(panels), sharey=True)
    for ax, index in zip(axes.flat, panels):
        shown = da if index is None else da.isel({dims[1]: index})
        shown = shown.transpose(dims[0], along)
        shown.plot.line(ax=ax, x=x, hue=dims[0], linewidth=1.2, add_legend=ax is axes.flat[-1])
        title = "" if index is None else _value(ds, dims[1], index)
        ax.set_title(", ".join(t for t in (title, text) if t), fontsize="medium")
        if ax is not axes.flat[0]:
            ax.set_ylabel("")
    return fig
