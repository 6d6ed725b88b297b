"""Named cluster profiles: ``sweepfit.clusters.<name>`` in dask.config, plus an optional YAML file.

A profile is a mapping with a ``type`` naming a cluster kind (``local``, ``address``, ``slurm``,
``pbs``, or one a plugin registers; see :mod:`clusters.kinds`) and that kind's options.
``--cluster NAME`` picks one; ``--cluster tcp://host:8786`` needs no profile. Profiles come from
sweepfit's defaults, from any dask config file (``~/.config/dask/sweepfit.yaml``), or from a file
given with ``--profiles``::

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

from pathlib import Path
from typing import Any

import dask.config
import yaml
from pydantic import ValidationError

from clusters.kinds import CLUSTER_KINDS, ClusterKind, unknown_keys
from clusters.remote import ADDRESS_SCHEMES
from elements.core import config  # noqa: F401  (loads sweepfit's defaults into dask.config)
from elements.core.registry import did_you_mean


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


def kind(cluster: str | None = None, **overrides: Any) -> ClusterKind:
    """The validated cluster kind for ``cluster`` (a profile name or an address), ``overrides`` on top.

    Examples
    --------
    >>> kind("tcp://127.0.0.1:8786").type
    'address'
    >>> kind("local", n_workers=2).n_workers
    2
    """
    cluster = cluster or dask.config.get("sweepfit.cluster.default", "local")
    if is_address(cluster):
        profile: dict[str, Any] = {"type": "address", "address": cluster}
    else:
        profiles = dask.config.get("sweepfit.clusters", {}) or {}
        if cluster not in profiles:
            hint = did_you_mean(cluster, profiles, n=2)
            raise ValueError(
                f"unknown cluster {cluster!r}: give an address (tcp://host:8786, tls://host:8786) or a "
                f"profile name; profiles: {', '.join(map(repr, sorted(profiles)))}.{hint} Add profiles "
                "under `sweepfit.clusters` in ~/.config/dask/sweepfit.yaml or a file passed with --profiles."
            )
        profile = dict(profiles[cluster] or {})
        profile.setdefault("type", cluster if cluster in CLUSTER_KINDS else None)
    overrides = {str(k).replace("_", "-"): v for k, v in overrides.items()}
    profile = {str(k).replace("_", "-"): v for k, v in profile.items()}
    for given, replaced in (("jobs", "adapt"), ("adapt", "jobs")):  # an override picks the sizing mode
        if given in overrides:
            profile.pop(replaced, None)
    profile = {k: v for k, v in {**profile, **overrides}.items() if v is not None}
    if profile.get("type") not in CLUSTER_KINDS:
        raise ValueError(f"cluster profile {cluster!r}: type must be one of "
                         f"{', '.join(map(repr, CLUSTER_KINDS))}, got {profile.get('type')!r}")
    cls = CLUSTER_KINDS[profile["type"]]
    try:
        return cls.model_validate(profile)
    except ValidationError as exc:
        raise ValueError(f"cluster profile {cluster!r} (type {profile['type']}): {_explain(exc, cls)}") from None


def resolve(cluster: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The checked profile for ``cluster`` as a dict with dashed keys (see :func:`kind`).

    Examples
    --------
    >>> resolve("local", n_workers=2)["n-workers"]
    2
    """
    return kind(cluster, **overrides).profile()


def _explain(exc: ValidationError, cls: type[ClusterKind]) -> str:
    """Pydantic's errors as one line each; unknown keys with the valid ones and a close match."""
    valid = sorted(f.alias or name for name, f in cls.model_fields.items() if name != "type")
    unknown = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden"]
    lines = [unknown_keys(unknown, valid)] if unknown else []
    for e in exc.errors():
        if e["type"] != "extra_forbidden":
            where = ".".join(map(str, e["loc"]))
            lines.append((f"{where}: " if where else "") + e["msg"].removeprefix("Value error, "))
    return "; ".join(lines)
