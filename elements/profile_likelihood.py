"""`profile_likelihood`: each parameter's profile — the likelihood with that parameter held at each
value of a grid and every other parameter fitted again — and the intervals it gives, one task per
grid point, all in parallel over the cluster.

The point is each parameter's value passed down by an earlier element (the fit), else its
``initial_value``. Each variable's noise is ``variable_standard_deviations[variable]`` when given,
else estimated from its residuals at that point (as the linear interval does). A grid of ``points``
values spans ``span`` linear standard deviations either side of the point, in search space (decades
for ``transform: log10``), within the bounds. At each grid value the other parameters are fitted by
least squares on the residuals divided by their noise, from the point, with exact Jacobians from
IDAKLU's sensitivities (so every objective must have them: a current drive). The profile is
``-2 log L`` above its lowest value; the interval holds the values where it stays below the
chi-squared quantile of one degree of freedom at ``confidence_level`` (3.84 at 95 %), its ends found
by linear interpolation between grid points. A profile that does not rise that far within the grid
leaves that end open (NaN) and the summary says so: the data do not bound that parameter on that
side, which a linear interval cannot tell.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import Field, model_validator

from elements import engine
from elements.core.problem import GRADIENT, RESIDUALS
from elements.core.status import Progress, Summary
from elements.element import ELEMENTS, Context, ElementType, Result, serial_map
from elements.fit.driver import optimize
from elements.fit.evaluation import Wrapped, evaluate
from elements.fit.spec import DataFitSpec, at_a_point, inputs
from elements.linear_confidence_interval import at_the_point, covariance
from elements.objectives import Gradient, Objective
from elements.optimizers.scipy_least_squares import ScipyLeastSquares
from elements.schema import ParameterSpec


class ProfileSpec(DataFitSpec):
    """The fit's objectives, parameters and cost (as a data_fit writes them), and the grid."""

    element_type: Literal["profile_likelihood"]  # type: ignore[assignment]
    confidence_level: float = Field(0.95, gt=0, lt=1)
    points: int = Field(11, ge=3, description="grid values per parameter (an odd number puts one at the point)")
    span: float = Field(4.0, gt=0, description="half the grid's width, in linear standard deviations")
    variable_standard_deviations: dict[str, float] | None = None
    gauss_newton: bool = True  # for the linear standard deviations that size the grid
    step: float = Field(1e-4, gt=0, lt=0.1)

    _point_estimate = model_validator(mode="before")(at_a_point)

    @model_validator(mode="after")
    def _residuals(self) -> ProfileSpec:
        lacking = [n for n, kind in self.objectives.items() if not {GRADIENT, RESIDUALS} <= kind.provides]
        if lacking:
            raise ValueError(f"objective(s) {lacking} give no sensitivities: a profile re-fits the other parameters "
                             "by least squares at every grid value, which needs them (a current drive: CurrentDriven "
                             "or Pulse); use linear_confidence_interval or a sampler for these")
        return self


@dataclasses.dataclass(frozen=True, eq=False)
class Pinned(Wrapped):
    """Worker side: ``inner`` with the parameter in ``column`` held at ``value``; the others are the
    candidates' columns."""

    column: int
    value: float

    @property
    def has_gradient(self) -> bool:  # type: ignore[override]
        return self.inner.has_gradient

    def full(self, X: np.ndarray) -> np.ndarray:
        return np.insert(np.atleast_2d(X), self.column, self.value, axis=1)

    def solve(self, X: np.ndarray) -> list[engine.Outcome]:
        return self.inner.solve(self.full(X))

    def cost(self, outcome: engine.Outcome, cost: Any = None) -> float:
        return self.inner.cost(outcome, cost)

    def value_and_grad(self, X: np.ndarray, *, residuals: bool = False) -> list[Gradient]:
        found = self.inner.value_and_grad(self.full(X), residuals=residuals)
        return [dataclasses.replace(g, gradient=np.delete(g.gradient, self.column),
                                    jacobian=None if g.jacobian is None else np.delete(g.jacobian, self.column, axis=1))
                for g in found]


def by_noise(objective: Objective, sigma: dict[str, float]) -> Objective:
    """``objective`` whose stacked residuals are each variable's model minus data over its noise, so
    their sum of squares is ``-2 log L`` up to a constant."""
    weights = {v: len(data) / sigma[f"{objective.name}: {v}"] ** 2 for v, data in objective.data.items()}
    return dataclasses.replace(objective, weights=weights, scales=dict.fromkeys(objective.data, 1.0), weight=1.0)


def chi2(objectives: list[Objective], x: np.ndarray) -> float:
    """``-2 log L`` (up to a constant) of the noise-weighted objectives at ``x`` (natural units)."""
    found = evaluate(objectives, x[None], derivatives=RESIDUALS)
    return float(np.sum(found.residuals**2)) if np.isfinite(found.cost).all() else np.inf


def profile_point(objectives: list[Objective], params: list[ParameterSpec], y: np.ndarray,
                  item: tuple[int, int, float]) -> tuple[int, int, float, np.ndarray]:
    """Worker side: parameter ``i`` held at search value ``v``, the others fitted from ``y``; its -2 log L
    and where the others ended (natural units)."""
    i, k, v = item
    held = params[i].from_search(v)
    pinned = [Pinned(o, i, held) for o in objectives]
    others = [p for j, p in enumerate(params) if j != i]
    if others:
        fitted = optimize(ScipyLeastSquares(), pinned, others, np.delete(y, i), mapper=lambda label: serial_map,
                          n_chunks=1)
        rest = np.array([p.from_search(u) for p, u in zip(others, fitted.result.x)])
    else:
        rest = np.empty(0)
    return i, k, chi2(pinned, rest), np.insert(rest, i, held)


def crossing(grid: np.ndarray, profile: np.ndarray, centre: int, threshold: float, side: int) -> float:
    """Where the profile first rises through ``threshold`` going from ``centre`` in direction ``side``
    (linear interpolation between grid values); NaN if it never does within the grid."""
    k = centre
    while 0 <= k + side < len(grid):
        a, b = profile[k], profile[k + side]
        if b >= threshold > a:
            return float(grid[k] + (threshold - a) / (b - a) * (grid[k + side] - grid[k]))
        k += side
    return float("nan")


def run(spec: ProfileSpec, ctx: Context) -> Result:
    from scipy import stats

    names, params, built, x, y = at_the_point(spec, ctx)
    cov, sigma, _, _ = covariance(spec, built, params, y)
    objectives = [by_noise(o, sigma) for o in built]
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    lower, upper = np.array([p.search_bounds for p in params]).T
    grids = np.array([np.clip(y[i] + np.linspace(-spec.span, spec.span, spec.points) * sd[i], lower[i], upper[i])
                      for i in range(len(names))])
    items = [(i, k, float(v)) for i in range(len(names)) for k, v in enumerate(grids[i])]
    values = np.full(grids.shape, np.nan)
    ends = np.full((*grids.shape, len(names)), np.nan)
    points = ctx.fan.as_completed("profile")(partial(profile_point, objectives, params, y), items)
    for done, (i, k, value, at) in enumerate(points, start=1):
        ctx.run.check_canceled()
        values[i, k], ends[i, k] = value, at
        ctx.run.report(Progress(unit="points", done=done, total=len(items)))
    best = min(chi2(objectives, x), float(np.nanmin(values)))
    profile = values - best
    threshold = float(stats.chi2.ppf(spec.confidence_level, 1))
    found, notes = {}, []
    natural = np.array([[params[i].from_search(v) for v in grids[i]] for i in range(len(names))])
    for i, name in enumerate(names):
        centre = int(np.argmin(np.where(np.isfinite(profile[i]), profile[i], np.inf)))
        lo, hi = (crossing(grids[i], profile[i], centre, threshold, side) for side in (-1, 1))
        found[name] = {"value": float(x[i]), "lower": params[i].from_search(lo) if np.isfinite(lo) else np.nan,
                       "upper": params[i].from_search(hi) if np.isfinite(hi) else np.nan}
        open_ends = [side for side, end in (("below", lo), ("above", hi)) if not np.isfinite(end)]
        if open_ends:
            notes.append(f"{name}: the profile stays below {threshold:.2f} {' and '.join(open_ends)} the grid: the data "
                         "do not bound it there (widen span, or it is not identifiable)")
    ds = xr.Dataset(
        {
            "grid": (("parameter", "point"), natural, {"long_name": "held value"}),
            "profile": (("parameter", "point"), profile, {"long_name": "-2 log L above its lowest value"}),
            "others": (("parameter", "point", "parameter_2"), ends,
                       {"long_name": "every parameter's value at the grid point (the others re-fitted)"}),
            "value": ("parameter", x),
            "lower": ("parameter", [found[n]["lower"] for n in names]),
            "upper": ("parameter", [found[n]["upper"] for n in names]),
            "linear_sd": ("parameter", sd, {"long_name": "linear standard deviation in search space"}),
            "sigma": ("variable", [sigma[v] for v in sigma]),
        },
        coords={"parameter": list(names), "parameter_2": list(names), "point": np.arange(spec.points),
                "variable": list(sigma)},
        attrs={"confidence_level": spec.confidence_level, "threshold": threshold},
    )
    return Result(parameters=dict(ctx.parameters), datasets={"": ds},
                  summary=Summary(metrics=found, evaluations=len(items), notes=notes))


ELEMENTS.register("profile_likelihood", ElementType(ProfileSpec, run, inputs))
