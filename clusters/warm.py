"""A warm local cluster that outlives one run (kind ``warm``).

A first run on a new LocalCluster waits for it to start (~5 s on 2 cores) and for PyBaMM's import in
every worker (~3 s); later runs in the same process do not. ``sweepfit run`` is a new process each
time, so each paid both. ``sweepfit cluster up`` (:func:`start`) runs a LocalCluster in a process of its
own (a new session: closing the terminal does not stop it) and records it in
``<sweepfit.warm.folder>/warm-<host>.json``; ``sweepfit run`` and ``submit`` without ``--cluster`` find
it there (:func:`find`) and use it. It stops, closing its workers and removing its record, on
``sweepfit cluster down`` (:func:`stop`: SIGTERM, then SIGKILL to its process group if it hangs), or by
itself after ``sweepfit.warm.idle-timeout`` seconds with no task (the scheduler's idle timeout).

Its workers read dask config as it was when it started: a run's own settings (``DASK_SWEEPFIT__...``)
do not reach them, as on any running cluster.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Literal

import dask.config
import psutil
from distributed import Client

from clusters.kinds import CLUSTER_KINDS, ClusterKind
from clusters.local import local_client
from clusters.remote import reachable, remote_client
from elements.core import config
from elements.core.storage import read_json, write_json

MODULE = "clusters.warm"
# Not `python -m clusters.warm`: the package would import this module before running it again as __main__.
SERVE = f"from {MODULE} import main; main()"


def folder() -> Path:
    return Path(config.get("warm.folder")).expanduser()


def record_path() -> Path:
    """Where this machine's warm cluster is recorded (one per user and host, as the folder is per user)."""
    return folder() / f"warm-{socket.gethostname()}.json"


@dataclass(frozen=True)
class Record:
    """A warm cluster: where it listens, its process, and how it stops."""

    address: str
    dashboard: str | None
    pid: int
    workers: int
    idle_timeout: float | None
    log: str

    def describe(self) -> str:
        idle = f"stops after {self.idle_timeout:g} s idle" if self.idle_timeout else "never stops by itself"
        return (f"{self.address}, {self.workers} worker{'s' * (self.workers != 1)}, dashboard {self.dashboard}, "
                f"pid {self.pid}; {idle}")


def _ours(pid: int) -> bool:
    """Whether ``pid`` is a live warm-cluster process (not a zombie, not another process with its pid)."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and MODULE in " ".join(process.cmdline())
    except psutil.Error:
        return False


def _read() -> Record | None:
    found = read_json(record_path())
    return Record(**found) if found else None


def find() -> Record | None:
    """This machine's warm cluster when it is up and answering; a record its process outlived is removed."""
    try:
        record = _read()
    except (ValueError, TypeError):  # not a record we wrote
        return None
    if record is None:
        return None
    if not _ours(record.pid):
        record_path().unlink(missing_ok=True)
        return None
    return record if reachable(record.address) else None


def start(*, n_workers: int | None = None, idle_timeout: float | None = None) -> tuple[Record, bool]:
    """Start the warm cluster in the background and wait until it is up; (its record, whether it was
    already up). Raises RuntimeError with its log's last line when it does not start."""
    if (up := find()) is not None:
        return up, True
    timeout = float(config.get("warm.start-timeout"))
    idle = config.get("warm.idle-timeout", idle_timeout)
    command = [sys.executable, "-c", SERVE, "--idle-timeout", str(idle or 0), "--folder", str(folder())]
    if n_workers:
        command += ["--workers", str(n_workers)]
    log = record_path().with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=log.parent)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the warm cluster did not start (exit {proc.returncode}): {_last_line(log)}; "
                               f"its log is {log}")
        if (up := find()) is not None and up.pid == proc.pid:
            return up, False
        time.sleep(0.2)
    _end(proc.pid, 10.0)
    raise RuntimeError(f"the warm cluster did not start within {timeout:g} s (sweepfit.warm.start-timeout); "
                       f"its log is {log}")


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def stop(timeout: float = 30.0) -> Record | None:
    """Stop this machine's warm cluster (its workers with it) and remove its record; the record, or None
    when none was up."""
    try:
        record = _read()
    except (ValueError, TypeError):
        record = None
    if record is None:
        return None
    if _ours(record.pid):
        _end(record.pid, timeout)
    record_path().unlink(missing_ok=True)
    return record


def _end(pid: int, timeout: float) -> None:
    """SIGTERM ``pid`` (it closes its cluster), then SIGKILL its process group (its workers) if it hangs."""
    try:
        process = psutil.Process(pid)
        group = os.getpgid(pid)
        process.terminate()
        process.wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)  # a new session of its own: the group is the cluster's processes
        psutil.wait_procs([process], timeout=5)


def _imports(module: str) -> bool:
    importlib.import_module(module)  # waits on an import another thread has begun
    return True


def serve(*, n_workers: int | None, idle_timeout: float | None) -> None:
    """Run the warm cluster until SIGTERM/SIGINT or its scheduler closes after ``idle_timeout`` idle seconds."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    with dask.config.set({"distributed.scheduler.preload": list(config.get("warm.scheduler-preload") or [])}):
        client = local_client(n_workers=n_workers)
    cluster = client.cluster
    try:
        # Up means ready: the workers' preloads import PyBaMM in the background; wait for them.
        workers = list(client.scheduler_info()["workers"])
        client.gather([client.submit(_imports, "pybamm", workers=[w], pure=False) for w in workers])
        record = Record(address=client.scheduler.address, dashboard=client.dashboard_link, pid=os.getpid(),
                        workers=len(workers), idle_timeout=idle_timeout,
                        log=str(record_path().with_suffix(".log")))
        write_json(record_path(), asdict(record))
        print(f"warm cluster up: {record.describe()}", flush=True)
        while not stopping.wait(0.5):
            # The scheduler's own idle-timeout closes only the scheduler, and its orphaned workers then
            # retry for ~30 s: read its idle clock instead and close everything, workers first.
            since = cluster.scheduler.idle_since
            if idle_timeout and since and time.time() - since > idle_timeout:
                print(f"no task for {idle_timeout:g} s: stopping", flush=True)
                break
    finally:
        try:
            if (mine := _read()) is not None and mine.pid == os.getpid():
                record_path().unlink(missing_ok=True)
        finally:
            client.close()
            cluster.close()
    print("warm cluster stopped", flush=True)


@CLUSTER_KINDS.register("warm")
class Warm(ClusterKind):
    """The warm local cluster of ``sweepfit cluster up``, on this machine."""

    type: Literal["warm"] = "warm"
    outlives_process: ClassVar[bool] = True

    def client(self) -> Client:
        record = find()
        if record is None:
            raise ConnectionError("no warm cluster is up on this machine: start one with `sweepfit cluster up`, "
                                  "or leave out --cluster warm")
        return remote_client(record.address)


def main(argv: list[str] | None = None) -> None:
    """The warm cluster's process (see :func:`start`)."""
    parser = argparse.ArgumentParser(description="Serve sweepfit's warm local cluster (see `sweepfit cluster up`).")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--idle-timeout", type=float, default=0, help="seconds; 0: never")
    parser.add_argument("--folder", default=None, help="where to record it (default sweepfit.warm.folder)")
    args = parser.parse_args(argv)
    with dask.config.set({"sweepfit.warm.folder": args.folder or folder()}):
        serve(n_workers=args.workers, idle_timeout=args.idle_timeout or None)
