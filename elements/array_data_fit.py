"""`array_data_fit`: the same fit, separately for each key of ``objectives`` (ionworks' ``ArrayDataFit``).

Keys are values of an independent variable (a temperature, a state of charge), pairs of them
(``"0.9, 25"``: a SOC and a temperature) or names, each with its own objective; an objective
whose ``data`` is ``folder:DIR`` gives one key per file (the file name without its suffix). Every
other field is data_fit's.

Two ways to run, picked by the optimizer:

- ``LevenbergMarquardt`` (objectives that give residuals and a Jacobian: EIS): keys that share a
  circuit, frequencies and weighting are split into chunks of equal size (equal shapes: JAX
  compiles once per worker), one task per chunk, each ONE vmapped :func:`elements.eis.fit.fit`
  over its spectra from the same seeded starts (those of ``fit_multistart``, with the initial values
  first when every parameter has one). The dataset lies on a ``spectrum`` dimension: ``best_x``
  (spectrum x parameter), ``best_cost``, ``status``, ``message``, every start's ``end_x``,
  ``end_cost``, ``start_status`` and ``start_iterations``, the shared ``start_x``, and the measured
  and fitted impedance (``Z_real``, ``Z_imag``, ``Z_real_fit``, ``Z_imag_fit`` on ``frequency``; in
  ``traces/<key>`` instead when the spectra's frequencies differ).
- any other optimizer: each key is a data_fit of its own, one task per key (its populations
  evaluated in that task). The dataset lies on a ``key`` dimension (``best_x``, ``best_cost``,
  ``success``, ``message``, ``nfev``); every key's data_fit dataset is in ``fits`` and its traces in
  ``traces``, stacked on ``key`` (:mod:`elements.stacking`; ``stacking.unstack(tree["<element>/fits"]
  .to_dataset(), key)`` is one key's), or in ``fits/<key>`` where the keys' objectives differ in kind.

Costs are the objectives' own, times their weight. ``initial_guess_sampler`` does not apply to
``LevenbergMarquardt``, which draws its own starts. Per-key values do not flow to later elements
as the parameters' own values (they are not one value per name); where every key is a number (or a
pair of numbers), the per-key fits pass on each parameter as a table over the keys (a grid over the
pairs) named ``"<element>/<parameter>"``, for a calculation such as ``ECMTables`` to assemble.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import field_validator

from elements import data_fit, stacking, values
from elements.core.data import DataOptions, load_measurements
from elements.core.status import Progress, Summary
from elements.element import ELEMENTS, Context, ElementType, Result
from elements.fit.driver import chunk_count
from elements.fit.spec import DataFitSpec, inputs
from elements.objectives import Objective, ObjectiveKind
from elements.optimizers.levenberg_marquardt import LevenbergMarquardt


class ArrayDataFitSpec(DataFitSpec):
    element_type: Literal["array_data_fit"]  # type: ignore[assignment]

    @field_validator("objectives", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        # YAML reads `298.15:` as a number; the stored spec (JSON) as text: text throughout, a pair
        # (a SOC and a temperature, as a Python tuple) as "0.9, 25".
        def text(key: Any) -> str:
            return ", ".join(map(str, key)) if isinstance(key, tuple) else str(key)

        return {text(k): v for k, v in value.items()} if isinstance(value, dict) else value

    def fit_problems(self) -> list[dict[str, frozenset[str]]]:
        """Each key is a fit problem of its own."""
        [every] = super().fit_problems()
        return [{name: offered} for name, offered in every.items()]


@dataclass(frozen=True)
class Key:
    """One independent fit: its key, the objective kind that reads its one data set, and that objective."""

    name: str
    kind: ObjectiveKind
    objective: Objective | None  # None where a worker builds its own


def _keys(spec: ArrayDataFitSpec, ctx: Context) -> list[Key]:
    """Every key with its objective; a ``folder:`` source becomes one key per file."""
    names = tuple(spec.parameters)
    found = []
    for entry, kind in spec.objectives.items():
        per_file = _per_file(kind, ctx.base_dir)
        for name, one in per_file or [(entry, kind)]:
            key = f"{entry}/{name}" if per_file and len(spec.objectives) > 1 else name
            built = one.build(key, inputs=names, existing=ctx.parameters, cost=spec.cost, base_dir=ctx.base_dir)
            if len(built) != 1:
                raise ValueError(f"objective {entry!r} gives {len(built)} objectives from one data set; an "
                                 "array_data_fit needs one per key")
            found.append(Key(key, one, built[0]))
    repeated = sorted({k.name for k in found if sum(other.name == k.name for other in found) > 1})
    if repeated:
        raise ValueError(f"keys {repeated} appear more than once; name files and objectives so keys are unique")
    return found


def _per_file(kind: ObjectiveKind, base_dir: Path) -> list[tuple[str, ObjectiveKind]]:
    """A kind reading ``folder:DIR`` as one kind per file, named by the file; [] for other sources."""
    data = getattr(kind, "data", None)
    options = DataOptions(source=data) if isinstance(data, str) else data
    if not isinstance(options, DataOptions) or not options.source.startswith("folder:"):
        return []
    found = load_measurements(options, base_dir=base_dir, required=())
    return [(m.name, kind.model_copy(update={"data": options.model_copy(update={"source": m.source})}))
            for m in found]


def run(spec: ArrayDataFitSpec, ctx: Context) -> Result:
    found = _keys(spec, ctx)
    if isinstance(spec.optimizer, LevenbergMarquardt):
        return _least_squares(spec, ctx, found)
    return _per_key(spec, ctx, found)


def _coordinate(names: list[str]) -> np.ndarray:
    """Keys as numbers when all of them are (temperatures, states of charge), else as text."""
    try:
        return np.array([float(n) for n in names])
    except ValueError:
        return np.array(names, dtype=object)


def _least_squares(spec: ArrayDataFitSpec, ctx: Context, found: list[Key]) -> Result:
    optimizer: LevenbergMarquardt = spec.optimizer
    params = [spec.parameters[n] for n in spec.parameters]
    problems = [k.objective.least_squares() for k in found]
    missing = [f"{k.name!r} ({k.kind.type})" for k, p in zip(found, problems, strict=True) if p is None]
    if missing:
        raise TypeError(
            f"array_data_fit with LevenbergMarquardt fits objectives that give residuals and a Jacobian (EIS); "
            f"key(s) {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} do not. Use a population optimizer "
            "such as {type: ScipyDifferentialEvolution}: each key then runs as a data_fit of its own"
        )
    lower, upper = np.array([p.bounds for p in params], dtype=float).T
    x0 = np.array([p.initial_value for p in params], dtype=float) if all(
        p.initial_value is not None for p in params) else None
    n_starts = optimizer.n_starts or spec.multistarts
    # Starts depend on the parameters' names, bounds and the seed only, so every batch shares them.
    starts = optimizer.starts(problems[0], lower, upper, n=n_starts, x0=x0)
    n_chunks = chunk_count(spec.chunks, ctx.fan.workers)
    items = _chunks(problems, n_chunks)

    n, d = len(found), len(params)
    fitted = {"end_x": np.full((n, n_starts, d), np.nan), "end_cost": np.full((n, n_starts), np.nan),
              "start_status": np.zeros((n, n_starts), dtype=np.int8),
              "start_iterations": np.zeros((n, n_starts), dtype=int)}
    devices: set[str] = set()
    started = time.perf_counter()
    done = 0
    for part, result, device in ctx.fan.as_completed("spectra")(partial(_fit_chunk, optimizer, starts, lower, upper), items):
        ctx.run.check_canceled()
        m = len(part)
        for name, values in zip(fitted, (result.start_parameters, result.start_cost, result.start_status,
                                         result.start_iterations), strict=True):
            fitted[name][part] = values[:m]
        devices.add(device)
        done += m
        ctx.run.report(Progress(unit="spectra", done=done, total=n))
    wall = time.perf_counter() - started

    fitted["end_cost"] *= np.array([k.objective.weight for k in found])[:, None]
    ds = _spectra_dataset(spec, found, fitted, starts)
    ds.attrs.update(chunks=len(items), wall_s=wall, devices=sorted(devices))
    weightings = {getattr(p, "weighting", None) for p in problems}
    unit = {"unit": "Ohm2", "proportional": "1", "modulus": "1"}.get(weightings.pop()) if len(weightings) == 1 else None
    for name in ("best_cost", "end_cost"):  # set here: the element's cost: (RMSE) does not apply
        ds[name].attrs.update(long_name=f"{name.replace('_', ' ')} (weighted sum of squares)", units=unit or "")
    datasets = {"": ds, **_traces(found, ds)}
    counts = {"spectra": n, "converged": ds.attrs["converged"], "starts": n_starts, "chunks": len(items),
              "devices": sorted(devices), "wall_s": round(wall, 3),
              "spectra_per_s": round(n / wall, 1) if wall > 0 else None}
    return Result(parameters=dict(ctx.parameters), datasets=datasets, summary=Summary(counts=counts))


def _chunks(problems: list[Any], n_chunks: int) -> list[tuple[list[int], list[Any]]]:
    """(keys, problems) per chunk: problems that batch together, every chunk of a batch padded to one size
    (with copies of its last problem) so that JAX compiles one shape per worker."""
    batches: dict[Any, list[int]] = {}
    for i, problem in enumerate(problems):
        batches.setdefault(problem.batch, []).append(i)
    items = []
    for index in batches.values():
        size = math.ceil(len(index) / min(n_chunks, len(index)))
        for at in range(0, len(index), size):
            part = index[at : at + size]
            items.append((part, [problems[i] for i in part + [part[-1]] * (size - len(part))]))
    return items


def _fit_chunk(
    optimizer: LevenbergMarquardt, starts: np.ndarray, lower: np.ndarray, upper: np.ndarray,
    item: tuple[list[int], list[Any]],
) -> tuple[list[int], Any, str]:
    """Worker side: one chunk of spectra in one vmapped fit; which keys it fitted, the result, JAX's device."""
    import jax

    part, problems = item
    return part, optimizer.fit_problems(problems, starts=starts, lower=lower, upper=upper), jax.default_backend()


def _spectra_dataset(
    spec: ArrayDataFitSpec, found: list[Key], fitted: dict[str, np.ndarray], starts: np.ndarray
) -> xr.Dataset:
    """Each spectrum's best start, and every start's end point, cost, status and iterations."""
    from elements.eis.fit import FitStatus

    names = list(spec.parameters)
    end_cost = fitted["end_cost"]
    best = np.argmin(np.where(np.isfinite(end_cost), end_cost, np.inf), axis=1)
    pick = np.arange(len(found)), best
    status = [FitStatus(int(s)) for s in fitted["start_status"][pick]]
    converged = int(sum(s.converged for s in status))
    meanings = {"flag_values": [int(s) for s in FitStatus], "flag_meanings": " ".join(s.name.lower() for s in FitStatus)}
    return xr.Dataset(
        {
            "best_x": (("spectrum", "parameter"), fitted["end_x"][pick]),
            "best_cost": ("spectrum", end_cost[pick]),
            "status": ("spectrum", np.array([s.name.lower() for s in status], dtype=object)),
            "message": ("spectrum", np.array([s.message for s in status], dtype=object)),
            "converged": ("spectrum", np.array([s.converged for s in status])),
            "iterations": ("spectrum", fitted["start_iterations"][pick]),
            "best_start": ("spectrum", best),
            "start_x": (("start", "parameter"), starts),
            "end_x": (("spectrum", "start", "parameter"), fitted["end_x"]),
            "end_cost": (("spectrum", "start"), end_cost),
            "start_status": (("spectrum", "start"), fitted["start_status"], meanings),
            "start_iterations": (("spectrum", "start"), fitted["start_iterations"]),
            "lower_bound": ("parameter", [spec.parameters[n].bounds[0] for n in names]),
            "upper_bound": ("parameter", [spec.parameters[n].bounds[1] for n in names]),
            "source": ("spectrum", np.array([getattr(k.objective, "source", "") for k in found], dtype=object)),
        },
        coords={"spectrum": _coordinate([k.name for k in found]), "parameter": names, "start": np.arange(len(starts))},
        attrs={"optimizer": spec.optimizer.type, "n_starts": len(starts), "converged": converged,
               "message": f"{converged} of {len(found)} spectra converged"},
    )


def _traces(found: list[Key], ds: xr.Dataset) -> dict[str, xr.Dataset]:
    """Measured and fitted curves: into ``ds`` on a shared frequency axis, else one group per key."""
    best_x = ds["best_x"].values
    traces = [k.objective.traces(k.objective.solve(x[None])[0]) for k, x in zip(found, best_x, strict=True)]
    first = traces[0]
    shared = all(t.sizes == first.sizes and all(t[c].equals(first[c]) for c in first.coords) for t in traces)
    if not shared:
        return {f"traces/{k.name}": t for k, t in zip(found, traces, strict=True)}
    for name in first.data_vars:
        ds[name] = (("spectrum", *first[name].dims), np.stack([t[name].values for t in traces]))
    ds.coords.update(first.coords)
    return {}


def _fit_key(spec: ArrayDataFitSpec, parameters: dict[str, float], base_dir: Path, key: Key) -> tuple[str, Result]:
    """Worker side: one key as a data_fit of its own, its populations evaluated in this task."""
    one = spec.model_copy(update={"objectives": {key.name: key.kind}})
    return key.name, data_fit.run(one, Context(name=key.name, parameters=dict(parameters), base_dir=base_dir))


def _per_key(spec: ArrayDataFitSpec, ctx: Context, found: list[Key]) -> Result:
    names = list(spec.parameters)
    results: dict[str, Result] = {}
    started = time.perf_counter()
    # workers get the kinds, not the built objectives: each task builds its own from its data set
    work = [Key(k.name, k.kind, None) for k in found]
    for key, result in ctx.fan.as_completed("keys")(partial(_fit_key, spec, ctx.parameters, ctx.base_dir), work):
        ctx.run.check_canceled()
        results[key] = result
        ctx.run.report(Progress(unit="keys", done=len(results), total=len(found)))
    wall = time.perf_counter() - started
    order = [k.name for k in found]
    fits = [results[k].datasets[""] for k in order]
    ds = xr.Dataset(
        {
            "best_x": (("key", "parameter"), np.stack([f["best_x"].values for f in fits])),
            "best_cost": ("key", np.array([float(f["best_cost"]) for f in fits])),
            "success": ("key", np.array([bool(f.attrs["success"]) for f in fits])),
            "message": ("key", np.array([str(f.attrs["message"]) for f in fits], dtype=object)),
            "nfev": ("key", np.array([int(f.attrs["nfev"]) for f in fits])),
            "lower_bound": ("parameter", [spec.parameters[n].bounds[0] for n in names]),
            "upper_bound": ("parameter", [spec.parameters[n].bounds[1] for n in names]),
        },
        coords={"key": _coordinate(order), "parameter": names},
        attrs={"optimizer": spec.optimizer.type, "wall_s": wall},
    )
    datasets = {"": ds, **_fits(order, ds["key"].values, results)}
    counts = {"keys": len(found), "succeeded": int(ds["success"].sum()), "wall_s": round(wall, 3),
              "evaluations": int(ds["nfev"].sum())}
    per_key = values.per_key(ctx.name, order, names, ds["best_x"].values)
    return Result(parameters={**ctx.parameters, **per_key}, datasets=datasets, summary=Summary(counts=counts))


def _fits(order: list[str], coordinate: np.ndarray, results: dict[str, Result]) -> dict[str, xr.Dataset]:
    """Every key's data_fit datasets, stacked on ``key`` (``fits``, ``traces``: one zarr array per
    variable for all keys, see :mod:`elements.stacking`); each key in ``fits/<key>`` where keys' datasets
    differ in structure (objectives of different kinds)."""
    # a key's traces are named after its objective, the key: "traces/<key>" -> "traces"
    shared = [{(sub.removesuffix(f"/{key}") if sub.startswith("traces/") else sub) or "fits": child
               for sub, child in results[key].datasets.items()} for key in order]
    if all(found.keys() == shared[0].keys() for found in shared) and all(
            stacking.stackable([found[sub] for found in shared]) for sub in shared[0]):
        return {sub: stacking.stack([found[sub] for found in shared], coordinate) for sub in shared[0]}
    return {f"fits/{key}/{sub}" if sub else f"fits/{key}": child
            for key in order for sub, child in results[key].datasets.items()}


ELEMENTS.register("array_data_fit", ElementType(ArrayDataFitSpec, run, inputs))
