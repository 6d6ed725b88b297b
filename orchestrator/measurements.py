"""The measurement store: measured data imported once, addressed by content as ``db:<id>``.

Layout::

    <store root>/data/<sha256>.zarr    the normalised frame as an xarray Dataset (one variable per
                                       column on dimension ``row``); attrs: id, name, source,
                                       source_sha256, options, columns, rows, created

The id is the sha256 of the *normalised* frame (PyBaMM column names, time from 0, current positive
on discharge), so the same measurement added twice, even from differently laid-out files, is stored
once. Pipelines read it with ``"data": "db:<id prefix or name>"``.
"""

from __future__ import annotations

import contextlib
import difflib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from elements.core.data import (
    TIME_SERIES, DataError, DataOptions, Measurement, dataframe_sha256, load_measurements, normalise, store_of,
)
from orchestrator import store as stores

SHOWN = 12  # id characters shown in listings; any unique prefix of 8 or more is accepted
MIN_PREFIX = 8
# Options that shaped the frame when it was added; filters that still make sense on it may be given again.
_ADD_ONLY = ("columns", "sep", "cycler", "current", "current_sign")

def data_dir(store: str | Path | None = None) -> Path:
    """``<store root>/data``: the given store's, else ``sweepfit.store``'s."""
    return stores.root(store) / "data"


def add(
    source: str | Path | pd.DataFrame,
    *,
    name: str | None = None,
    store: str | Path | None = None,
    **options: Any,
) -> str:
    """Import a measurement into the store and return its id (the sha256 of its normalised frame).

    Adding the same content again returns the same id and writes nothing.

    Parameters
    ----------
    source : path or pandas.DataFrame
        A CSV/parquet file (or a DataFrame) with time, voltage and current.
    name : str, optional
        A label for listings; the file name without suffix by default.
    **options
        :class:`orchestrator.data.DataOptions` fields: ``column_map``, ``current_sign``, ``steps``,
        ``columns``, ``sep``, ``cycler``, ``current``, ``time_range``.

    Examples
    --------
    >>> id_ = add("cell_1C.csv", column_map={"U": "Voltage [V]"})  # doctest: +SKIP
    >>> pipeline["elements"]["fit"]["objectives"]["1C"]["data"] = f"db:{id_[:12]}"  # doctest: +SKIP
    """
    return add_new(source, name=name, store=store, **options)[0]


def add_new(
    source: str | Path | pd.DataFrame, *, name: str | None = None, store: str | Path | None = None, **options: Any
) -> tuple[str, bool]:
    """:func:`add`, also saying whether anything was written (False: the content was already stored)."""
    if isinstance(source, pd.DataFrame):
        origin, raw_sha, label = "dataframe", dataframe_sha256(source), name or "dataframe"
        frame = _prepared_frame(source, options)
    else:
        path = Path(source).expanduser().resolve()
        [m] = load_measurements(DataOptions(source=f"file:{path.name}", **options), base_dir=path.parent)
        origin, raw_sha, label, frame = str(path), m.sha256, name or path.stem, m.frame
    frame = _text_as_str(frame)
    id_ = dataframe_sha256(frame)
    target = data_dir(store) / f"{id_}.zarr"
    if target.is_dir():
        return id_, False
    ds = to_dataset(frame)
    ds.attrs.update({
        "id": id_, "name": label, "source": origin, "source_sha256": raw_sha,
        "options": DataOptions(source="-", **options).model_dump(mode="json", exclude={"source"}),
        "columns": list(frame.columns), "rows": len(frame), "created": stores.now(),
    })
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename: a concurrent add of the same content never sees half a copy.
    staging = Path(tempfile.mkdtemp(prefix=f".{id_[:12]}-", dir=target.parent)) / "m.zarr"
    ds.to_zarr(staging, mode="w", consolidated=False)
    try:
        staging.rename(target)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)
    return id_, True


def _prepared_frame(frame: pd.DataFrame, options: dict[str, Any]) -> pd.DataFrame:
    return normalise(frame, DataOptions(source="dataframe", **options), "dataframe")


def _text_as_str(frame: pd.DataFrame) -> pd.DataFrame:
    # Non-numeric columns are kept as text (missing values as ""), the one form zarr stores exactly.
    text = [c for c in frame.columns if frame[c].dtype.kind not in "biuf"]
    return frame.assign(**{c: frame[c].fillna("").astype(str) for c in text}) if text else frame


def to_dataset(frame: pd.DataFrame) -> xr.Dataset:
    """One variable per column on dimension ``row``; text columns as variable-length strings."""
    return xr.Dataset({
        column: ("row", values.astype(object) if values.dtype.kind in "OUS" else values)
        for column, values in ((c, frame[c].to_numpy()) for c in frame.columns)
    })


def entries(store: str | Path | None = None) -> list[dict[str, Any]]:
    """Every stored measurement's attributes, oldest first."""
    folder = data_dir(store)
    found = []
    for path in sorted(folder.glob("*.zarr")) if folder.is_dir() else []:
        found.append({**zarr.open_group(path, mode="r").attrs, "path": str(path)})
    return sorted(found, key=lambda e: e.get("created", ""))


def resolve(ref: str, store: str | Path | None = None) -> Path:
    """The stored measurement an id, unique id prefix (8+ characters) or unique name refers to."""
    folder = data_dir(store)
    ref = ref.strip()
    exact = folder / f"{ref}.zarr"
    if ref and exact.is_dir():
        return exact
    known = entries(store)
    by_prefix = [e for e in known if len(ref) >= MIN_PREFIX and e["id"].startswith(ref.lower())]
    by_name = [e for e in known if e.get("name") == ref]
    matches = by_prefix or by_name
    if len(matches) == 1:
        return Path(matches[0]["path"])
    if matches:
        listed = ", ".join(f"{e['id'][:SHOWN]} ({e['name']})" for e in matches)
        raise DataError(f"db:{ref} is ambiguous in {folder}: it matches {listed}; give more of the id")
    raise DataError(_unknown_message(ref, known, folder))


def _unknown_message(ref: str, known: list[dict[str, Any]], folder: Path) -> str:
    if not known:
        return (f"db:{ref}: the measurement store {folder} is empty; add data with "
                f"`sweepfit data add FILE --store {folder.parent}`")
    labels = {e["id"][:SHOWN]: e for e in known} | {e["name"]: e for e in known}
    close = difflib.get_close_matches(ref[:SHOWN] if len(ref) > SHOWN else ref, list(labels), n=5, cutoff=0.5)
    close += [e["id"][:SHOWN] for e in known if ref and e["id"].startswith(ref.lower()) and len(ref) < MIN_PREFIX]
    hint = "close matches: " + ", ".join(
        f"{labels[c]['id'][:SHOWN]} ({labels[c]['name']})" if c in labels else c for c in dict.fromkeys(close)
    ) if close else f"{len(known)} stored; `sweepfit data list --store {folder.parent}` shows them"
    short = f" (ids need at least {MIN_PREFIX} characters)" if 0 < len(ref) < MIN_PREFIX else ""
    return f"db:{ref}: no such measurement in {folder}{short}; {hint}"


def load(ref: str, store: str | Path | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A stored measurement's frame and attributes; the content is checked against its id."""
    path = resolve(ref, store)
    with xr.open_zarr(path, consolidated=False) as ds:
        attrs = dict(ds.attrs)
        frame = pd.DataFrame({c: _plain(ds[c].values) for c in attrs["columns"]})
    if dataframe_sha256(frame) != attrs["id"]:
        raise DataError(f"db:{attrs['id'][:SHOWN]}: stored content no longer matches its checksum "
                        f"({path}); the copy is damaged, add the file again")
    return frame, attrs


def _plain(values: np.ndarray) -> np.ndarray:
    return values.astype(str).astype(object) if values.dtype.kind in "OUS" else values


def load_db(target: str, options: DataOptions, base_dir: Path, required: tuple[str, ...] = TIME_SERIES) -> list[Measurement]:
    """The ``db:`` data source (declared as a ``sweepfit.data_sources`` entry point)."""
    given = [k for k in _ADD_ONLY if k in options.model_fields_set]
    if given:
        raise DataError(f"db:{target}: {given} shaped the data when it was added and cannot be given "
                        f"again; only column_map and the filters (steps, time_range, voltage_range, drop_rests, "
                        f"resample) apply to stored data")
    frame, attrs = load(target, store_of(options))  # the run's store, carried by the source
    source = f"db:{attrs['id']}"
    if options.model_fields_set & {"column_map", "steps", "time_range", "voltage_range", "drop_rests", "rest_current",
                                   "resample"}:
        frame = normalise(frame, options.model_copy(update={"current_sign": "positive_discharge"}), source, required)
    return [Measurement(attrs["name"], source, frame, attrs["id"])]
