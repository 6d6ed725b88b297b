"""`sweep`: solve a model over a grid or sample of parameters and protocol conditions, in chunks.

Each chunk task solves a block of points (one batched IDAKLU call per shared setup) and writes its
own region of the pre-allocated arrays in the run's zarr group, then marks itself done there. A
resubmitted sweep with the same spec into the same run solves only the chunks not marked done.
"""

from __future__ import annotations

import math
import string
import time
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from itertools import product
from pathlib import Path
from typing import Any, Literal

import numpy as np
from dask.base import tokenize
from pydantic import Field, field_validator, model_validator

from elements import engine, sweep_store
from elements.core import config
from elements.core.data import DataOptions, load_measurements
from elements.core.registry import unknown_name
from elements.core.storage import consolidate
from elements.core.status import Progress, SolveStatus, Summary
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.models import MODELS, unknown_parameters
from elements.schema import ModelSpec, ParameterSetName, Span, Strict, check_bounds
from elements.sweep_outputs import SUMMARIES, empty, needed, reader
from elements.sweep_store import Layout


class Range(Strict):
    bounds: tuple[float, float]
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> Range:
        check_bounds(self.bounds, log=self.log, what="log sampling")
        return self


class Sampled(Strict):
    """``n`` points within bounds, uniform (``random``) or Latin hypercube; log10-uniform if ``log``."""

    n: int = Field(ge=1)
    seed: int = 0
    variables: dict[str, Range] = Field(min_length=1)


class Profile(Strict):
    time: list[float] = Field(min_length=2)
    current: list[float] = Field(min_length=2)

    @model_validator(mode="after")
    def _check(self) -> Profile:
        if len(self.time) != len(self.current) or np.any(np.diff(self.time) <= 0):
            raise ValueError("a profile needs equally long time and current lists, time strictly increasing")
        return self


class ProtocolSpec(Strict):
    """An Experiment (strings with ``{placeholders}``) or a drive: constant current, C-rate or profile."""

    experiment: list[str | list[str]] | None = Field(None, min_length=1)
    period: str | None = None
    current: float | None = None
    c_rate: float | None = None
    profile: Profile | str | DataOptions | None = None
    duration: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> ProtocolSpec:
        drive = [k for k in ("current", "c_rate", "profile") if getattr(self, k) is not None]
        if self.experiment is not None and (drive or self.duration is not None):
            raise ValueError(f"give an experiment or a drive ({', '.join(drive or ['duration'])}), not both")
        if self.experiment is None:
            if len(drive) > 1:
                raise ValueError(f"give one of current, c_rate or profile, got {drive}")
            if self.period is not None:
                raise ValueError("period belongs to an experiment; a drive samples on outputs.time")
            if self.duration is None and self.profile is None:
                raise ValueError("a drive needs duration [s] (a profile's own end is used if omitted)")
        return self

    @property
    def cycles(self) -> list[list[str]]:
        return [[c] if isinstance(c, str) else list(c) for c in self.experiment or []]

    @property
    def placeholders(self) -> list[str]:
        names: list[str] = []
        for step in (s for c in self.cycles for s in c):
            names += [f for _, f, _, _ in string.Formatter().parse(step) if f and f not in names]
        return names


class TimeSpec(Strict):
    """A common time base ``start..stop`` every ``step`` seconds, or ``per_step`` samples per step."""

    start: float = 0.0
    stop: float | None = None
    step: float | None = Field(None, gt=0)
    per_step: int | None = Field(None, ge=2)


REPORT_EVERY = 0.5  # seconds between progress records while chunks complete
SUMMARY_NAMES = ["discharge_capacity", "energy", "final_voltage", "max_temperature", "time_to_cutoff"]


class OutputSpec(Strict):
    variables: list[str] = Field(default_factory=lambda: ["Voltage [V]"])
    time: TimeSpec = Field(default_factory=TimeSpec)
    summaries: list[str] = Field(default_factory=lambda: list(SUMMARY_NAMES))

    @field_validator("summaries")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in SUMMARIES:
                raise ValueError(unknown_name("summary", name, SUMMARIES))
        return names


class SweepSpec(Strict):
    element_type: Literal["sweep"]
    model: ModelSpec = Field(default_factory=ModelSpec)
    parameter_set: ParameterSetName = "Chen2020"
    parameters: dict[str, float] = Field(default_factory=dict)
    protocol: ProtocolSpec
    grid: dict[str, list[float] | Span] | None = Field(None, min_length=1)
    points: list[dict[str, float]] | None = Field(None, min_length=1)
    random: Sampled | None = None
    latin_hypercube: Sampled | None = None
    outputs: OutputSpec = Field(default_factory=OutputSpec)
    chunk_size: int | None = Field(None, ge=1)
    allow_large: bool = Field(False, description="run a sweep larger than sweepfit.sweep.max-points")

    @model_validator(mode="after")
    def _check(self) -> SweepSpec:
        samplers = [k for k in ("grid", "points", "random", "latin_hypercube") if getattr(self, k) is not None]
        if len(samplers) != 1:
            raise ValueError(f"give exactly one of grid, points, random or latin_hypercube, got {samplers or 'none'}")
        if self.points and any(set(p) != set(self.points[0]) for p in self.points):
            raise ValueError(f"every point needs the same variables; the first has {sorted(self.points[0])}")
        if self.grid and any(isinstance(v, list) and not v for v in self.grid.values()):
            raise ValueError("every grid variable needs at least one value")
        limit = int(config.get("sweep.max-points"))
        if self.size > limit and not self.allow_large:
            shape = " x ".join(f"{v.n if isinstance(v, Span) else len(v):,}" for v in self.grid.values()) \
                if self.grid else f"{self.size:,} points"
            raise ValueError(f"the sweep has {self.size:,} points ({shape}), more than sweepfit.sweep.max-points = "
                             f"{limit:,}; set allow_large: true in the element to run it, or raise the limit")
        names = self.variables
        placeholders = self.protocol.placeholders
        problems = [f"experiment placeholder {{{p}}} has no values: sweep it in {samplers[0]}"
                    for p in placeholders if p not in names]
        problems += unknown_parameters(
            self.parameter_set, [n for n in [*names, *self.parameters] if n not in placeholders]
        )
        if self.protocol.experiment is not None and engine.CURRENT in names:
            problems.append(f"an experiment sets {engine.CURRENT!r} itself; sweep a placeholder such as "
                            "'Discharge at {c_rate}C until 2.5 V' instead")
        time_base = self.outputs.time
        if time_base.per_step is not None and self.protocol.experiment is None:
            problems.append("outputs.time.per_step needs an experiment; a drive uses start/stop/step")
        if self.protocol.experiment is not None and time_base.per_step is None and time_base.stop is None:
            problems.append("outputs.time needs stop (and step) or per_step for an experiment")
        problems += _unknown_variables(self.model.type, self.model.options, self.outputs.variables)
        if problems:
            raise ValueError("; ".join(problems))
        if placeholders:
            _check_experiment(self.protocol, _first_values(self))
        return self

    @property
    def size(self) -> int:
        """Points the sweep solves."""
        if self.grid is not None:
            return math.prod(v.n if isinstance(v, Span) else len(v) for v in self.grid.values())
        return len(self.points) if self.points is not None else (self.random or self.latin_hypercube).n

    @property
    def sampler(self) -> str:
        return next(k for k in ("grid", "points", "random", "latin_hypercube") if getattr(self, k) is not None)

    @property
    def variables(self) -> list[str]:
        if self.grid is not None:
            return list(self.grid)
        if self.points is not None:
            return list(self.points[0])
        return list((self.random or self.latin_hypercube).variables)


def _first_values(spec: SweepSpec) -> dict[str, float]:
    return {k: float(v[0]) for k, v in sample(spec).items()}


def _check_experiment(protocol: ProtocolSpec, values: dict[str, float]) -> None:
    import pybamm

    cycles = [[s.format(**values) for s in c] for c in protocol.cycles]
    try:
        pybamm.Experiment([tuple(c) for c in cycles], period=protocol.period)
    except Exception as exc:
        raise ValueError(f"the experiment with {values} is not valid for PyBaMM: {exc}") from exc


@lru_cache(maxsize=16)
def _model_variables(model: str, options: str) -> frozenset[str]:
    import json

    return frozenset(MODELS[model](json.loads(options)).variables.keys())


def _unknown_variables(model: str, options: dict[str, Any], names: list[str]) -> list[str]:
    import json

    known = _model_variables(model, json.dumps(options, sort_keys=True))
    return [unknown_name(f"output variable of {model}", n, known) for n in names if n not in known]


def sample(spec: SweepSpec) -> dict[str, np.ndarray]:
    """The swept values: per variable its grid values, or one value per point (other samplers)."""
    if spec.grid is not None:
        return {k: np.asarray(v.values() if isinstance(v, Span) else v, dtype=float) for k, v in spec.grid.items()}
    if spec.points is not None:
        return {k: np.array([p[k] for p in spec.points], dtype=float) for k in spec.points[0]}
    sampled = spec.random or spec.latin_hypercube
    ranges = list(sampled.variables.values())
    if spec.random is not None:
        unit = np.random.default_rng(sampled.seed).random((sampled.n, len(ranges)))
    else:
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(ranges), rng=np.random.default_rng(sampled.seed)).random(sampled.n)
    out = {}
    for j, (name, r) in enumerate(sampled.variables.items()):
        lo, hi = (np.log10(r.bounds[0]), np.log10(r.bounds[1])) if r.log else r.bounds
        x = lo + unit[:, j] * (hi - lo)
        out[name] = 10.0**x if r.log else x
    return out


@dataclass(frozen=True, eq=False)
class Plan:
    """What a chunk task needs: where to write, which points it owns, how to build and read their setups."""

    path: str
    group: str
    grid: bool
    values: dict[str, np.ndarray]
    base: engine.Setup
    series: tuple[str, ...]
    summaries: tuple[str, ...]
    time: np.ndarray | None
    per_step: int | None
    templates: tuple[tuple[str, ...], ...] | None
    placeholders: tuple[str, ...]
    build_parameters: tuple[str, ...]
    layout: Layout | None = None

    def points(self, chunk: int) -> list[dict[str, float]]:
        region = self.layout.region(chunk)
        names = list(self.values)
        if self.grid:
            return [{n: float(self.values[n][i]) for n, i in zip(names, index)}
                    for index in product(*(range(r.start, r.stop) for r in region))]
        return [{n: float(self.values[n][i]) for n in names} for i in range(region[0].start, region[0].stop)]

    def setup_for(self, point: dict[str, float]) -> engine.Setup:
        if not self.placeholders and not self.build_parameters:
            return self.base
        experiment = self.base.experiment
        if self.templates is not None:
            fields = {p: point[p] for p in self.placeholders}
            experiment = tuple(tuple(s.format(**fields) for s in cycle) for cycle in self.templates)
        fixed = {**self.base.fixed, **{k: point[k] for k in self.build_parameters}}
        return replace(self.base, experiment=experiment, fixed=fixed)

    def inputs_for(self, point: dict[str, float]) -> dict[str, float]:
        return {k: point[k] for k in self.base.inputs}

    def solve(self, setup: engine.Setup, inputs: list[dict[str, float]]) -> list[engine.Outcome]:
        read = reader(self.series, self.summaries, time=self.time, per_step=self.per_step,
                      n_steps=setup.n_steps, experiment=setup.experiment is not None)
        return engine.solve(setup, inputs, read)


def solve_chunk(plan: Plan, item: tuple[int, list[dict[str, float]]]) -> dict[str, Any]:
    """Worker side: solve one chunk's points, write its region in the store, mark it done.

    Returns only status counts, so no results travel through the scheduler.
    """
    chunk, points = item
    groups: dict[str, tuple[engine.Setup, list[int]]] = {}
    for i, point in enumerate(points):
        setup = plan.setup_for(point)
        groups.setdefault(setup.key, (setup, []))[1].append(i)
    outcomes: list[engine.Outcome | None] = [None] * len(points)
    for setup, index in groups.values():
        for i, outcome in zip(index, plan.solve(setup, [plan.inputs_for(points[i]) for i in index])):
            outcomes[i] = outcome
    region_shape = tuple(r.stop - r.start for r in plan.layout.region(chunk))
    arrays = _arrays(plan, outcomes, region_shape)
    sweep_store.write_chunk(Path(plan.path), plan.group, plan.layout, chunk, arrays)
    return {"chunk": chunk, "status": dict(Counter(str(o.status) for o in outcomes))}


def _arrays(plan: Plan, outcomes: list[engine.Outcome], shape: tuple[int, ...]) -> dict:
    n_steps = plan.base.n_steps if plan.templates is not None else 1
    tail = (len(plan.time),) if plan.per_step is None else (n_steps, plan.per_step)
    points = [o.value or empty(plan.summaries) for o in outcomes]
    arrays: dict[str, np.ndarray] = {}
    for name in plan.series:
        arrays[name] = np.stack([p.series[name] if p.series else np.full(tail, np.nan) for p in points])
    if plan.per_step is not None:
        arrays["step_time"] = np.stack([p.step_time if p.step_time is not None else np.full(tail, np.nan)
                                        for p in points])
    for name in plan.summaries:
        arrays[name] = np.array([p.summaries[name] for p in points], dtype=float)
    arrays["status"] = np.array([str(o.status) for o in outcomes], dtype=object)
    arrays["message"] = np.array([o.message for o in outcomes], dtype=object)
    return {k: v.reshape(shape + v.shape[1:]) for k, v in arrays.items()}


def _drive(spec: ProtocolSpec, fixed: dict[str, float], parameter_set: str, base_dir: Path) -> dict[str, Any]:
    from elements.models import parameter_values

    if spec.experiment is not None:
        return {}
    if spec.c_rate is not None:
        name = "Nominal cell capacity [A.h]"
        capacity = fixed.get(name) or parameter_values(parameter_set)[name]
        return {"current": float(spec.c_rate * capacity), "duration": spec.duration}
    if spec.profile is None:
        return {"current": spec.current, "duration": spec.duration}
    if isinstance(spec.profile, Profile):
        t, i = np.asarray(spec.profile.time, float), np.asarray(spec.profile.current, float)
    else:
        [found] = profile_measurements(spec.profile, base_dir)
        t, i = found.time, found.current
    return {"profile": (t, i), "duration": float(spec.duration or t[-1])}


def profile_measurements(source: str | DataOptions, base_dir: Path) -> list:
    """The current profile a protocol reads from a file or the measurement store (time and current)."""
    found = load_measurements(source, base_dir=base_dir, required=("Time [s]", "Current [A]"))
    if len(found) != 1:
        raise ValueError(f"protocol.profile must name one data set, got {len(found)} from {source!r}")
    return found


def plan_for(spec: SweepSpec, ctx: Context, path: Path, group: str) -> Plan:
    values = sample(spec)
    names = list(values)
    placeholders = tuple(spec.protocol.placeholders)
    experiment = spec.protocol.experiment is not None
    build_parameters = tuple(n for n in names if experiment and n in engine.EXPERIMENT_CONTROLLED)
    inputs = tuple(n for n in names if n not in placeholders and n not in build_parameters)
    fixed = {k: v for k, v in ctx.parameters.items() if k not in names}
    fixed.update({k: v for k, v in spec.parameters.items() if k not in names})
    drive = _drive(spec.protocol, fixed, spec.parameter_set, ctx.base_dir)
    time_spec = spec.outputs.time
    per_step = time_spec.per_step
    times = None
    if per_step is None:
        stop = time_spec.stop if time_spec.stop is not None else drive["duration"]
        step = time_spec.step or (stop - time_spec.start) / 100
        times = np.arange(time_spec.start, stop + step * 1e-9, step)
        if drive and (times[0] < 0 or times[-1] > drive["duration"] * (1 + 1e-12)):
            raise ValueError(f"outputs.time must lie within the drive's 0..{drive['duration']} s, "
                             f"got {times[0]}..{times[-1]}")
    templates = tuple(tuple(c) for c in spec.protocol.cycles) if experiment else None
    series, summaries = tuple(spec.outputs.variables), tuple(spec.outputs.summaries)
    options = dict(spec.model.options)
    if "energy" in summaries or "Discharge energy [W.h]" in series:
        options.setdefault("calculate discharge energy", "true")
    base = engine.Setup(
        model=spec.model.type,
        model_options=options,
        parameter_set=spec.parameter_set,
        fixed=fixed,
        inputs=inputs,
        outputs=needed(series, summaries),
        experiment=templates,  # formatted per point by Plan.setup_for when it has placeholders
        period=spec.protocol.period,
        t_eval=times if not experiment else None,
        tie_initial_temperature=engine.AMBIENT in names and engine.INITIAL_T not in [*fixed, *names],
        **drive,
    )
    return Plan(str(path), group, spec.sampler == "grid", values, base, series, summaries, times, per_step,
                templates, placeholders, build_parameters)


def measure_chunk_size(plan: Plan, workers: int) -> tuple[int, dict[str, float]]:
    """Points per chunk so that a chunk task carries about ``sweep.chunk-seconds`` of work."""
    point = {k: float(v[0]) for k, v in plan.values.items()}
    setup, inputs = plan.setup_for(point), plan.inputs_for(point)
    started = time.perf_counter()
    plan.solve(setup, [inputs])  # builds (or finds) the simulation, warms the solver
    first = time.perf_counter() - started
    started = time.perf_counter()
    plan.solve(setup, [inputs])
    solve_s = max(time.perf_counter() - started, 1e-4)
    build_s = max(first - solve_s, 0.0)
    n = math.prod(len(v) for v in plan.values.values()) if plan.grid else len(next(iter(plan.values.values())))
    setups = _distinct_setups(plan)
    per_point = solve_s + build_s * setups / n
    size = math.ceil(float(config.get("sweep.chunk-seconds")) / per_point)
    size = max(1, min(size, int(config.get("sweep.max-chunk")), math.ceil(n / max(workers, 1))))
    return size, {"solve_s": solve_s, "build_s": build_s, "setups": setups}


def _distinct_setups(plan: Plan) -> int:
    varying = [*plan.placeholders, *plan.build_parameters]
    if not varying:
        return 1
    if plan.grid:
        return math.prod(len(plan.values[k]) for k in varying)
    return len({tuple(plan.values[k][i] for k in varying) for i in range(len(plan.values[varying[0]]))})


def layout_for(plan: Plan, chunk_size: int) -> Layout:
    if not plan.grid:
        n = len(next(iter(plan.values.values())))
        return Layout(("point",), (n,), (min(chunk_size, n),))
    names = list(plan.values)
    shape = tuple(len(plan.values[n]) for n in names)
    # Fill a block along batchable inputs first, so a chunk needs as few distinct builds as possible.
    rebuilds = set(plan.placeholders) | set(plan.build_parameters)
    order = sorted(reversed(range(len(names))), key=lambda d: names[d] in rebuilds)
    return Layout(tuple(names), shape, sweep_store.block_shape(shape, chunk_size, order))


def _coords(plan: Plan, spec: SweepSpec, layout: Layout) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    kind = {**{n: "input" for n in plan.base.inputs}, **{n: "placeholder" for n in plan.placeholders},
            **{n: "build parameter" for n in plan.build_parameters}}
    if plan.grid:
        coords: dict[str, Any] = {n: (n, v, {"kind": kind[n]}) for n, v in plan.values.items()}
    else:
        coords = {n: ("point", v, {"kind": kind[n]}) for n, v in plan.values.items()}
        coords["point"] = np.arange(layout.n_points)
    if plan.per_step is None:
        return coords, {"time": plan.time}
    steps = [s for c in spec.protocol.cycles for s in c]
    coords["step_name"] = ("step", np.array(steps, dtype=object))
    return coords, {"step": np.arange(len(steps)), "sample": np.arange(plan.per_step)}


def run(spec: SweepSpec, ctx: Context) -> Result:
    if ctx.run.store_group is None:
        raise RuntimeError("the sweep element writes into a run store; run it through orchestrator.run")
    path, group = ctx.run.store_group()
    plan = plan_for(spec, ctx, Path(path), group)
    token = "sweep-" + tokenize(spec.model_dump(mode="json"), sorted(plan.base.fixed.items()),
                                 {k: v.tolist() for k, v in plan.values.items()})
    layout = sweep_store.existing(Path(path), group, token)
    measured: dict[str, float] = {}
    resumed = layout is not None
    if layout is None:
        size = spec.chunk_size or config.get("sweep.chunk-size")
        if size is None:
            size, measured = measure_chunk_size(plan, ctx.fan.workers)
        layout = layout_for(plan, int(size))
        plan = replace(plan, layout=layout)
        coords, series_dims = _coords(plan, spec, layout)
        summaries = {n: {"units": SUMMARIES[n].unit, "description": SUMMARIES[n].description}
                     for n in spec.outputs.summaries}
        sweep_store.allocate(
            Path(path), group, layout=layout, coords=coords, series=list(plan.series),
            series_dims=series_dims, step_time=plan.per_step is not None, summaries=summaries,
            attrs={
                "sweep_token": token, "sweep_variables": list(plan.values), "sweep_dims": list(layout.dims),
                "sweep_shape": list(layout.shape), "sweep_block": list(layout.block), "sampler": spec.sampler,
                "chunk_size": math.prod(layout.block), "fixed": {k: float(v) for k, v in plan.base.fixed.items()},
            },
        )
        consolidate(Path(path))
    plan = replace(plan, layout=layout)
    todo = [int(c) for c in np.flatnonzero(~sweep_store.resumed(Path(path), group))]
    skipped = layout.n_chunks - len(todo)
    if measured:  # before the first chunk: the size and a time estimated from a measured solve
        per_point = measured["solve_s"] + measured["build_s"] * measured["setups"] / layout.n_points
        ctx.run.report(Progress(unit="chunks", done=skipped, total=layout.n_chunks,
                            eta_s=per_point * layout.n_points / max(ctx.fan.workers, 1)))
    wave = max(1, 32 * ctx.fan.workers)
    shipped = replace(plan, values={})  # each chunk task carries its own points, not the whole sample
    started = reported = time.perf_counter()
    done = skipped
    failed = 0  # this session's solves that failed (the stored status array holds every point's)
    for w in range(0, len(todo), wave):
        ctx.run.check_canceled()
        label = f"sweep{skipped}+{w}" if resumed else f"sweep{w}"
        items = [(c, plan.points(c)) for c in todo[w : w + wave]]
        for solved in ctx.fan.as_completed(label)(partial(solve_chunk, shipped), items):
            done += 1
            failed += sum(n for status, n in solved["status"].items() if SolveStatus(status).failed)
            if time.perf_counter() - reported > REPORT_EVERY or done == layout.n_chunks:
                rate = (done - skipped) / (time.perf_counter() - started)
                ctx.run.report(Progress(unit="chunks", done=done, total=layout.n_chunks, failed=failed,
                                    eta_s=(layout.n_chunks - done) / rate))
                reported = time.perf_counter()
    wall = time.perf_counter() - started
    found = sweep_store.open_group(Path(path), group, mode="r")
    status = Counter(np.asarray(found["status"][...], dtype=object).ravel().tolist())
    solved_points = sum(math.prod(r.stop - r.start for r in layout.region(c)) for c in todo)
    counts = {
        "points": layout.n_points, "chunks": layout.n_chunks, "chunk_size": math.prod(layout.block),
        "chunks_solved": len(todo), "chunks_resumed": skipped, "status": dict(status), "wall_s": round(wall, 3),
        "points_per_s": round(solved_points / wall, 1) if wall > 0 else None,
        **{k: round(v, 4) for k, v in measured.items()},
    }
    return Result(parameters=dict(ctx.parameters), summary=Summary(counts=counts))


def inputs(spec: SweepSpec, base_dir: Path) -> dict[str, str]:
    """The profile file (or stored measurement) a drive reads, with its sha256."""
    profile = spec.protocol.profile
    if profile is None or isinstance(profile, Profile):
        return {}
    return {m.source: m.sha256 for m in profile_measurements(profile, base_dir)}


ELEMENTS.register("sweep", ElementType(SweepSpec, run, inputs))
