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


@dataclass(frozen=True)
class FanOut:
    """How an element spreads work: over the Dask cluster its task runs on, or serially off one.

    ``map(label)`` returns a map-like for one fan-out step (a DE generation, a sweep batch), with
    builtins ``map`` semantics; ``as_completed(label)`` the same, yielding results as they complete
    (for progress); ``with_state(state)(label)(func, items)`` runs ``func(state, item)`` on long-lived
    evaluators that received ``state`` once (one per worker, see :mod:`orchestrator.evaluators`; None
    off a cluster). ``workers`` is how many worker threads there are.
    """

    map: Callable[[str], MapLike] = lambda label: serial_map
    as_completed: Callable[[str], MapLike] = lambda label: serial_map
    with_state: Callable[[Any], Callable[[str], MapLike]] | None = None
    workers: int = 1


@dataclass(frozen=True)
class RunHandle:
    """What an element tells its run, and asks it, while it runs: progress records, a running fit's
    best traces for the monitor (``preview`` is called with a function that makes the snapshot),
    whether the run was canceled (``check_canceled`` raises then), and where in the store the
    element's group is (``store_group() -> (run path, element)``, for a fit's journal)."""

    report: Callable[[Progress], None] = lambda progress: None
    preview: Callable[[Callable[[], dict[str, Any]]], None] | None = None
    check_canceled: Callable[[], None] = lambda: None
    store_group: Callable[[], Any] | None = None


@dataclass
class Context:
    """What an element sees while it runs: its name, the values from upstream, where relative paths
    resolve, how to fan out (:class:`FanOut`) and its run (:class:`RunHandle`)."""

    name: str
    parameters: dict[str, float] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)
    fan: FanOut = field(default_factory=FanOut)
    run: RunHandle = field(default_factory=RunHandle)


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
