"""The results store: one zarr group per run under a store root, status in the run's attributes.

Layout::

    <root>/runs/<run_id>.zarr     attrs: spec, status, timestamps, versions, lineage, elements
        <element>/                the element's dataset (+ child groups such as traces/<objective>)

Status and progress live in the run's root attributes, so any process that can read the store
root (a laptop polling a Slurm run) sees the same truth.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import xarray as xr
import zarr

from orchestrator import config

PENDING, RUNNING, COMPLETED, FAILED, CANCELED = "pending", "running", "completed", "failed", "canceled"
FINISHED = (COMPLETED, FAILED, CANCELED)
_CANCEL_MARKER = "cancel-requested"


def root(store: str | Path | None = None) -> Path:
    """The store root: the argument, else ``sweepfit.store`` from dask.config."""
    return Path(config.get("store", store)).expanduser().resolve()


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def run_path(run_id: str, store: str | Path | None = None) -> Path:
    """Where a run lives; accepts a run id, a unique id prefix, or a path to a run."""
    if Path(run_id).suffix == ".zarr" and Path(run_id).is_dir():
        return Path(run_id).resolve()
    runs = root(store) / "runs"
    exact = runs / f"{run_id}.zarr"
    if exact.is_dir():
        return exact
    matches = sorted(runs.glob(f"{run_id}*.zarr")) if runs.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(f"run id {run_id!r} is ambiguous in {runs}: {[m.stem for m in matches]}")
    raise ValueError(f"no run {run_id!r} in {runs}; `sweepfit list --store {root(store)}` shows the runs there")


def create_run(attrs: dict[str, Any], element_names: list[str], store: str | Path | None = None) -> Path:
    path = root(store) / "runs" / f"{attrs['run_id']}.zarr"
    path.parent.mkdir(parents=True, exist_ok=True)
    group = zarr.open_group(path, mode="w-")
    elements = {name: {"status": PENDING} for name in element_names}
    group.attrs.update({**attrs, "status": PENDING, "created": now(), "updated": now(), "elements": elements})
    return path


def read_attrs(path: Path) -> dict[str, Any]:
    return dict(zarr.open_group(path, mode="r").attrs)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Workers, drivers and `sweepfit cancel` update one run's attrs concurrently; without a lock a
    # read-modify-write can undo another's status (an element's "canceled" lost to a stale "running").
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update(path: Path, *, element: str | None = None, **values: Any) -> None:
    """Merge values into the run's attrs, or into one element's entry when ``element`` is given."""
    with _locked(path):
        group = zarr.open_group(path, mode="r+")
        attrs = dict(group.attrs)
        if element is None:
            attrs.update(values)
        else:
            attrs["elements"] = {**attrs["elements"], element: {**attrs["elements"][element], **values}}
        attrs["updated"] = now()
        group.attrs.put(attrs)


def write_datasets(path: Path, element: str, datasets: dict[str, xr.Dataset]) -> None:
    """Write an element's datasets ('' is the element's own group, others are child paths)."""
    for sub in sorted(datasets, key=len):
        group = f"{element}/{sub}" if sub else element
        _portable_strings(datasets[sub]).to_zarr(path, group=group, mode="w", consolidated=False)
    consolidate(path)


def _portable_strings(ds: xr.Dataset) -> xr.Dataset:
    # Fixed-width numpy strings have no Zarr v3 spec; variable-length strings do.
    fixed = [name for name, v in ds.variables.items() if v.dtype.kind == "U"]
    return ds.assign({name: ds[name].astype(object) for name in fixed}) if fixed else ds


def consolidate(path: Path) -> None:
    # Consolidated metadata lets xr.open_datatree open a run in one read and without warnings.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(str(path))


def request_cancel(path: Path) -> None:
    # A marker file instead of an attribute: the run's own status writes cannot overwrite it.
    (path / _CANCEL_MARKER).write_text(now())


def clear_cancel(path: Path) -> None:
    (path / _CANCEL_MARKER).unlink(missing_ok=True)


def cancel_requested(path: Path) -> bool:
    return (path / _CANCEL_MARKER).exists()


def list_runs(
    store: str | Path | None = None, *, project: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Every run's attributes under the store root, oldest first; optionally one project / status."""
    runs = root(store) / "runs"
    found = []
    for path in sorted(runs.glob("*.zarr")) if runs.is_dir() else []:
        try:
            attrs = read_attrs(path)
        except (FileNotFoundError, ValueError, KeyError):
            continue  # a run being created right now
        if (project is None or attrs.get("project") == project) and (status is None or attrs.get("status") == status):
            found.append({**attrs, "path": str(path)})
    return sorted(found, key=lambda r: r.get("created", ""))  # ids made within one second sort randomly


def open_run(run_id: str, store: str | Path | None = None) -> xr.DataTree:
    """A run as an xarray DataTree (lazy): ``open_run(run_id)["fit data"].best_x``."""
    return xr.open_datatree(run_path(run_id, store), engine="zarr")
