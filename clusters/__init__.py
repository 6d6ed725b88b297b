"""Ways to get a Dask client: a LocalCluster, an existing scheduler, Slurm/PBS via dask-jobqueue, the
warm local cluster of ``sweepfit cluster up``, or any cluster kind a plugin registers (see :mod:`clusters.kinds`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from distributed import Client

from clusters import jobqueue, local, profiles, remote, warm  # noqa: F401 - modules register their kinds
from clusters.jobqueue import jobqueue_client
from clusters.kinds import CLUSTER_KINDS, ClusterKind
from clusters.local import local_client
from clusters.remote import remote_client

__all__ = ["CLUSTER_KINDS", "ClusterKind", "closing", "connect", "get_client", "jobqueue_client", "local_client",
           "outlives_process", "remote_client"]


def get_client(cluster: str | None = None, **overrides: Any) -> Client:
    """A client for ``cluster``: ``"local"`` (default), an address, ``"slurm"``, ``"pbs"`` or a profile name.

    ``overrides`` replace the profile's options (``n_workers=2``, ``jobs=4``, ``walltime="02:00:00"``).
    A cluster this call starts (local, slurm, pbs) is ``client.cluster``; :func:`connect` closes it.

    Examples
    --------
    >>> client = get_client("tcp://127.0.0.1:8786")  # doctest: +SKIP
    >>> client = get_client("slurm", cores=4, memory="8GB", jobs=2, queue="compute")  # doctest: +SKIP
    """
    return profiles.kind(cluster, **overrides).client()


@contextlib.contextmanager
def closing(client: Client) -> Iterator[Client]:
    """Close ``client`` and the cluster it started (if any) on exit."""
    try:
        yield client
    finally:
        started = client.cluster
        client.close()
        if started is not None:
            started.close()


def connect(cluster: str | None = None, **overrides: Any) -> contextlib.AbstractContextManager[Client]:
    """:func:`get_client` as a context manager that also closes any cluster it started.

    Examples
    --------
    >>> with connect("slurm", jobs=4) as client:  # doctest: +SKIP
    ...     orchestrator.run("pipeline.yaml", client=client)
    """
    return closing(get_client(cluster, **overrides))


def outlives_process(cluster: str | None = None) -> bool:
    """Whether work sent to ``cluster`` keeps running after this process exits (only a separate scheduler)."""
    return profiles.kind(cluster).outlives_process
