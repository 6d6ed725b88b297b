"""Figures of a fit: model against data, cost and parameters per generation, multistart end points."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from elements.core import units
from orchestrator.figures._common import DATA, MODEL, dataset, label, log_scale, named, new_figure, quantity

METRICS = ("cost", "RMSE", "MAE", "Max")  # attributes of a traces group shown in its title
EVALUATIONS = {"color": "0.5", "alpha": 0.3, "s": 8, "linewidths": 0}


def compared(traces: xr.Dataset) -> list[str]:
    """The variables a traces group compares: those with a ``data <v>`` and a ``model <v>``."""
    return [str(n)[5:] for n in traces.data_vars if str(n).startswith("data ") and f"model {str(n)[5:]}" in traces]


def _title(name: str | None, traces: xr.Dataset, variables: list[str]) -> str:
    unit = quantity(variables[0])[1] if len(variables) == 1 else ""
    found = [f"{m} {traces.attrs[m]:.3g}" + (f" {unit}" if unit and m != "cost" else "")
             for m in METRICS if isinstance(traces.attrs.get(m), (int, float))]
    status = traces.attrs.get("status")
    if status not in (None, "ok"):
        found.append(f"({status})")
    return ": ".join(p for p in (name, ", ".join(found)) if p)


def overlay(traces: xr.Dataset | xr.DataTree, *, name: str | None = None) -> Figure:
    """Model against data over time for each compared variable, with residuals below.

    Parameters
    ----------
    traces : xarray.Dataset or DataTree
        An objective's traces group (``traces/<objective>`` of a data_fit or validation element):
        ``data <variable>`` and ``model <variable>`` on ``time``. Its ``cost`` (a fit's) or
        ``RMSE``/``MAE``/``Max`` (a validation's) attributes go into the title.
    name : str, optional
        The objective's name for the title (default: the node's name).

    Examples
    --------
    >>> tree = orchestrator.open_run(run_id)  # doctest: +SKIP
    >>> overlay(tree["fit/traces/1C"]).savefig("1C.png")  # doctest: +SKIP
    """
    if name is None and isinstance(traces, xr.DataTree):
        name = traces.name
    ds = units.describe(dataset(traces))
    variables = compared(ds)
    if not variables:
        raise ValueError(f"no 'data <variable>' and 'model <variable>' pairs to compare in {list(ds.data_vars)}")
    fig, axes = new_figure(2, len(variables), panel=(6.4, 2.4), sharex="col", height_ratios=[3, 1])
    for (top, bottom), variable in zip(axes.T, variables):
        data, model = ds[f"data {variable}"], ds[f"model {variable}"]
        data.plot.line(ax=top, x="time", label="data", **DATA)
        model.plot.line(ax=top, x="time", label="model", **MODEL)
        long_name, unit = quantity(variable)
        top.set(ylabel=units.label(long_name, unit), xlabel="", title="")
        top.legend(loc="best", fontsize="small")
        residual = named(model - data, "model - data", unit)
        residual.plot.line(ax=bottom, x="time", color=MODEL["color"], linewidth=0.9)
        bottom.axhline(0.0, color="0.6", linewidth=0.8)
        bottom.set_title("")
    fig.suptitle(_title(name, ds, variables))
    return fig


def _by_generation(da: xr.DataArray) -> xr.DataArray:
    # Per-generation arrays lie on a dimension without values: number the generations.
    dim = "generation_index"
    return da.assign_coords({dim: (dim, np.arange(da.sizes[dim]), {"long_name": "generation"})})


def cost_history(fit: xr.Dataset | xr.DataTree) -> Figure:
    """The best cost per generation, over every evaluation's cost as faint points.

    Costs that are not finite (failed solves) are left out and counted in the legend.

    Examples
    --------
    >>> cost_history(orchestrator.open_run(run_id)["fit"]).savefig("cost.png")  # doctest: +SKIP
    """
    ds = units.describe(dataset(fit))
    fig, axes = new_figure()
    ax = axes[0, 0]
    generation, cost = xr.broadcast(ds["generation"], ds["cost"])
    generation, cost = generation.values.ravel(), cost.values.astype(float).ravel()
    finite = np.isfinite(cost)
    ax.scatter(generation[finite], cost[finite], label=f"every evaluation ({finite.sum()})", **EVALUATIONS)
    best = _by_generation(ds["best_cost_per_generation"])
    if best.ndim == 1:
        best.plot.line(ax=ax, x="generation_index", color=MODEL["color"], drawstyle="steps-post", label="best so far")
    else:  # one line per start
        best.plot.line(ax=ax, x="generation_index", drawstyle="steps-post", add_legend=False)
    if log_scale(cost[finite]):
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    failed = int((~finite).sum())
    ax.legend(title=f"{failed} failed (cost not finite)" if failed else None, fontsize="small")
    ax.set(ylabel=label(ds["cost"]), title=f"{ds['cost'].attrs['long_name']}: {cost[finite].size} evaluations"
           if finite.any() else "no finite cost")
    return fig


def _grid(n: int, most: int = 3) -> tuple[int, int]:
    cols = min(n, most)
    return math.ceil(n / cols), cols


def parameter_history(fit: xr.Dataset | xr.DataTree) -> Figure:
    """The best value of each fitted parameter per generation, one panel each, with its bounds.

    A multistart fit (a ``start`` dimension) draws one line per start.

    Examples
    --------
    >>> parameter_history(orchestrator.open_run(run_id)["fit"]).savefig("parameters.png")  # doctest: +SKIP
    """
    ds = units.describe(dataset(fit))
    names = [str(p) for p in ds["parameter"].values]
    fig, axes = new_figure(*_grid(len(names)))
    history = _by_generation(ds["best_x_per_generation"])
    for ax, name in zip(axes.flat, names):
        line = named(history.sel(parameter=name), *quantity(name))
        if line.ndim == 1:
            line.plot.line(ax=ax, x="generation_index", color=MODEL["color"], marker=".")
        else:  # one line per start
            line.plot.line(ax=ax, x="generation_index", linewidth=1, alpha=0.7, add_legend=False)
        lower, upper = float(ds["lower_bound"].sel(parameter=name)), float(ds["upper_bound"].sel(parameter=name))
        for bound in (lower, upper):
            ax.axhline(bound, color="0.6", linestyle="--", linewidth=0.8)
        if log_scale([lower, upper]):
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        best = ds["best_x"].sel(parameter=name)
        ax.set_title(f"best {float(best):.4g}" if best.ndim == 0 else "")
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    return fig


def _on_start(ds: xr.Dataset, preferred: tuple[str, ...], dims: set[str], kind: str) -> xr.DataArray | None:
    candidates = [n for n in preferred if n in ds] + [str(n) for n in ds.data_vars]
    for name in candidates:
        if set(ds[name].dims) == dims and ds[name].dtype.kind == "f" and (kind in name):
            return ds[name]
    return None


def multistart(fit: xr.Dataset | xr.DataTree) -> Figure | None:
    """Where each start of a multistart fit ended: costs sorted, and each parameter against cost.

    None when the fit has no ``start`` dimension. The end points are the float variable on
    (``start``, ``parameter``) (``end_x`` first) and their costs the one on ``start`` (``end_cost``
    first).

    Examples
    --------
    >>> multistart(orchestrator.open_run(run_id)["fit"])  # doctest: +SKIP
    """
    ds = units.describe(dataset(fit))
    if "start" not in ds.dims:
        return None
    x = _on_start(ds, ("end_x", "best_x"), {"start", "parameter"}, "x")
    cost = _on_start(ds, ("end_cost", "best_cost"), {"start"}, "cost")
    if x is None or cost is None:
        return None
    names = [str(p) for p in ds["parameter"].values]
    fig, axes = new_figure(*_grid(len(names) + 1))
    values = cost.values.astype(float)
    finite = np.isfinite(values)
    ranked = np.sort(values[finite])
    first = axes.flat[0]
    first.plot(np.arange(1, ranked.size + 1), ranked, marker="o", color=MODEL["color"], markersize=4)
    first.set(xlabel="start, by cost", ylabel=label(cost), title=f"{finite.sum()} of {values.size} starts finite")
    first.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log_scale(ranked):
        first.set_yscale("log")
    best = int(np.nanargmin(np.where(finite, values, np.nan))) if finite.any() else None
    for ax, name in zip(axes.flat[1:], names):
        ends = x.sel(parameter=name).values.astype(float)
        ax.scatter(ends[finite], values[finite], color="0.35", s=14)
        if best is not None:
            ax.scatter([ends[best]], [values[best]], color=MODEL["color"], s=40, label="best")
            ax.legend(fontsize="small")
        ax.set(xlabel=units.label(*quantity(name)), ylabel=label(cost))
        if log_scale(ends[finite]):
            ax.set_xscale("log")
        if log_scale(values[finite]):
            ax.set_yscale("log")
    for ax in axes.flat[len(names) + 1:]:
        ax.set_visible(False)
    return fig
