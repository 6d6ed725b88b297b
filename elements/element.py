"""What every element type provides, and the registry that finds one by its element_type."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr
from pydantic import BaseModel

from elements.core.registry import Registry
from elements.core.status import Progress, Summary

MapLike = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]


def serial_map(func: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    return list(map(func, items))


@dataclass
class Context:
    """What an element sees while it runs.

    ``mapper(label)`` returns a map-like callable for one fan-out step (a DE generation, a sweep
    batch): builtins ``map`` semantics, run serially, in threads, or on the Dask cluster.
    ``unordered(label)`` is the same but yields results as they complete (for progress).
    """

    name: str
    parameters: dict[str, float] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)
    mapper: Callable[[str], MapLike] = lambda label: serial_map
    unordered: Callable[[str], MapLike] = lambda label: serial_map
    workers: int = 1
    # evaluators(state)(label)(func, items) runs func(state, item) on long-lived evaluators holding
    # ``state`` (one per worker, see orchestrator.evaluators); None off a cluster
    evaluators: Callable[[Any], Callable[[str], MapLike]] | None = None
    report: Callable[[Progress], None] = lambda progress: None
    check_canceled: Callable[[], None] = lambda: None
    store_group: Callable[[], Any] | None = None
    # a running fit's best traces for the monitor: called with a function that makes the snapshot
    preview: Callable[[Callable[[], dict[str, Any]]], None] | None = None


@dataclass
class Result:
    """An element's output: parameter values passed downstream, datasets to store, a summary.

    A value is a number, or a table ``{"x": [...], "y": [...]}`` for a function-valued parameter
    (:func:`elements.values.table`): plain JSON, so the store keeps it and the cache hashes it.
    """

    parameters: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, xr.Dataset] = field(default_factory=dict)
    summary: Summary = field(default_factory=Summary)


def no_inputs(spec: Any, base_dir: Path) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class ElementType:
    """An element type: its spec (pydantic), how it runs, and what it reads.

    ``inputs(spec, base_dir)`` returns ``{source: sha256}`` for every file or measurement the
    element reads; they go into its cache key and lineage, and reading them checks them before
    a run is created.
    """

    spec: type[BaseModel]
    run: Callable[[Any, Context], Result]
    inputs: Callable[[Any, Path], dict[str, str]] = no_inputs


ELEMENTS: Registry[ElementType] = Registry("element_type", group="sweepfit.element_types")
