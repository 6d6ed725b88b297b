"""`data_fit`: fit parameters to measured data; each population fans out in chunks over the cluster."""

from __future__ import annotations

import time
from functools import partial
from typing import Literal

import numpy as np
import xarray as xr
from pydantic import Field, model_validator

from elements import engine
from elements.base import ELEMENTS, Context, ElementType, Result
from elements.models import unknown_parameters
from elements.objectives import problems, traces
from elements.optimizers import OPTIMIZERS, OptimizerSpec
from elements.schema import CostSpec, ObjectiveSpec, ParameterSpec, Strict
from orchestrator import config


class DataFitSpec(Strict):
    element_type: Literal["data_fit"]
    objectives: dict[str, ObjectiveSpec] = Field(min_length=1)
    parameters: dict[str, ParameterSpec] = Field(min_length=1)
    cost: CostSpec = Field(default_factory=CostSpec)
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    chunks: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _known_parameters(self) -> DataFitSpec:
        sets = {o.parameter_set for o in self.objectives.values()}
        problems_found = [m for s in sorted(sets) for m in unknown_parameters(s, list(self.parameters))]
        if problems_found:
            raise ValueError("; ".join(problems_found))
        return self


def evaluate_chunk(problem_list: list[engine.Problem], X: np.ndarray) -> tuple:
    """Worker side: one batched solve per objective for a chunk of candidates."""
    return engine.evaluate(problem_list, X)


def run(spec: DataFitSpec, ctx: Context) -> Result:
    names = list(spec.parameters)
    params = [spec.parameters[n] for n in names]
    fit_problems = problems(
        spec.objectives, inputs=names, existing=ctx.parameters, cost=spec.cost.type, base_dir=ctx.base_dir
    )
    # Solve cost varies from candidate to candidate, so a generation split in exactly one chunk per
    # thread waits for its slowest part; a few chunks per thread balance it (measured, DESIGN.md's
    # fit on 2 workers: 6 chunks 6.2-7.9 s, 2 chunks 7.9-10.4 s).
    n_chunks = spec.chunks or config.get("fit.chunks") or ctx.workers * int(config.get("fit.chunks-per-thread"))
    history: dict[str, list] = {k: [] for k in ("x", "cost", "generation", "status", "message")}
    best_per_generation: list[float] = []
    best_x_per_generation: list[list[float]] = []

    def natural(Y: np.ndarray) -> np.ndarray:
        return np.array([[p.from_search(y) for p, y in zip(params, row)] for row in np.atleast_2d(Y)])

    def objective(Y: np.ndarray) -> np.ndarray:
        ctx.check_canceled()
        X = natural(Y)
        chunks = [c for c in np.array_split(X, min(n_chunks, len(X))) if len(c)]
        mapper = ctx.mapper(f"gen{len(best_per_generation)}")
        results = list(mapper(partial(evaluate_chunk, fit_problems), chunks))
        costs = np.concatenate([r[0] for r in results])
        generation = len(best_per_generation)
        history["x"].extend(X.tolist())
        history["cost"].extend(costs.tolist())
        history["generation"].extend([generation] * len(X))
        history["status"].extend(s for r in results for s in r[1])
        history["message"].extend(m for r in results for m in r[2])
        i = int(np.argmin(history["cost"]))
        best_per_generation.append(float(history["cost"][i]))
        best_x_per_generation.append(history["x"][i])
        ctx.report(
            {"generation": generation, "nfev": len(history["cost"]), "parameters": names,
             "best_cost": best_per_generation, "best_x": best_x_per_generation}
        )
        return costs

    x0 = None
    if all(p.initial_value is not None for p in params):
        x0 = np.array([p.to_search(p.initial_value) for p in params])
    started = time.perf_counter()
    result = OPTIMIZERS[spec.optimizer.type](
        objective,
        [p.search_bounds for p in params],
        x0=x0,
        options=spec.optimizer.options,
    )
    wall = time.perf_counter() - started
    best = natural(result.x)[0]
    fitted = dict(zip(names, map(float, best)))
    best_cost = float(result.fun)

    ds = xr.Dataset(
        {
            "x": (("evaluation", "parameter"), np.array(history["x"])),
            "cost": ("evaluation", np.array(history["cost"])),
            "generation": ("evaluation", np.array(history["generation"])),
            "status": ("evaluation", np.array(history["status"], dtype=object)),
            "message": ("evaluation", np.array(history["message"], dtype=object)),
            "best_x": ("parameter", best),
            "best_cost": best_cost,
            "best_cost_per_generation": ("generation_index", np.array(best_per_generation)),
            "best_x_per_generation": (("generation_index", "parameter"), np.array(best_x_per_generation)),
            "lower_bound": ("parameter", [p.bounds[0] for p in params]),
            "upper_bound": ("parameter", [p.bounds[1] for p in params]),
        },
        coords={"parameter": names},
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
    best_outcomes = [engine.solve(p, best[None, :])[0] for p in fit_problems]
    for problem, outcome in zip(fit_problems, best_outcomes):
        datasets[f"traces/{problem.name}"] = xr.Dataset(
            traces(problem, outcome.values),
            coords={"time": problem.time},
            attrs={"status": outcome.status, "message": outcome.message, "cost": engine.cost_of(problem, outcome)},
        )
    return Result(
        parameters={**ctx.parameters, **fitted},
        datasets=datasets,
        summary={"parameters": fitted, "cost": best_cost, "nfev": len(history["cost"]), "nit": int(result.nit)},
    )


ELEMENTS.register("data_fit")(ElementType(DataFitSpec, run))
