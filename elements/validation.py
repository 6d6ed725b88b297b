"""`validation`: run objectives with the parameter values so far and report error metrics."""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr
from pydantic import Field

from elements import engine
from elements.base import ELEMENTS, Context, ElementType, Result
from elements.objectives import problems, traces
from elements.schema import ObjectiveSpec, Strict

METRICS = ("RMSE", "MAE", "Max")


class ValidationSpec(Strict):
    element_type: Literal["validation"]
    objectives: dict[str, ObjectiveSpec] = Field(min_length=1)


def run(spec: ValidationSpec, ctx: Context) -> Result:
    checks = problems(spec.objectives, inputs=(), existing=ctx.parameters, cost="RMSE", base_dir=ctx.base_dir)
    outcomes = [engine.solve(p, np.empty((1, 0)))[0] for p in checks]
    datasets: dict[str, xr.Dataset] = {}
    metrics = {m: [] for m in METRICS}
    summary: dict[str, dict] = {}
    for problem, outcome in zip(checks, outcomes):
        found = {m: engine.cost_of(problem, outcome, m) for m in METRICS}
        for m, value in found.items():
            metrics[m].append(value)
        summary[problem.name] = {**found, "status": outcome.status, "message": outcome.message}
        datasets[f"traces/{problem.name}"] = xr.Dataset(
            traces(problem, outcome.values),
            coords={"time": problem.time},
            attrs={"status": outcome.status, "message": outcome.message, **found},
        )
    names = [p.name for p in checks]
    datasets[""] = xr.Dataset(
        {m: ("objective", np.array(v)) for m, v in metrics.items()}
        | {"status": ("objective", np.array([o.status for o in outcomes], dtype=object))},
        coords={"objective": names},
    )
    return Result(parameters=dict(ctx.parameters), datasets=datasets, summary={"metrics": summary})


ELEMENTS.register("validation")(ElementType(ValidationSpec, run))
