"""Run a pipeline: validate, create the run in the store, compile, compute on a Dask client."""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distributed import Client, fire_and_forget

from orchestrator import cache, lineage, measurements
from orchestrator import store as stores
from orchestrator.graph import compile_pipeline
from orchestrator.spec import Pipeline, load_pipeline

_VERSIONED = ("sweepfit", "pybamm", "pybammsolvers", "dask", "distributed", "xarray", "zarr", "scipy", "numpy")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


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
) -> tuple[Pipeline, Path, str, Path]:
    """Validate everything that can be checked before a cluster exists, then create the run.

    Records each element's cache key and the run's lineage; ``force`` turns cache loading off.
    ``resume`` reuses an existing run of the same pipeline instead (a killed sweep goes on from
    the chunks it marked done).
    """
    from elements.objectives import checksums

    pipeline = load_pipeline(source)
    base = _base_dir(source, base_dir)
    data: dict[str, dict[str, str]] = {}
    with measurements.using(stores.root(store_root)):  # db: ids resolve in this run's store
        for name, spec in pipeline.elements.items():
            if hasattr(spec, "objectives"):
                data[name] = checksums(spec.objectives, base)  # reads and checks every data set now
    found_versions = versions()
    elements = pipeline.to_dict()["elements"]
    keys = cache.element_keys(elements, data, found_versions)
    if resume is not None:
        return pipeline, *_reopen(resume, pipeline, keys, store_root), base
    run_id = stores.new_run_id()
    attrs = {
        "run_id": run_id,
        "project": pipeline.project,
        "name": pipeline.name,
        "spec": pipeline.to_dict(),
        "versions": found_versions,
        "lineage": lineage.for_run(
            elements, source=source, base_dir=base, data=data, keys=keys, versions=found_versions,
            store=store_root,
        ),
        "use_cache": not force,
    }
    path = stores.create_run(attrs, list(pipeline.elements), store_root)
    stores.update(path, elements={name: {"status": stores.PENDING, "cache_key": keys[name]} for name in keys})
    return pipeline, path, run_id, base


def _reopen(run_id: str, pipeline: Pipeline, keys: dict[str, str], store_root: Any) -> tuple[Path, str]:
    path = stores.run_path(run_id, store_root)
    attrs = stores.read_attrs(path)
    if attrs.get("spec") != pipeline.to_dict():
        raise ValueError(
            f"cannot resume run {attrs['run_id']}: it was made from a different pipeline; "
            "leave out resume to start a new run"
        )
    stores.clear_cancel(path)
    # Elements that completed before the run stopped keep their results; the rest start again.
    done = {n: e for n, e in attrs["elements"].items() if e["status"] == stores.COMPLETED and e.get("cache_key") == keys[n]}
    elements = {name: done.get(name, {"status": stores.PENDING, "cache_key": keys[name]}) for name in keys}
    stores.update(path, status=stores.PENDING, resumed=stores.now(), elements=elements)
    return path, attrs["run_id"]


def start(client: Client, pipeline: Pipeline, path: Path, *, run_id: str, base_dir: Path) -> Any:
    """Record where a prepared run runs (scheduler, dashboard), then send its graph; the future."""
    stores.update(path, scheduler=client.scheduler.address, dashboard=client.dashboard_link)
    return client.compute(compile_pipeline(pipeline, path, run_id=run_id, base_dir=base_dir))


@contextlib.contextmanager
def _client(client: Client | None, cluster: str | None = None) -> Iterator[Client]:
    if client is not None:
        yield client
        return
    import clusters

    with clusters.connect(cluster) as made:
        yield made


def run(
    pipeline: Any,
    *,
    client: Client | None = None,
    cluster: str | None = None,
    store: str | Path | None = None,
    base_dir: str | Path | None = None,
    force: bool = False,
    resume: str | None = None,
) -> dict[str, Any]:
    """Run a pipeline to the end and return its status (see :func:`status`).

    Elements that already completed with the same cache key in any run of the store are loaded
    from there instead of computed (their status entry says ``cached_from``); ``force=True``
    recomputes everything.

    Parameters
    ----------
    pipeline : dict, str or Path
        A pipeline dict, YAML/JSON text, or a path to a YAML/JSON file.
    client : distributed.Client, optional
        Where to run; else ``cluster``.
    cluster : str, optional
        ``"local"`` (default: a LocalCluster sized to this machine), a scheduler address, ``"slurm"``,
        ``"pbs"`` or a profile name (see :func:`clusters.get_client`).
    store : path, optional
        The store root; ``sweepfit.store`` from dask.config by default (``./sweepfit-runs``).
    resume : str, optional
        Run again inside this existing run of the same pipeline (e.g. one killed mid-sweep);
        sweeps solve only their chunks not yet marked done.

    Examples
    --------
    >>> info = run("examples/demo.yaml")  # doctest: +SKIP
    >>> info["elements"]["fit"]["summary"]["parameters"]  # doctest: +SKIP
    """
    spec, path, run_id, base = prepare(pipeline, store_root=store, base_dir=base_dir, force=force, resume=resume)
    with _client(client, cluster) as active:
        future = start(active, spec, path, run_id=run_id, base_dir=base)
        with contextlib.suppress(Exception):
            future.result()  # failures are recorded in the store by the element that failed
    return status(run_id, store=path.parent.parent)


def submit(
    pipeline: Any,
    *,
    client: Client | None = None,
    cluster: str | None = None,
    store: str | Path | None = None,
    base_dir: str | Path | None = None,
    force: bool = False,
    profiles: str | Path | None = None,
    resume: str | None = None,
) -> str:
    """Start a pipeline and return its run id at once; poll it with :func:`get`.

    On a separate scheduler (``client``, or ``cluster="tcp://host:8786"``) the graph keeps running
    after this process exits; status and results are written to the store by the workers. A cluster
    that lives in the process that starts it (``"local"``, ``"slurm"``, ``"pbs"`` and their profiles)
    is started by a detached driver process (``python -m clusters.driver``) that runs the pipeline to
    the end and then closes the cluster; its log is ``<store>/runs/<run_id>.log``.

    Examples
    --------
    >>> run_id = submit("examples/demo.yaml", cluster="tcp://127.0.0.1:8786")  # doctest: +SKIP
    >>> get(run_id)["status"]  # doctest: +SKIP
    'running'
    """
    import clusters
    from clusters import driver

    if profiles is not None:
        clusters.profiles.load_file(profiles)
    detached = client is None and not clusters.outlives_process(cluster)  # checks the cluster name first
    spec, path, run_id, base = prepare(pipeline, store_root=store, base_dir=base_dir, force=force, resume=resume)
    stores.update(path, cluster=cluster or "local", base_dir=str(base))
    if detached:
        driver.spawn(path, cluster=cluster, profiles=profiles)
        return run_id
    with _client(client, cluster) as active:
        future = start(active, spec, path, run_id=run_id, base_dir=base)
        fire_and_forget(future)
        driver.wait_registered(active, future.key)
    return run_id


def status(run_id: str, *, store: str | Path | None = None) -> dict[str, Any]:
    """A run's id, path, project, status and per-element status, summaries and errors."""
    path = stores.run_path(run_id, store)
    attrs = stores.read_attrs(path)
    keep = ("run_id", "project", "name", "status", "created", "updated", "finished", "error")
    return {**{k: attrs.get(k) for k in keep}, "path": str(path), "elements": attrs["elements"]}


def get(run_id: str, *, store: str | Path | None = None) -> dict[str, Any]:
    """:func:`status`, with ``status: "lost"`` (and ``lost``: why) when an unfinished run's driver
    process or scheduler is gone, so nothing will ever finish it."""
    from clusters.driver import lost

    info = status(run_id, store=store)
    attrs = stores.read_attrs(Path(info["path"]))
    info.update({k: attrs[k] for k in ("cluster", "scheduler", "dashboard") if k in attrs})
    if info["status"] not in stores.FINISHED and (reason := lost(attrs)):
        info.update(status="lost", lost=reason)
    return info


def cancel(run_id: str, *, store: str | Path | None = None, wait: float = 0) -> dict[str, Any]:
    """Cancel a run: running elements stop at the next generation, the rest never start.

    Finished elements keep their results. Sets the cancel marker the elements check, cancels the
    run's tasks on its scheduler when that answers, marks unstarted elements and the run canceled,
    and waits up to ``wait`` seconds for running elements to stop. Returns :func:`get`.
    """
    import time

    from clusters.driver import cancel_tasks

    path = stores.run_path(run_id, store)
    attrs = stores.read_attrs(path)
    if attrs["status"] in stores.FINISHED:
        return get(str(path))
    stores.request_cancel(path)
    cancel_tasks(attrs)
    for name, element in stores.read_attrs(path)["elements"].items():
        if element["status"] == stores.PENDING:
            stores.update(path, element=name, status=stores.CANCELED, finished=stores.now())
    stores.update(path, status=stores.CANCELED, finished=stores.now())
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if all(e["status"] != stores.RUNNING for e in stores.read_attrs(path)["elements"].values()):
            break
        time.sleep(0.5)
    return get(str(path))
