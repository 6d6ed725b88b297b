"""``OCPDataInterpolant``: an electrode's open-circuit potential as a table made from half-cell or
pseudo-OCV data, for the model to use in place of the parameter set's function."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import Field
from scipy.interpolate import UnivariateSpline
from scipy.optimize import isotonic_regression

from elements.calculations import CALCULATIONS, CalculationSpec
from elements.core.data import (
    VOLTAGE,
    DataError,
    DataInput,
    Measurement,
    load_measurements,
)
from elements.core.status import Summary
from elements.element import Result
from elements.values import table

STOICHIOMETRY = "Stoichiometry"


def ocp_name(electrode: str, *, direction: str | None = None, phase: str | None = None) -> str:
    """The PyBaMM parameter an electrode's OCP goes by.

    Examples
    --------
    >>> ocp_name("negative"), ocp_name("positive", direction="lithiation", phase="primary")
    ('Negative electrode OCP [V]', 'Primary: Positive electrode lithiation OCP [V]')
    """
    prefix = f"{phase.capitalize()}: " if phase else ""
    return f"{prefix}{electrode.capitalize()} electrode {direction + ' ' if direction else ''}OCP [V]"


@CALCULATIONS.register("OCPDataInterpolant")
class OCPDataInterpolant(CalculationSpec):
    """Turn measured ``Stoichiometry`` and ``Voltage [V]`` columns into an OCP table.

    The points are sorted by stoichiometry, those closer than ``tolerance`` merged (their voltages
    averaged), smoothed with a cubic smoothing spline (scipy's ``UnivariateSpline``) whose RMS
    residual is the voltage ``noise`` of the data, estimated from its second differences when not
    given (generalised cross-validation over-smoothed the steep graphite end by 0.3 V), sampled on ``points``
    stoichiometries over the data's range and, with ``monotonic``, made non-increasing by isotonic
    regression: an OCP falls as lithium fills the electrode, and a bump left by noise would give the
    model two states at one voltage. The table replaces the parameter set's OCP function in every
    later element, interpolated with ``interpolator``; outside the data's range the model stops at
    the table's ends (PyBaMM's interpolant bounds), so cover the stoichiometries the cell visits.
    """

    calculation: Literal["OCPDataInterpolant"]
    electrode: Literal["negative", "positive"]
    data: DataInput
    direction: Literal["lithiation", "delithiation"] | None = None
    phase: Literal["primary", "secondary"] | None = None
    tolerance: float = Field(1e-6, gt=0, description="stoichiometries closer than this are one point")
    noise: float | None = Field(None, gt=0, description="the data's voltage noise [V]; None: estimated")
    monotonic: bool = True
    points: int = Field(201, ge=3, description="stoichiometries in the table")
    interpolator: Literal["linear", "cubic", "pchip"] = "linear"
    source: str | None = None  # ionworks-schema's free-text note on where the method comes from

    def measurement(self, base_dir: Path) -> Measurement:
        found = load_measurements(self.data, base_dir=base_dir, required=(STOICHIOMETRY, VOLTAGE))
        if len(found) != 1:
            raise DataError(f"OCPDataInterpolant needs one data set, got {len(found)} from {self.data!r}")
        return found[0]

    def sources(self, base_dir: Path) -> dict[str, str]:
        m = self.measurement(base_dir)
        # checked here too, as the pipeline is validated: a table that cannot be made fails before any cluster
        distinct_points(m.frame[STOICHIOMETRY].to_numpy(dtype=float), m.voltage.astype(float),
                        tolerance=self.tolerance, monotonic=self.monotonic, label=m.source)
        return {m.source: m.sha256}

    def passed_tables(self, earlier: dict[str, Any]) -> dict[str, None]:
        """The OCP table it passes on; its knots are fixed when the data are read."""
        return {ocp_name(self.electrode, direction=self.direction, phase=self.phase): None}

    def derive(self, values: Any, base_dir: Path) -> Result:
        m = self.measurement(base_dir)
        x, y = m.frame[STOICHIOMETRY].to_numpy(dtype=float), m.voltage.astype(float)
        grid, ocp = smoothed_ocp(x, y, tolerance=self.tolerance, noise=self.noise,
                                 monotonic=self.monotonic, points=self.points, label=m.source)
        name = ocp_name(self.electrode, direction=self.direction, phase=self.phase)
        residual = np.interp(x, grid, ocp) - y
        ds = xr.Dataset(
            {name: ("stoichiometry", ocp), f"data {VOLTAGE}": ("point", y), f"data {STOICHIOMETRY}": ("point", x)},
            coords={"stoichiometry": grid},
        )
        metrics = {"RMSE": float(np.sqrt(np.mean(residual**2))), "Max": float(np.max(np.abs(residual)))}
        return Result(parameters={name: table(grid, ocp, interpolator=self.interpolator)}, datasets={"": ds},
                      summary=Summary(metrics={name: metrics}, counts={"points": len(grid)}))


def distinct_points(
    x: np.ndarray, y: np.ndarray, *, tolerance: float, monotonic: bool, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """The finite points sorted by stoichiometry, those within ``tolerance`` merged (voltages
    averaged); DataError when fewer than 5 are left, or, with ``monotonic``, the voltage rises.

    Examples
    --------
    >>> distinct_points(np.array([0.3, 0.1, 0.1]), np.array([3.0, 4.0, 4.2]), tolerance=1e-6, monotonic=True,
    ...                 label="ocp.csv")
    Traceback (most recent call last):
    elements.core.data.DataError: ocp.csv: 2 distinct stoichiometries (after merging those within 1e-06); an OCP table needs at least 5
    """
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    _, index = np.unique(np.round(x / tolerance), return_inverse=True)
    counts = np.bincount(index)
    x, y = np.bincount(index, x) / counts, np.bincount(index, y) / counts  # sorted by np.unique
    if len(x) < 5:
        raise DataError(f"{label}: {len(x)} distinct stoichiometries (after merging those within {tolerance}); "
                        f"an OCP table needs at least 5")
    if monotonic and np.corrcoef(x, y)[0, 1] > 0:
        raise DataError(f"{label}: the voltage rises with {STOICHIOMETRY!r}, but an OCP falls as the electrode "
                        f"fills with lithium; give the lithium fraction (1 - the column), or monotonic: false")
    return x, y


def smoothed_ocp(
    x: np.ndarray, y: np.ndarray, *, tolerance: float = 1e-6, noise: float | None = None,
    monotonic: bool = True, points: int = 201, label: str = "data",
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, de-duplicated, smoothed and (with ``monotonic``) non-increasing OCP samples on
    ``points`` stoichiometries over the range of ``x``.

    Examples
    --------
    >>> x = np.linspace(0.1, 0.9, 50)
    >>> grid, ocp = smoothed_ocp(x, 4.2 - x, points=3)
    >>> grid.round(2).tolist(), ocp.round(3).tolist()
    ([0.1, 0.5, 0.9], [4.1, 3.7, 3.3])
    """
    x, y = distinct_points(x, y, tolerance=tolerance, monotonic=monotonic, label=label)
    if noise is None:  # white noise of sd s gives second differences of sd s*sqrt(6); the median ignores the curve
        noise = max(float(np.median(np.abs(np.diff(y, 2)))) / 0.6745 / np.sqrt(6), 1e-6)
    grid = np.linspace(x[0], x[-1], points)
    ocp = UnivariateSpline(x, y, s=len(x) * noise**2)(grid)
    if monotonic:
        ocp = isotonic_regression(ocp, increasing=False).x
    return grid, ocp
