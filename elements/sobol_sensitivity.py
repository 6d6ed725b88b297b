"""`sobol_sensitivity`: which fitted parameters each objective's cost depends on, and how much,
across the whole search box (ionworks' ``SobolSensitivity``).

Saltelli's design from SALib (``n_samples`` base points: ``n (d + 2)`` evaluations, ``n (2d + 2)``
with ``calc_second_order``) is evaluated as ONE fanned-out batch over the cluster, every objective's
cost at every point; SALib's estimators give each cost's first-order (``S1``), total-order (``ST``)
and, when asked, second-order (``S2``) indices with bootstrap intervals (``*_conf``, at 95 %). A
parameter with a small ``ST`` barely moves that cost anywhere in the box: the data of that objective
cannot determine it. ``ST`` well above ``S1`` means it acts through interactions with others.

Points are drawn uniformly within each parameter's bounds, or uniformly in log10 of them with
``use_log_transform``. A point whose solve fails has no cost: the indices of a cost with failed
points are NaN and the summary says how many failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Literal

import numpy as np
import xarray as xr
from pydantic import Field, model_validator

from elements.core.status import Progress, Summary
from elements.element import ELEMENTS, Context, ElementType, MapLike, Result, serial_map
from elements.fit.driver import chunk_count
from elements.fit.evaluation import build
from elements.fit.spec import DataFitSpec, at_a_point, inputs
from elements.objectives import Objective

TOTAL = "total"  # the fit's cost: every objective's, weighted and summed


class SobolSpec(DataFitSpec):
    """The fit's objectives, parameters and cost (as a data_fit writes them), and the design."""

    element_type: Literal["sobol_sensitivity"]  # type: ignore[assignment]
    n_samples: int = Field(256, ge=8, description="base points of Saltelli's design (a power of two)")
    calc_second_order: bool = False
    use_log_transform: bool = False
    seed: int | None = Field(None, ge=0)
    num_resamples: int = Field(100, ge=10, description="bootstrap resamples for the intervals")

    _point_estimate = model_validator(mode="before")(at_a_point)

    @model_validator(mode="after")
    def _power_of_two(self) -> SobolSpec:
        if self.n_samples & (self.n_samples - 1):
            raise ValueError(f"n_samples must be a power of two (Sobol' sequences balance only then), got "
                             f"{self.n_samples}; use {1 << round(np.log2(self.n_samples))}")
        return self


def costs(objectives: Sequence[Objective], X: np.ndarray) -> np.ndarray:
    """Worker side: each objective's weighted cost at each row of ``X`` (natural units), NaN where it failed."""
    columns = []
    for o in objectives:
        found = np.array([o.weight * o.cost(out) for out in o.solve(np.atleast_2d(X))], dtype=float)
        columns.append(np.where(np.isfinite(found), found, np.nan))
    return np.column_stack(columns)


def indices(
    cost: Callable[[np.ndarray], np.ndarray], bounds: Sequence[tuple[float, float]], names: Sequence[str],
    outputs: Sequence[str], *, n_samples: int, second_order: bool = False, seed: int | None = None,
    mapper: MapLike = serial_map, n_chunks: int = 1, num_resamples: int = 100,
) -> xr.Dataset:
    """Sobol' indices of each column of ``cost(X)`` (rows of points in ``bounds``, evaluated in
    ``n_chunks`` chunks through ``mapper``), on ``output`` and ``parameter`` dimensions.

    Examples
    --------
    >>> from SALib.test_functions import Ishigami
    >>> ds = indices(lambda X: Ishigami.evaluate(X)[:, None], [(-np.pi, np.pi)] * 3, ["x1", "x2", "x3"], ["f"],
    ...              n_samples=1024, seed=1)
    >>> ds["S1"].sel(output="f").round(1).values.tolist()
    [0.3, 0.4, 0.0]
    """
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    problem = {"num_vars": len(names), "names": list(names), "bounds": [list(b) for b in bounds]}
    X = sample.sample(problem, n_samples, calc_second_order=second_order, seed=seed)
    chunks = [c for c in np.array_split(X, min(n_chunks, len(X))) if len(c)]
    Y = np.vstack(list(mapper(cost, chunks)))
    d, found = len(names), {}
    for key in ("S1", "S1_conf", "ST", "ST_conf", *(("S2", "S2_conf") if second_order else ())):
        found[key] = np.full((len(outputs), d, d) if key.startswith("S2") else (len(outputs), d), np.nan)
    failed = np.isnan(Y).sum(axis=0)
    for j in range(len(outputs)):
        if failed[j]:
            continue
        result = analyze.analyze(problem, Y[:, j], calc_second_order=second_order, num_resamples=num_resamples,
                                 seed=seed)
        for key in found:
            found[key][j] = result[key]
    variables = {key: (("output", "parameter", "parameter_2") if key.startswith("S2") else ("output", "parameter"),
                       value) for key, value in found.items()}
    return xr.Dataset(
        {**variables, "x": (("sample", "parameter"), X), "cost": (("sample", "output"), Y),
         "failed": ("output", failed)},
        coords={"output": list(outputs), "parameter": list(names), "parameter_2": list(names)},
        attrs={"n_samples": n_samples, "evaluations": len(X), "second_order": int(second_order),
               "confidence": "95 % bootstrap intervals (*_conf are half-widths)"},
    )


def _with_total(objectives: Sequence[Objective], X: np.ndarray) -> np.ndarray:
    each = costs(objectives, X)
    return np.column_stack([each, each.sum(axis=1)])


def _natural(log: bool, func: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> np.ndarray:
    """``func`` of points drawn in log10 of the bounds (``log``) or in the bounds."""
    return func(10.0 ** np.asarray(X) if log else np.asarray(X))


def run(spec: SobolSpec, ctx: Context) -> Result:
    names = tuple(spec.parameters)
    params = [spec.parameters[n] for n in names]
    objectives = build(spec, names, ctx)
    bounds = [tuple(np.log10(p.bounds)) if spec.use_log_transform else tuple(p.bounds) for p in params]
    outputs = [o.name for o in objectives] + ([TOTAL] if len(objectives) > 1 else [])
    work = partial(_with_total, objectives) if len(objectives) > 1 else partial(costs, objectives)
    ds = indices(partial(_natural, spec.use_log_transform, work), bounds, names, outputs, n_samples=spec.n_samples,
                 second_order=spec.calc_second_order, seed=spec.seed, mapper=ctx.fan.map("sobol"),
                 n_chunks=chunk_count(spec.chunks, ctx.fan.workers), num_resamples=spec.num_resamples)
    if spec.use_log_transform:
        ds["x"] = (("sample", "parameter"), 10.0 ** ds["x"].values)
    ds.attrs["sampled_in"] = "log10 of the bounds" if spec.use_log_transform else "the bounds"
    ctx.run.report(Progress(unit="evaluations", done=ds.attrs["evaluations"], total=ds.attrs["evaluations"]))
    metrics = {f"{out}: {n}": {"S1": float(ds["S1"].sel(output=out, parameter=n)),
                               "ST": float(ds["ST"].sel(output=out, parameter=n))}
               for out in outputs for n in names}
    failed = {out: int(f) for out, f in zip(outputs, ds["failed"].values) if f}
    notes = [f"{f} of {ds.attrs['evaluations']} points failed to solve for {out!r}: its indices are NaN; narrow "
             "the bounds" for out, f in failed.items()]
    return Result(parameters=dict(ctx.parameters), datasets={"": ds},
                  summary=Summary(metrics=metrics, evaluations=int(ds.attrs["evaluations"]), notes=notes))


ELEMENTS.register("sobol_sensitivity", ElementType(SobolSpec, run, inputs))
