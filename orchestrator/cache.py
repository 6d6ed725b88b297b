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
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from elements.core import config
from elements.core.status import Status
from elements.core.storage import FILE_MODE, consolidate, read_json
from orchestrator import store as stores
from orchestrator.liveness import lost

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


def damaged_copy(key: str | None, store: str | Path, *, exclude: Path | None = None) -> str | None:
    """Why the newest element with this key, when it is damaged, cannot be reused; else None."""
    for run in reversed(stores.list_runs(store)) if key else []:
        if exclude is not None and Path(run["path"]) == exclude.resolve():
            continue
        for name, entry in run.get("elements", {}).items():
            if entry.get("cache_key") == key and entry.get("status") == Status.DAMAGED:
                return f"run {run['run_id']} computed it (element {name!r}), but that copy is damaged: {entry['damaged']}"
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


def _claim_path(key: str, store: str | Path) -> Path:
    return Path(store) / "claims" / f"{key}.json"


def claim(key: str, store: str | Path, owner: dict[str, Any]) -> bool:
    """Take the right to compute ``key`` in this store; False when another run holds it.

    A claim is a file made with O_EXCL (atomic on local and NFS file systems), so of two
    identical runs started together exactly one computes and the other waits for it.
    """
    path = _claim_path(key, store)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as out:
        json.dump(owner, out)
    return True


def release(key: str, store: str | Path) -> None:
    _claim_path(key, store).unlink(missing_ok=True)


def release_held_by(run: Path, key: str) -> None:
    """Release ``key`` if ``run`` holds it: a resumed run's stopped attempt claimed it, and would
    otherwise be waited for as a twin that never finishes."""
    store = run.parent.parent
    holder = read_json(_claim_path(key, store))
    if holder.get("run") and Path(holder["run"]).resolve() == run.resolve():
        release(key, store)


def wait_for_twin(
    key: str, store: str | Path, owner: dict[str, Any], *, check: Callable[[], None], poll: float = 0.5,
    patience: float = 5.0,
) -> dict[str, Any] | None:
    """Claim ``key``, or wait while the run that holds it computes it.

    Returns the twin's finished element (as :func:`find` does) to load instead of computing, or
    None once this run holds the claim and must compute (and later :func:`release`) it. A claim
    whose holder failed, was canceled or has looked lost for ``patience`` seconds is taken over.
    """
    dead_since: float | None = None
    while not claim(key, store, owner):
        holder = read_json(_claim_path(key, store))
        state, attrs = _holder_state(holder)
        if state == Status.COMPLETED:
            entry = attrs["elements"][holder["element"]]
            return {"run_id": attrs["run_id"], "element": holder["element"], "path": Path(holder["run"]), "entry": entry}
        if state is None:
            dead_since = dead_since or time.monotonic()
            if time.monotonic() - dead_since > patience:
                release(key, store)  # the holder will never finish it: take over
                dead_since = None
                continue
        else:
            dead_since = None
        check()
        time.sleep(poll)
    # A holder releases its claim after it completes: look again before computing it a second time.
    hit = find(key, store, exclude=Path(owner["run"]))
    if hit is not None:
        release(key, store)
    return hit


def _holder_state(holder: dict[str, Any]) -> tuple[Status | None, dict[str, Any]]:
    """The holding element's status (and its run) while it is worth waiting for, else None."""
    if not holder:
        return Status.RUNNING, {}  # the claim is being written right now
    try:
        attrs = stores.read_attrs(Path(holder["run"]))
    except (FileNotFoundError, ValueError, KeyError):
        return None, {}
    status = Status(attrs["elements"].get(holder["element"], {}).get("status", Status.FAILED))
    if status == Status.COMPLETED:
        return status, attrs
    if status in (Status.PENDING, Status.RUNNING) and not Status(attrs["status"]).finished and not lost(attrs):
        return status, attrs
    return None, attrs
