"""A data_fit's spec: objectives, fitted parameters, cost, optimizer, starts, priors and options,
read as sweepfit writes it and as ionworks-schema's ``DataFit.to_config()`` does; the optimizer is
checked against what the objectives can give (gradients, residuals, a least-squares form) here,
before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator, model_validator

from elements.core.problem import missing
from elements.core.registry import unknown_name
from elements.costs import COSTS
from elements.models import replaced_functions
from elements.objectives import OBJECTIVES, ionworks_fit, legacy
from elements.optimizers import OPTIMIZERS, by_method
from elements.priors import Prior, PriorKind
from elements.schema import ParameterSpec, Strict, kind_of
from elements.values import KNOT, passed_value

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
    source: str | None = None  # ionworks' provenance note, kept with the spec

    _ionworks = model_validator(mode="before")(lambda cls, value: ionworks_fit(value) if isinstance(value, dict) else value)

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
    def _known_parameters(self, info: ValidationInfo) -> DataFitSpec:
        noise = self.noise_parameters
        model = [n for n in self.parameters if n not in noise]
        upstream = (info.context or {}).get("upstream", ())  # names an earlier entry sets or introduces
        tables = (info.context or {}).get("tables", {})  # tables earlier elements pass on, with their shapes
        checked = [n for n in model if n not in upstream]
        knots = [n for n in checked if KNOT in n]
        found = {m for o in self.objectives.values()
                 for m in [*o.unknown_parameters([n for n in checked if n not in knots]), *o.unknown_knots(knots, tables)]}
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

    @model_validator(mode="before")
    @classmethod
    def _sampler(cls, value: Any) -> Any:
        if isinstance(value, dict) and "sampler" in value:
            if value.get("optimizer") is not None:
                raise ValueError("give a sampler or an optimizer, not both: a sampler takes the optimizer's place")
            value = {**{k: v for k, v in value.items() if k != "sampler"}, "optimizer": value["sampler"]}
        return value

    @model_validator(mode="after")
    def _optimizer_fits_objectives(self) -> DataFitSpec:
        name = self.optimizer.type
        found = [m for objectives in self.fit_problems()
                 for m in self.optimizer.incompatible(missing(objectives, priors=self.prior_kinds), name=name)]
        if getattr(self.optimizer, "is_sampler", False):
            plain = sorted({(kind.cost or self.cost).type for kind in self.objectives.values()
                            if not (kind.cost or self.cost).likelihood})
            if plain:
                found.append(f"{self.optimizer.type} samples the posterior, whose log is minus the fit's cost, so the "
                             f"cost must be a negative log-likelihood, not {', '.join(plain)}: set cost: {{type: "
                             "GaussianLogLikelihood, sigma: {'Voltage [V]': 0.001}}} (a known noise level, or a "
                             "fitted parameter's name)")
            if self.multistarts > 1:
                found.append(f"{self.optimizer.type} runs its own chains: remove multistarts")
        if found:
            raise ValueError("; ".join(f"optimizer: {m}" for m in dict.fromkeys(found)))
        return self

    def fit_problems(self) -> list[dict[str, frozenset[str]]]:
        """The fit problems this element solves, each as its objectives' names and what they give
        besides costs: one problem of every objective. An objective whose likelihood fits its noise
        level gives only costs."""
        return [{name: frozenset() if _fits_noise(kind.cost or self.cost) else kind.provides
                 for name, kind in self.objectives.items()}]

    @property
    def prior_kinds(self) -> frozenset[str]:
        """The kinds of prior the fit has (``Normal``, ``LogNormal``, ...)."""
        return frozenset(type(p).__name__ for n in self.parameters if (p := self.prior_of(n)) is not None)

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
        that refines what an earlier one found starts there (a knot, at its table's value there)."""
        params = [self.parameters[n] for n in names]
        initial = [p.initial_value if p.initial_value is not None else _within(p, passed_value(upstream or {}, n))
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


def _fits_noise(cost: Any) -> bool:
    return bool(cost.likelihood and cost.fitted)


def _within(param: ParameterSpec, value: Any) -> float | None:
    """``value`` when it is a number within ``param``'s bounds, else None."""
    if isinstance(value, (int, float)) and param.bounds[0] <= value <= param.bounds[1]:
        return float(value)
    return None




def inputs(spec: DataFitSpec, base_dir: Path) -> dict[str, str]:
    """Every data set the objectives read, with its sha256 (reading checks them all)."""
    return {src: sha for name, kind in spec.objectives.items() for src, sha in kind.sources(name, base_dir).items()}


def at_a_point(value: Any) -> Any:
    """An analysis element's spec without an optimizer: it evaluates at a point and runs none
    (ionworks' ``PointEstimate`` is accepted and dropped)."""
    if isinstance(value, dict) and value.get("optimizer") is not None:
        optimizer = value["optimizer"]
        if (optimizer.get("type") if isinstance(optimizer, dict) else optimizer) != "PointEstimate":
            raise ValueError("optimizer: this element evaluates the fit's objectives at points it chooses itself and "
                             "runs no optimizer; remove optimizer (ionworks' PointEstimate is accepted)")
        value = {k: v for k, v in value.items() if k != "optimizer"}
    return value
