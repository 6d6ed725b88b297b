"""A LocalCluster on this machine: the embedded default (kind ``local``)."""

from __future__ import annotations

import os
from typing import Literal

import dask.config
from distributed import Client, LocalCluster
from pydantic import Field

from clusters.kinds import CLUSTER_KINDS, ClusterKind
from elements.core import config


def _message_logs() -> dict:
    """distributed's message logs as long as ``sweepfit.cluster.message-log-length`` says (or as they are)."""
    length = config.get("cluster.message-log-length")
    return {} if length is None else {"distributed.admin.low-level-log-length": int(length)}


def worker_config() -> dict:
    """This process's dask.config for the worker processes sweepfit starts: profiler and message logs
    per config, and sweepfit's worker preloads beside any the user has."""
    given = dask.config.get("distributed.worker.preload", None) or []
    preload = dict.fromkeys([*given, *(config.get("cluster.worker-preload") or [])])
    worker = {"profile": {"enabled": bool(config.get("cluster.worker-profile"))}, "preload": list(preload)}
    with dask.config.set(_message_logs()):
        return dask.config.merge(dask.config.config, {"distributed": {"worker": worker}})


def local_client(
    *, n_workers: int | None = None, threads_per_worker: int | None = None, dashboard_address: str | None = None
) -> Client:
    """A client on a new LocalCluster: one single-thread worker process per core by default.

    Processes, not threads, because each solve's Python post-processing is serial (measured on
    16 cores: 16 processes reached 1.5x one process running 16 IDAKLU threads).

    Examples
    --------
    >>> from clusters import closing
    >>> with closing(local_client(n_workers=2)) as client:  # doctest: +SKIP
    ...     print(client.dashboard_link)  # closing() also stops the cluster
    http://127.0.0.1:8787/status
    """
    n_workers = config.get("cluster.n-workers", n_workers) or os.cpu_count() or 1
    with dask.config.set(_message_logs()):  # the scheduler, and its connections to the workers, live here
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=config.get("cluster.threads-per-worker", threads_per_worker),
            processes=True,
            dashboard_address=config.get("cluster.dashboard-address", dashboard_address),
            config=worker_config(),
        )
    return Client(cluster)


@CLUSTER_KINDS.register("local")
class Local(ClusterKind):
    type: Literal["local"] = "local"
    n_workers: int | None = Field(None, ge=1)
    threads_per_worker: int | None = Field(None, ge=1)
    dashboard_address: str | None = None

    def client(self) -> Client:
        return local_client(n_workers=self.n_workers, threads_per_worker=self.threads_per_worker,
                            dashboard_address=self.dashboard_address)
