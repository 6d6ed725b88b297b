"""`data_fit`: fit parameters to measured data; each population fans out in chunks over the cluster."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr
from pydantic import Field, model_validator

from elements.core import config
from elements.core.status import Progress, SolveStatus, Summary
from elements.costs import COSTS
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.objectives import OBJECTIVES, Objective, legacy
from elements.optimizers import OPTIMIZERS
from elements.schema import ParameterSpec, Strict, kind_of


DEFAULT_OPTIMIZER = "ScipyDifferentialEvolution"


class DataFitSpec(Strict):
    element_type: Literal["data_fit"]
    objectives: dict[str, kind_of(OBJECTIVES, default="CurrentDriven", prepare=legacy)] = Field(min_length=1)
    parameters: dict[str, ParameterSpec] = Field(min_length=1)
    cost: kind_of(COSTS, default="RMSE") = Field("RMSE", validate_default=True)
    optimizer: kind_of(OPTIMIZERS, default=DEFAULT_OPTIMIZER) = Field(DEFAULT_OPTIMIZER, validate_default=True)
    chunks: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _known_parameters(self) -> DataFitSpec:
        found = {m for o in self.objectives.values() for m in o.unknown_parameters(list(self.parameters))}
        if found:
            raise ValueError("; ".join(sorted(found)))
        return self


def evaluate(objectives: list[Objective], X: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    """Worker side: the weighted-sum cost of each row of X, with a status and reason per row."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    costs = np.zeros(len(X))
    status = [SolveStatus.OK] * len(X)
    messages = [""] * len(X)
    for objective in objectives:
        for i, outcome in enumerate(objective.solve(X)):
            costs[i] += objective.weight * objective.cost(outcome)
            if outcome.status is not SolveStatus.OK and not status[i].failed:
                status[i] = outcome.status
                messages[i] = f"{objective.name}: {outcome.message}"
    return costs, [str(s) for s in status], messages


def run(spec: DataFitSpec, ctx: Context) -> Result:
    names = tuple(spec.parameters)
    params = [spec.parameters[n] for n in names]
    objectives = [o for name, kind in spec.objectives.items()
                  for o in kind.build(name, inputs=names, existing=ctx.parameters, cost=spec.cost, base_dir=ctx.base_dir)]
    # Solve cost varies from candidate to candidate, so a generation split in exactly one chunk per
    # thread waits for its slowest part; a few chunks per thread balance it (measured on 2 workers:
    # 6 chunks 6.2-7.9 s, 2 chunks 7.9-10.4 s).
    n_chunks = spec.chunks or config.get("fit.chunks") or ctx.workers * int(config.get("fit.chunks-per-thread"))
    history: dict[str, list] = {k: [] for k in ("x", "cost", "generation", "status", "message")}
    best_cost: list[float] = []
    best_x: list[list[float]] = []

    def natural(Y: np.ndarray) -> np.ndarray:
        return np.array([[p.from_search(y) for p, y in zip(params, row)] for row in np.atleast_2d(Y)])

    def objective(Y: np.ndarray) -> np.ndarray:
        ctx.check_canceled()
        X = natural(Y)
        generation = len(best_cost)
        chunks = [c for c in np.array_split(X, min(n_chunks, len(X))) if len(c)]
        results = list(ctx.mapper(f"gen{generation}")(partial(evaluate, objectives), chunks))
        costs = np.concatenate([r[0] for r in results])
        history["x"].extend(X.tolist())
        history["cost"].extend(costs.tolist())
        history["generation"].extend([generation] * len(X))
        history["status"].extend(s for r in results for s in r[1])
        history["message"].extend(m for r in results for m in r[2])
        i = int(np.argmin(history["cost"]))
        best_cost.append(float(history["cost"][i]))
        best_x.append(history["x"][i])
        ctx.report(Progress(unit="generation", done=generation + 1, evaluations=len(history["cost"]),
                            parameters=list(names), best_cost=best_cost, best_x=best_x))
        return costs

    x0 = None
    if all(p.initial_value is not None for p in params):
        x0 = np.array([p.to_search(p.initial_value) for p in params])
    started = time.perf_counter()
    result = spec.optimizer.minimize(objective, [p.search_bounds for p in params], x0=x0)
    wall = time.perf_counter() - started
    best = natural(result.x)[0]
    fitted = dict(zip(names, map(float, best)))
    found_cost = float(result.fun)

    ds = xr.Dataset(
        {
            "x": (("evaluation", "parameter"), np.array(history["x"]).reshape(-1, len(names))),
            "cost": ("evaluation", np.array(history["cost"])),
            "generation": ("evaluation", np.array(history["generation"], dtype=int)),
            "status": ("evaluation", np.array(history["status"], dtype=object)),
            "message": ("evaluation", np.array(history["message"], dtype=object)),
            "best_x": ("parameter", best),
            "best_cost": found_cost,
            "best_cost_per_generation": ("generation_index", np.array(best_cost)),
            "best_x_per_generation": (("generation_index", "parameter"), np.array(best_x).reshape(-1, len(names))),
            "lower_bound": ("parameter", [p.bounds[0] for p in params]),
            "upper_bound": ("parameter", [p.bounds[1] for p in params]),
        },
        coords={"parameter": list(names)},
        attrs={
            "optimizer": spec.optimizer.type,
            "message": str(result.message),
            "success": bool(result.success),
            "nfev": len(history["cost"]),
            "nit": int(result.nit),
            "chunks_per_generation": int(n_chunks),
            "wall_s": wall,
        },
    )
    datasets = {"": ds}
    for o in objectives:
        outcome = o.solve(best[None, :])[0]
        traces = o.traces(outcome)
        traces.attrs["cost"] = o.cost(outcome)
        datasets[f"traces/{o.name}"] = traces
    return Result(
        parameters={**ctx.parameters, **fitted},
        datasets=datasets,
        summary=Summary(parameters=fitted, cost=found_cost, evaluations=len(history["cost"]), iterations=int(result.nit)),
    )


def inputs(spec: DataFitSpec, base_dir: Path) -> dict[str, str]:
    """Every data set the objectives read, with its sha256 (reading checks them all)."""
    return {src: sha for name, kind in spec.objectives.items() for src, sha in kind.sources(name, base_dir).items()}


ELEMENTS.register("data_fit", ElementType(DataFitSpec, run, inputs))
