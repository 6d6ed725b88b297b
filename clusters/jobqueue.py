"""Slurm and PBS through dask-jobqueue: each batch job runs Dask workers; the scheduler runs here."""

from __future__ import annotations

import inspect
import shutil
from functools import lru_cache
from typing import Any, Literal

import dask.config
from distributed import Client
from pydantic import BaseModel, ConfigDict, Field, model_validator

from clusters.kinds import CLUSTER_KINDS, ClusterKind, unknown_keys
from elements.core import config

SUBMIT_COMMANDS = {"slurm": "sbatch", "pbs": "qsub"}
# Keys sweepfit handles itself rather than passing to SLURMCluster/PBSCluster.
_OWN = ("type", "jobs", "adapt", "timeout")


def jobqueue_cluster(kind: str, **options: Any) -> Any:
    """A started SLURMCluster or PBSCluster with ``jobs`` batch jobs (or adaptive between bounds).

    ``options`` are dask-jobqueue's keywords (``cores``, ``memory``, ``walltime``, ``queue``,
    ``account``, ``job_extra_directives``, ``interface``, ...), dashed or underscored, plus
    ``jobs: N`` (``cluster.scale(jobs=N)``) or ``adapt: {minimum, maximum}`` (in jobs). Options
    not given come from dask-jobqueue's own config (``jobqueue.slurm.*``), then 1 core / 2GB.

    Examples
    --------
    >>> cluster = jobqueue_cluster("slurm", cores=4, memory="8GB", walltime="01:00:00",
    ...                            queue="compute", account="my-lab", jobs=2)  # doctest: +SKIP
    """
    if kind not in SUBMIT_COMMANDS:
        raise ValueError(f"jobqueue kind must be one of {', '.join(map(repr, SUBMIT_COMMANDS))}, got {kind!r}")
    command = SUBMIT_COMMANDS[kind]
    if shutil.which(command) is None:
        raise FileNotFoundError(
            f"--cluster {kind} submits batch jobs with `{command}`, which is not on PATH. On a cluster's login "
            f"node, load its {kind.upper()} module first; to try HPC mode on this machine, start a private "
            "single-node Slurm with `clusters/dev/slurm-up.sh` (as root) and export the SLURM_CONF it prints."
        )
    from dask_jobqueue import PBSCluster, SLURMCluster

    opts = {k.replace("-", "_"): v for k, v in options.items()}
    jobs, adapt = opts.pop("jobs", None), opts.pop("adapt", None)
    for key in _OWN:
        opts.pop(key, None)
    opts.setdefault("cores", dask.config.get(f"jobqueue.{kind}.cores", None) or 1)
    opts.setdefault("memory", dask.config.get(f"jobqueue.{kind}.memory", None) or "2GB")
    scheduler_options = dict(dask.config.get(f"jobqueue.{kind}.scheduler-options", None) or {})
    scheduler_options.update(opts.pop("scheduler_options", None) or {})
    scheduler_options.setdefault("dashboard_address", config.get("cluster.dashboard-address"))
    if not config.get("cluster.worker-profile"):
        # Job workers read dask config from their environment (see sweepfit.cluster.worker-profile).
        prologue = list(opts.pop("job_script_prologue", None) or [])
        opts["job_script_prologue"] = [*prologue, "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False"]
    cls = {"slurm": SLURMCluster, "pbs": PBSCluster}[kind]
    cluster = cls(scheduler_options=scheduler_options, **opts)
    if adapt is not None:
        cluster.adapt(minimum_jobs=adapt.get("minimum", 0), maximum_jobs=adapt.get("maximum", 1))
    else:
        cluster.scale(jobs=1 if jobs is None else jobs)
    return cluster


def jobqueue_client(kind: str, **options: Any) -> Client:
    """A client on a new :func:`jobqueue_cluster`; waits up to ``timeout`` seconds for the first worker."""
    cluster = jobqueue_cluster(kind, **options)
    client = Client(cluster)
    timeout = options.get("timeout", config.get("cluster.jobqueue-wait"))
    if timeout:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError as exc:
            script = cluster.job_script()
            client.close()
            cluster.close()
            raise TimeoutError(
                f"no {kind} worker started within {timeout} s: check the jobs with "
                f"`{'squeue' if kind == 'slurm' else 'qstat'}` and the job logs; the job script was:\n{script}"
            ) from exc
    return client


class Adapt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minimum: int = Field(0, ge=0)
    maximum: int = Field(1, ge=1)


@lru_cache(maxsize=2)
def jobqueue_keys(kind: str) -> frozenset[str]:
    """Every keyword SLURMCluster / PBSCluster accepts, dashed (so new dask-jobqueue options just work)."""
    from dask_jobqueue import PBSCluster, SLURMCluster
    from dask_jobqueue.core import Job, JobQueueCluster

    cls = {"slurm": SLURMCluster, "pbs": PBSCluster}[kind]
    found: set[str] = set()
    for func in (cls.job_cls.__init__, Job.__init__, JobQueueCluster.__init__):
        found |= {p.name for p in inspect.signature(func).parameters.values()
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    internal = {"self", "scheduler", "name", "job_cls", "loop", "asynchronous", "config_name", "dashboard_address",
                "host", "scheduler_cls", "n_workers", "job_name", "extra", "job_extra", "env_extra", "project"}
    return frozenset(k.replace("_", "-") for k in found - internal)


class JobQueue(ClusterKind):
    """Slurm or PBS jobs of Dask workers: ``jobs: N`` or ``adapt: {minimum, maximum}``, plus every
    dask-jobqueue keyword (``cores``, ``memory``, ``walltime``, ``queue``, ``account``, ...)."""

    model_config = ConfigDict(extra="allow")
    jobs: int | None = Field(None, ge=0)
    adapt: Adapt | None = None
    timeout: float | None = Field(None, ge=0, description="seconds to wait for the first worker")

    @model_validator(mode="after")
    def _check(self) -> JobQueue:
        valid = jobqueue_keys(self.type)
        extra = {k.replace("_", "-") for k in self.model_extra or {}}
        bad = sorted(extra - valid)
        if bad:
            raise ValueError(unknown_keys(bad, valid | {"jobs", "adapt", "timeout"}))
        if self.jobs is not None and self.adapt is not None:
            raise ValueError("give `jobs` (fixed size) or `adapt` (min/max), not both")
        return self

    def client(self) -> Client:
        options = {k: v for k, v in self.model_dump(exclude={"type"}, exclude_none=True).items()}
        return jobqueue_client(self.type, **options)


@CLUSTER_KINDS.register("slurm")
class Slurm(JobQueue):
    type: Literal["slurm"] = "slurm"


@CLUSTER_KINDS.register("pbs")
class PBS(JobQueue):
    type: Literal["pbs"] = "pbs"
