"""Named cluster profiles: ``sweepfit.clusters.<name>`` in dask.config, plus an optional YAML file.

A profile is a mapping with a ``type`` — ``local``, ``address``, ``slurm`` or ``pbs`` — and that
type's options (see :data:`OPTIONS`). ``--cluster NAME`` picks one; ``--cluster tcp://host:8786``
needs no profile. Profiles come from sweepfit's defaults (``orchestrator/sweepfit.yaml``), from any
dask config file (``~/.config/dask/sweepfit.yaml``), or from a file given with ``--profiles``::

    sweepfit:
      clusters:
        hpc:
          type: slurm
          cores: 8
          memory: 16GB
          walltime: "02:00:00"
          queue: compute
          account: my-lab
          job-extra-directives: ["--constraint=cpu"]
          adapt: {minimum: 1, maximum: 20}
"""

from __future__ import annotations

import difflib
import inspect
from pathlib import Path
from typing import Any

import dask.config
import yaml

from orchestrator import config  # noqa: F401  (loads sweepfit's defaults into dask.config)

TYPES = ("local", "address", "slurm", "pbs")
ADDRESS_SCHEMES = ("tcp://", "tls://", "ucx://", "inproc://", "ws://", "wss://")

# sweepfit's own keys; jobqueue types also take every SLURMCluster/PBSCluster keyword (see _jobqueue_keys).
OPTIONS = {
    "local": {"type", "n-workers", "threads-per-worker", "dashboard-address"},
    "address": {"type", "address", "timeout", "tls"},
    "slurm": {"type", "jobs", "adapt", "timeout"},
    "pbs": {"type", "jobs", "adapt", "timeout"},
}
TLS_KEYS = ("ca-file", "cert", "key")


def load_file(path: str | Path) -> None:
    """Merge a profiles YAML file (``sweepfit: {clusters: {...}}``) into dask.config."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"profiles file {path} does not exist")
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict) or not isinstance(loaded.get("sweepfit", {}).get("clusters"), dict):
        raise ValueError(f"profiles file {path} must hold a mapping `sweepfit: {{clusters: {{NAME: {{type: ...}}}}}}`")
    dask.config.update(dask.config.config, loaded, priority="new")


def names() -> list[str]:
    return sorted(dask.config.get("sweepfit.clusters", {}) or {})


def is_address(cluster: str) -> bool:
    return cluster.startswith(ADDRESS_SCHEMES)


def resolve(cluster: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The profile for ``cluster`` (a name or an address), with ``overrides`` on top, checked.

    Keys may use dashes or underscores; the result uses dashes.

    Examples
    --------
    >>> resolve("tcp://127.0.0.1:8786")["type"]
    'address'
    >>> resolve("local", n_workers=2)["n-workers"]
    2
    """
    cluster = cluster or dask.config.get("sweepfit.cluster.default", "local")
    if is_address(cluster):
        profile: dict[str, Any] = {"type": "address", "address": cluster}
    else:
        profiles = dask.config.get("sweepfit.clusters", {}) or {}
        if cluster not in profiles:
            close = difflib.get_close_matches(cluster, list(profiles), n=2)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"unknown cluster {cluster!r}: give an address (tcp://host:8786, tls://host:8786) or a "
                f"profile name; profiles: {', '.join(map(repr, sorted(profiles)))}.{hint} Add profiles "
                "under `sweepfit.clusters` in ~/.config/dask/sweepfit.yaml or a file passed with --profiles."
            )
        profile = dict(profiles[cluster] or {})
        profile.setdefault("type", cluster if cluster in TYPES else None)
    overrides = {str(k).replace("_", "-"): v for k, v in overrides.items()}
    profile = {str(k).replace("_", "-"): v for k, v in profile.items()}
    for given, replaced in (("jobs", "adapt"), ("adapt", "jobs")):  # an override picks the sizing mode
        if given in overrides:
            profile.pop(replaced, None)
    profile = {k: v for k, v in {**profile, **overrides}.items() if v is not None}
    check(cluster, profile)
    return profile


def check(name: str, profile: dict[str, Any]) -> None:
    kind = profile.get("type")
    if kind not in TYPES:
        raise ValueError(
            f"cluster profile {name!r}: type must be one of {', '.join(map(repr, TYPES))}, got {kind!r}"
        )
    valid = OPTIONS[kind] | (_jobqueue_keys(kind) if kind in ("slurm", "pbs") else set())
    bad = sorted(set(profile) - valid)
    if bad:
        hints = [f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, valid, n=1)) else repr(k)
                 for k in bad]
        raise ValueError(
            f"cluster profile {name!r} (type {kind}): unknown key(s) {', '.join(hints)}; "
            f"valid keys: {', '.join(sorted(valid))}"
        )
    if kind == "address" and "address" not in profile:
        raise ValueError(f"cluster profile {name!r} (type address) needs `address: tcp://host:port`")
    tls = profile.get("tls") or {}
    if not isinstance(tls, dict) or set(tls) - set(TLS_KEYS):
        raise ValueError(f"cluster profile {name!r}: tls must be a mapping with keys {', '.join(TLS_KEYS)}")
    if "jobs" in profile and "adapt" in profile:
        raise ValueError(f"cluster profile {name!r}: give `jobs` (fixed size) or `adapt` (min/max), not both")
    adapt = profile.get("adapt")
    if adapt is not None and (not isinstance(adapt, dict) or set(adapt) - {"minimum", "maximum"}):
        raise ValueError(f"cluster profile {name!r}: adapt must be a mapping like {{minimum: 1, maximum: 10}}")


def _jobqueue_keys(kind: str) -> set[str]:
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
    return {k.replace("_", "-") for k in found - internal}
