"""What runs on a worker for one element: status in the store, fan-out, results written in place."""

from __future__ import annotations

import contextlib
import math
import os
import socket
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from elements import ELEMENTS, Context, engine
from elements.base import MapLike, serial_map
from orchestrator import cache, measurements, store


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


def _counted(func: Callable[[Any], Any], item: Any) -> tuple[Any, int]:
    before = engine.thread_solves()
    out = func(item)
    return out, engine.thread_solves() - before


def cluster_mapper(
    prefix: str, counts: dict[str, int] | None = None
) -> tuple[Callable[[str], MapLike], int]:
    """A map-like factory that fans out over the cluster this task runs on (serial off-cluster).

    The element task secedes from the worker's thread pool first, so with one-thread workers it
    does not hold back a thread its own chunks need. Chunks run elsewhere add the solves they ran
    to ``counts["solves"]``.
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
            done = client.gather(client.map(partial(_counted, func), items, key=keys))
            if counts is not None:
                counts["solves"] = counts.get("solves", 0) + sum(n for _, n in done)
            return [out for out, _ in done]

        return fan_out

    return mapper, max(1, sum(client.nthreads().values()))


def where() -> dict[str, Any]:
    """Which process runs this element: host, pid, Dask worker, Slurm/PBS job (if any)."""
    found: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_worker

        found["worker"] = get_worker().address
    for var in ("SLURM_JOB_ID", "PBS_JOBID"):
        if var in os.environ:
            found[var.lower()] = os.environ[var]
    return found


def run_element(
    path: str, name: str, spec: Any, upstream: dict[str, float], base_dir: str, *, last: bool
) -> dict[str, float]:
    """Run one element: mark it running, run it, write its datasets, mark it completed.

    An element that already completed with the same cache key in any run of the store is loaded
    from there instead. Returns the parameter values accumulated so far for the next element.
    """
    run_path = Path(path)
    attrs = store.read_attrs(run_path)
    run_id = attrs["run_id"]
    root = run_path.parent.parent  # the store this run lives in: db: ids and the cache resolve there

    def check_canceled() -> None:
        if store.cancel_requested(run_path):
            raise Canceled(f"run {run_id} was canceled")

    own = attrs["elements"][name]
    if own["status"] == store.COMPLETED:  # a resumed run: this element finished before it stopped
        if last:
            store.update(run_path, status=store.COMPLETED, finished=store.now())
        return dict(own.get("parameters", {}))
    try:
        check_canceled()
        store.update(run_path, status=store.RUNNING)
        store.update(run_path, element=name, status=store.RUNNING, started=store.now(), worker=where())
        hit = None
        if attrs.get("use_cache", True):
            hit = cache.find(attrs["elements"][name].get("cache_key"), root, exclude=run_path)
        if hit is not None:
            return _load_cached(hit, run_path, name, last=last)
        started_solves, counts = engine.thread_solves(), {"solves": 0}
        mapper, workers = cluster_mapper(f"{name}-{run_id}", counts)
        ctx = Context(
            name=name,
            parameters=dict(upstream),
            base_dir=Path(base_dir),
            mapper=mapper,
            workers=workers,
            report=lambda progress: store.update(run_path, element=name, progress=jsonable(progress)),
            check_canceled=check_canceled,
            store_group=lambda: (str(run_path), name),
        )
        with measurements.using(root):
            result = ELEMENTS[spec.element_type].run(spec, ctx)
        solves = counts["solves"] + engine.thread_solves() - started_solves  # chunks elsewhere + here
        store.write_datasets(run_path, name, result.datasets)
    except Exception as exc:
        # `sweepfit cancel` also cancels this run's chunk tasks, so a gather may raise before Canceled.
        if isinstance(exc, Canceled) or store.cancel_requested(run_path):
            store.update(run_path, element=name, status=store.CANCELED, finished=store.now())
            store.update(run_path, status=store.CANCELED, finished=store.now())
            raise
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
        solves=solves, outputs=_outputs(run_path, name, result.datasets),
    )
    if last:
        store.update(run_path, status=store.COMPLETED, finished=store.now())
    return result.parameters


def _outputs(run_path: Path, name: str, datasets: dict[str, Any]) -> list[str]:
    """The groups an element wrote: its datasets, or the group it wrote itself (a sweep's chunks)."""
    written = [f"{name}/{sub}" if sub else name for sub in sorted(datasets, key=len)]
    return written or ([name] if (run_path / name).is_dir() else [])


def _load_cached(hit: dict[str, Any], run_path: Path, name: str, *, last: bool) -> dict[str, float]:
    """Complete ``name`` from a finished element with the same cache key: zero solves."""
    entry = hit["entry"]
    cache.copy_element(hit, run_path, name)
    prefix = hit["element"]
    outputs = [name + o[len(prefix):] for o in entry.get("outputs", [prefix]) if o.startswith(prefix)]
    store.update(
        run_path, element=name, status=store.COMPLETED, finished=store.now(), solves=0, outputs=outputs,
        summary=entry.get("summary", {}), parameters=entry.get("parameters", {}),
        cached_from={
            "run_id": hit["run_id"], "element": hit["element"],
            "computed_in": entry.get("cached_from", {}).get("computed_in", hit["run_id"]),
        },
        message=f"loaded from run {hit['run_id']} (element {hit['element']!r}), not recomputed",
    )
    if last:
        store.update(run_path, status=store.COMPLETED, finished=store.now())
    return dict(entry.get("parameters", {}))
