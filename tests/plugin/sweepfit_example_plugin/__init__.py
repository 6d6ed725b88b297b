"""What a third-party package adds to sweepfit: one optimizer, one objective, one cluster kind.

It is found through the entry points in ``sweepfit_example_plugin-0.1.dist-info`` (what
``pip install`` writes for a ``[project.entry-points."sweepfit.optimizers"]`` table), so
sweepfit's own files are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr
from distributed import Client, LocalCluster
from pydantic import Field
from scipy.optimize import OptimizeResult

from clusters import ClusterKind
from elements import Cost, Objective, ObjectiveKind, Optimizer
from elements.core import SolveStatus, load_measurements
from elements.engine import Outcome

THING = object()


class GridSearch(Optimizer):
    """Every point of an even grid over the bounds, evaluated as one population."""

    type: Literal["GridSearch"] = "GridSearch"
    points: int = Field(9, ge=2)

    def minimize(self, problem, *, x0=None) -> OptimizeResult:
        axes = [np.linspace(lo, hi, self.points) for lo, hi in problem.bounds]
        X = np.array(list(product(*axes)))
        costs = problem.cost(X)
        best = int(np.argmin(costs))
        return OptimizeResult(x=X[best], fun=float(costs[best]), nit=1, nfev=len(X), success=True,
                              message=f"searched {len(X)} grid points")


@dataclass(frozen=True)
class LineSeries(Objective):
    """y = slope * x + offset against measured (x, y); no PyBaMM involved."""

    name: str
    x: np.ndarray
    y: np.ndarray
    inputs: tuple[str, ...]
    cost_kind: Cost
    weight: float = 1.0

    def solve(self, X):
        out = []
        for row in np.atleast_2d(X):
            values = dict(zip(self.inputs, row))
            model = values["slope"] * self.x + values["offset"]
            out.append(Outcome(model) if np.all(np.isfinite(model)) else Outcome(None, SolveStatus.INFEASIBLE, "NaN"))
        return out

    def cost(self, outcome, cost=None):
        return float("inf") if outcome.value is None else (cost or self.cost_kind)(outcome.value, self.y)

    def traces(self, outcome):
        return xr.Dataset({"data y": ("x", self.y), "model y": ("x", outcome.value)}, coords={"x": self.x})


class Line(ObjectiveKind):
    type: Literal["Line"] = "Line"
    data: str

    def build(self, name, *, inputs, existing, cost, base_dir: Path):
        [m] = load_measurements(self.data, base_dir=base_dir, required=("x", "y"))
        return [LineSeries(name, m.frame["x"].to_numpy(float), m.frame["y"].to_numpy(float), inputs, cost, self.weight)]

    def sources(self, name, base_dir):
        return {m.source: m.sha256 for m in load_measurements(self.data, base_dir=base_dir, required=("x", "y"))}


class Threads(ClusterKind):
    """A cluster of worker threads in this process."""

    type: Literal["threads"] = "threads"
    threads: int = Field(2, ge=1)

    def client(self) -> Client:
        return Client(LocalCluster(n_workers=1, threads_per_worker=self.threads, processes=False,
                                   dashboard_address="127.0.0.1:0"))
