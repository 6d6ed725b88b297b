"""The fit driver: an optimizer run on a :class:`~elements.core.problem.FitProblem` whose populations fan
out in chunks over the cluster, every evaluation kept and journaled; multistarts as tasks of their own."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from dask.base import tokenize
from scipy.optimize import OptimizeResult

from elements.core import config
from elements.core.problem import GRADIENT, LEAST_SQUARES, RESIDUALS, FitProblem
from elements.core.status import Progress, SolveStatus
from elements.element import Context, MapLike, serial_map
from elements.engine import Outcome
from elements.fit.evaluation import Evaluated, evaluate, natural, offered, search, transform_jacobians
from elements.fit.journal import Generation, Journal, folder
from elements.fit.spec import DataFitSpec, inputs
from elements.objectives import Objective
from elements.optimizers import Optimizer
from elements.preview import Preview
from elements.priors import PriorTerm
from elements.schema import ParameterSpec


@dataclass
class Fitted:
    """One optimizer run (one start): its result, in search space, and every evaluation it made."""

    x: list[list[float]] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    generation: list[int] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    message: list[str] = field(default_factory=list)
    gradient: list[list[float]] = field(default_factory=list)  # d cost / d search value; NaN where not taken
    best_cost: list[float] = field(default_factory=list)  # best so far, after each objective call
    best_x: list[list[float]] = field(default_factory=list)
    best_outcomes: list[Outcome] = field(default_factory=list)  # each objective's, at the best so far
    result: OptimizeResult = field(default_factory=OptimizeResult)
    wall_s: float = 0.0


def failures(fitted: Fitted) -> int:
    """How many of a fit's evaluations failed to solve."""
    return sum(SolveStatus(s).failed for s in fitted.status)


def chunk_count(chunks: int | None, workers: int, *, evaluators: bool = False) -> int:
    """How many chunks a population (or a batch of keys) is split in: the element's ``chunks``, else
    ``sweepfit.fit.chunks``, else a few per worker thread. As tasks, solve cost varies from candidate to
    candidate, so a generation split in exactly one chunk per thread waits for its slowest part; a few
    chunks per thread balance it (measured on 2 workers: 6 chunks 6.2-7.9 s, 2 chunks 7.9-10.4 s).
    Evaluators take their chunks in turn: one each."""
    per_worker = 1 if evaluators else int(config.get("fit.chunks-per-thread"))
    return chunks or config.get("fit.chunks") or workers * per_worker


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
    evaluators: Callable[[str], MapLike] | None = None,
) -> Fitted:
    """Run ``optimizer`` from ``x0`` on the fit problem of ``objectives``, splitting each population in
    up to ``n_chunks`` chunks mapped by ``mapper(label)`` (or by ``evaluators(label)``, long-lived
    evaluators that already hold the objectives: ``Context.evaluators``), and keep every evaluation.

    Each solved call is recorded in ``journal``; a call it already holds is replayed from there
    instead of solved (a resumed fit, see :mod:`elements.fit.journal`).
    """
    fitted = Fitted()
    journal = journal or Journal(None)

    def mapped(Y: np.ndarray, derivatives: str | None) -> Generation:
        """The rows of Y (search space) evaluated in chunks, in natural units, over the cluster, or the
        generation as the journal holds it; each row recorded."""
        check_canceled()
        X = natural(params, Y)
        generation = len(fitted.best_cost)
        found, best_outcomes = journal.replay(generation, X), []
        if found is None:
            chunks = [c for c in np.array_split(X, min(n_chunks, len(X))) if len(c)]
            work = partial(evaluate, derivatives=derivatives)
            if evaluators is not None:
                parts = list(evaluators(f"gen{generation}")(work, chunks))
            else:
                parts = list(mapper(f"gen{generation}")(partial(work, objectives), chunks))
            joined = Evaluated.joined(parts)
            found = Generation(X, joined.cost, joined.status, joined.message, joined.gradient, joined.residuals,
                               joined.jacobian)
            journal.record(generation, found)
            best_outcomes = joined.best_outcomes
        fitted.x.extend(X.tolist())
        fitted.cost.extend(found.cost.tolist())
        fitted.generation.extend([generation] * len(X))
        fitted.status.extend(found.status)
        fitted.message.extend(found.message)
        i = int(np.argmin(fitted.cost))
        if not fitted.best_cost or fitted.cost[i] < fitted.best_cost[-1]:
            fitted.best_outcomes = best_outcomes  # none for a replayed generation: nothing was solved
        fitted.best_cost.append(float(fitted.cost[i]))
        fitted.best_x.append(fitted.x[i])
        return found

    def chained(Y: np.ndarray, found: Generation) -> tuple[np.ndarray, np.ndarray]:
        """d x / d y of each row, and the generation's gradients in search space (recorded)."""
        dx_dy = transform_jacobians(params, Y)
        gradients = np.einsum("nij,ni->nj", dx_dy, found.gradient)
        fitted.gradient.extend(gradients.tolist())
        report(fitted)
        return dx_dy, gradients

    def cost(Y: np.ndarray) -> np.ndarray:
        found = mapped(Y, None)
        fitted.gradient.extend([[np.nan] * len(params)] * len(found.cost))
        report(fitted)
        return found.cost

    def value_and_grad(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = mapped(Y, GRADIENT)
        return found.cost, chained(Y, found)[1]

    def residuals(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        found = mapped(Y, RESIDUALS)
        dx_dy, _ = chained(Y, found)
        return found.cost, found.residuals, np.einsum("nmi,nij->nmj", found.jacobian, dx_dy)

    missing = offered(objectives)
    problem = FitProblem(
        bounds=tuple(p.search_bounds for p in params),
        cost=cost,
        value_and_grad=None if GRADIENT in missing else value_and_grad,
        residuals=None if RESIDUALS in missing else residuals,
        least_squares=None if LEAST_SQUARES in missing else
        next(o.least_squares() for o in objectives if not isinstance(o, PriorTerm)),
        to_natural=partial(natural, params),
        to_search=partial(search, params),
        missing=missing,
        log_jacobian=_log_jacobian([i for o in objectives if isinstance(o, PriorTerm) for i in o.priors
                                    if params[i].transform == "log10"]),
    )
    started = time.perf_counter()
    fitted.result = optimizer.minimize(problem, x0=x0)
    fitted.wall_s = time.perf_counter() - started
    return fitted


def _log_jacobian(columns: list[int]) -> Callable[[np.ndarray], np.ndarray] | None:
    """log |dx/dy| of the log10 columns whose prior is a density in x: x = 10**y, dx/dy = ln(10) x."""
    if not columns:
        return None
    return lambda Y: np.sum(np.log(np.log(10.0)) + np.log(10.0) * np.atleast_2d(Y)[:, columns], axis=1)


def open_journal(spec: DataFitSpec, ctx: Context) -> Journal:
    """The fit's journal in its run's store (none outside a store), tied to the problem it solves:
    the element's spec, the sha256 of its data and the values from upstream."""
    if ctx.run.store_group is None:
        return Journal(None)
    path, element = ctx.run.store_group()
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


def offer(preview: Preview, objectives: list[Objective], fitted: Fitted, step: int) -> None:
    """Offer the preview the traces of ``fitted``'s best candidate."""
    if fitted.best_outcomes:
        outcomes = fitted.best_outcomes
        preview.offer(lambda: {o.name: o.traces(out) for o, out in zip(objectives, outcomes)},
                      fitted.best_cost[-1], step)


def multistart(
    spec: DataFitSpec, ctx: Context, objectives: list[Objective], params: list[ParameterSpec], x0: np.ndarray | None,
    preview: Preview,
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
    for i, fitted in ctx.fan.as_completed("starts")(partial(run_start, objectives, params, spec.optimizer, where), starts):
        ctx.run.check_canceled()
        found[i] = fitted
        offer(preview, objectives, fitted, len(found))
        best = min(found.values(), key=lambda f: f.best_cost[-1])
        best_cost.append(best.best_cost[-1])
        best_x.append(best.best_x[-1])
        ctx.run.report(Progress(unit="start", done=len(found), total=spec.multistarts, parameters=names,
                            evaluations=sum(len(f.cost) for f in found.values()), best_cost=best_cost, best_x=best_x,
                            failed=sum(failures(f) for f in found.values())))
    return [found[i] for i in range(spec.multistarts)], points


