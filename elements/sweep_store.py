"""A sweep's arrays in the run's zarr group: allocated up front, one region per chunk task.

Every array is chunked in zarr exactly as the sweep is chunked into tasks, so each task writes
whole zarr chunks of its own and no two tasks ever touch the same file. A chunk is done once its
``solve_count`` is written (last, after its data); ``chunk_done`` mirrors it for readers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from elements.core.units import describe

STATUS_PENDING = "pending"


@dataclass(frozen=True)
class Layout:
    """The sweep's shape over its dimensions and the block of points one chunk task solves."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    block: tuple[int, ...]

    @property
    def blocks(self) -> tuple[int, ...]:
        return tuple(math.ceil(n / b) for n, b in zip(self.shape, self.block))

    @property
    def n_chunks(self) -> int:
        return math.prod(self.blocks)

    @property
    def n_points(self) -> int:
        return math.prod(self.shape)

    def region(self, chunk: int) -> tuple[slice, ...]:
        index = np.unravel_index(chunk, self.blocks)
        return tuple(slice(i * b, min((i + 1) * b, n)) for i, b, n in zip(index, self.block, self.shape))


def block_shape(shape: tuple[int, ...], size: int, order: list[int]) -> tuple[int, ...]:
    """A block of about ``size`` points, filling dimensions in ``order`` (whole ones first)."""
    block = [1] * len(shape)
    left = size
    for d in order:
        block[d] = max(1, min(shape[d], left))
        left //= block[d]
        if left <= 1:
            break
    return tuple(block)


def allocate(
    path: Path,
    group: str,
    *,
    layout: Layout,
    coords: dict[str, Any],
    series: list[str],
    series_dims: dict[str, np.ndarray],
    step_time: bool,
    summaries: dict[str, dict[str, str]],
    attrs: dict[str, Any],
) -> None:
    """Write the sweep's group: coordinates, status, done marks, and empty (NaN) result arrays."""
    import dask.array as da

    extra = tuple(len(v) for v in series_dims.values())
    block, shape, dims = layout.block, layout.shape, layout.dims

    def empty(tail: tuple[int, ...]) -> da.Array:
        return da.full(shape + tail, np.nan, chunks=block + tail)

    data: dict[str, Any] = {name: (dims + tuple(series_dims), empty(extra)) for name in series}
    if step_time:
        data["step_time"] = (dims + tuple(series_dims), empty(extra), {"units": "s"})
    for name, meta in summaries.items():
        data[name] = (dims, empty(()), meta)
    data["status"] = (dims, np.full(shape, STATUS_PENDING, dtype=object))
    data["message"] = (dims, np.full(shape, "", dtype=object))
    data["chunk_done"] = ("chunk", np.zeros(layout.n_chunks, dtype=bool))
    data["solve_count"] = ("chunk", np.zeros(layout.n_chunks, dtype=np.int32))
    # CF lists coordinates space-separated: names with spaces can only be data variables on disk
    # (sweep.open_sweep makes them coordinates again).
    spaced = {k: v for k, v in coords.items() if " " in k and k not in dims}
    data.update(spaced)
    coords = {k: v for k, v in coords.items() if k not in spaced}
    ds = describe(xr.Dataset(data, coords={**coords, **series_dims}, attrs=attrs))  # units, long names
    encoding = {name: {"chunks": block + extra} for name in series + (["step_time"] if step_time else [])}
    encoding.update({name: {"chunks": block} for name in [*summaries, "status", "message"]})
    encoding.update({name: {"chunks": (1,)} for name in ("chunk_done", "solve_count")})
    ds.to_zarr(path, group=group, mode="w", compute=False, consolidated=False, encoding=encoding)


def open_group(path: Path, group: str, mode: str = "r+") -> zarr.Group:
    return zarr.open_group(str(path), path=group, mode=mode, use_consolidated=False)


def existing(path: Path, group: str, token: str) -> Layout | None:
    """The layout of a sweep already allocated in this run with the same token, else None."""
    try:
        found = open_group(path, group, mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, KeyError):
        return None
    attrs = dict(found.attrs)
    if attrs.get("sweep_token") != token or "solve_count" not in found:
        return None
    return Layout(tuple(attrs["sweep_dims"]), tuple(attrs["sweep_shape"]), tuple(attrs["sweep_block"]))


def done(path: Path, group: str) -> np.ndarray:
    """Which chunks have their results written."""
    return np.asarray(open_group(path, group, mode="r")["solve_count"][:]) > 0


def resumed(path: Path, group: str) -> np.ndarray:
    """:func:`done`, for the task that takes a sweep over: a chunk whose task died between its done
    mark and the ``chunk_done`` mirror gets its mirror set, as that task would have."""
    found = open_group(path, group)
    marked = np.asarray(found["solve_count"][:]) > 0
    for chunk in np.flatnonzero(marked & ~np.asarray(found["chunk_done"][:], dtype=bool)):
        found["chunk_done"][int(chunk)] = True
    return marked


def write_chunk(
    path: Path, group: str, layout: Layout, chunk: int, arrays: dict[str, np.ndarray]
) -> None:
    """Write one chunk's region of every array, then mark the chunk done."""
    found = open_group(path, group)
    region = layout.region(chunk)
    for name, values in arrays.items():
        found[name][region] = values
    count = found["solve_count"]
    count[chunk] = int(count[chunk]) + 1  # the done mark: written last, after the data
    found["chunk_done"][chunk] = True
