"""dask-jobqueue against the private dev Slurm: workers really run inside Slurm jobs."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slurm


def _job_id() -> str | None:
    return os.environ.get("SLURM_JOB_ID")


def test_slurmcluster_workers_run_in_jobs(slurm_conf, tmp_path):
    from dask.distributed import Client
    from dask_jobqueue import SLURMCluster

    cluster = SLURMCluster(
        cores=1,
        processes=1,
        memory="2GB",
        walltime="00:10:00",
        interface="lo",
        python=sys.executable,
        queue="debug",
        log_directory=str(tmp_path),  # keep slurm-*.out out of the working tree
    )
    try:
        cluster.scale(jobs=2)
        with Client(cluster) as client:
            client.wait_for_workers(2, timeout=120)
            ids = client.run(_job_id)
        assert len(ids) == 2
        assert all(ids.values()), ids
        assert len(set(ids.values())) == 2, ids
    finally:
        cluster.close()

    deadline = time.monotonic() + 60
    squeue = ["squeue", "-h"]
    while left := subprocess.run(squeue, capture_output=True, text=True, check=True).stdout.strip():
        if time.monotonic() > deadline:
            pytest.fail(f"jobs still queued 60 s after cluster.close():\n{left}")
        time.sleep(1)
