"""Small file-system helpers every layer that writes the store uses."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import zarr

# mkstemp makes files 0600; a store shared by a group (a cluster file system) needs the user's umask.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def consolidate(path: Path) -> None:
    """Consolidate a zarr hierarchy's metadata, so xr.open_datatree opens it in one read."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        # A run keeps its status records (JSON files) beside its groups; zarr skips them, and says so.
        warnings.filterwarnings("ignore", message="Object at .* is not recognized as a component of a Zarr")
        zarr.consolidate_metadata(str(path))


@contextmanager
def replacing(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file to write ``path`` through, renamed into place when the block ends (removed if it
    fails), so that readers see the old or the new file, never half of one.

    A rename within one folder is atomic on local and network file systems (NFS, Lustre), so no
    lock is needed when each file has a single writer. The file gets the mode the user's umask gives.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode) as out:
            yield out
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as JSON, replacing ``path`` atomically (see :func:`replacing`)."""
    with replacing(path) as out:
        json.dump(value, out, allow_nan=False)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON record, or ``{}`` when it does not exist yet."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
