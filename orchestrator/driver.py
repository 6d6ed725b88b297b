"""Keep a submitted run going: a detached driver process for clusters that live in their process.

A LocalCluster, and dask-jobqueue's scheduler for Slurm/PBS, stop when the process that started
them exits. ``sweepfit submit --cluster local|slurm|pbs`` therefore starts this module as a new
session (``python -m orchestrator.driver RUN_PATH``): it runs the prepared run through the one
lifecycle (:func:`orchestrator.lifecycle.execute`), which starts the cluster, runs the graph and
closes the cluster (cancelling its batch jobs). Its output goes to ``<store>/runs/<run_id>.log``,
beside the run (not inside the zarr group, which zarr would flag).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from distributed import Client

from orchestrator import lifecycle
from orchestrator import store as stores


def spawn(path: Path, *, cluster: str | None, profiles: str | Path | None = None) -> int:
    """Start the driver for the prepared run at ``path``, detached from this process; its pid."""
    command = [sys.executable, "-m", "orchestrator.driver", str(path)]
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
    stores.write_run(path, driver={"pid": proc.pid, "host": socket.gethostname(), "log": str(log_path)})
    return proc.pid


def wait_registered(client: Client, key: str, timeout: float = 30.0) -> None:
    """Block until the scheduler holds ``key``, so closing the client right after cannot drop the graph."""
    deadline = time.monotonic() + timeout
    while not client.run_on_scheduler(_has_key, key=key):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the scheduler did not receive task {key!r} within {timeout} s")
        time.sleep(0.05)


def _has_key(dask_scheduler: Any, key: str) -> bool:
    return key in dask_scheduler.tasks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a prepared sweepfit run on a new cluster.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--cluster", default=None)
    parser.add_argument("--profiles", default=None)
    args = parser.parse_args(argv)
    if args.profiles:
        from clusters import profiles

        profiles.load_file(args.profiles)
    run = lifecycle.Prepared.open(args.path)

    def started(client: Client) -> None:
        print(f"run {run.run_id} on {client.scheduler.address}, dashboard {client.dashboard_link}", flush=True)

    try:
        info = lifecycle.execute(run, cluster=args.cluster, on_start=started)
    except lifecycle.Unrecorded as exc:  # a full disk: this log may still take the line
        print(f"run ended unrecorded: {exc}", flush=True)
        sys.exit(3)
    print(f"run finished: {info['status']}" + (f" ({info['error']})" if info.get("error") else ""), flush=True)


if __name__ == "__main__":
    main()
