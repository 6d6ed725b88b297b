"""Cluster kinds: each way to get a Dask client is a pydantic model of its options plus ``client()``.

A kind is registered in :data:`CLUSTER_KINDS` under the ``type`` a profile names (``local``,
``address``, ``slurm``, ``pbs``) by the module that defines it; other packages add kinds through
the ``sweepfit.cluster_kinds`` entry-point group. Profile keys use dashes (``n-workers``), as in
dask's own YAML; underscores work too.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import ClassVar

from distributed import Client
from pydantic import BaseModel, ConfigDict

from elements.core.registry import Registry


def dashed(name: str) -> str:
    return name.replace("_", "-")


def unknown_keys(bad: Iterable[str], valid: Iterable[str]) -> str:
    """``unknown key(s) 'walltme' (did you mean 'walltime'?); valid keys: ...``"""
    valid = sorted(valid)
    hints = [f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, valid, n=1)) else repr(k)
             for k in bad]
    return f"unknown key(s) {', '.join(hints)}; valid keys: {', '.join(valid)}"


class ClusterKind(BaseModel):
    """Options of one kind of cluster; :meth:`client` starts or connects to it."""

    model_config = ConfigDict(extra="forbid", alias_generator=dashed, populate_by_name=True)
    type: str
    # Whether work sent to it keeps running after the submitting process exits (a separate scheduler).
    outlives_process: ClassVar[bool] = False

    def client(self) -> Client:
        """A client on this cluster; a cluster it starts is ``client.cluster`` (closed by clusters.closing)."""
        raise NotImplementedError

    def profile(self) -> dict:
        """The options as given, dashed: what ``sweepfit.clusters.<name>`` would hold."""
        return {"type": self.type, **self.model_dump(by_alias=True, exclude_unset=True, exclude={"type"})}


CLUSTER_KINDS: Registry[type[ClusterKind]] = Registry("cluster kind")
