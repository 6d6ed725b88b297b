"""Run a pipeline: validate, create the run in the store, compile, compute on a Dask client."""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distributed import Client, fire_and_forget

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
    source: Any, *, store_root: str | Path | None = None, base_dir: str | Path | None = None
) -> tuple[Pipeline, Path, str, Path]:
    """Validate everything that can be checked before a cluster exists, then create the run."""
    from elements.objectives import checksums

    pipeline = load_pipeline(source)
    base = _base_dir(source, base_dir)
    data = {}
    for spec in pipeline.elements.values():
        if hasattr(spec, "objectives"):
            data.update(checksums(spec.objectives, base))  # reads and checks every data set now
    run_id = stores.new_run_id()
    attrs = {
        "run_id": run_id,
        "project": pipeline.project,
        "name": pipeline.name,
        "spec": pipeline.to_dict(),
        "versions": versions(),
        "lineage": {"data": data},
    }
    path = stores.create_run(attrs, list(pipeline.elements), store_root)
    return pipeline, path, run_id, base


@contextlib.contextmanager
def _client(client: Client | None) -> Iterator[Client]:
    if client is not None:
        yield client
        return
    from clusters.local import local_client

    with local_client() as made:
        yield made


def run(
    pipeline: Any,
    *,
    client: Client | None = None,
    store: str | Path | None = None,
    base_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Run a pipeline to the end and return its status (see :func:`status`).

    Parameters
    ----------
    pipeline : dict, str or Path
        A pipeline dict, YAML/JSON text, or a path to a YAML/JSON file.
    client : distributed.Client, optional
        Where to run; a LocalCluster sized to this machine by default.
    store : path, optional
        The store root; ``sweepfit.store`` from dask.config by default (``./sweepfit-runs``).

    Examples
    --------
    >>> info = run("examples/demo.yaml")  # doctest: +SKIP
    >>> info["elements"]["fit"]["summary"]["parameters"]  # doctest: +SKIP
    """
    spec, path, run_id, base = prepare(pipeline, store_root=store, base_dir=base_dir)
    graph = compile_pipeline(spec, path, run_id=run_id, base_dir=base)
    with _client(client) as active:
        future = active.compute(graph)
        with contextlib.suppress(Exception):
            future.result()  # failures are recorded in the store by the element that failed
    return status(run_id, store=path.parent.parent)


def submit(
    pipeline: Any,
    *,
    client: Client,
    store: str | Path | None = None,
    base_dir: str | Path | None = None,
) -> str:
    """Start a pipeline on ``client``'s cluster and return its run id at once.

    The graph keeps running on the scheduler after this process exits; status and results are
    written to the store by the workers.
    """
    spec, path, run_id, base = prepare(pipeline, store_root=store, base_dir=base_dir)
    future = client.compute(compile_pipeline(spec, path, run_id=run_id, base_dir=base))
    fire_and_forget(future)
    return run_id


def status(run_id: str, *, store: str | Path | None = None) -> dict[str, Any]:
    """A run's id, path, project, status and per-element status, summaries and errors."""
    path = stores.run_path(run_id, store)
    attrs = stores.read_attrs(path)
    keep = ("run_id", "project", "name", "status", "created", "updated", "finished", "error")
    return {**{k: attrs.get(k) for k in keep}, "path": str(path), "elements": attrs["elements"]}
