"""What runs on a worker for one element: status in the store, fan-out, results written in place."""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from elements import ELEMENTS, Context
from elements.base import MapLike, serial_map
from orchestrator import store


class Canceled(RuntimeError):
    """The run was canceled while this element ran."""


def jsonable(value: Any) -> Any:
    """Attribute-safe copy: non-finite floats become None, numpy scalars plain Python."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cluster_mapper(prefix: str) -> tuple[Callable[[str], MapLike], int]:
    """A map-like factory that fans out over the cluster this task runs on (serial off-cluster).

    The element task secedes from the worker's thread pool first, so with one-thread workers it
    does not hold back a thread its own chunks need.
    """
    try:
        from distributed import get_client, secede

        client = get_client()
        secede()
    except (ImportError, ValueError):
        return (lambda label: serial_map), 1

    def mapper(label: str) -> MapLike:
        def fan_out(func: Callable[[Any], Any], items: Any) -> list[Any]:
            items = list(items)
            keys = [f"{prefix}-{label}-chunk{i}" for i in range(len(items))]
            return client.gather(client.map(func, items, key=keys))

        return fan_out

    return mapper, max(1, sum(client.nthreads().values()))


def run_element(
    path: str, name: str, spec: Any, upstream: dict[str, float], base_dir: str, *, last: bool
) -> dict[str, float]:
    """Run one element: mark it running, run it, write its datasets, mark it completed.

    Returns the parameter values accumulated so far for the next element.
    """
    run_path = Path(path)
    attrs = store.read_attrs(run_path)
    run_id = attrs["run_id"]

    def check_canceled() -> None:
        if store.cancel_requested(run_path):
            raise Canceled(f"run {run_id} was canceled")

    try:
        check_canceled()
        store.update(run_path, status=store.RUNNING)
        store.update(run_path, element=name, status=store.RUNNING, started=store.now())
        mapper, workers = cluster_mapper(f"{name}-{run_id}")
        ctx = Context(
            name=name,
            parameters=dict(upstream),
            base_dir=Path(base_dir),
            mapper=mapper,
            workers=workers,
            report=lambda progress: store.update(run_path, element=name, progress=jsonable(progress)),
            check_canceled=check_canceled,
        )
        result = ELEMENTS[spec.element_type].run(spec, ctx)
        store.write_datasets(run_path, name, result.datasets)
    except Canceled:
        store.update(run_path, element=name, status=store.CANCELED, finished=store.now())
        store.update(run_path, status=store.CANCELED, finished=store.now())
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        store.update(
            run_path, element=name, status=store.FAILED, finished=store.now(),
            error=error, traceback=traceback.format_exc(),
        )
        store.update(run_path, status=store.FAILED, finished=store.now(), error=f"{name}: {error}")
        raise
    store.update(
        run_path, element=name, status=store.COMPLETED, finished=store.now(),
        summary=jsonable(result.summary), parameters=jsonable(result.parameters),
    )
    if last:
        store.update(run_path, status=store.COMPLETED, finished=store.now())
    return result.parameters
