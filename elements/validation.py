"""`validation`: run objectives with the parameter values so far and report error metrics."""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr
from pydantic import Field

from elements.core.status import Summary
from elements.costs import COSTS
from elements.fit.spec import inputs
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.objectives import OBJECTIVES, legacy
from elements.schema import Strict, kind_of

METRICS = ("RMSE", "MAE", "Max")


class ValidationSpec(Strict):
    """``summary_stats`` (ionworks-schema's name) picks the metrics; RMSE, MAE and Max by default."""

    element_type: Literal["validation"]
    objectives: dict[str, kind_of(OBJECTIVES, default="CurrentDriven", prepare=legacy)] = Field(min_length=1)
    summary_stats: list[kind_of(COSTS)] | None = None


def run(spec: ValidationSpec, ctx: Context) -> Result:
    measures = {m.type: m for m in spec.summary_stats} if spec.summary_stats else {m: COSTS[m]() for m in METRICS}
    checks = [o for name, kind in spec.objectives.items()
              for o in kind.build(name, inputs=(), existing=ctx.parameters, cost=next(iter(measures.values())), base_dir=ctx.base_dir)]
    outcomes = [o.solve(np.empty((1, 0)))[0] for o in checks]
    datasets: dict[str, xr.Dataset] = {}
    metrics: dict[str, list[float]] = {m: [] for m in measures}
    summary: dict[str, dict] = {}
    for check, outcome in zip(checks, outcomes):
        found = {m: check.cost(outcome, measure) for m, measure in measures.items()}
        for m, value in found.items():
            metrics[m].append(value)
        summary[check.name] = {**found, "status": str(outcome.status), "message": outcome.message}
        traces = check.traces(outcome)
        traces.attrs.update(found)
        datasets[f"traces/{check.name}"] = traces
    datasets[""] = xr.Dataset(
        {m: ("objective", np.array(v)) for m, v in metrics.items()}
        | {"status": ("objective", np.array([str(o.status) for o in outcomes], dtype=object))},
        coords={"objective": [c.name for c in checks]},
    )
    return Result(parameters=dict(ctx.parameters), datasets=datasets, summary=Summary(metrics=summary))


ELEMENTS.register("validation", ElementType(ValidationSpec, run, inputs))
