"""What every element type provides, and the registry that finds one by its element_type."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr
from pydantic import BaseModel

from elements.registry import Registry

MapLike = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]


def serial_map(func: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    return list(map(func, items))


@dataclass
class Context:
    """What an element sees while it runs.

    ``mapper(label)`` returns a map-like callable for one fan-out step (a DE generation, a sweep
    batch): builtins ``map`` semantics, run serially, in threads, or on the Dask cluster.
    """

    name: str
    parameters: dict[str, float] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)
    mapper: Callable[[str], MapLike] = lambda label: serial_map
    workers: int = 1
    report: Callable[[dict[str, Any]], None] = lambda progress: None
    check_canceled: Callable[[], None] = lambda: None
    store_group: Callable[[], Any] | None = None


@dataclass
class Result:
    """An element's output: parameter values passed downstream, datasets to store, a summary."""

    parameters: dict[str, float] = field(default_factory=dict)
    datasets: dict[str, xr.Dataset] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ElementType:
    spec: type[BaseModel]
    run: Callable[[Any, Context], Result]


ELEMENTS: Registry[ElementType] = Registry("element_type")
