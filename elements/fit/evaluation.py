"""Worker side of a fit: the objectives evaluated on chunks of candidates, as typed records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from elements import engine
from elements.core.problem import GRADIENT, LEAST_SQUARES, RESIDUALS, missing
from elements.core.status import SolveStatus
from elements.engine import Outcome
from elements.objectives import Objective
from elements.priors import PriorTerm
from elements.schema import ParameterSpec

if TYPE_CHECKING:
    from elements.element import Context
    from elements.fit.spec import DataFitSpec


@dataclass
class Evaluated:
    """A chunk's rows: each row's weighted-sum cost, status and reason; d cost / dx (natural units)
    where asked; with residuals, every objective's residuals stacked (each times the square root of
    its weight) and their Jacobian; and the outcomes of the lowest-cost row (for the monitor's
    preview; none when every row failed)."""

    cost: np.ndarray
    status: list[str]
    message: list[str]
    best_outcomes: list[Outcome]
    gradient: np.ndarray | None = None
    residuals: np.ndarray | None = None
    jacobian: np.ndarray | None = None

    @classmethod
    def joined(cls, parts: list[Evaluated]) -> Evaluated:
        """The chunks of one population as one record (best outcomes from the chunk with the lowest cost)."""
        def stacked(name: str) -> np.ndarray | None:
            found = [getattr(p, name) for p in parts]
            return None if found[0] is None else np.concatenate(found)

        best = min(parts, key=lambda p: np.min(p.cost, initial=np.inf))
        return cls(np.concatenate([p.cost for p in parts]), [s for p in parts for s in p.status],
                   [m for p in parts for m in p.message], best.best_outcomes,
                   stacked("gradient"), stacked("residuals"), stacked("jacobian"))


def evaluate(objectives: list[Objective], X: np.ndarray, *, derivatives: str | None = None) -> Evaluated:
    """The rows of ``X`` (natural units) through every objective: one batched solve per objective, with
    sensitivities when ``derivatives`` is ``"gradient"`` or ``"residuals"``."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    n = len(X)
    costs = np.zeros(n)
    status = [SolveStatus.OK] * n
    messages = [""] * n
    gradients = np.zeros(X.shape) if derivatives else None
    r: list[list[np.ndarray]] = [[] for _ in range(n)]
    J: list[list[np.ndarray]] = [[] for _ in range(n)]
    outcomes: list[list[Outcome]] = []
    for objective in objectives:
        if derivatives:
            found = objective.value_and_grad(X, residuals=derivatives == RESIDUALS)
            outcomes.append([f.outcome for f in found])
            row_costs = [f.cost for f in found]
        else:
            outcomes.append(objective.solve(X))
            row_costs = [objective.cost(o) for o in outcomes[-1]]
        for i, outcome in enumerate(outcomes[-1]):
            costs[i] += objective.weight * row_costs[i]
            if derivatives:
                gradients[i] += objective.weight * found[i].gradient
            if derivatives == RESIDUALS:
                r[i].append(np.sqrt(objective.weight) * found[i].residuals)
                J[i].append(np.sqrt(objective.weight) * found[i].jacobian)
            if outcome.status is not SolveStatus.OK and not status[i].failed:
                status[i] = outcome.status
                messages[i] = f"{objective.name}: {outcome.message}"
    best = int(np.argmin(costs))
    record = Evaluated(costs, [str(s) for s in status], messages,
                       [o[best] for o in outcomes] if np.isfinite(costs[best]) else [], gradients)
    if derivatives == RESIDUALS:
        record.residuals = np.array([np.concatenate(x) for x in r])
        record.jacobian = np.array([np.vstack(x) for x in J])
    return record


def offered(objectives: list[Objective]) -> dict[str, str]:
    """Why these built objectives (priors among them) cannot give each capability of a fit problem."""
    model = [o for o in objectives if not isinstance(o, PriorTerm)]
    caps = {o.name: frozenset({GRADIENT, RESIDUALS} if o.has_gradient else ())
            | frozenset({LEAST_SQUARES} if o.least_squares() is not None else ()) for o in model}
    priors = frozenset(type(p).__name__ for o in objectives if isinstance(o, PriorTerm) for p in o.priors.values())
    return missing(caps, priors=priors)


def natural(params: list[ParameterSpec], Y: np.ndarray) -> np.ndarray:
    """Search-space rows in the parameters' own units."""
    return np.array([[p.from_search(y) for p, y in zip(params, row)] for row in np.atleast_2d(Y)])


def search(params: list[ParameterSpec], X: np.ndarray) -> np.ndarray:
    """Rows in the parameters' own units in search space."""
    return np.array([[p.to_search(x) for p, x in zip(params, row)] for row in np.atleast_2d(X)])


def transform_jacobians(params: list[ParameterSpec], Y: np.ndarray) -> np.ndarray:
    """dx/dy for each search-space row: the chain rule through the parameters' transforms, by jax.
    A gradient in search space is ``jacobian.T @ gradient``."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    key = tuple(p.transform for p in params)  # all from_search depends on
    if key not in _transforms:  # compiled once: traced op by op it took ~39 ms a row for 14 parameters
        to_natural = jax.jacfwd(lambda y: jnp.stack([p.from_search(v) for p, v in zip(params, y)]))
        _transforms[key] = jax.jit(jax.vmap(to_natural))
    return np.array(_transforms[key](jnp.asarray(np.atleast_2d(Y), dtype=float)))


_transforms: dict[tuple[str, ...], Any] = {}  # per process: each set of transforms' compiled dx/dy


@dataclass(frozen=True, eq=False)
class Wrapped(Objective):
    """Worker side: an objective that solves through ``inner`` and goes by its name and weight."""

    inner: Objective

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def weight(self) -> float:
        return self.inner.weight

    def traces(self, outcome: engine.Outcome) -> xr.Dataset:
        return self.inner.traces(outcome)


@dataclass(frozen=True, eq=False)
class FittedNoise(Wrapped):
    """Worker side: an objective whose likelihood's noise levels are columns of the candidates.

    The inner objective solves the model's columns; each outcome keeps its row's noise levels, and
    the cost is the inner objective's with its likelihood bound to them.
    """

    model_columns: tuple[int, ...]
    noise_columns: dict[str, int]

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
