"""Objectives: measured data plus how to simulate it, turned into solve-engine Problems."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from elements.engine import Problem
from elements.schema import ObjectiveSpec
from orchestrator.data import DataError, Measurement, load_measurements


def measurements(name: str, spec: ObjectiveSpec, base_dir: Path) -> list[Measurement]:
    """The objective's data sets, each checked to hold every variable it is compared on."""
    found = load_measurements(spec.data, base_dir=base_dir)
    for m in found:
        missing = [v for v in spec.variables if v not in m.frame.columns]
        if missing:
            raise DataError(
                f"objective {name!r}: data {m.source!r} has no column {missing[0]!r} to compare "
                f"against; columns present: {list(m.frame.columns)}. Map it with column_map or "
                f"change 'variables'."
            )
    return found


def problems(
    objectives: dict[str, ObjectiveSpec],
    *,
    inputs: Iterable[str],
    existing: dict[str, float],
    cost: str,
    base_dir: Path,
) -> list[Problem]:
    """One Problem per measured data set: a ``folder:`` objective gives one per file."""
    inputs = tuple(inputs)
    out = []
    for name, spec in objectives.items():
        found = measurements(name, spec, base_dir)
        for m in found:
            fixed = {k: v for k, v in existing.items() if k not in inputs}
            fixed.update(spec.parameters)
            out.append(
                Problem(
                    name=name if len(found) == 1 else f"{name}/{m.name}",
                    model=spec.model.type,
                    model_options=dict(spec.model.options),
                    parameter_set=spec.parameter_set,
                    fixed=fixed,
                    inputs=inputs,
                    time=m.time,
                    current=m.current,
                    data={v: m.frame[v].to_numpy(dtype=float) for v in spec.variables},
                    cost=cost,
                    weight=spec.weight,
                )
            )
    return out


def checksums(objectives: dict[str, ObjectiveSpec], base_dir: Path) -> dict[str, str]:
    """sha256 of every data set the objectives read, by source (reading checks them all)."""
    return {m.source: m.sha256 for name, spec in objectives.items() for m in measurements(name, spec, base_dir)}


def traces(problem: Problem, values: dict[str, np.ndarray] | None) -> dict[str, tuple]:
    """Model-vs-data arrays for a dataset on a ``time`` dimension."""
    out = {"current": ("time", problem.current)}
    for v, data in problem.data.items():
        out[f"data {v}"] = ("time", data)
        out[f"model {v}"] = ("time", values[v] if values else np.full_like(data, np.nan))
    return out
