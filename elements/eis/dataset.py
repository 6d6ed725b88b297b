"""`eis_dataset`: synthetic impedance spectra of sampled circuits, written by the workers into zarr.

Each spectrum picks a circuit (``circuits``: label -> impedance.py string, drawn with relative
``weight``), draws that circuit's parameters from ``parameters`` (log-uniform within ``bounds``;
exponents such as a CPE's alpha uniform; ``distribution`` overrides either, and a circuit's own
``parameters`` override the shared ones), evaluates the circuit at ``frequencies`` and adds
relative Gaussian noise (standard deviation ``noise`` x ``|Z|`` on each of Re Z and Im Z).

It is a sweep over sampled circuits, stored as sweeps are (:mod:`elements.sweep_store`): the arrays
are allocated when the element starts, each chunk task samples, evaluates (one vectorised JAX call
per circuit) and writes its own region, then marks itself done, so memory stays flat at any size
and only counts travel through the scheduler. Run the same pipeline into the same run
(``--resume``) and only chunks not marked done are written. A chunk draws from its own seeded
stream (``seed``, chunk index), so the same spec (``seed``, ``chunk_size``) gives the same
spectra serially and on any cluster.

``xr.open_datatree(run, engine="zarr")[element]`` is a table for learning: ``Z_real`` and
``Z_imag`` (spectrum x frequency), one column per circuit parameter (NaN where a spectrum's circuit
has none), ``label`` (the circuit's label, a coordinate) and ``status`` (``ok``, or ``infeasible``
where the impedance is not finite); the circuits and distributions are in its attributes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from dask.base import tokenize
from pydantic import Field, field_validator, model_validator

from elements import sweep_store
from elements.core import config
from elements.core.registry import unknown_name
from elements.core.status import Progress, Summary
from elements.core.storage import consolidate
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.schema import Span, Strict, check_bounds


def parse(string: str) -> Any:
    """The circuit of ``string``: JAX loads on the first one, not when ``elements`` is imported."""
    from elements.eis.circuits import parse as circuit

    return circuit(string)
from elements.sweep_store import Layout

_MIN_BATCH = 64  # circuits are evaluated on batches padded to a power of two, so JAX compiles few shapes


class Distribution(Strict):
    """How one parameter is drawn: within ``bounds``, log-uniform or uniform."""

    bounds: tuple[float, float]
    distribution: Literal["log_uniform", "uniform"] | None = Field(
        None, description="default: log_uniform, uniform for exponents (a CPE's alpha)")

    @model_validator(mode="after")
    def _check(self) -> Distribution:
        check_bounds(self.bounds, log=self.distribution == "log_uniform", what="a log-uniform distribution")
        return self


class CircuitChoice(Strict):
    circuit: str
    weight: float = Field(1.0, gt=0, description="relative frequency among the circuits")
    parameters: dict[str, Distribution] = Field(default_factory=dict, description="overrides for this circuit")

    @field_validator("circuit")
    @classmethod
    def _circuit(cls, string: str) -> str:
        return parse(string).string


class EISDatasetSpec(Strict):
    element_type: Literal["eis_dataset"]
    circuits: dict[str, CircuitChoice] = Field(min_length=1, description="label -> circuit (or a list of strings)")
    parameters: dict[str, Distribution] = Field(default_factory=dict, description="shared by every circuit")
    frequencies: Span | list[float] = Field(description="[f1, f2, ...] or {logspace: [f_min, f_max, n]} [Hz]")
    n: int = Field(ge=1, description="spectra")
    noise: float = Field(0.0, ge=0, description="standard deviation relative to |Z|, on each of Re Z and Im Z")
    seed: int = Field(0, ge=0)
    chunk_size: int | None = Field(None, ge=1, description="spectra per chunk task (sweepfit.eis.chunk-size)")

    @field_validator("circuits", mode="before")
    @classmethod
    def _labelled(cls, value: Any) -> Any:
        if isinstance(value, list):
            value = {string: string for string in value}
        if isinstance(value, dict):
            return {label: {"circuit": c} if isinstance(c, str) else c for label, c in value.items()}
        return value

    @field_validator("frequencies")
    @classmethod
    def _positive(cls, value: Span | list[float]) -> Span | list[float]:
        values = value.values() if isinstance(value, Span) else value
        if not values or min(values) <= 0:
            raise ValueError(f"frequencies must be positive [Hz] and at least one; got {values}")
        return value

    @model_validator(mode="after")
    def _every_parameter_drawn(self) -> EISDatasetSpec:
        problems = []
        used = set()
        for label, choice in self.circuits.items():
            circuit = parse(choice.circuit)
            names = circuit.parameter_names
            used.update(names)
            for name, log_scaled in zip(names, circuit.log_scaled, strict=True):
                d = choice.parameters.get(name) or self.parameters.get(name)
                if d is not None and d.distribution is None and log_scaled and d.bounds[0] <= 0:
                    problems.append(f"{name} is drawn log-uniformly and needs a lower bound above 0, got "
                                    f"{list(d.bounds)}; raise it or set distribution: uniform")
            problems += [f"circuits.{label}.parameters: " + unknown_name("parameter", n, names, of=f"circuit {choice.circuit!r}")
                         for n in choice.parameters if n not in names]
            missing = [n for n in names if n not in choice.parameters and n not in self.parameters]
            if missing:
                problems.append(f"circuit {label!r} ({choice.circuit}) has no distribution for {', '.join(missing)}; "
                                "give each in parameters as {bounds: [lower, upper]}")
        problems += [f"parameters: {n!r} is a parameter of none of the circuits (their parameters: "
                     f"{', '.join(sorted(used))})" for n in self.parameters if n not in used]
        if problems:
            raise ValueError("; ".join(dict.fromkeys(problems)))
        return self


@dataclass(frozen=True, eq=False)
class Plan:
    """What a chunk task needs: where to write, how its spectra are drawn and evaluated."""

    path: str
    group: str
    layout: Layout
    labels: tuple[str, ...]
    circuits: tuple[str, ...]
    weights: tuple[float, ...]
    draws: tuple[tuple[tuple[float, float, bool], ...], ...]  # per circuit, per parameter: lower, upper, log
    columns: tuple[str, ...]  # every circuit's parameters: the dataset's parameter columns
    frequencies: np.ndarray
    noise: float
    seed: int

    def generator(self, chunk: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, chunk])

    def chosen(self, rng: np.random.Generator, chunk: int) -> np.ndarray:
        """Each spectrum's circuit (an index into ``circuits``): the chunk stream's first draw."""
        region = self.layout.region(chunk)[0]
        p = np.asarray(self.weights) / sum(self.weights)
        return rng.choice(len(self.circuits), size=region.stop - region.start, p=p)


def _plan_for(spec: EISDatasetSpec, path: str, group: str, layout: Layout) -> Plan:
    draws, columns = [], {}
    for choice in spec.circuits.values():
        circuit = parse(choice.circuit)
        drawn = []
        for name, log_scaled in zip(circuit.parameter_names, circuit.log_scaled, strict=True):
            d = choice.parameters.get(name) or spec.parameters[name]
            log = d.distribution == "log_uniform" if d.distribution else bool(log_scaled)
            drawn.append((*map(float, d.bounds), log))
            columns.setdefault(name, None)
        draws.append(tuple(drawn))
    frequencies = spec.frequencies.values() if isinstance(spec.frequencies, Span) else spec.frequencies
    return Plan(path, group, layout, tuple(spec.circuits), tuple(c.circuit for c in spec.circuits.values()),
                tuple(c.weight for c in spec.circuits.values()), tuple(draws), tuple(columns),
                np.asarray(frequencies, dtype=float), spec.noise, spec.seed)


def _drawn(rng: np.random.Generator, draws: tuple[tuple[float, float, bool], ...], n: int) -> np.ndarray:
    unit = rng.random((n, len(draws)))
    lower, upper, log = (np.array(column) for column in zip(*draws, strict=True))
    low, high = np.where(log, np.log(lower), lower), np.where(log, np.log(upper), upper)
    values = low + unit * (high - low)
    return np.where(log, np.exp(values), values)


def _padded(n: int) -> int:
    return max(_MIN_BATCH, 1 << (n - 1).bit_length())


def write_chunk(plan: Plan, chunk: int) -> dict[str, Any]:
    """Worker side: draw, evaluate and write one chunk's spectra, then mark it done; returns counts only."""
    import jax

    from elements.eis.fit import synthetic_spectra

    rng = plan.generator(chunk)
    chosen = plan.chosen(rng, chunk)
    m, n_freq = len(chosen), len(plan.frequencies)
    z = np.full((m, n_freq), np.nan + 0j)
    columns = {name: np.full(m, np.nan) for name in plan.columns}
    for k, (string, draws) in enumerate(zip(plan.circuits, plan.draws, strict=True)):
        rows = np.flatnonzero(chosen == k)
        if not len(rows):
            continue
        values = _drawn(rng, draws, len(rows))
        padded = np.concatenate([values, np.repeat(values[:1], _padded(len(rows)) - len(rows), axis=0)])
        noise_seed = int(rng.integers(2**62))
        z[rows] = np.asarray(synthetic_spectra(string, padded, plan.frequencies, noise=plan.noise, seed=noise_seed))[
            : len(rows)]
        for name, column in zip(parse(string).parameter_names, values.T, strict=True):
            columns[name][rows] = column
    finite = np.isfinite(z).all(axis=1)
    arrays = {
        "Z_real": z.real, "Z_imag": z.imag, **columns,
        "status": np.where(finite, "ok", "infeasible").astype(object),
        "message": np.where(finite, "", "the impedance is not finite at these values").astype(object),
    }
    sweep_store.write_chunk(Path(plan.path), plan.group, plan.layout, chunk, arrays)
    return {"chunk": chunk, "spectra": m, "infeasible": int((~finite).sum()), "device": jax.default_backend()}


def _allocate(spec: EISDatasetSpec, plan: Plan, token: str) -> None:
    layout = plan.layout
    chosen = np.concatenate([plan.chosen(plan.generator(c), c) for c in range(layout.n_chunks)])
    units = {}
    for string in plan.circuits:
        circuit = parse(string)
        units.update(zip(circuit.parameter_names, circuit.units, strict=True))
    sweep_store.allocate(
        Path(plan.path), plan.group, layout=layout,
        coords={"spectrum": np.arange(layout.n_points), "label": ("spectrum", np.array(plan.labels, dtype=object)[chosen])},
        series=["Z_real", "Z_imag"], series_dims={"frequency": plan.frequencies}, step_time=False,
        summaries={name: {"units": units[name]} if units[name] else {} for name in plan.columns},
        attrs={
            "sweep_token": token, "sweep_dims": list(layout.dims), "sweep_shape": list(layout.shape),
            "sweep_block": list(layout.block), "sampler": "eis_dataset", "chunk_size": layout.block[0],
            "circuits": dict(zip(plan.labels, plan.circuits, strict=True)),
            "weights": dict(zip(plan.labels, plan.weights, strict=True)),
            "parameters": spec.model_dump(mode="json")["parameters"], "noise": spec.noise, "seed": spec.seed,
        },
    )
    consolidate(Path(plan.path))


def run(spec: EISDatasetSpec, ctx: Context) -> Result:
    if ctx.run.store_group is None:
        raise RuntimeError("the eis_dataset element writes into a run store; run it through orchestrator.run")
    path, group = ctx.run.store_group()
    token = "eis-" + tokenize(spec.model_dump(mode="json"))
    layout = sweep_store.existing(Path(path), group, token)
    resumed = layout is not None
    if layout is None:
        size = min(spec.chunk_size or int(config.get("eis.chunk-size")), spec.n)
        layout = Layout(("spectrum",), (spec.n,), (size,))
    plan = _plan_for(spec, path, group, layout)
    if not resumed:
        _allocate(spec, plan, token)
    todo = [int(c) for c in np.flatnonzero(~sweep_store.resumed(Path(path), group))]
    skipped = layout.n_chunks - len(todo)
    wave = max(1, 32 * ctx.fan.workers)  # tasks in flight at once: the scheduler holds a wave, not a million spectra
    started = time.perf_counter()
    done, written, infeasible = skipped, 0, 0
    devices: set[str] = set()
    for w in range(0, len(todo), wave):
        ctx.run.check_canceled()
        label = f"spectra{skipped}+{w}" if resumed else f"spectra{w}"
        for counts in ctx.fan.as_completed(label)(partial(write_chunk, plan), todo[w : w + wave]):
            done += 1
            written += counts["spectra"]
            infeasible += counts["infeasible"]
            devices.add(counts["device"])
            ctx.run.report(Progress(unit="chunks", done=done, total=layout.n_chunks))
    wall = time.perf_counter() - started
    counts = {"spectra": spec.n, "chunks": layout.n_chunks, "chunk_size": layout.block[0], "chunks_written": len(todo),
              "chunks_resumed": skipped, "spectra_written": written, "infeasible": infeasible,
              "devices": sorted(devices), "wall_s": round(wall, 3),
              "spectra_per_s": round(written / wall, 1) if wall > 0 and written else None}
    return Result(parameters=dict(ctx.parameters), summary=Summary(counts=counts))


ELEMENTS.register("eis_dataset", ElementType(EISDatasetSpec, run))


__all__ = ["CircuitChoice", "Distribution", "EISDatasetSpec", "Plan", "write_chunk"]
