"""One run lifecycle for `run`, `submit`, the CLI and the detached driver.

1. :func:`prepare` validates the pipeline, reads and checks every input, and creates the run (or
   reopens one to resume) — before any cluster exists, so bad input never costs a cluster.
2. :func:`execute` connects to the cluster, sends the graph, watches it and records how it ended.
   Every failure — the cluster does not start, the graph fails, the workers are gone — ends the run
   ``failed`` with the reason in its record; a scheduler that disappears ends it ``lost`` (its graph
   went with it; ``resume`` goes on from what was stored). Nothing is left ``running``, unless the
   store cannot take the record (a full disk): then :class:`Unrecorded` says so.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from concurrent.futures import Future, ThreadPoolExecutor

from distributed import Client, wait
from distributed.client import FuturesCancelledError

import clusters
from clusters import closing, profiles
from elements import ELEMENTS
from elements.core import config
from elements.core.data import DataError, in_store
from elements.core.status import Status
from elements.objectives import ObjectiveKind
from orchestrator import cache, dashboard, lineage, measurements, warmup
from orchestrator import store as stores
from orchestrator.evaluators import workers_of
from orchestrator.graph import compile_pipeline
from orchestrator.spec import Pipeline, load_pipeline, read
from orchestrator.worker import Stopped

_VERSIONED = ("sweepfit", "pybamm", "pybammsolvers", "dask", "distributed", "xarray", "zarr", "scipy", "numpy")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


@dataclass(frozen=True)
class Prepared:
    """A created (or reopened) run, ready to execute."""

    pipeline: Pipeline
    path: Path
    run_id: str
    base_dir: Path
    warnings: tuple[str, ...] = ()  # about data the model cannot follow; the run goes on

    @classmethod
    def open(cls, path: Path) -> Prepared:
        """A run prepared by another process (the detached driver's view of it)."""
        attrs = stores.read_attrs(path)
        return cls(load_pipeline(attrs["spec"]), path, attrs["run_id"], Path(attrs["base_dir"]))


def _implausible(name: str, spec: Any, base: Path) -> list[str]:
    """Warnings from the objectives an element compares with data (see ``ObjectiveKind.implausible``)."""
    objectives = getattr(spec, "objectives", None)
    kinds = objectives.items() if isinstance(objectives, dict) else []
    return [f"elements.{name}: {text}" for key, kind in kinds if isinstance(kind, ObjectiveKind)
            for text in kind.implausible(key, base)]


def _base_dir(source: Any, base_dir: str | Path | None) -> Path:
    if base_dir is not None:
        return Path(base_dir).resolve()
    if isinstance(source, (str, Path)) and Path(source).is_file():
        return Path(source).resolve().parent
    return Path.cwd()


def prepare(
    source: Any,
    *,
    store_root: str | Path | None = None,
    base_dir: str | Path | None = None,
    force: bool = False,
    resume: str | None = None,
) -> Prepared:
    """Validate everything that can be checked before a cluster exists, then create the run.

    Every element declares the files and measurements it reads (``ElementType.inputs``); their
    checksums go into its cache key and the run's lineage. ``force`` turns cache loading off;
    ``resume`` reuses an existing run of the same pipeline instead. Data the model cannot follow
    (a current many times the cell's rating) is kept as the run's ``warnings``; the run goes on.
    """
    pipeline = load_pipeline(source)
    base = _base_dir(source, base_dir)
    data, doubts = {}, []
    root = stores.root(store_root)
    for name, spec in pipeline.elements.items():
        try:  # db: ids resolve in this run's store
            located = in_store(spec, root)
            data[name] = ELEMENTS[spec.element_type].inputs(located, base)
            doubts += _implausible(name, located, base)
        except DataError as exc:  # say which element reads it, as spec problems do
            raise DataError(f"elements.{name}: {exc}") from exc
    found_versions = versions()
    elements = pipeline.to_dict()["elements"]
    keys = cache.element_keys(elements, data, found_versions)
    if resume is not None:
        return replace(_reopen(resume, pipeline, keys, store_root, base), warnings=tuple(doubts))
    run_id = stores.new_run_id()
    attrs = {
        "run_id": run_id,
        "project": pipeline.project,
        "name": pipeline.name,
        "spec": pipeline.to_dict(),
        "base_dir": str(base),
        "versions": found_versions,
        "lineage": lineage.for_run(
            elements, source=source, base_dir=base, data=data, keys=keys, versions=found_versions,
            store=store_root,
        ),
        "use_cache": not force,
        "warnings": doubts,
    }
    path = stores.create_run(attrs, {name: {"cache_key": key} for name, key in keys.items()}, store_root)
    return Prepared(pipeline, path, run_id, base, tuple(doubts))


def _reopen(run_id: str, pipeline: Pipeline, keys: dict[str, str], store_root: Any, base: Path) -> Prepared:
    path = stores.run_path(run_id, store_root)
    attrs = stores.read_attrs(path)
    if attrs.get("spec") != pipeline.to_dict():
        raise ValueError(
            f"cannot resume run {attrs['run_id']}: it was made from a different pipeline; "
            "leave out resume to start a new run"
        )
    stores.clear_cancel(path)
    # Elements that completed before the run stopped keep their results; the rest start again.
    for name, key in keys.items():
        element = attrs["elements"][name]
        if not (element["status"] == Status.COMPLETED and element.get("cache_key") == key):
            stores.write_element(path, name, status=Status.PENDING, cache_key=key, error=None, finished=None)
            cache.release_held_by(path, element.get("cache_key") or key)
    stores.write_run(path, status=Status.PENDING, resumed=stores.now(), error=None, finished=None)
    return Prepared(pipeline, path, attrs["run_id"], Path(attrs.get("base_dir", base)))


def connect_early(source: Any, cluster: str | None, *, base_dir: str | Path | None = None,
                  store_root: str | Path | None = None) -> Future | None:
    """For a cluster that is already running (the warm one, an address): connect in a thread and send
    the warm-up (:mod:`orchestrator.warmup`) at once, so that both overlap :func:`prepare` (which
    imports PyBaMM to validate: 2-4 s). The future's client goes to :func:`execute` as ``connecting``;
    if the run is never executed, :func:`discard` closes it. None for a cluster this process would
    start: bad input never costs a cluster.
    """
    if not clusters.outlives_process(cluster):
        return None

    def connect() -> Client:
        client = profiles.kind(cluster).client()
        with contextlib.suppress(Exception):  # an unreadable pipeline: prepare says what is wrong with it
            warmup.send(client, read(source), base_dir=_base_dir(source, base_dir), store=stores.root(store_root))
        return client

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweepfit-connect")
    future = pool.submit(connect)
    pool.shutdown(wait=False)
    return future


def discard(connecting: Future | None) -> None:
    """Close the client of :func:`connect_early` for a run that will not be executed."""
    if connecting is not None and connecting.exception() is None:
        connecting.result().close()


def start(client: Client, run: Prepared) -> Any:
    """Record where a prepared run runs (scheduler, dashboard, sweepfit's pages there), then send its
    graph; the future."""
    stores.write_run(run.path, status=Status.RUNNING, scheduler=client.scheduler.address,
                     dashboard=client.dashboard_link, pages=_pages(client, run))
    return client.compute(compile_pipeline(run.pipeline, run.path, run_id=run.run_id, base_dir=run.base_dir))


def _pages(client: Client, run: Prepared) -> str | None:
    """The link to the run on its scheduler's sweepfit pages, when that dashboard has them."""
    try:
        shown = dashboard.register_store(client, run.path.parent.parent)
    except Exception:  # a scheduler without sweepfit installed, or one that refuses run_on_scheduler
        return None
    if not (shown and client.dashboard_link):
        return None
    return f"{client.dashboard_link.rsplit('/', 1)[0]}{dashboard.PROGRESS_PAGE}?run={run.run_id}"


class Unrecorded(RuntimeError):
    """A run ended (``reason``) but its store could not take the record of it (``cause``: a full disk)."""

    def __init__(self, run: Prepared, reason: str, cause: OSError) -> None:
        super().__init__(f"run {run.run_id} ended ({reason}) but could not record it in {run.path}: "
                         f"{cause.strerror or cause}")
        self.reason, self.cause = reason, cause


def fail(run: Prepared, reason: str, *, status: Status = Status.FAILED) -> None:
    """End a run ``failed`` (or ``lost``) with ``reason``; elements it left running are marked so too
    (their tasks are gone, so this process is now their records' only writer). Raises
    :class:`Unrecorded` when the store cannot take it."""
    finished = stores.now() if status.finished else None
    try:
        for name, element in stores.read_attrs(run.path)["elements"].items():
            if element["status"] == Status.RUNNING:
                stores.write_element(run.path, name, status=status, finished=finished, error=reason)
        stores.write_run(run.path, status=status, finished=finished, error=reason)
    except OSError as exc:
        raise Unrecorded(run, reason, exc) from exc


def execute(
    run: Prepared,
    *,
    client: Client | None = None,
    cluster: str | None = None,
    connecting: Future | None = None,
    on_start: Callable[[Client], None] = lambda client: None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Run a prepared run to its end on ``client`` (or a new client for ``cluster``, or the one
    ``connecting`` from :func:`connect_early`) and return its state (see ``store.read_attrs``). A
    cluster this call starts is closed when the run ends; on a client it makes, the workers start
    building the first element's models at once (:mod:`orchestrator.warmup`).

    ``on_progress`` receives the run's state every ``sweepfit.run.poll`` seconds while it runs.
    """
    if client is None:
        stores.write_run(run.path, cluster=cluster or config.get("cluster.default"))
        dashboard.install()  # a scheduler this process starts gets sweepfit's pages
        try:
            client = connecting.result() if connecting else profiles.kind(cluster, **overrides).client()
        except Exception as exc:  # the cluster never started: say so in the run itself
            fail(run, f"cluster did not start: {type(exc).__name__}: {exc}")
            raise
        if connecting is None:  # connect_early sent it already
            warmup.send(client, run.pipeline.to_dict(), base_dir=run.base_dir, store=run.path.parent.parent)
        with closing(client):
            return execute(run, client=client, on_start=on_start, on_progress=on_progress)
    try:
        future = start(client, run)
    except OSError as exc:  # the run's record could not be written: nothing was sent
        raise Unrecorded(run, "before it started", exc) from exc
    on_start(client)
    problem = _watch(client, future, run, on_progress)
    if future.status == "cancelled" and not stores.cancel_requested(run.path):
        # distributed cancels a client's futures when its scheduler connection breaks: the graph is gone
        fail(run, f"lost the scheduler {client.scheduler.address} (client {client.status}); --resume {run.run_id} "
                  "goes on from what it stored", status=Status.LOST)
        return stores.read_attrs(run.path)
    if problem is None and future.status == "error":
        exc = future.exception()
        problem = f"{type(exc).__name__}: {exc}"
    elif problem is None and future.status == "finished" and isinstance(ended := future.result(), Stopped) \
            and not ended.recorded:
        problem = f"element {ended.element!r}: {ended.error}"
    info = stores.read_attrs(run.path)
    if problem is not None and not Status(info["status"]).finished:
        # Element failures are recorded by the element itself; anything else is recorded here.
        client.cancel(future, force=True)
        fail(run, problem)
    return stores.read_attrs(run.path)


def _watch(client: Client, future: Any, run: Prepared, on_progress: Callable[[dict[str, Any]], None] | None) -> str | None:
    """Wait for the graph; a reason when it cannot finish (no worker or no scheduler for too long)."""
    stall, limit = float(config.get("run.stalled-after")), float(config.get("run.no-workers-timeout"))
    poll = float(config.get("run.poll"))
    since: float | None = None
    lost_at = ""
    stalled = False
    while not future.done():
        if on_progress is not None:
            on_progress(stores.read_attrs(run.path))
        try:
            workers = len(workers_of(client)) if client.status == "running" else 0
            reason = "no workers"
        except (OSError, TimeoutError) as exc:
            workers, reason = 0, f"scheduler {client.scheduler.address} does not answer ({type(exc).__name__})"
        if workers:
            since = None
            if stalled:  # workers came back (a nanny restart, an adaptive cluster scaling up)
                stores.write_run(run.path, stalled=None)
                stalled = False
        else:
            if since is None:
                since, lost_at = time.monotonic(), stores.now()
            if client.status != "running":
                reason = f"lost the scheduler {client.scheduler.address}"
            waited = time.monotonic() - since
            if waited > limit:
                return f"{reason} for {limit:g} s (sweepfit.run.no-workers-timeout)"
            if waited > stall and not stalled:
                stores.write_run(run.path, stalled=f"{reason} since {lost_at}; the run fails after "
                                                   f"{limit:g} s without (sweepfit.run.no-workers-timeout)")
                stalled = True
        with contextlib.suppress(TimeoutError, FuturesCancelledError):  # canceled: by `sweepfit cancel`, or
            wait(future, timeout=poll)  # the scheduler is gone; returns as soon as the graph ends
    if on_progress is not None:
        on_progress(stores.read_attrs(run.path))
    return None
