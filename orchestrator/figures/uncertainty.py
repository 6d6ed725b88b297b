"""Figures of how sure a fit is: linear confidence intervals, correlations, Sobol' indices."""

from __future__ import annotations

import textwrap

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from elements.core import units
from orchestrator.figures._common import MODEL, dataset, new_figure, quantity

INDICES = {"S1": "#1f77b4", "ST": MODEL["color"]}  # first order blue, total order red


def _short(name: str) -> str:
    # Tick labels name the parameter without its units (indices and correlations have none), wrapped.
    return textwrap.fill(quantity(name)[0], 22)


def _cells(ax: Axes, matrix: np.ndarray, names: list[str], text: np.ndarray, *, limit: float, label: str) -> None:
    """A heat map of ``matrix`` (NaN cells blank) over ``names`` both ways, ``text`` written in each cell."""
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.figure.colorbar(image, ax=ax, label=label)
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, [_short(n) for n in names], rotation=30, ha="right", fontsize="small")
    ax.set_yticks(ticks, [_short(n) for n in names], fontsize="small")
    for (i, j), value in np.ndenumerate(matrix):
        if np.isfinite(value):  # white on the dark ends of the colour map
            ax.text(j, i, text[i, j], ha="center", va="center", fontsize="small",
                    color="white" if abs(value) > 0.6 * limit else "black")


def _distinct(values: list[float]) -> list[str]:
    """Plain-number labels with the fewest significant digits (3 or more) that tell them apart."""
    for digits in range(3, 9):
        labels = [f"{v:.{digits}g}" for v in values]
        if len(set(labels)) == len(labels):
            break
    return labels


def intervals(ci: xr.Dataset | xr.DataTree) -> Figure:
    """Each parameter's confidence interval relative to its fitted value, one panel per parameter.

    A parameter fitted in log10 gets a log axis, on which its interval is symmetric about the
    value; the title gives the value and interval in the parameter's units. A parameter whose
    value is zero or negative is drawn in its units instead (a ratio to it would be none or flipped).

    Parameters
    ----------
    ci : xarray.Dataset or DataTree
        A ``linear_confidence_interval`` element's dataset: ``value``, ``lower``, ``upper``,
        ``transform`` and ``units`` on ``parameter``.

    Examples
    --------
    >>> intervals(orchestrator.open_run(run_id)["ci"]).savefig("intervals.png")  # doctest: +SKIP
    """
    ds = dataset(ci)
    names = [str(p) for p in ds["parameter"].values]
    fig, axes = new_figure(len(names), 1, panel=(6.4, 1.25))
    for ax, name in zip(axes.flat, names):
        at = ds.sel(parameter=name)
        value, lower, upper = (float(at[k]) for k in ("value", "lower", "upper"))
        unit = str(at["units"].values)
        relative = value > 0
        scale = value if relative else 1.0
        ax.errorbar([value / scale], [0], xerr=[[(value - lower) / scale], [(upper - value) / scale]], fmt="o",
                    color=MODEL["color"], capsize=5, linewidth=2)
        ax.axvline(value / scale, color="0.6", linewidth=0.8)
        if str(at["transform"].values) == "log10" and lower > 0:
            ax.set_xscale("log")
            reach = max(upper / value, value / lower, 1.001) ** 1.25  # the value in the middle, a margin each side
            ax.set_xlim(1 / reach, reach)
            ax.xaxis.set_minor_locator(NullLocator())
        ends = [lower / scale, value / scale, upper / scale]
        ax.set_xticks(ends, _distinct(ends))
        ax.set_yticks([])
        log = " (log axis)" if ax.get_xscale() == "log" else ""
        shown = "relative to the fitted value" + log if relative else units.label("value", unit)
        ax.set_xlabel(shown, fontsize="small")
        ax.set_title(f"{quantity(name)[0]}: {value:.4g} ({lower:.4g} to {upper:.4g}) {unit}".rstrip(),
                     fontsize="medium", loc="left")
    fig.suptitle(f"{ds.attrs['confidence_level']:.0%} intervals, {ds.attrs['method']}, Jacobian from "
                 f"{ds.attrs['jacobian']}\nnoise {ds.attrs['noise']}", fontsize="medium")
    return fig


def correlation(ci: xr.Dataset | xr.DataTree) -> Figure:
    """The parameters' correlation matrix as a heat map with each coefficient written in its cell.

    Coefficients near ±1 say the data determine a combination of two parameters, not each.

    Examples
    --------
    >>> correlation(orchestrator.open_run(run_id)["ci"]).savefig("correlation.png")  # doctest: +SKIP
    """
    ds = dataset(ci)
    names = [str(p) for p in ds["parameter"].values]
    matrix = ds["correlation"].transpose("parameter", "parameter_2").values.astype(float)
    fig, axes = new_figure(panel=(2.2 + 1.3 * len(names), 1.6 + 1.1 * len(names)))
    _cells(axes[0, 0], matrix, names, np.vectorize(lambda c: f"{c:+.2f}")(matrix), limit=1.0, label="correlation")
    axes[0, 0].set_title(f"correlation of the fitted values ({ds.attrs['method']})", fontsize="medium")
    return fig


def _title(ds: xr.Dataset, output: str) -> str:
    failed = int(ds["failed"].sel(output=output))
    what = (f"{failed} of {ds.attrs['evaluations']} points failed: no indices" if failed
            else f"{ds.attrs['evaluations']} evaluations, N = {ds.attrs['n_samples']}")
    return f"{output}: {what}"


def indices(sobol: xr.Dataset | xr.DataTree, output: str) -> Figure:
    """First-order (S1) and total-order (ST) Sobol' indices of one output's cost, a pair of bars per
    parameter, with their 95 % bootstrap intervals as error bars.

    Parameters
    ----------
    sobol : xarray.Dataset or DataTree
        A ``sobol_sensitivity`` element's dataset: ``S1``, ``ST`` and their ``*_conf`` half-widths on
        (``output``, ``parameter``).
    output : str
        The objective (or ``"total"``) whose cost's indices to draw.

    Examples
    --------
    >>> indices(orchestrator.open_run(run_id)["sobol"], "1C").savefig("sobol.png")  # doctest: +SKIP
    """
    ds = dataset(sobol)
    names = [str(p) for p in ds["parameter"].values]
    fig, axes = new_figure(panel=(max(4.6, 1.4 * len(names) + 1.5), 3.4))
    ax = axes[0, 0]
    where = np.arange(len(names))
    width = 0.38
    at = ds.sel(output=output)
    for offset, (key, colour) in zip((-width / 2, width / 2), INDICES.items()):
        ax.bar(where + offset, at[key].values, width, yerr=at[f"{key}_conf"].values,
               color=colour, capsize=4, label=key, error_kw={"linewidth": 1})
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.set_xticks(where, [_short(n) for n in names], fontsize="small")
    ax.set(ylabel="Sobol' index", title=_title(ds, output))
    ax.legend(fontsize="small", title="95 % bootstrap intervals", title_fontsize="small")
    return fig


def second_order(sobol: xr.Dataset | xr.DataTree, output: str) -> Figure:
    """Second-order Sobol' indices (S2) of one output's cost: each pair's share of the variance,
    ``S2 ± interval`` written in its cell (the upper triangle; the rest is blank).

    Examples
    --------
    >>> second_order(orchestrator.open_run(run_id)["sobol"], "1C").savefig("s2.png")  # doctest: +SKIP
    """
    ds = dataset(sobol)
    names = [str(p) for p in ds["parameter"].values]
    at = ds.sel(output=output)
    matrix = at["S2"].transpose("parameter", "parameter_2").values.astype(float)
    conf = at["S2_conf"].transpose("parameter", "parameter_2").values.astype(float)
    text = np.vectorize(lambda s, c: f"{s:.2f}\n±{c:.2f}")(matrix, conf)
    finite = matrix[np.isfinite(matrix)]
    limit = max(float(np.abs(finite).max()), 0.05) if finite.size else 1.0
    fig, axes = new_figure(panel=(2.2 + 1.3 * len(names), 1.6 + 1.1 * len(names)))
    _cells(axes[0, 0], matrix, names, text, limit=limit, label="S2")
    axes[0, 0].set_title(_title(ds, output), fontsize="medium")
    return fig


def sobol_figures(sobol: xr.Dataset | xr.DataTree) -> dict[str, Figure]:
    """A ``sobol_sensitivity`` element's figures: ``"indices <output>"`` for each output, and
    ``"second order <output>"`` where second-order indices were computed."""
    ds = dataset(sobol)
    found = {}
    for output in (str(o) for o in ds["output"].values):
        found[f"indices {output}"] = indices(ds, output)
        if "S2" in ds:
            found[f"second order {output}"] = second_order(ds, output)
    return found


def profiles(profile: xr.Dataset | xr.DataTree) -> Figure:
    """Each parameter's profile: ``-2 log L`` above its lowest value against the held value, the
    threshold of the interval, and the interval's ends (an open end drawn at the grid's edge, dashed).

    Parameters
    ----------
    profile : xarray.Dataset or DataTree
        A ``profile_likelihood`` element's dataset: ``grid``, ``profile``, ``value``, ``lower``,
        ``upper`` on ``parameter``, its ``threshold`` and ``confidence_level`` attributes.
    """
    ds = dataset(profile)
    names = [str(n) for n in ds["parameter"].values]
    fig, axes = new_figure(1, len(names))
    fig.suptitle(f"profile likelihoods ({ds.attrs['confidence_level']:.0%} intervals)")
    threshold = float(ds.attrs["threshold"])
    for ax, name in zip(axes[0], names):
        at = ds.sel(parameter=name)
        grid, curve = at["grid"].values, at["profile"].values
        ax.plot(grid, curve, marker="o", **MODEL)
        ax.axhline(threshold, color="0.35", linestyle=":", label=f"threshold {threshold:.2f}")
        for end, edge in (("lower", grid.min()), ("upper", grid.max())):
            value = float(at[end])
            ax.axvline(value if np.isfinite(value) else edge, color="0.35",
                       linestyle="-" if np.isfinite(value) else "--")
        ax.axvline(float(at["value"]), color=INDICES["S1"], linewidth=1)
        if units.split(name) and grid.min() > 0 and grid.max() / grid.min() > 5:
            ax.set_xscale("log")
        long_name, unit = quantity(name)
        ax.set_xlabel(f"{textwrap.fill(long_name, 40)} [{unit}]" if unit else textwrap.fill(long_name, 40))
        ax.set_ylabel("-2 log L above its least")
        ax.legend(fontsize="small")
    return fig


def posterior(fit: xr.Dataset | xr.DataTree) -> Figure:
    """A sampler's posterior after burn-in: each parameter's histogram on the diagonal, each pair's
    samples below it (a corner plot), the fit's best point marked."""
    ds = dataset(fit)
    names = [str(n) for n in ds["parameter"].values]
    kept = ds["chain"].values[int(ds["burnin"]):].reshape(-1, len(names))
    d = len(names)
    fig, axes = new_figure(d, d, panel=(2.8, 2.6))
    fig.suptitle(f"posterior, {len(kept)} samples after {int(ds['burnin'])} burn-in steps")
    log = [bool(kept[:, i].min() > 0 and kept[:, i].max() / kept[:, i].min() > 1.5) for i in range(d)]
    values = [np.log10(kept[:, i]) if log[i] else kept[:, i] for i in range(d)]
    best = [np.log10(v) if lg else v for v, lg in zip(ds["best_x"].values, log)]
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(values[i], bins=40, color=INDICES["S1"])
                ax.axvline(best[i], **MODEL)
                ax.yaxis.set_major_locator(NullLocator())
            else:
                ax.plot(values[j], values[i], ",", color=INDICES["S1"], alpha=0.5)
                ax.plot(best[j], best[i], "x", **MODEL)
            if i == d - 1:
                ax.set_xlabel(("log10 " if log[j] else "") + _short(names[j]), fontsize="small")
            if j == 0 and i > 0:
                ax.set_ylabel(("log10 " if log[i] else "") + _short(names[i]), fontsize="small")
    return fig
