"""`data_fit`: fit parameters to measured data; each population fans out in chunks over the cluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr
from dask.base import tokenize
from pydantic import Field, model_validator
from scipy.optimize import OptimizeResult
from scipy.stats import qmc

from elements.core import config
from elements.core.status import Progress, SolveStatus, Summary
from elements.costs import COSTS
from elements.element import ELEMENTS, Context, ElementType, MapLike, Result, serial_map
from elements.fit_journal import Generation, Journal, folder
from elements.objectives import OBJECTIVES, Objective, legacy
from elements.optimizers import OPTIMIZERS, Optimizer
from elements.schema import ParameterSpec, Strict, kind_of

DEFAULT_OPTIMIZER = "ScipyDifferentialEvolution"


class InitialGuessSampler(Strict):
    """Where a multistart fit's starts begin: a Latin hypercube or a uniform draw in the search box.

    ``seed`` also gives each start's optimizer its own seed (in place of the optimizer's ``seed``),
    so a seeded multistart repeats.
    """

    type: Literal["LatinHypercube", "Uniform"] = "LatinHypercube"
    seed: int | None = Field(None, ge=0)

    def starts(self, n: int, bounds: list[tuple[float, float]], x0: np.ndarray | None) -> tuple[np.ndarray, list[int]]:
        """``n`` start points in the search box, ``x0`` first when given, and a seed for each start."""
        sampling, *optimizers = np.random.SeedSequence(self.seed).spawn(n + 1)
        rng = np.random.default_rng(sampling)
        lower, upper = np.asarray(bounds, dtype=float).T
        drawn = n - (x0 is not None)
        if self.type == "LatinHypercube":
            unit = qmc.LatinHypercube(d=len(bounds), seed=rng).random(drawn)
        else:
            unit = rng.uniform(size=(drawn, len(bounds)))
        points = lower + unit * (upper - lower)
        if x0 is not None:
            points = np.vstack([x0, points])
        return points, [int(s.generate_state(1)[0]) for s in optimizers]


class DataFitSpec(Strict):
    element_type: Literal["data_fit"]
    objectives: dict[str, kind_of(OBJECTIVES, default="CurrentDriven", prepare=legacy)] = Field(min_length=1)
    parameters: dict[str, ParameterSpec] = Field(min_length=1)
    cost: kind_of(COSTS, default="RMSE") = Field("RMSE", validate_default=True)
    optimizer: kind_of(OPTIMIZERS, default=DEFAULT_OPTIMIZER) = Field(DEFAULT_OPTIMIZER, validate_default=True)
    chunks: int | None = Field(None, ge=1)
    multistarts: int = Field(1, ge=1, description="optimizer runs from different start points, each its own task")
    initial_guess_sampler: InitialGuessSampler = Field(default_factory=InitialGuessSampler)

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


@dataclass
class Fitted:
    """One optimizer run (one start): its result, in search space, and every evaluation it made."""

    x: list[list[float]] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    generation: list[int] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    message: list[str] = field(default_factory=list)
    best_cost: list[float] = field(default_factory=list)  # best so far, after each objective call
    best_x: list[list[float]] = field(default_factory=list)
    result: OptimizeResult = field(default_factory=OptimizeResult)
    wall_s: float = 0.0


def natural(params: list[ParameterSpec], Y: np.ndarray) -> np.ndarray:
    """Search-space rows in the parameters' own units."""
    return np.array([[p.from_search(y) for p, y in zip(params, row)] for row in np.atleast_2d(Y)])


def optimize(
    optimizer: Optimizer,
    objectives: list[Objective],
    params: list[ParameterSpec],
    x0: np.ndarray | None,
    *,
    mapper: Callable[[str], MapLike],
    n_chunks: int,
    report: Callable[[Fitted], None] = lambda fitted: None,
    check_canceled: Callable[[], None] = lambda: None,
    journal: Journal | None = None,
) -> Fitted:
    """Run ``optimizer`` from ``x0``, splitting each objective call in up to ``n_chunks`` chunks
    mapped by ``mapper(label)``, and keep every evaluation.

    Each solved call is recorded in ``journal``; a call it already holds is replayed from there
    instead of solved (a resumed fit, see :mod:`elements.fit_journal`).
    """
    fitted = Fitted()
    journal = journal or Journal(None)

    def objective(Y: np.ndarray) -> np.ndarray:
        check_canceled()
        X = natural(params, Y)
        generation = len(fitted.best_cost)
        found = journal.replay(generation, X)
        if found is None:
            chunks = [c for c in np.array_split(X, min(n_chunks, len(X))) if len(c)]
            results = list(mapper(f"gen{generation}")(partial(evaluate, objectives), chunks))
            found = Generation(X, np.concatenate([r[0] for r in results]),
                               [s for r in results for s in r[1]], [m for r in results for m in r[2]])
            journal.record(generation, found)
        costs = found.cost
        fitted.x.extend(X.tolist())
        fitted.cost.extend(costs.tolist())
        fitted.generation.extend([generation] * len(X))
        fitted.status.extend(found.status)
        fitted.message.extend(found.message)
        i = int(np.argmin(fitted.cost))
        fitted.best_cost.append(float(fitted.cost[i]))
        fitted.best_x.append(fitted.x[i])
        report(fitted)
        return costs

    # least-squares optimizers (LevenbergMarquardt) fit the objectives' residuals themselves
    objective.objectives, objective.parameters = objectives, params
    started = time.perf_counter()
    fitted.result = optimizer.minimize(objective, [p.search_bounds for p in params], x0=x0)
    fitted.wall_s = time.perf_counter() - started
    return fitted


def open_journal(spec: DataFitSpec, ctx: Context) -> Journal:
    """The fit's journal in its run's store (none outside a store), tied to the problem it solves:
    the element's spec, the sha256 of its data and the values from upstream."""
    if ctx.store_group is None:
        return Journal(None)
    path, element = ctx.store_group()
    problem = tokenize(spec.model_dump(mode="json"), inputs(spec, ctx.base_dir), sorted(ctx.parameters.items()))
    return Journal(folder(path, element), problem)


def run_start(
    objectives: list[Objective], params: list[ParameterSpec], optimizer: Optimizer, journal: tuple[Path, str] | None,
    start: tuple[int, np.ndarray, int],
) -> tuple[int, Fitted]:
    """One start of a multistart fit, run as its own task: its objective calls are evaluated here,
    in one batched solve each, and recorded in the start's own journal (``journal``: the fit's
    journal folder and problem token). Returns the start's index with its fit.

    Starts already keep every worker busy, and fanning each call out again from inside the start
    task (``worker_client``) only added tasks: on 2 workers, benchmark problem, 3 interleaved
    repeats, 4 L-BFGS-B starts took 3.1-3.6 s this way vs 5.1-6.2 s, 4 CMA-ES starts 5.6-11.9 vs
    9.7-13.1 s, 2 DE starts 9.7-11.8 vs 9.7-12.3 s.
    """
    index, x0, seed = start
    if "seed" in type(optimizer).model_fields:
        optimizer = optimizer.model_copy(update={"seed": seed})
    own = Journal(journal[0] / f"start{index}", journal[1]) if journal else Journal(None)
    try:
        return index, optimize(optimizer, objectives, params, x0, mapper=lambda label: serial_map, n_chunks=1,
                               journal=own)
    finally:
        own.close()


def multistart(
    spec: DataFitSpec, ctx: Context, objectives: list[Objective], params: list[ParameterSpec], x0: np.ndarray | None,
    journal: Journal,
) -> tuple[list[Fitted], np.ndarray]:
    """Run every start as its own task, concurrently; progress counts the starts that finished.

    The starts and their seeds come from the sampler's seed, drawn and recorded in ``journal`` when
    none is given, so a resumed fit replays every start (each from its own journal).
    """
    names = list(spec.parameters)
    sampler = spec.initial_guess_sampler.model_copy(update={"seed": journal.seeded(spec.initial_guess_sampler.seed)})
    points, seeds = sampler.starts(spec.multistarts, [p.search_bounds for p in params], x0)
    found: dict[int, Fitted] = {}
    best_cost: list[float] = []  # the best so far, after each start finishes
    best_x: list[list[float]] = []
    starts = [(i, point, seed) for i, (point, seed) in enumerate(zip(points, seeds))]
    where = (journal.path, journal.token) if journal.path else None
    for i, fitted in ctx.unordered("starts")(partial(run_start, objectives, params, spec.optimizer, where), starts):
        ctx.check_canceled()
        found[i] = fitted
        best = min(found.values(), key=lambda f: f.best_cost[-1])
        best_cost.append(best.best_cost[-1])
        best_x.append(best.best_x[-1])
        ctx.report(Progress(unit="start", done=len(found), total=spec.multistarts, parameters=names,
                            evaluations=sum(len(f.cost) for f in found.values()), best_cost=best_cost, best_x=best_x))
    return [found[i] for i in range(spec.multistarts)], points


def run(spec: DataFitSpec, ctx: Context) -> Result:
    names = tuple(spec.parameters)
    params = [spec.parameters[n] for n in names]
    objectives = [o for name, kind in spec.objectives.items()
                  for o in kind.build(name, inputs=names, existing=ctx.parameters, cost=spec.cost, base_dir=ctx.base_dir)]
    # Solve cost varies from candidate to candidate, so a generation split in exactly one chunk per
    # thread waits for its slowest part; a few chunks per thread balance it (measured on 2 workers:
    # 6 chunks 6.2-7.9 s, 2 chunks 7.9-10.4 s).
    n_chunks = spec.chunks or config.get("fit.chunks") or ctx.workers * int(config.get("fit.chunks-per-thread"))
    x0 = None
    if all(p.initial_value is not None for p in params):
        x0 = np.array([p.to_search(p.initial_value) for p in params])

    started = time.perf_counter()
    journal = open_journal(spec, ctx)
    try:
        if spec.multistarts == 1:
            optimizer = spec.optimizer
            if "seed" in type(optimizer).model_fields:  # an unseeded fit records the seed it drew, for resume
                optimizer = optimizer.model_copy(update={"seed": journal.seeded(optimizer.seed)})
            fits, points = [optimize(optimizer, objectives, params, x0, mapper=ctx.mapper, n_chunks=n_chunks,
                                     check_canceled=ctx.check_canceled, journal=journal,
                                     report=lambda f: journal.later(partial(ctx.report, Progress(
                                         unit="generation", done=len(f.best_cost), evaluations=len(f.cost),
                                         parameters=list(names), best_cost=f.best_cost, best_x=f.best_x))))], None
        else:
            fits, points = multistart(spec, ctx, objectives, params, x0, journal)
            n_chunks = 1
    finally:
        journal.close()
    wall = time.perf_counter() - started
    ds = fit_dataset(names, params, fits, points, optimizer=spec.optimizer.type, wall=wall, n_chunks=n_chunks)
    if journal.seed is not None:  # the optimizer's, or with multistarts the initial guess sampler's
        ds.attrs["seed"] = journal.seed
    best = ds["best_x"].values
    fitted = dict(zip(names, map(float, best)))
    found_cost = float(ds["best_cost"])

    datasets = {"": ds}
    for o in objectives:
        outcome = o.solve(best[None, :])[0]
        traces = o.traces(outcome)
        traces.attrs["cost"] = o.cost(outcome)
        datasets[f"traces/{o.name}"] = traces
    return Result(
        parameters={**ctx.parameters, **fitted},
        datasets=datasets,
        summary=Summary(parameters=fitted, cost=found_cost, evaluations=int(ds.attrs["nfev"]),
                        iterations=sum(int(f.result.nit) for f in fits)),
    )


def _padded(rows: list[list], width: int) -> np.ndarray:
    """Rows of unequal length as one float array, NaN after each row's end."""
    out = np.full((len(rows), width, *np.shape(rows[0])[1:]), np.nan)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def fit_dataset(
    names: tuple[str, ...], params: list[ParameterSpec], fits: list[Fitted], points: np.ndarray | None,
    *, optimizer: str, wall: float, n_chunks: int,
) -> xr.Dataset:
    """Every evaluation of every start, the best answer, and (with several starts) each start's
    start point, end point, cost and termination on a ``start`` dimension."""
    d = len(names)
    costs = np.array([f.result.fun for f in fits], dtype=float)
    best_start = int(np.argmin(np.where(np.isnan(costs), np.inf, costs)))
    chosen = fits[best_start]
    best = natural(params, chosen.result.x)[0]
    evaluations = {k: [v for f in fits for v in getattr(f, k)] for k in ("x", "cost", "generation", "status", "message")}
    history: dict[str, tuple] = {
        "best_cost_per_generation": ("generation_index", np.array(chosen.best_cost)),
        "best_x_per_generation": (("generation_index", "parameter"), np.array(chosen.best_x).reshape(-1, d)),
    }
    if len(fits) > 1:
        width = max(len(f.best_cost) for f in fits)
        history = {
            "best_cost_per_generation": (("start", "generation_index"), _padded([f.best_cost for f in fits], width)),
            "best_x_per_generation": (("start", "generation_index", "parameter"),
                                      _padded([f.best_x for f in fits], width)),
            "start_index": ("evaluation", np.repeat(np.arange(len(fits)), [len(f.cost) for f in fits])),
            # end points before start points: readers take the first (start, parameter) variable
            "end_x": (("start", "parameter"), natural(params, [f.result.x for f in fits])),
            "end_cost": ("start", costs),
            "start_x": (("start", "parameter"), natural(params, points)),
            "start_success": ("start", np.array([bool(f.result.success) for f in fits])),
            "start_message": ("start", np.array([str(f.result.message) for f in fits], dtype=object)),
            "start_nit": ("start", np.array([int(f.result.nit) for f in fits])),
            "start_nfev": ("start", np.array([len(f.cost) for f in fits])),
            "start_wall_s": ("start", np.array([f.wall_s for f in fits])),
        }
    return xr.Dataset(
        {
            "x": (("evaluation", "parameter"), np.array(evaluations["x"]).reshape(-1, d)),
            "cost": ("evaluation", np.array(evaluations["cost"])),
            "generation": ("evaluation", np.array(evaluations["generation"], dtype=int)),
            "status": ("evaluation", np.array(evaluations["status"], dtype=object)),
            "message": ("evaluation", np.array(evaluations["message"], dtype=object)),
            "best_x": ("parameter", best),
            "best_cost": float(chosen.result.fun),
            **history,
            "lower_bound": ("parameter", [p.bounds[0] for p in params]),
            "upper_bound": ("parameter", [p.bounds[1] for p in params]),
        },
        coords={"parameter": list(names), **({"start": np.arange(len(fits))} if len(fits) > 1 else {})},
        attrs={
            "optimizer": optimizer,
            "message": str(chosen.result.message),
            "success": bool(chosen.result.success),
            "nfev": len(evaluations["cost"]),
            "nit": int(chosen.result.nit),
            "multistarts": len(fits),
            **({"best_start": best_start} if len(fits) > 1 else {}),
            "chunks_per_generation": int(n_chunks),
            "wall_s": wall,
        },
    )


def inputs(spec: DataFitSpec, base_dir: Path) -> dict[str, str]:
    """Every data set the objectives read, with its sha256 (reading checks them all)."""
    return {src: sha for name, kind in spec.objectives.items() for src, sha in kind.sources(name, base_dir).items()}


ELEMENTS.register("data_fit", ElementType(DataFitSpec, run, inputs))
