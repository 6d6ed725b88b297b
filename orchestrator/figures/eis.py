"""Figures of impedance spectra: Nyquist and Bode, measured points with the fitted model's lines."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from elements.core import units
from orchestrator.figures._common import DATA, dataset, label, named, new_figure

SPECTRA = 4  # of a batch of spectra, the first few are drawn
MEASURED = {**DATA, "markersize": 4}
FIT = {"linewidth": 1.4}


def _spectra(ds: xr.Dataset) -> list[tuple[str, xr.Dataset]]:
    if "spectrum" not in ds.dims:
        return [("", ds)]
    n = min(ds.sizes["spectrum"], SPECTRA)
    names = ds["spectrum"].values if "spectrum" in ds.coords else np.arange(ds.sizes["spectrum"])
    return [(f"spectrum {names[i]}", ds.isel(spectrum=i)) for i in range(n)]


def _fitted(ds: xr.Dataset) -> bool:
    return "Z_real_fit" in ds and "Z_imag_fit" in ds


def _check(ds: xr.Dataset) -> xr.Dataset:
    missing = [n for n in ("Z_real", "Z_imag") if n not in ds]
    if missing or "frequency" not in ds.coords:
        raise ValueError(f"an impedance dataset needs Z_real and Z_imag on a frequency coordinate; "
                         f"got variables {list(ds.data_vars)} and coordinates {list(ds.coords)}")
    return units.describe(ds)


def _legend(fig: Figure, ds: xr.Dataset, spectra: list[tuple[str, xr.Dataset]]) -> None:
    # Colour tells the spectra apart, points from lines the measured from the fit.
    handles = [Line2D([], [], **MEASURED, label="measured")]
    if _fitted(ds):
        handles.append(Line2D([], [], color=MEASURED["color"], **FIT, label="fit"))
    handles += [Line2D([], [], color=f"C{i}", linewidth=4, label=name) for i, (name, _) in enumerate(spectra) if name]
    fig.legend(handles=handles, loc="outside right upper", fontsize="small")


def _title(ds: xr.Dataset, shown: int) -> str:
    total = ds.sizes.get("spectrum", 1)
    return f"first {shown} of {total} spectra" if total > shown else ""


def nyquist(eis: xr.Dataset | xr.DataTree) -> Figure:
    """-Im(Z) against Re(Z): measured points and, when present, the fit (``Z_real_fit``, ``Z_imag_fit``).

    Examples
    --------
    >>> ds = xr.Dataset({"Z_real": ("frequency", re), "Z_imag": ("frequency", im)}, coords={"frequency": f})  # doctest: +SKIP
    >>> nyquist(ds).savefig("nyquist.png")  # doctest: +SKIP
    """
    ds = _check(dataset(eis))
    fig, axes = new_figure()
    ax = axes[0, 0]
    spectra = _spectra(ds)
    for i, (name, one) in enumerate(spectra):
        color = f"C{i}"
        ax.plot(one["Z_real"].values, -one["Z_imag"].values, **{**MEASURED, "color": color})
        if _fitted(one):
            ax.plot(one["Z_real_fit"].values, -one["Z_imag_fit"].values, color=color, **FIT)
    ax.set(xlabel=label(ds["Z_real"]), ylabel="-" + label(ds["Z_imag"]), title=_title(ds, len(spectra)))
    ax.set_aspect("equal", adjustable="datalim")  # semicircles look like semicircles
    _legend(fig, ds, spectra)
    return fig


def bode(eis: xr.Dataset | xr.DataTree) -> Figure:
    """|Z| and phase against frequency: measured points and, when present, the fit.

    Examples
    --------
    >>> bode(ds).savefig("bode.png")  # doctest: +SKIP
    """
    ds = _check(dataset(eis))
    fig, axes = new_figure(2, 1, panel=(5.6, 2.8), sharex=True)
    unit = ds["Z_real"].attrs.get("units", "")
    spectra = _spectra(ds)
    for i, (_, one) in enumerate(spectra):
        pairs = [(one["Z_real"], one["Z_imag"], {**MEASURED, "color": f"C{i}"})]
        if _fitted(one):
            pairs.append((one["Z_real_fit"], one["Z_imag_fit"], {**FIT, "color": f"C{i}"}))
        for real, imag, style in pairs:
            modulus = named(np.hypot(real, imag), "|Z|", unit)
            phase = named(np.degrees(np.arctan2(imag, real)), "phase", "deg")
            modulus.plot.line(ax=axes[0, 0], x="frequency", xscale="log", yscale="log", **style)
            phase.plot.line(ax=axes[1, 0], x="frequency", xscale="log", **style)
    axes[0, 0].set(title=_title(ds, len(spectra)), xlabel="")
    axes[1, 0].set_title("")
    _legend(fig, ds, spectra)
    return fig
