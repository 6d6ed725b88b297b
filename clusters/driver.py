"""Keep a submitted run going: a detached driver process for clusters that live in their process.

A LocalCluster, and dask-jobqueue's scheduler for Slurm/PBS, stop when the process that started
them exits. ``sweepfit submit --cluster local|slurm|pbs`` therefore starts this module as a new
session (``python -m clusters.driver RUN_PATH``): it starts the cluster, runs the prepared run to
the end, closes the cluster (cancelling its batch jobs) and exits. Its output goes to
``<store>/runs/<run_id>.log``, beside the run (not inside the zarr group, which zarr would flag).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from distributed import Client

from orchestrator import store as stores



def spawn(path: Path, *, cluster: str | None, profiles: str | Path | None = None) -> int:
    """Start the driver for the prepared run at ``path``, detached from this process; its pid."""
    command = [sys.executable, "-m", "clusters.driver", str(path)]
    if cluster:
        command += ["--cluster", cluster]
    if profiles:
        command += ["--profiles", str(Path(profiles).resolve())]
    log_path = path.with_suffix(".log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=os.getcwd(),  # a new session: the driver survives a closed terminal
        )
    stores.update(path, driver={"pid": proc.pid, "host": socket.gethostname(), "log": str(log_path)})
    return proc.pid


def drive(path: Path, *, cluster: str | None = None) -> str:
    """Run the prepared run at ``path`` on a new ``cluster`` to the end; the run's final status."""
    import clusters
    from orchestrator.runner import start
    from orchestrator.spec import load_pipeline

    attrs = stores.read_attrs(path)
    try:
        pipeline = load_pipeline(attrs["spec"])
        with clusters.connect(cluster) as client:
            print(f"run {attrs['run_id']} on {client.scheduler.address}, dashboard {client.dashboard_link}", flush=True)
            future = start(client, pipeline, path, run_id=attrs["run_id"], base_dir=Path(attrs["base_dir"]))
            with contextlib.suppress(Exception):
                future.result()  # failures and cancels are recorded in the store by the element
    except Exception as exc:
        # The cluster never came up (no sbatch, no workers in time): say so in the run itself.
        if stores.read_attrs(path)["status"] not in stores.FINISHED:
            stores.update(path, status=stores.FAILED, finished=stores.now(), error=f"cluster: {type(exc).__name__}: {exc}")
        raise
    return stores.read_attrs(path)["status"]


def wait_registered(client: Client, key: str, timeout: float = 30.0) -> None:
    """Block until the scheduler holds ``key``, so closing the client right after cannot drop the graph."""
    deadline = time.monotonic() + timeout
    while not client.run_on_scheduler(_has_key, key=key):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the scheduler did not receive task {key!r} within {timeout} s")
        time.sleep(0.05)


def _has_key(dask_scheduler: Any, key: str) -> bool:
    return key in dask_scheduler.tasks


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # an exited child not yet reaped is a zombie


def lost(attrs: dict[str, Any]) -> str | None:
    """Why an unfinished run will never finish (its driver or scheduler is gone), else None."""
    from clusters.remote import reachable

    driver = attrs.get("driver")
    if driver and driver["host"] == socket.gethostname() and not pid_alive(driver["pid"]):
        return f"its driver process {driver['pid']} exited; see {driver['log']}"
    address = attrs.get("scheduler")
    if address and not reachable(address):
        return f"its scheduler {address} does not answer"
    return None


def cancel_tasks(attrs: dict[str, Any]) -> list[str]:
    """Cancel a run's tasks on its scheduler (when it answers); the keys canceled."""
    from clusters.remote import cancel_keys, reachable, remote_client

    address = attrs.get("scheduler")
    if not address or not reachable(address):
        return []
    cluster = attrs.get("cluster")
    try:
        import clusters

        # The run's own profile carries any TLS settings; the driver's in-process scheduler needs none.
        client = clusters.get_client(cluster) if cluster and clusters.outlives_process(cluster) else remote_client(address)
    except (ConnectionError, ValueError):
        return []
    with client:
        try:
            return client.run_on_scheduler(cancel_keys, run_id=attrs["run_id"])
        except Exception as exc:  # the cancel marker still stops the run at its next generation
            warnings.warn(f"could not cancel run {attrs['run_id']}'s tasks on {address}: {exc!r}", stacklevel=2)
            return []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a prepared sweepfit run on a new cluster.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--cluster", default=None)
    parser.add_argument("--profiles", default=None)
    args = parser.parse_args(argv)
    if args.profiles:
        from clusters import profiles

        profiles.load_file(args.profiles)
    status = drive(args.path, cluster=args.cluster)
    print(f"run finished: {status}", flush=True)


if __name__ == "__main__":
    main()
