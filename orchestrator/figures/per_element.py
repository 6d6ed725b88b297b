"""Which figures an element gets, by its element_type, and writing them to files.

Each entry of :data:`FIGURES` takes a run's path and an element's name, opens what it needs from
the store and returns ``{figure name: Figure}``. Element types without an entry get figures from
what their datasets hold: impedance spectra a Nyquist and a Bode plot, model-vs-data traces an
overlay, values over SOC, temperature or numeric keys (an equivalent circuit's tables) one panel each. Other packages add entries through the ``sweepfit.element_figures`` entry-point group.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from elements import stacking
from elements.core.registry import Registry, unknown_name
from elements.core.status import Status
from orchestrator import store as stores
from orchestrator.figures import eis, fit, sweep, tables, uncertainty

Figures = dict[str, Figure]
FIGURES: Registry[Callable[[Path, str], Figures]] = Registry("element figure")


def _tree(path: Path, element: str) -> xr.DataTree:
    return xr.open_datatree(path, engine="zarr", group=element)


def _overlays(node: xr.DataTree, prefix: str) -> Figures:
    # One model-vs-data figure per objective: the element's traces/<objective> groups.
    traces = node.children.get("traces")
    found: Figures = {}
    for name, child in traces.children.items() if traces is not None else []:
        if "Z_real" in child.variables:  # an impedance objective: Nyquist and Bode instead of an overlay
            found[f"{prefix} {name} nyquist"] = eis.nyquist(child)
            found[f"{prefix} {name} bode"] = eis.bode(child)
        else:
            found[f"{prefix} {name}"] = fit.overlay(child, name=name)
    return found


@FIGURES.register("data_fit")
def data_fit_figures(path: Path, element: str) -> Figures:
    node = _tree(path, element)
    found = {**_overlays(node, "fit"), "cost": fit.cost_history(node), "parameters": fit.parameter_history(node)}
    if "chain" in node.variables:  # a sampler's
        found["posterior"] = uncertainty.posterior(node)
    starts = fit.multistart(node)
    return {**found, "multistart": starts} if starts is not None else found


@FIGURES.register("validation")
def validation_figures(path: Path, element: str) -> Figures:
    return _overlays(_tree(path, element), "validation")


@FIGURES.register("sweep")
def sweep_figures(path: Path, element: str) -> Figures:
    ds = stores.open_sweep(path, element)
    return {**{f"map {s}": sweep.summary_map(ds, s) for s in sweep.summaries(ds)},
            **{f"curves {s}": sweep.curve_family(ds, s) for s in sweep.series(ds)}}


@FIGURES.register("linear_confidence_interval")
def confidence_figures(path: Path, element: str) -> Figures:
    node = _tree(path, element)
    return {"intervals": uncertainty.intervals(node), "correlation": uncertainty.correlation(node)}


@FIGURES.register("profile_likelihood")
def profile_figures(path: Path, element: str) -> Figures:
    return {"profiles": uncertainty.profiles(_tree(path, element))}


@FIGURES.register("sobol_sensitivity")
def sobol_figures(path: Path, element: str) -> Figures:
    return uncertainty.sobol_figures(_tree(path, element))


def by_content(path: Path, element: str) -> Figures:
    """Figures for an element type without an entry: spectra and traces wherever they are."""
    found: Figures = {}
    for node in _tree(path, element).subtree:
        where = node.relative_to(node.root) if node is not node.root else ""
        suffix = f" {where}".rstrip()
        ds = node.to_dataset(inherit=False)
        if stacking.is_stacked(ds):  # an array fit's keys on one dimension: each key's own figures
            # the keys' coordinate is the element's, which the tree keeps on the parent only
            for key, one in stacking.each(node.to_dataset()) if fit.compared(ds) or "Z_real" in ds else ():
                found.update(_drawn(one, f"{suffix} {key}", str(key)))
        elif drawn := _drawn(ds, suffix, node.name):
            found.update(drawn)
        elif tables.over(ds) is not None and node is node.root:
            found["tables"] = tables.tables(ds)
    return found


def _drawn(ds: xr.Dataset, suffix: str, name: str | None) -> Figures:
    """Nyquist and Bode of spectra, or a model-vs-data overlay."""
    if "Z_real" in ds and "Z_imag" in ds and "frequency" in ds.coords:
        return {f"nyquist{suffix}": eis.nyquist(ds), f"bode{suffix}": eis.bode(ds)}
    return {f"overlay{suffix}": fit.overlay(ds, name=name)} if fit.compared(ds) else {}


# Nyquist/Bode of its spectra (EIS), else each key's overlays and, keys being numbers, the values over them
FIGURES.register("array_data_fit", by_content)
FIGURES.register("eis_dataset", by_content)  # Nyquist/Bode of its first spectra


def element_figures(run: str | Path, element: str, *, store: str | Path | None = None) -> Figures:
    """An element's figures, made from the store alone: ``{name: Figure}``, empty when it has no results.

    Parameters
    ----------
    run : str or Path
        Run id (or a unique prefix) or the run's path.
    element : str
        The element's name in the run's pipeline.

    Examples
    --------
    >>> figs = element_figures(run_id, "fit diffusivities")  # doctest: +SKIP
    >>> sorted(figs)  # doctest: +SKIP
    ['cost', 'fit 1C discharge', 'parameters']
    """
    path = stores.run_path(str(run), store)
    attrs = stores.read_attrs(path)
    specs = attrs["spec"]["elements"]
    if element not in specs:
        raise ValueError(unknown_name("element", element, specs, of=f"run {attrs['run_id']}"))
    if attrs["elements"][element]["status"] == Status.DAMAGED:
        raise ValueError(f"element {element!r} of run {attrs['run_id']} is damaged: "
                         f"{attrs['elements'][element]['damaged']}; run the pipeline again to recompute it")
    if not (path / element).is_dir():
        return {}  # no datasets: not run (yet), failed, or an element that only passes values on
    kind = specs[element]["element_type"]
    return FIGURES.get(kind, by_content)(path, element)


def slug(name: str) -> str:
    """A file name for a figure or element name: ``"curves Voltage [V]"`` -> ``"curves_Voltage_V"``."""
    return re.sub(r"[^\w.-]+", "_", name).strip("_.") or "figure"


def plot(
    run: str | Path, element: str | None = None, *, out: str | Path | None = None, fmt: str = "png",
    store: str | Path | None = None,
) -> list[Path]:
    """Write a run's figures (or one element's) as ``<out>/<element>/<figure>.<fmt>``; return the paths.

    ``out`` defaults to ``<store>/runs/<run id>.figures``; ``fmt`` is ``png`` or ``svg``.

    Examples
    --------
    >>> plot(run_id, "fit diffusivities", out="docs")  # doctest: +SKIP
    [PosixPath('docs/fit_diffusivities/fit_1C_discharge.png'), ...]
    """
    if fmt not in ("png", "svg"):
        raise ValueError(f"unknown figure format {fmt!r}; valid formats: 'png', 'svg'")
    path = stores.run_path(str(run), store)
    names = [element] if element is not None else stores.read_attrs(path).get("element_names", [])
    folder = Path(out) if out is not None else path.with_suffix(".figures")
    written = []
    for name in names:
        for figure_name, figure in element_figures(path, name).items():
            target = folder / slug(name) / f"{slug(figure_name)}.{fmt}"
            target.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(target, format=fmt, dpi=100)
            written.append(target)
    return written
