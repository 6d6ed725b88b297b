"""What the monitor draws of a running fit: the best candidate's traces, written as the best improves.

The chunks that solve a generation send back the outcomes of their lowest-cost candidate, so the
preview costs no extra solve; it is written (as a small JSON snapshot) at most once per
``sweepfit.monitor.preview-every`` seconds, and the latest best once more when the fit ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from elements.core import config

MAX_POINTS = 400  # per line: the monitor's figures are a few hundred pixels wide


def _plain(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def snapshot(traces: dict[str, xr.Dataset], *, cost: float, step: int) -> dict[str, Any]:
    """The JSON-able snapshot of each objective's traces (one dimension each, thinned to ``MAX_POINTS``).

    Examples
    --------
    >>> ds = xr.Dataset({"data V": ("time", [4.0, 3.9]), "model V": ("time", [4.0, 3.8])}, coords={"time": [0, 60]})
    >>> snapshot({"1C": ds}, cost=0.05, step=3)["objectives"]["1C"]["lines"]["model V"]
    [4.0, 3.8]
    """
    objectives = {}
    for name, ds in traces.items():
        if len(ds.dims) != 1:
            continue
        (dim,) = ds.dims
        thin = ds.isel({dim: slice(None, None, max(1, math.ceil(ds.sizes[dim] / MAX_POINTS)))})
        objectives[name] = {
            "x": str(dim),
            "units": ds[dim].attrs.get("units", "s" if dim == "time" else None),
            "values": _plain(thin[dim].values),
            "lines": {str(v): _plain(thin[v].values) for v in thin.data_vars
                      if thin[v].dims == (dim,) and thin[v].dtype.kind in "fi"},
        }
    return {"cost": float(cost) if math.isfinite(cost) else None, "step": int(step), "objectives": objectives}


class Preview:
    """Hands ``write`` a snapshot of the best traces when the best improves, at most every
    ``every`` seconds; :meth:`flush` writes one still held back. ``write`` receives a function that
    makes the snapshot, so that a writer on another thread builds it there, off the fit's own
    (building one takes ~5 ms on the benchmark problem); a fit that improves every generation
    builds few of them."""

    def __init__(self, write: Callable[[Callable[[], dict[str, Any]]], None] | None, every: float | None = None) -> None:
        self.write = write
        self.every = float(config.get("monitor.preview-every") if every is None else every)
        self.best = math.inf
        self.last = -math.inf
        self.pending: tuple[Callable[[], dict[str, xr.Dataset]], float, int] | None = None

    def offer(self, traces: Callable[[], dict[str, xr.Dataset]], cost: float, step: int) -> None:
        if self.write is None or not cost < self.best:
            return
        self.best, self.pending = cost, (traces, cost, step)
        if time.monotonic() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.pending is None:
            return
        traces, cost, step = self.pending
        self.pending, self.last = None, time.monotonic()
        self.write(lambda: snapshot(traces(), cost=cost, step=step))
