"""The monitor's live figures: a running fit's best candidate against its data, a sweep's map filling in.

Both read the store only: a fit's preview snapshot (:mod:`elements.preview`) and a sweep's summary
array, whose points stay NaN until their chunk is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from bokeh.models import ColorBar, ColumnDataSource, FixedTicker, LinearColorMapper
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from elements.core import units
from orchestrator import store as stores
from orchestrator.figures._common import quantity
from orchestrator.figures.sweep import summaries, swept

DATA_COLOR, MODEL_COLOR = "#555555", "#d62728"  # as the saved figures: grey data points, a red model line
MAX_FIGURES = 4  # per element: objectives x compared variables
TICKS = 6


def _axis(name: str, unit: str | None = None) -> str:
    long_name, found = quantity(name)
    return units.label(long_name, found or unit or "")


def preview_data(preview: dict[str, Any]) -> list[tuple[str, dict[str, list], str, str]]:
    """(title, columns, x label, y label) of each figure a preview draws: model against data per
    objective and compared variable; a spectrum as a Nyquist plot."""
    found = []
    for name, obj in preview.get("objectives", {}).items():
        lines, x = obj["lines"], obj["values"]
        if {"Z_real", "Z_imag", "Z_real_fit", "Z_imag_fit"} <= set(lines):
            negated = {k: [None if v is None else -v for v in lines[k]] for k in ("Z_imag", "Z_imag_fit")}
            columns = {"x_data": lines["Z_real"], "y_data": negated["Z_imag"],
                       "x_model": lines["Z_real_fit"], "y_model": negated["Z_imag_fit"]}
            found.append((f"{name}: Nyquist", columns, "Z' [Ohm]", "-Z'' [Ohm]"))
            continue
        for line in lines:
            variable = line.removeprefix("data ")
            if line.startswith("data ") and f"model {variable}" in lines:
                columns = {"x_data": x, "y_data": lines[line], "x_model": x, "y_model": lines[f"model {variable}"]}
                found.append((f"{name}: {variable}", columns, _axis(obj["x"], obj.get("units")), _axis(variable)))
    return found[:MAX_FIGURES]


def _nan(columns: dict[str, list]) -> dict[str, list]:
    return {k: [np.nan if v is None else v for v in values] for k, values in columns.items()}


def preview_figures(key: str, preview: dict[str, Any], sources: dict[str, Any]) -> list[Any]:
    """Figures of a fit's best candidate so far; their sources are kept as ``preview:<key>:<i>``."""
    figures = []
    for i, (title, columns, xlabel, ylabel) in enumerate(preview_data(preview)):
        source = ColumnDataSource(_nan(columns), name=f"preview:{key}:{i}")
        sources[f"preview:{key}:{i}"] = source
        fig = figure(title=title, height=300, width=470, x_axis_label=xlabel, y_axis_label=ylabel)
        fig.scatter("x_data", "y_data", source=source, color=DATA_COLOR, size=3, legend_label="data")
        fig.line("x_model", "y_model", source=source, color=MODEL_COLOR, line_width=2, legend_label="best so far")
        fig.legend.location = "bottom_left"
        figures.append(fig)
    return figures


def update_previews(key: str, preview: dict[str, Any], sources: dict[str, Any]) -> None:
    for i, (_, columns, _, _) in enumerate(preview_data(preview)):
        if f"preview:{key}:{i}" in sources:
            sources[f"preview:{key}:{i}"].data = _nan(columns)


def sweep_map_data(path: Path, element: str) -> dict[str, Any] | None:
    """The first summary of a gridded sweep over its first two swept variables (NaN where not yet
    solved), with its axes; None for a sweep without one (sampled points, or no summaries yet)."""
    try:
        ds = stores.open_sweep(path, element)
    except (OSError, KeyError, ValueError):
        return None
    dims, found = swept(ds), summaries(ds)
    if not found or dims == ["point"] or not dims:
        return None
    da = ds[found[0]].isel({d: 0 for d in dims[2:]})
    if len(dims) == 1:
        da = da.expand_dims("_", axis=0)
    values = np.asarray(da.transpose(*da.dims).values, dtype=float)
    return {"summary": found[0], "units": ds[found[0]].attrs.get("units", ""), "dims": dims[:2],
            "coords": [ds[d].values if d in ds.coords else np.arange(ds.sizes[d]) for d in dims[:2]],
            "image": values}


def _ticks(axis: Any, values: np.ndarray) -> None:
    shown = np.unique(np.linspace(0, len(values) - 1, min(len(values), TICKS)).round().astype(int))
    axis.ticker = FixedTicker(ticks=[i + 0.5 for i in shown])
    axis.major_label_overrides = {i + 0.5: f"{values[i]:.4g}" if np.issubdtype(type(values[i]), np.number)
                                  else str(values[i]) for i in shown}


def sweep_map(key: str, found: dict[str, Any], sources: dict[str, Any]) -> Any:
    """An image of the summary over the grid (grey until a point is solved); source ``sweep:<key>``."""
    image = found["image"]
    ny, nx = image.shape
    source = ColumnDataSource({"image": [image]}, name=f"sweep:{key}")
    sources[f"sweep:{key}"] = source
    dims = found["dims"]
    fig = figure(title=f"{_axis(found['summary'], found['units'])} as points are solved", height=320, width=520,
                 x_range=(0, nx), y_range=(0, ny), x_axis_label=_axis(dims[-1]),
                 y_axis_label=_axis(dims[0]) if len(dims) == 2 else "", toolbar_location=None)
    finite = image[np.isfinite(image)]
    mapper = LinearColorMapper(palette=Viridis256, nan_color="#e0e0e0",
                               low=float(finite.min()) if finite.size else None,
                               high=float(finite.max()) if finite.size else None)
    sources[f"sweep-colors:{key}"] = mapper
    fig.image(image="image", x=0, y=0, dw=nx, dh=ny, source=source, color_mapper=mapper)
    fig.add_layout(ColorBar(color_mapper=mapper, width=12), "right")
    _ticks(fig.xaxis[0], found["coords"][-1])
    if len(dims) == 2:
        _ticks(fig.yaxis[0], found["coords"][0])
    else:
        fig.yaxis.visible = False
    return fig


def update_sweep_map(key: str, found: dict[str, Any] | None, sources: dict[str, Any]) -> None:
    if found is None or f"sweep:{key}" not in sources:
        return
    sources[f"sweep:{key}"].data = {"image": [found["image"]]}
    finite = found["image"][np.isfinite(found["image"])]
    if finite.size:
        sources[f"sweep-colors:{key}"].update(low=float(finite.min()), high=float(finite.max()))
