"""The results store: one zarr group per run under a store root, status in single-writer records.

Layout::

    <root>/runs/<run_id>.zarr           attrs (written once): spec, project, name, versions, lineage
        _run.json                       the run's record: scheduler, dashboard, driver, failure, resume
        _elements/<element>.json        each element's record: status, progress, summary, error
        _previews/<element>.json        a running fit's best traces, for the monitor
        _manifests/<element>.json       every file of the element's group with its size, written after them
        cancel-requested                present once `sweepfit cancel` asked the run to stop
        _progress/<element>/            a running fit's journal: each generation so far (elements.fit.journal)
        <element>/                      the element's datasets (+ child groups such as traces/<objective>)

Each record has one writer — the process that runs the run's lifecycle writes ``_run.json``, an
element's task writes its own ``_elements/<name>.json`` — and is replaced atomically, so no lock
and no read-modify-write of a shared document is needed (NFS and Lustre included). A run's status
is derived from its records when read, so any process that can read the store root (a laptop
polling a Slurm run) sees the same truth.

An element is complete only when its manifest is there and matches its group: the manifest is
written after its datasets and before its ``completed`` record, and every read checks it, so an
element whose files were deleted or cut short reads ``damaged`` (and the cache never reuses it).
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import xarray as xr
import zarr

from elements.fit import journal as fit_journal
from elements.core import config
from elements.core.status import Status
from elements.core.storage import consolidate, read_json, write_json
from elements.core.units import describe

_CANCEL_MARKER = "cancel-requested"
_RUN_RECORD = "_run.json"
_ELEMENT_RECORDS = "_elements"
_PREVIEWS = "_previews"
_MANIFESTS = "_manifests"


class DamagedWarning(UserWarning):
    """A run opened with damaged elements: their groups are left out."""


class StoreError(ValueError):
    """A store root that cannot hold runs: not a folder, not writable, or out of space."""


def root(store: str | Path | None = None) -> Path:
    """The store root: the argument, else ``sweepfit.store`` from dask.config."""
    return Path(config.get("store", store)).expanduser().resolve()


def writable_root(store: str | Path | None = None) -> Path:
    """The store root, checked to be a folder this process can write runs into (made if missing)."""
    path = root(store)
    fix = "give another folder with --store or DASK_SWEEPFIT__STORE"
    if path.exists() and not path.is_dir():
        raise StoreError(f"store root {path} is a file, not a folder; {fix}")
    try:
        (path / "runs").mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path / "runs", prefix=".probe-"):
            pass
    except OSError as exc:
        raise StoreError(f"store root {path} is not writable ({exc.strerror or exc}); {fix}") from None
    return path


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


def jsonable(value: Any) -> Any:
    """A JSON-safe copy: non-finite floats become None, numpy scalars and enums plain Python."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Status):
        return value.value
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def create_run(attrs: dict[str, Any], elements: dict[str, dict[str, Any]], store: str | Path | None = None) -> Path:
    """Create a run: its attributes, written once, and a pending record per element.

    It is made under a staging name and renamed into place, so readers (``status``, the monitor)
    never see half of one; a failure part way (a full disk) removes what was written: a run exists
    whole or not at all.
    """
    path = writable_root(store) / "runs" / f"{attrs['run_id']}.zarr"
    staging = path.with_suffix(".partial")
    try:
        group = zarr.open_group(staging, mode="w-")
        group.attrs.update(jsonable({**attrs, "created": now(), "element_names": list(elements)}))
        for name, record in elements.items():
            write_element(staging, name, status=Status.PENDING, **record)
        write_run(staging, status=Status.PENDING)
        staging.rename(path)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StoreError(f"could not create run {attrs['run_id']} in {path.parent} ({exc.strerror or exc}); "
                         "nothing was kept") from exc
    return path


def _record(path: Path, element: str | None) -> Path:
    return path / _RUN_RECORD if element is None else path / _ELEMENT_RECORDS / f"{element}.json"


def write_run(path: Path, **values: Any) -> None:
    """Merge values into the run's record (only the process running the run's lifecycle calls this)."""
    _merge(_record(path, None), values)


def read_run(path: Path) -> dict[str, Any]:
    """The run's own record (``{}`` before its lifecycle wrote one)."""
    return read_json(_record(path, None))


def write_element(path: Path, element: str, **values: Any) -> None:
    """Merge values into one element's record (only that element's task calls this while it runs)."""
    _merge(_record(path, element), values)


def read_element(path: Path, element: str) -> dict[str, Any]:
    """One element's record as written (``{}`` before its first write); :func:`read_attrs` derives more."""
    return read_json(_record(path, element))


def write_preview(path: Path, element: str, snapshot: dict[str, Any]) -> None:
    """Replace an element's preview (see :mod:`elements.preview`); its task is the only writer."""
    write_json(path / _PREVIEWS / f"{element}.json", snapshot)


def read_preview(path: Path, element: str) -> dict[str, Any]:
    """An element's latest preview, or ``{}``."""
    return read_json(path / _PREVIEWS / f"{element}.json")


def _merge(record: Path, values: dict[str, Any]) -> None:
    write_json(record, jsonable({**read_json(record), **values, "updated": now()}))


def read_attrs(path: Path) -> dict[str, Any]:
    """A run as one dict: its attributes, its record, each element's record, and the derived status."""
    attrs = dict(zarr.open_group(path, mode="r").attrs)
    record = read_json(_record(path, None))
    canceled = cancel_requested(path)
    elements = {name: read_json(_record(path, name)) or {"status": Status.PENDING.value}
                for name in attrs.get("element_names", [])}
    for name, element in elements.items():
        if element["status"] == Status.COMPLETED and (why := damaged(path, name)):
            element.update(status=Status.DAMAGED.value, damaged=why)
    if canceled:  # elements that never started will not: show them canceled without writing their records
        for element in elements.values():
            if element.get("status") == Status.PENDING:
                element["status"] = Status.CANCELED.value
    status = derive_status(record.get("status"), [e["status"] for e in elements.values()], canceled=canceled)
    if status == Status.RUNNING and record.get("stalled"):
        status = Status.STALLED
    times = [r.get("updated", "") for r in (record, *elements.values())]
    finished = record.get("finished") or max((e.get("finished") or "" for e in elements.values()), default="")
    return {**attrs, **record, "status": status.value, "elements": elements, "updated": max(times),
            "finished": finished if Status(status).finished and finished else None}


def derive_status(record: str | None, elements: list[str], *, canceled: bool) -> Status:
    """A run's status from its lifecycle record and its elements' statuses."""
    if record in (Status.FAILED, Status.LOST):
        return Status(record)  # the lifecycle saw the cluster or the graph fail, or lost its scheduler
    if canceled:
        return Status.CANCELED
    if Status.FAILED in elements:
        return Status.FAILED
    if Status.LOST in elements:
        return Status.LOST
    if Status.DAMAGED in elements and all(s in (Status.COMPLETED, Status.DAMAGED) for s in elements):
        return Status.DAMAGED
    if elements and all(s == Status.COMPLETED for s in elements):
        return Status.COMPLETED
    if Status.CANCELED in elements:
        return Status.CANCELED
    if record == Status.PENDING and all(s == Status.PENDING for s in elements):
        return Status.PENDING
    return Status.RUNNING


def write_datasets(path: Path, element: str, datasets: dict[str, xr.Dataset]) -> None:
    """Write an element's datasets ('' is the element's own group, others are child paths).

    Variables get a ``long_name`` and their ``units`` (:func:`elements.core.units.describe`), so
    plots label their axes.
    """
    spec = zarr.open_group(path, mode="r").attrs.get("spec", {}).get("elements", {}).get(element)
    for sub in sorted(datasets, key=len):
        group = f"{element}/{sub}" if sub else element
        described = describe(datasets[sub], spec=spec)
        _portable_strings(described).to_zarr(path, group=group, mode="w", consolidated=False)
    consolidate(path)
    # A fit's journal is there to resume it; once its datasets are written they hold all of it.
    shutil.rmtree(fit_journal.folder(path, element), ignore_errors=True)


def _files(path: Path, element: str) -> dict[str, int]:
    group = path / element
    return {f.relative_to(path).as_posix(): f.stat().st_size for f in sorted(group.rglob("*")) if f.is_file()}


def write_manifest(path: Path, element: str) -> None:
    """Record every file of an element's group with its size; written once they are all in place."""
    write_json(path / _MANIFESTS / f"{element}.json", {"files": _files(path, element), "written": now()})


def damaged(path: Path, element: str) -> str | None:
    """What is missing or changed in a completed element's group against its manifest, else None."""
    listed = read_json(path / _MANIFESTS / f"{element}.json").get("files")
    if listed is None:
        return "it has no manifest: its files were never all written, or the manifest was deleted"
    found = _files(path, element) if listed else {}
    missing = [name for name in listed if name not in found]
    changed = [name for name in listed if name in found and found[name] != listed[name]]
    problems = []
    for what, names in (("missing", missing), ("changed size", changed)):
        if names:
            more = f" and {len(names) - 1} more" if len(names) > 1 else ""
            problems.append(f"{len(names)} of its {len(listed)} files {what} ({names[0]}{more})")
    return "; ".join(problems) or None


def _portable_strings(ds: xr.Dataset) -> xr.Dataset:
    # Fixed-width numpy strings have no Zarr v3 spec; variable-length strings do.
    fixed = [name for name, v in ds.variables.items() if v.dtype.kind == "U"]
    return ds.assign({name: ds[name].astype(object) for name in fixed}) if fixed else ds


def request_cancel(path: Path) -> None:
    # A marker file of its own: no record's writer can overwrite it.
    (path / _CANCEL_MARKER).write_text(now())


def clear_cancel(path: Path) -> None:
    (path / _CANCEL_MARKER).unlink(missing_ok=True)


def cancel_requested(path: Path) -> bool:
    return (path / _CANCEL_MARKER).exists()


def list_runs(
    store: str | Path | None = None, *, project: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Every run under the store root (see :func:`read_attrs`), oldest first; optionally one project / status."""
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
    """A run as an xarray DataTree (lazy): ``open_run(run_id)["fit data"].best_x``.

    A damaged element's group is left out, with a :class:`DamagedWarning` saying what is missing:
    the run's consolidated metadata still lists its arrays, which would read as fill values.
    """
    path = run_path(run_id, store)
    tree = xr.open_datatree(path, engine="zarr")
    broken = {name: e["damaged"] for name, e in read_attrs(path)["elements"].items() if e["status"] == Status.DAMAGED}
    for name, why in broken.items():
        warnings.warn(f"element {name!r} of run {path.stem} is damaged and left out: {why}; run the pipeline "
                      "again to recompute it", DamagedWarning, stacklevel=2)
    return tree.drop_nodes([name for name in broken if name in tree.children])


def open_sweep(run: str | Path, element: str, *, store: str | Path | None = None) -> xr.Dataset:
    """A sweep's results, lazily, with every swept variable as a coordinate.

    ``xr.open_datatree`` shows the per-point values of ``points``/``random``/``latin_hypercube``
    sweeps as data variables when their names hold spaces (CF lists coordinates space-separated);
    this sets them back as coordinates.

    Examples
    --------
    >>> ds = open_sweep(run_id, "c-rate x temperature")  # doctest: +SKIP
    >>> ds["Voltage [V]"].sel(c_rate=2).plot.line(x="time")  # doctest: +SKIP
    """
    ds = xr.open_dataset(run_path(str(run), store), group=element, engine="zarr", consolidated=False)
    return ds.set_coords([n for n in ds.attrs.get("sweep_variables", []) if n in ds.data_vars])
