"""Datasets of one structure, one per key, as one dataset on a ``key`` dimension, and each key's back.

An array fit's keys each give a fit dataset and traces. Written as zarr groups of their own, every
variable of every key is a zarr array of its own, and creating one costs ~5 ms of CPU in xarray and
zarr whatever its size: 30 pulses' fits (~570 arrays) took 3-4 s to write. Stacked, a variable is
one array for all keys. Dimensions whose length differs between keys (a fit's evaluations, a
pulse's samples) are padded (NaN, 0, False or ""), each key's length kept in ``<dim>_length``; an
index that differs between keys (each pulse's own times) becomes a coordinate on ``<dim>_index``;
attributes that differ become variables ``attrs.<name>``. :func:`unstack` returns any key's dataset
as it was, every number included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import xarray as xr

STACKED = "stacked_on"  # attribute: the dimension a stacked dataset's keys lie on
MOVED = "stacked_indexes"  # attribute: the indexes that differ between keys, now on <dim>_index
PADDED = "stacked_padded"  # attribute: the dimensions padded to the longest key's, lengths in <dim>_length
PER_KEY = "stacked_attrs"  # attribute: {name: "value" | "json"} of the attributes that differ between keys


def stackable(datasets: Sequence[xr.Dataset]) -> bool:
    """Whether every dataset has the same variables, each on the same dimensions."""
    shape = {name: v.dims for name, v in datasets[0].variables.items()}
    return all({name: v.dims for name, v in ds.variables.items()} == shape for ds in datasets[1:])


def stack(datasets: Sequence[xr.Dataset], keys: Sequence[Any], *, dim: str = "key") -> xr.Dataset:
    """``datasets`` (one per key, of one structure: :func:`stackable`) as one dataset on ``dim``.

    Examples
    --------
    >>> a = xr.Dataset({"v": ("time", [1.0, 2.0])}, coords={"time": [0.0, 1.0]}, attrs={"cost": 0.5})
    >>> b = xr.Dataset({"v": ("time", [3.0])}, coords={"time": [0.5]}, attrs={"cost": 0.1})
    >>> both = stack([a, b], [0.9, 0.8])
    >>> both["v"].values.tolist(), both["time_length"].values.tolist()
    ([[1.0, 2.0], [3.0, nan]], [2, 1])
    >>> unstack(both, 0.8).identical(b)
    True
    """
    if not stackable(datasets):
        raise ValueError("datasets to stack need the same variables on the same dimensions; keep them apart")
    first = datasets[0]
    moved = sorted({str(d) for ds in datasets for d in ds.indexes
                    if not all(d in other.indexes and other.indexes[d].equals(ds.indexes[d]) for other in datasets)})
    datasets = [ds.drop_indexes([d for d in moved if d in ds.indexes]).rename_dims(
        {d: f"{d}_index" for d in moved if d in ds.dims}) for ds in datasets]
    sizes = {d: [ds.sizes.get(d, 0) for ds in datasets] for d in datasets[0].dims}
    padded = sorted(str(d) for d, found in sizes.items() if len(set(found)) > 1)
    variables: dict[str, xr.Variable] = {}
    for name, v in datasets[0].variables.items():
        if name in first.indexes and name not in moved:
            variables[name] = v  # the same for every key: kept once
            continue
        dtype = object if v.dtype.kind in "US" else v.dtype  # fixed-width text would cut longer keys' text
        out = np.full((len(datasets), *(max(sizes[d]) for d in v.dims)), _fill(v.dtype), dtype=dtype)
        for i, ds in enumerate(datasets):
            out[(i, *(slice(0, n) for n in ds[name].shape))] = ds[name].values
        variables[name] = xr.Variable((dim, *v.dims), out, v.attrs)
    for d in padded:
        variables[f"{d}_length"] = xr.Variable(dim, np.array(sizes[d]), {"long_name": f"each key's {d} length"})
    attrs, per_key = _attrs([ds.attrs for ds in datasets])
    for name, (kind, found) in per_key.items():
        variables[f"attrs.{name}"] = xr.Variable(dim, found)
    coords = [n for n in first.coords if n in variables]
    stacked = xr.Dataset(variables).set_coords(coords).assign_coords({dim: np.asarray(keys)})
    kinds = {n: kind for n, (kind, _) in per_key.items()}
    stacked.attrs = {**attrs, STACKED: dim, MOVED: moved, PADDED: padded, PER_KEY: kinds}
    return stacked


def _fill(dtype: np.dtype) -> Any:
    """Padding past a key's end: NaN where the type has it, else 0, False or ""."""
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind == "b":
        return False
    if dtype.kind in "OUS":
        return ""
    if dtype.kind in "mM":
        return "NaT"
    return 0


def _attrs(found: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, tuple[str, np.ndarray]]]:
    """The attributes every key shares, and each other one's values per key: as they are where all
    are numbers, flags or text of one kind, else as JSON."""
    shared, per_key = {}, {}
    for name in dict.fromkeys(n for attrs in found for n in attrs):
        values = [attrs.get(name) for attrs in found]
        text = [json.dumps(v, sort_keys=True, default=str) for v in values]
        if len(set(text)) == 1 and all(name in attrs for attrs in found):
            shared[name] = values[0]
            continue
        kinds = {type(v) for v in values}
        if len(kinds) == 1 and kinds <= {int, float, bool, str, np.bool_, np.int64, np.float64}:
            per_key[name] = ("value", np.array(values, dtype=object if str in kinds else None))
        else:
            per_key[name] = ("json", np.array(text, dtype=object))
    return shared, per_key


def is_stacked(ds: xr.Dataset) -> bool:
    return STACKED in ds.attrs


def unstack(ds: xr.Dataset, key: Any) -> xr.Dataset:
    """One key's dataset from a stacked one (:func:`stack`), as it was before stacking."""
    dim = ds.attrs[STACKED]
    one = ds.sel({dim: key}).drop_vars(dim)
    for d in ds.attrs[PADDED]:
        one = one.isel({d: slice(0, int(one[f"{d}_length"]))}).drop_vars(f"{d}_length")
    one = one.swap_dims({f"{d}_index": d for d in ds.attrs[MOVED] if f"{d}_index" in one.dims})
    kinds = ds.attrs[PER_KEY]
    attrs = {k: v for k, v in ds.attrs.items() if k not in (STACKED, MOVED, PADDED, PER_KEY)}
    for name, kind in kinds.items():
        value = one[f"attrs.{name}"].values.item()
        if kind == "json":
            value = json.loads(value)
        if value is not None:
            attrs[name] = value
    one = one.drop_vars([f"attrs.{name}" for name in kinds])
    one.attrs = attrs
    return one


def each(ds: xr.Dataset) -> Iterator[tuple[Any, xr.Dataset]]:
    """Every key of a stacked dataset with its own dataset."""
    for key in ds[ds.attrs[STACKED]].values:
        yield key.item() if hasattr(key, "item") else key, unstack(ds, key)


__all__ = ["each", "is_stacked", "stack", "stackable", "unstack"]
