"""Run, submit, watch and cancel pipelines: the public Python API over the one run lifecycle."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import clusters
from clusters.remote import cancel_keys, reachable, remote_client
from elements.core.status import Status
from orchestrator import liveness
from orchestrator import store as stores

if TYPE_CHECKING:
    from distributed import Client

# run and submit import the lifecycle (PyBaMM, bokeh, the elements) when called: `sweepfit status`,
# polled every second by scripts, reads a run's record through get() in a third of the time without them.


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
    recomputes everything. A run whose cluster does not start, whose graph fails or whose workers
    are all gone for ``sweepfit.run.no-workers-timeout`` seconds ends ``failed`` with the reason.

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
    from orchestrator import lifecycle

    if client is None:
        clusters.profiles.kind(cluster)  # a bad cluster name fails before the run exists
    prepared = lifecycle.prepare(pipeline, store_root=store, base_dir=base_dir, force=force, resume=resume)
    lifecycle.execute(prepared, client=client, cluster=cluster)  # raises only when the cluster does not start
    return status(prepared.run_id, store=prepared.path.parent.parent)


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
    is started by a detached driver process (``python -m orchestrator.driver``) that runs the
    pipeline to the end and then closes the cluster; its log is ``<store>/runs/<run_id>.log``.

    Examples
    --------
    >>> run_id = submit("examples/demo.yaml", cluster="tcp://127.0.0.1:8786")  # doctest: +SKIP
    >>> get(run_id)["status"]  # doctest: +SKIP
    'running'
    """
    from distributed import fire_and_forget

    from orchestrator import driver, lifecycle

    if profiles is not None:
        clusters.profiles.load_file(profiles)
    detached = client is None and not clusters.outlives_process(cluster)  # checks the cluster name first
    prepared = lifecycle.prepare(pipeline, store_root=store, base_dir=base_dir, force=force, resume=resume)
    stores.write_run(prepared.path, cluster=cluster or "local")
    if detached:
        driver.spawn(prepared.path, cluster=cluster, profiles=profiles)
        return prepared.run_id
    made = client is None
    try:
        active = client or clusters.get_client(cluster)
    except Exception as exc:
        lifecycle.fail(prepared, f"cluster did not start: {type(exc).__name__}: {exc}")
        raise
    try:
        future = lifecycle.start(active, prepared)
        fire_and_forget(future)
        driver.wait_registered(active, future.key)
    finally:
        if made:
            active.close()
    return prepared.run_id


def status(run_id: str, *, store: str | Path | None = None) -> dict[str, Any]:
    """A run's id, path, project, status and per-element status, summaries and errors."""
    path = stores.run_path(run_id, store)
    attrs = stores.read_attrs(path)
    keep = ("run_id", "project", "name", "status", "created", "updated", "finished", "error", "stalled", "warnings")
    return {**{k: attrs.get(k) for k in keep}, "path": str(path), "elements": attrs["elements"]}


def get(run_id: str, *, store: str | Path | None = None) -> dict[str, Any]:
    """:func:`status`, with ``status: "lost"`` (and ``lost``: why) when an unfinished run's driver
    process or scheduler is gone, so nothing will ever finish it."""
    info = status(run_id, store=store)
    attrs = stores.read_attrs(Path(info["path"]))
    info.update({k: attrs[k] for k in ("cluster", "scheduler", "dashboard", "pages") if k in attrs})
    if info["status"] == Status.LOST:  # recorded by the run's lifecycle or by an element's task
        info["lost"] = info.get("error") or next(e.get("error") for e in info["elements"].values()
                                                  if e["status"] == Status.LOST)
    elif not Status(info["status"]).finished and (reason := liveness.lost(attrs)):
        info.update(status=Status.LOST.value, lost=reason)
    return info


def cancel(run_id: str, *, store: str | Path | None = None, wait: float = 0) -> dict[str, Any]:
    """Cancel a run: running elements stop at the next generation, the rest never start.

    Finished elements keep their results. Sets the cancel marker the elements check (the run and
    its unstarted elements read as canceled from then on), cancels the run's tasks on its
    scheduler when that answers, and waits up to ``wait`` seconds for running elements to stop.
    Returns :func:`get`.
    """
    path = stores.run_path(run_id, store)
    attrs = stores.read_attrs(path)
    if Status(attrs["status"]).finished:
        return get(str(path))
    stores.request_cancel(path)
    _cancel_tasks(attrs)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if all(e["status"] != Status.RUNNING for e in stores.read_attrs(path)["elements"].values()):
            break
        time.sleep(0.5)
    return get(str(path))


def _cancel_tasks(attrs: dict[str, Any]) -> list[str]:
    """Cancel a run's tasks on its scheduler (when it answers); the keys canceled."""
    address = attrs.get("scheduler")
    if not address or not reachable(address):
        return []
    cluster = attrs.get("cluster")
    try:
        # The run's own profile carries any TLS settings; the driver's in-process scheduler needs none.
        client = clusters.get_client(cluster) if cluster and clusters.outlives_process(cluster) else remote_client(address)
    except (ConnectionError, ValueError):
        return []
    with client:
        try:
            return client.run_on_scheduler(cancel_keys, run_id=attrs["run_id"])
        except Exception as exc:  # the cancel marker still stops the run at its next generation
            warnings.warn(f"could not cancel run {attrs['run_id']}'s tasks on {address}: {exc!r}", stacklevel=2)
            return []
