"""Element cache: a completed element is computed once per store and loaded by every later run.

An element's key hashes what its result depends on: its canonical spec, the key of the element
before it (which consumes everything upstream, so a changed element invalidates everything after
it and nothing before), the checksums of the data it reads, the solver settings that change
numbers, and the versions of the code that computes it. Keys live in each run's attributes
(``elements.<name>.cache_key``), so the store itself is the index: copying the store copies the cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from elements.core import config
from elements.core.status import Status
from elements.core.storage import consolidate
from orchestrator import store as stores

# Code whose version changes numbers. sweepfit's own version only moves on release: recompute edited
# code with force=True / --no-cache.
KEY_VERSIONS = ("sweepfit", "pybamm", "pybammsolvers")


def digest(value: Any) -> str:
    """sha256 of a JSON-able value in canonical form (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def element_keys(
    elements: dict[str, dict[str, Any]], data: dict[str, dict[str, str]], versions: dict[str, str]
) -> dict[str, str]:
    """The cache key of every element, in pipeline order.

    Parameters
    ----------
    elements : dict
        ``Pipeline.to_dict()["elements"]``: each element's canonical spec.
    data : dict
        ``{element: {source: sha256}}`` for the elements that read data.
    versions : dict
        Package versions (see ``orchestrator.lifecycle.versions``).

    Examples
    --------
    >>> keys = element_keys({"start": {"element_type": "entry", "values": {}}}, {}, {})
    >>> len(keys["start"])
    64
    """
    fixed = {name: versions.get(name) for name in KEY_VERSIONS}
    # Solver limits decide which candidates fail; threads and cache size only change speed.
    settings = {k: v for k, v in dict(config.get("solve")).items() if k not in ("threads", "cache-size")}
    keys: dict[str, str] = {}
    upstream = None
    for name, spec in elements.items():
        keys[name] = digest({
            "spec": spec, "upstream": upstream, "data": sorted(data.get(name, {}).items()),
            "versions": fixed, "settings": settings,
        })
        upstream = keys[name]
    return keys


def find(key: str | None, store: str | Path, *, exclude: Path | None = None) -> dict[str, Any] | None:
    """The newest completed element with this key anywhere in the store, or None.

    Returns ``{"run_id", "element", "path", "entry"}`` (``entry``: that element's status attributes).
    """
    if not key:
        return None
    for run in reversed(stores.list_runs(store)):
        path = Path(run["path"])
        if exclude is not None and path == exclude.resolve():
            continue
        for name, entry in run.get("elements", {}).items():
            if entry.get("cache_key") == key and entry.get("status") == Status.COMPLETED:
                return {"run_id": run["run_id"], "element": name, "path": path, "entry": entry}
    return None


def copy_element(hit: dict[str, Any], path: Path, name: str) -> None:
    """Copy a cached element's datasets (its zarr group, children included) into run ``path``."""
    source = hit["path"] / hit["element"]
    target = path / name
    if target.exists():
        shutil.rmtree(target)  # left by an attempt that died mid-write
    if source.is_dir():
        shutil.copytree(source, target)
        consolidate(path)
