"""What runs on a worker for one element: status in the store, fan-out, results written in place."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from elements import ELEMENTS, Context, engine
from elements.core.data import in_store
from elements.core.status import Status
from elements.element import FanOut, MapLike, RunHandle, serial_map
from orchestrator import cache, evaluators, measurements, store


class Canceled(RuntimeError):
    """The run was canceled while this element ran."""


class Superseded(Canceled):
    """The run was resumed while this element still ran (its client died, its task lived on, on a
    remote cluster): the resumed attempt owns the element now, so this task stops and writes nothing."""


@dataclass(frozen=True)
class Stopped:
    """What an element's task returns when the element did not complete.

    Later elements then do not start (their records say why), and no exception travels through
    Dask, whose worker would log its traceback on the user's terminal: the element's record holds
    the error and the traceback. ``recorded`` is False when that record could not be written (a
    full disk), so the run's lifecycle knows it must record the failure itself.
    """

    element: str
    status: Status
    error: str
    recorded: bool = True


def element_task(path: str, name: str, spec: Any, upstream: Any, base_dir: str) -> Any:
    """The graph's node for one element: :func:`run_element`, with failures returned as :class:`Stopped`."""
    run_path = Path(path)
    if isinstance(upstream, Stopped):
        with contextlib.suppress(OSError):  # a full disk: it stays pending, which is also true
            store.write_element(run_path, name, status=Status.CANCELED, finished=store.now(),
                                error=f"not started: element {upstream.element!r} {upstream.status}")
        return upstream
    try:
        return run_element(path, name, spec, upstream, base_dir)
    except Superseded:
        raise
    except Exception as exc:
        record = store.read_element(run_path, name)
        if record.get("status") in (Status.FAILED, Status.CANCELED, Status.LOST):
            return Stopped(name, Status(record["status"]), record.get("error") or "")
        return Stopped(name, Status.FAILED, f"{type(exc).__name__}: {exc}", recorded=False)


def _scheduler_gone(exc: Exception) -> str | None:
    """Why this task's scheduler is gone, when it is (so the failure is the cluster's, not the element's)."""
    try:
        from distributed import get_client, get_worker

        worker, client = get_worker(), get_client()
    except (ImportError, ValueError):
        return None
    if isinstance(exc, evaluators.SchedulerLost) or client.status != "running" or worker.status.name in ("closing", "closed"):
        return f"lost its scheduler {worker.scheduler.address} ({type(exc).__name__}: {exc})"
    return None


def _counted(func: Callable[[Any], Any], item: Any) -> tuple[Any, int]:
    before = engine.thread_solves()
    out = func(item)
    return out, engine.thread_solves() - before


def cluster_mapper(
    prefix: str, counts: dict[str, int] | None = None
) -> tuple[Callable[[str], MapLike], Callable[[str], MapLike], int, Any]:
    """Map-like factories that fan out over the cluster this task runs on (serial off-cluster):
    one returns results in order, the other as they complete. Also the number of worker threads,
    and :func:`orchestrator.evaluators.factory` for this cluster (None off-cluster).

    The element task secedes from the worker's thread pool first, so with one-thread workers it
    does not hold back a thread its own chunks need. Chunks run elsewhere add the solves they ran
    to ``counts["solves"]``.
    """
    try:
        from distributed import as_completed, get_client, secede

        client = get_client()
        secede()
    except (ImportError, ValueError):
        return (lambda label: serial_map), (lambda label: serial_map), 1, None

    def count(done: list[tuple[Any, int]]) -> None:
        if counts is not None:
            counts["solves"] = counts.get("solves", 0) + sum(n for _, n in done)

    def submit(label: str, func: Callable[[Any], Any], items: Any) -> list[Any]:
        items = list(items)
        keys = [f"{prefix}-{label}-chunk{i}" for i in range(len(items))]
        return client.map(partial(_counted, func), items, key=keys)

    def ordered(label: str) -> MapLike:
        def fan_out(func: Callable[[Any], Any], items: Any) -> list[Any]:
            done = client.gather(submit(label, func, items))
            count(done)
            return [out for out, _ in done]

        return fan_out

    def unordered(label: str) -> MapLike:
        def fan_out(func: Callable[[Any], Any], items: Any) -> Iterator[Any]:
            for _, (out, n) in as_completed(submit(label, func, items), with_results=True):
                count([(out, n)])
                yield out

        return fan_out

    return ordered, unordered, max(1, sum(client.nthreads().values())), evaluators.factory(client, counts)


class Latest:
    """Calls ``write(value)`` for the latest value handed in, in a thread of its own, so an element
    never waits for its progress record (a fit's record grows with its history: ~2 ms per write
    at 100 generations, ~23 ms at 1000). Values handed in while a write runs are coalesced.
    :meth:`close` writes the last value, and returns only when no write is left running, so the
    element's final record can follow without a second writer.
    """

    def __init__(self, write: Callable[[Any], None]) -> None:
        self.write = write
        self.pending: list[Any] = []  # at most one: the latest
        self.changed = threading.Condition()
        self.closing = False
        self.thread = threading.Thread(target=self._loop, name="sweepfit-progress", daemon=True)
        self.thread.start()

    def __call__(self, value: Any) -> None:
        with self.changed:
            self.pending[:] = [value]
            self.changed.notify()

    def _loop(self) -> None:
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self.pending or self.closing)
                if not self.pending:
                    return
                value = self.pending.pop()
            with contextlib.suppress(OSError):  # a progress line lost to a full disk is not the run's failure
                self.write(value)

    def close(self) -> None:
        with self.changed:
            self.closing = True
            self.changed.notify()
        self.thread.join()


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
    path: str, name: str, spec: Any, upstream: dict[str, float], base_dir: str
) -> dict[str, float]:
    """Run one element: mark it running, run it, write its datasets, mark it completed.

    Only this task writes the element's record while it runs. An element that already completed
    with the same cache key in any run of the store is loaded from there instead. Returns the
    parameter values accumulated so far for the next element.
    """
    run_path = Path(path)
    attrs = store.read_attrs(run_path)
    run_id = attrs["run_id"]
    root = run_path.parent.parent  # the store this run lives in: db: ids and the cache resolve there
    own = attrs["elements"][name]

    attempt = store.read_run(run_path).get("resumed")  # each resume of a run is a new attempt

    def superseded() -> bool:
        return store.read_run(run_path).get("resumed") != attempt

    def check_canceled() -> None:
        if superseded():
            raise Superseded(f"run {run_id} was resumed while this attempt ran; the resumed one carries on")
        if store.cancel_requested(run_path):
            raise Canceled(f"run {run_id} was canceled")

    def write(**values: Any) -> None:
        if not superseded():  # the element's record has one writer: the latest attempt's task
            store.write_element(run_path, name, **values)

    if own["status"] == Status.COMPLETED:  # a resumed run: this element finished before it stopped
        return dict(own.get("parameters", {}))
    key, claimed = own.get("cache_key"), False
    progress = Latest(lambda value: write(progress=value))
    preview = Latest(lambda make: store.write_preview(run_path, name, make()))

    def settle() -> None:
        """Let the progress and preview writers finish, so the element's last record has one writer."""
        progress.close()
        preview.close()
    try:
        check_canceled()
        write(status=Status.RUNNING, started=store.now(), worker=where())
        started_solves, counts = engine.thread_solves(), {"solves": 0}
        # Secedes from the worker's thread pool first: waiting for a twin holds no thread its chunks need.
        mapper, unordered, workers, shared = cluster_mapper(f"{name}-{run_id}", counts)
        hit = None
        if attrs.get("use_cache", True) and key:
            hit = cache.find(key, root, exclude=run_path)
            if hit is None:  # an identical run may be computing it right now: wait for it
                hit = cache.wait_for_twin(key, root, {"run": str(run_path), "element": name}, check=check_canceled)
                claimed = hit is None
        if hit is not None:
            return _load_cached(hit, run_path, name)
        if attrs.get("use_cache", True) and (why := cache.damaged_copy(key, root, exclude=run_path)):
            write(recomputed=why)
        ctx = Context(
            name=name,
            parameters=dict(upstream),
            base_dir=Path(base_dir),
            fan=FanOut(map=mapper, as_completed=unordered, with_state=shared, workers=workers),
            run=RunHandle(report=progress, preview=preview, check_canceled=check_canceled,
                          store_group=lambda: (str(run_path), name)),
        )
        result = ELEMENTS[spec.element_type].run(in_store(spec, root), ctx)  # db: sources read this run's store
        settle()
        solves = counts["solves"] + engine.thread_solves() - started_solves  # chunks elsewhere + here
        store.write_datasets(run_path, name, result.datasets)
        store.write_manifest(run_path, name)
    except Exception as exc:
        settle()
        if isinstance(exc, Superseded):
            raise
        # `sweepfit cancel` also cancels this run's chunk tasks, so a gather may raise before Canceled.
        if isinstance(exc, Canceled) or store.cancel_requested(run_path):
            write(status=Status.CANCELED, finished=store.now())
            raise
        if lost := _scheduler_gone(exc):
            write(status=Status.LOST, error=lost)
            raise
        write(status=Status.FAILED, finished=store.now(), error=f"{type(exc).__name__}: {exc}",
              traceback=traceback.format_exc())
        raise
    else:
        write(status=Status.COMPLETED, finished=store.now(), summary=result.summary, parameters=result.parameters,
              solves=solves, outputs=_outputs(run_path, name, result.datasets))
    finally:
        settle()  # also on the early return of a cache hit
        if claimed:
            cache.release(key, root)
    return result.parameters


def _outputs(run_path: Path, name: str, datasets: dict[str, Any]) -> list[str]:
    """The groups an element wrote: its datasets, or the group it wrote itself (a sweep's chunks)."""
    written = [f"{name}/{sub}" if sub else name for sub in sorted(datasets, key=len)]
    return written or ([name] if (run_path / name).is_dir() else [])


def _load_cached(hit: dict[str, Any], run_path: Path, name: str) -> dict[str, float]:
    """Complete ``name`` from a finished element with the same cache key: zero solves."""
    entry = hit["entry"]
    cache.copy_element(hit, run_path, name)
    store.write_manifest(run_path, name)
    prefix = hit["element"]
    outputs = [name + o[len(prefix):] for o in entry.get("outputs", [prefix]) if o.startswith(prefix)]
    store.write_element(
        run_path, name, status=Status.COMPLETED, finished=store.now(), solves=0, outputs=outputs,
        summary=entry.get("summary", {}), parameters=entry.get("parameters", {}),
        cached_from={
            "run_id": hit["run_id"], "element": hit["element"],
            "computed_in": entry.get("cached_from", {}).get("computed_in", hit["run_id"]),
        },
        message=f"loaded from run {hit['run_id']} (element {hit['element']!r}), not recomputed",
    )
    return dict(entry.get("parameters", {}))
