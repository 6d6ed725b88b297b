"""`data_fit`: fit parameters to measured data; each population fans out in chunks over the cluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from dask.base import tokenize
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator
from scipy.optimize import OptimizeResult

from elements import engine
from elements.core import config
from elements.core.registry import unknown_name
from elements.core.status import Progress, SolveStatus, Summary
from elements.costs import COSTS
from elements.element import ELEMENTS, Context, ElementType, MapLike, Result, serial_map
from elements.engine import Outcome
from elements.fit_journal import Generation, Journal, folder
from elements.models import replaced_functions
from elements.objectives import OBJECTIVES, Objective, legacy, without_gradient
from elements.optimizers import OPTIMIZERS, Optimizer, by_method
from elements.preview import Preview
from elements.priors import Prior, PriorKind, PriorTerm
from elements.schema import ParameterSpec, Strict, kind_of

DEFAULT_OPTIMIZER = "ScipyDifferentialEvolution"
PRIOR = TypeAdapter(PriorKind)


class InitialGuessSampler(Strict):
    """Where a multistart fit's starts begin: a Latin hypercube or a uniform draw in the search box.

    ``seed`` also gives each start's optimizer its own seed (in place of the optimizer's ``seed``),
    so a seeded multistart repeats.
    """

    type: Literal["LatinHypercube", "Uniform"] = "LatinHypercube"
    seed: int | None = Field(None, ge=0)

    def starts(self, n: int, bounds: list[tuple[float, float]], x0: np.ndarray | None) -> tuple[np.ndarray, list[int]]:
        """``n`` start points in the search box, the rows of ``x0`` first when given, and a seed for each start."""
        sampling, *optimizers = np.random.SeedSequence(self.seed).spawn(n + 1)
        rng = np.random.default_rng(sampling)
        lower, upper = np.asarray(bounds, dtype=float).T
        given = np.empty((0, len(bounds))) if x0 is None else np.atleast_2d(x0)
        drawn = n - len(given)
        if self.type == "LatinHypercube":
            from scipy.stats import qmc  # here: scipy.stats takes ~0.35 s to import on every worker

            unit = qmc.LatinHypercube(d=len(bounds), seed=rng).random(drawn)
        else:
            unit = rng.uniform(size=(drawn, len(bounds)))
        points = np.vstack([given, lower + unit * (upper - lower)])
        return points, [int(s.generate_state(1)[0]) for s in optimizers]


class FitOptions(Strict):
    """ionworks-schema's ``DataFitOptions``: ``seed`` seeds the optimizer and the start sampler where
    they have no seed of their own, ``max_iterations`` caps the optimizer's iterations where it sets
    none itself; ``low_memory``, ``validate`` and ``skip_objective_callbacks`` change nothing here
    (every evaluation is kept, parameter names are always checked)."""

    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    max_iterations: int | None = Field(None, gt=0)
    low_memory: bool | None = None
    validate_: bool = Field(True, alias="validate")
    skip_objective_callbacks: bool = False

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_maxtime(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("maxtime") is not None:
            raise ValueError(f"maxtime {value['maxtime']}: sweepfit has no wall-time limit for a fit; cap it "
                             f"with max_iterations (here or the optimizer's own option) instead")
        return value


class DataFitSpec(Strict):
    """A fit: objectives, the parameters fitted, how candidates are scored and searched.

    Read as ionworks-schema's ``DataFit.to_config()`` writes it too: ``priors`` (``{parameter:
    prior}``, see :mod:`elements.priors`; or each parameter's ``prior``), ``initial_guesses`` (one
    ``{parameter: value}``, or one per start), ``options`` (:class:`FitOptions`), and
    ``objective_parallelism`` and ``cost_logger``, which change nothing (objectives are evaluated
    together in each chunk; every evaluation is kept in the fit's dataset).
    """

    element_type: Literal["data_fit"]
    objectives: dict[str, kind_of(OBJECTIVES, default="CurrentDriven", prepare=legacy)] = Field(min_length=1)
    parameters: dict[str, ParameterSpec] = Field(min_length=1)
    cost: kind_of(COSTS, default="RMSE") = Field("RMSE", validate_default=True)
    optimizer: kind_of(OPTIMIZERS, default=DEFAULT_OPTIMIZER, prepare=by_method) = Field(
        DEFAULT_OPTIMIZER, validate_default=True)
    chunks: int | None = Field(None, ge=1)
    multistarts: int = Field(1, ge=1, description="optimizer runs from different start points, each its own task")
    initial_guess_sampler: InitialGuessSampler = Field(default_factory=InitialGuessSampler)
    initial_guesses: dict[str, float] | list[dict[str, float]] | None = None
    priors: dict[str, PriorKind] | None = None
    options: FitOptions = Field(default_factory=FitOptions)
    objective_parallelism: Literal["auto", "on", "off"] = "auto"
    cost_logger: dict[str, Any] | None = None

    @field_validator("parameters")
    @classmethod
    def _parameter_priors(cls, parameters: dict[str, ParameterSpec]) -> dict[str, ParameterSpec]:
        found, problems = dict(parameters), []
        for name, p in parameters.items():
            if p.prior is not None:
                try:
                    found[name] = p.model_copy(update={"prior": PRIOR.validate_python(p.prior)})
                except ValidationError as exc:
                    problems += [f"{name}.prior: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        if problems:
            raise ValueError("; ".join(problems))
        return found

    @field_validator("multistarts", mode="before")
    @classmethod
    def _one_start(cls, value: Any) -> Any:
        return 1 if value is None else value

    @field_validator("initial_guess_sampler", "options", mode="before")
    @classmethod
    def _default(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("priors", mode="before")
    @classmethod
    def _priors_by_name(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValueError("priors must map each parameter's name to its prior, {name: {distribution: Normal, "
                             "mean: ..., std: ...}}; a list loses the names (ionworks-schema does not write them)")
        return value

    @model_validator(mode="after")
    def _known_parameters(self) -> DataFitSpec:
        noise = self.noise_parameters
        model = [n for n in self.parameters if n not in noise]
        found = {m for o in self.objectives.values() for m in o.unknown_parameters(model)}
        for source, names in (("priors", self.priors or {}), ("initial_guesses", self._guesses())):
            found |= {f"{source}: {unknown_name('fitted parameter', n, self.parameters)}"
                      for n in names if n not in self.parameters}
        for name, kind in self.objectives.items():
            cost = kind.cost or self.cost
            compared = set(getattr(kind, "weights", {}))
            if cost.likelihood and compared - set(cost.sigma):
                found.add(f"objective {name!r} compares {sorted(compared)} but its GaussianLogLikelihood gives "
                          f"sigma for {sorted(cost.sigma)}; give sigma for each compared variable")
            if cost.likelihood and getattr(kind, "normalise", None):
                found.add(f"objective {name!r}: normalise divides the residuals by the data's spread, so sigma "
                          f"would not be in the variables' units; remove normalise with a GaussianLogLikelihood")
        kept = [n for n in model if not self.parameters[n].replace_function]
        found |= {m for o in self.objectives.values() if isinstance(getattr(o, "parameter_set", None), str)
                  for m in replaced_functions(o.parameter_set, kept)}
        if found:
            raise ValueError("; ".join(sorted(found)))
        return self

    @model_validator(mode="after")
    def _apply_options(self) -> DataFitSpec:
        given = {"seed": self.options.seed, "max_iterations": self.options.max_iterations}
        given = {k: v for k, v in given.items() if v is not None}
        if given:
            optimizer = type(self.optimizer)
            own = self.optimizer.model_dump(exclude_unset=True)
            usable = {k: v for k, v in given.items()
                      if (optimizer.ionworks_fields.get(k, k).partition(".")[0] in optimizer.model_fields)
                      and optimizer.ionworks_fields.get(k, k) not in own}
            self.optimizer = optimizer.model_validate({**usable, **own, "type": self.optimizer.type})
        if self.options.seed is not None and self.initial_guess_sampler.seed is None:
            self.initial_guess_sampler = self.initial_guess_sampler.model_copy(update={"seed": self.options.seed})
        guesses = self._guesses()
        if isinstance(self.initial_guesses, list) and len(guesses) > self.multistarts:
            self.multistarts = len(guesses)
        return self

    def _guesses(self) -> list[str]:
        found = self.initial_guesses or []
        return [n for guess in ([found] if isinstance(found, dict) else found) for n in guess]

    @property
    def noise_parameters(self) -> set[str]:
        """Fitted parameters that are a likelihood's noise level, not the model's."""
        costs = [self.cost, *(kind.cost for kind in self.objectives.values() if kind.cost is not None)]
        return {n for c in costs if c.likelihood for n in c.fitted}

    def prior_of(self, name: str) -> Prior | None:
        return (self.priors or {}).get(name) or self.parameters[name].prior

    def starts(self, names: tuple[str, ...], upstream: dict[str, Any] | None = None) -> np.ndarray | None:
        """The given start points in search space, one row each: ``initial_guesses``, or the
        parameters' initial values when all have one. A parameter without an initial value starts
        from the value an earlier element passed down, where that lies within its bounds: a fit
        that refines what an earlier one found starts there."""
        params = [self.parameters[n] for n in names]
        initial = [p.initial_value if p.initial_value is not None else _within(p, (upstream or {}).get(n))
                   for n, p in zip(names, params)]
        guesses = self.initial_guesses
        if guesses is None:
            if any(v is None for v in initial):
                return None
            guesses = [{}]
        rows = [guesses] if isinstance(guesses, dict) else guesses
        found = []
        for i, row in enumerate(rows):
            values = [row.get(n, v) for n, v in zip(names, initial)]
            missing = [n for n, v in zip(names, values) if v is None]
            if missing:
                raise ValueError(f"initial_guesses[{i}] has no value for {missing} and they have no initial_value")
            found.append([p.to_search(v) for p, v in zip(params, values)])
        return np.array(found)


def _within(param: ParameterSpec, value: Any) -> float | None:
    """``value`` when it is a number within ``param``'s bounds, else None."""
    if isinstance(value, (int, float)) and param.bounds[0] <= value <= param.bounds[1]:
        return float(value)
    return None


def evaluate(objectives: list[Objective], X: np.ndarray) -> tuple[np.ndarray, list[str], list[str], list[Outcome]]:
    """Worker side: the weighted-sum cost of each row of X, with a status and reason per row, and
    the outcomes of the lowest-cost row (for the monitor's preview; none when every row failed)."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    costs = np.zeros(len(X))
    status = [SolveStatus.OK] * len(X)
    messages = [""] * len(X)
    outcomes = []
    for objective in objectives:
        outcomes.append(objective.solve(X))
        for i, outcome in enumerate(outcomes[-1]):
            costs[i] += objective.weight * objective.cost(outcome)
            if outcome.status is not SolveStatus.OK and not status[i].failed:
                status[i] = outcome.status
                messages[i] = f"{objective.name}: {outcome.message}"
    best = int(np.argmin(costs))
    return costs, [str(s) for s in status], messages, [o[best] for o in outcomes] if np.isfinite(costs[best]) else []


def evaluate_gradient(
    objectives: list[Objective], X: np.ndarray, *, residuals: bool = False
) -> tuple[np.ndarray, list[str], list[str], list[Outcome], np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Worker side: :func:`evaluate` and d cost / d x (natural units) from one solve with
    sensitivities per objective; with ``residuals``, every objective's residuals stacked (each
    times the square root of its weight) and their Jacobian."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    costs, gradients = np.zeros(len(X)), np.zeros(X.shape)
    status = [SolveStatus.OK] * len(X)
    messages = [""] * len(X)
    r: list[list[np.ndarray]] = [[] for _ in X]
    J: list[list[np.ndarray]] = [[] for _ in X]
    outcomes = []
    for objective in objectives:
        outcomes.append(objective.value_and_grad(X, residuals=residuals))
        for i, found in enumerate(outcomes[-1]):
            costs[i] += objective.weight * found.cost
            gradients[i] += objective.weight * found.gradient
            if residuals:
                r[i].append(np.sqrt(objective.weight) * found.residuals)
                J[i].append(np.sqrt(objective.weight) * found.jacobian)
            if found.outcome.status is not SolveStatus.OK and not status[i].failed:
                status[i] = found.outcome.status
                messages[i] = f"{objective.name}: {found.outcome.message}"
    best = int(np.argmin(costs))
    best_outcomes = [o[best].outcome for o in outcomes] if np.isfinite(costs[best]) else []
    if not residuals:
        return costs, [str(s) for s in status], messages, best_outcomes, gradients, None, None
    return costs, [str(s) for s in status], messages, best_outcomes, gradients, \
        np.array([np.concatenate(x) for x in r]), np.array([np.vstack(x) for x in J])


def transform_jacobians(params: list[ParameterSpec], Y: np.ndarray) -> np.ndarray:
    """dx/dy for each search-space row: the chain rule through the parameters' transforms, by jax.
    A gradient in search space is ``jacobian.T @ gradient``; a regularising term of x (a prior)
    would add its own ``jax.grad`` here."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return np.asarray(_natural_jacobians(tuple(p.transform for p in params))(np.atleast_2d(Y).astype(float)))


@lru_cache(maxsize=32)
def _natural_jacobians(transforms: tuple[str, ...]) -> Callable[[np.ndarray], Any]:
    """:func:`transform_jacobians` compiled once per process and transforms (eager jax took 29 ms a call)."""
    import jax
    import jax.numpy as jnp

    params = [ParameterSpec.model_construct(transform=t) for t in transforms]  # from_search reads the transform
    return jax.jit(jax.vmap(jax.jacfwd(lambda y: jnp.stack([p.from_search(v) for p, v in zip(params, y)]))))


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
    evaluators: Callable[[str], MapLike] | None = None,
) -> Fitted:
    """Run ``optimizer`` from ``x0``, splitting each objective call in up to ``n_chunks`` chunks
    mapped by ``mapper(label)`` (or by ``evaluators(label)``, long-lived evaluators that already hold
    the objectives: ``Context.evaluators``), and keep every evaluation.

    Each solved call is recorded in ``journal``; a call it already holds is replayed from there
    instead of solved (a resumed fit, see :mod:`elements.fit_journal`).
    """
    fitted = Fitted()
    journal = journal or Journal(None)

    def mapped(Y: np.ndarray, work: Callable) -> Generation:
        """``work(objectives, X)`` (:func:`evaluate` or :func:`evaluate_gradient`) on chunks of Y's rows,
        in natural units, over the cluster, or the generation as the journal holds it; each row recorded."""
        check_canceled()
        X = natural(params, Y)
        generation = len(fitted.best_cost)
        found, best_outcomes = journal.replay(generation, X), []
        if found is None:
            chunks = [c for c in np.array_split(X, min(n_chunks, len(X))) if len(c)]
            if evaluators is not None:
                results = list(evaluators(f"gen{generation}")(work, chunks))
            else:
                results = list(mapper(f"gen{generation}")(partial(work, objectives), chunks))
            found = Generation(X, *(np.concatenate([r[0] for r in results]), [s for r in results for s in r[1]],
                                    [m for r in results for m in r[2]]), *_derivatives(results))
            journal.record(generation, found)
            best_outcomes = min(results, key=lambda r: np.min(r[0]))[3]
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

    def objective(Y: np.ndarray) -> np.ndarray:
        found = mapped(Y, evaluate)
        fitted.gradient.extend([[np.nan] * len(params)] * len(found.cost))
        report(fitted)
        return found.cost

    def value_and_grad(Y: np.ndarray, *, residuals: bool = False) -> tuple[np.ndarray, ...]:
        """Costs of the rows of Y (search space) and d cost / d y; with ``residuals``, the stacked
        residuals (rows, m) and d residuals / d y (rows, m, d) too. One solve with sensitivities per row."""
        found = mapped(Y, partial(evaluate_gradient, residuals=residuals))
        dx_dy = transform_jacobians(params, Y)
        gradients = np.einsum("nij,ni->nj", dx_dy, found.gradient)
        fitted.gradient.extend(gradients.tolist())
        report(fitted)
        if not residuals:
            return found.cost, gradients
        return found.cost, gradients, found.residuals, np.einsum("nmi,nij->nmj", found.jacobian, dx_dy)

    # least-squares optimizers (LevenbergMarquardt) fit the objectives' residuals themselves; gradient
    # methods take exact gradients where every objective has sensitivities (``gradient_problem`` says why not)
    objective.objectives, objective.parameters = objectives, params
    objective.value_and_grad, objective.gradient_problem = value_and_grad, without_gradient(objectives)
    started = time.perf_counter()
    fitted.result = optimizer.minimize(objective, [p.search_bounds for p in params], x0=x0)
    fitted.wall_s = time.perf_counter() - started
    return fitted


def _derivatives(results: list[tuple]) -> tuple[np.ndarray | None, ...]:
    """A generation's gradients, residuals and Jacobians (natural units) from :func:`evaluate_gradient`'s
    chunks; None for those not computed (:func:`evaluate`'s chunks compute none)."""
    if len(results[0]) < 7:
        return None, None, None
    return tuple(None if results[0][k] is None else np.concatenate([r[k] for r in results]) for k in (4, 5, 6))


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
    for i, fitted in ctx.unordered("starts")(partial(run_start, objectives, params, spec.optimizer, where), starts):
        ctx.check_canceled()
        found[i] = fitted
        offer(preview, objectives, fitted, len(found))
        best = min(found.values(), key=lambda f: f.best_cost[-1])
        best_cost.append(best.best_cost[-1])
        best_x.append(best.best_x[-1])
        ctx.report(Progress(unit="start", done=len(found), total=spec.multistarts, parameters=names,
                            evaluations=sum(len(f.cost) for f in found.values()), best_cost=best_cost, best_x=best_x))
    return [found[i] for i in range(spec.multistarts)], points


def run(spec: DataFitSpec, ctx: Context) -> Result:
    names = tuple(spec.parameters)
    params = [spec.parameters[n] for n in names]
    objectives = build(spec, names, ctx)
    priors = {i: p for i, n in enumerate(names) if (p := spec.prior_of(n)) is not None}
    terms = [*objectives, PriorTerm(priors, names)] if priors else objectives  # what the cost sums
    transport = config.get("fit.transport")
    if transport not in ("tasks", "actors"):
        raise ValueError(f"sweepfit.fit.transport is {transport!r}; valid: 'actors' (the default) or 'tasks'")
    shared = ctx.evaluators is not None and transport == "actors" and spec.multistarts == 1
    # As tasks, solve cost varies from candidate to candidate, so a generation split in exactly one
    # chunk per thread waits for its slowest part; a few chunks per thread balance it (measured on 2
    # workers: 6 chunks 6.2-7.9 s, 2 chunks 7.9-10.4 s). Evaluators take their chunks in turn: one each.
    per_worker = 1 if shared else int(config.get("fit.chunks-per-thread"))
    n_chunks = spec.chunks or config.get("fit.chunks") or ctx.workers * per_worker
    x0 = spec.starts(names, ctx.parameters)

    preview = Preview(ctx.preview)

    def report(f: Fitted) -> None:
        ctx.report(Progress(unit="generation", done=len(f.best_cost), evaluations=len(f.cost),
                            parameters=list(names), best_cost=f.best_cost, best_x=f.best_x))
        offer(preview, objectives, f, len(f.best_cost))

    started = time.perf_counter()
    journal = open_journal(spec, ctx)
    try:
        if spec.multistarts == 1:
            optimizer = spec.optimizer
            if "seed" in type(optimizer).model_fields:  # an unseeded fit records the seed it drew, for resume
                optimizer = optimizer.model_copy(update={"seed": journal.seeded(optimizer.seed)})
            # the objectives shipped once, to one evaluator per worker
            evaluators = ctx.evaluators(terms) if shared else None
            fits, points = [optimize(optimizer, terms, params, None if x0 is None else x0[0], mapper=ctx.mapper,
                                     n_chunks=n_chunks, check_canceled=ctx.check_canceled, report=report,
                                     journal=journal, evaluators=evaluators)], None
        else:
            fits, points = multistart(spec, ctx, terms, params, x0, preview, journal)
            n_chunks = 1
    finally:
        journal.close()
    preview.flush()
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


def build(spec: DataFitSpec, names: tuple[str, ...], ctx: Context) -> list[Objective]:
    """The worker-side objectives of every objective kind, each with its own cost or the fit's; those
    whose likelihood has fitted noise levels see candidates without them and take them from each row."""
    noise = spec.noise_parameters
    model = tuple(n for n in names if n not in noise)
    found: list[Objective] = []
    for name, kind in spec.objectives.items():
        cost = kind.cost or spec.cost
        built = kind.build(name, inputs=model, existing=ctx.parameters, cost=cost, base_dir=ctx.base_dir)
        if cost.likelihood and cost.fitted:
            built = [FittedNoise(o, tuple(names.index(n) for n in model),
                                 {n: names.index(n) for n in cost.fitted}) for o in built]
        found.extend(built)
    return found


@dataclass(frozen=True, eq=False)
class FittedNoise(Objective):
    """Worker side: an objective whose likelihood's noise levels are columns of the candidates.

    The inner objective solves the model's columns; each outcome keeps its row's noise levels, and
    the cost is the inner objective's with its likelihood bound to them.
    """

    inner: Objective
    model_columns: tuple[int, ...]
    noise_columns: dict[str, int]

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def weight(self) -> float:
        return self.inner.weight

    def solve(self, X: np.ndarray) -> list[engine.Outcome]:
        X = np.atleast_2d(X)
        outcomes = self.inner.solve(X[:, list(self.model_columns)])
        return [engine.Outcome((o, {n: float(row[i]) for n, i in self.noise_columns.items()}), o.status, o.message)
                for o, row in zip(outcomes, X)]

    def cost(self, outcome: engine.Outcome, cost: Any = None) -> float:
        inner, noise = outcome.value
        return self.inner.cost(inner, (cost or self.inner.cost_kind).bound(noise))

    def traces(self, outcome: engine.Outcome) -> xr.Dataset:
        inner, noise = outcome.value
        return self.inner.traces(inner).assign_attrs({f"sigma {k}": v for k, v in noise.items()})


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
    evaluations = {k: [v for f in fits for v in getattr(f, k)]
                   for k in ("x", "cost", "generation", "status", "message", "gradient")}
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
            "gradient": (("evaluation", "parameter"), np.array(evaluations["gradient"], dtype=float).reshape(-1, d),
                         {"note": "per unit of the search value (a decade where transform: log10); "
                                  "NaN where the optimizer took no gradient at this evaluation"}),
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
