"""A pipeline through SLURMCluster on the private dev Slurm: every element and chunk runs in a Slurm job."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dask.config
import pytest
import yaml
from distributed import get_task_stream

import clusters
import orchestrator
from clusters import profiles
from orchestrator.evaluators import EVENTS

pytestmark = pytest.mark.slurm

D_N = "Negative particle diffusivity [m2.s-1]"


def _job_id() -> str | None:
    return os.environ.get("SLURM_JOB_ID")


def _pipeline(data: Path) -> dict:
    objectives = {"1C": {"objective": "CurrentDriven", "model": {"type": "SPM"}, "data": f"file:{data}"}}
    return {
        "project": "slurm-test",
        "elements": {
            "fit": {
                "element_type": "data_fit",
                "objectives": objectives,
                "parameters": {D_N: {"bounds": [1.0e-15, 1.0e-12], "transform": "log10"}},
                "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 4, "maxiter": 2,
                              "polish": False},
            },
            "check": {"element_type": "validation", "objectives": objectives},
        },
    }


@pytest.fixture
def devslurm(slurm_conf, tmp_path):
    """A profiles file for the dev Slurm (loopback interface, its `debug` partition), loaded into dask.config."""
    from elements.synthetic import synthetic_discharge

    data = tmp_path / "short.csv"
    synthetic_discharge(values={D_N: 3.3e-14}, model="SPM", current=5.0, duration=600.0).to_csv(data, index=False)
    (tmp_path / "logs").mkdir()
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump({"sweepfit": {"clusters": {"devslurm": {
        "type": "slurm", "cores": 1, "processes": 1, "memory": "2GB", "walltime": "00:10:00", "interface": "lo",
        "queue": "debug", "log-directory": str(tmp_path / "logs"), "jobs": 2, "python": sys.executable,
    }}}}))
    saved = copy.deepcopy(dask.config.config)
    profiles.load_file(path)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(_pipeline(data), sort_keys=False))
    yield path, pipeline
    dask.config.config.clear()
    dask.config.config.update(saved)
    _assert_no_jobs_left()


def _assert_no_jobs_left(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while left := subprocess.run(["squeue", "-h"], capture_output=True, text=True, check=True).stdout.strip():
        assert time.monotonic() < deadline, f"Slurm jobs left {timeout} s after the cluster closed:\n{left}"
        time.sleep(1)


def test_pipeline_tasks_run_inside_slurm_jobs(devslurm, tmp_path):
    _, pipeline = devslurm
    with clusters.connect("devslurm") as client:
        client.wait_for_workers(2, timeout=120)
        jobs = client.run(_job_id)  # worker address -> SLURM_JOB_ID
        with get_task_stream(client) as stream:
            info = orchestrator.run(pipeline, client=client, store=tmp_path / "store")
        calls = [event for _, event in client.get_events(EVENTS)]  # the fit's generations, on evaluators
    assert info["status"] == "completed", info
    assert len(jobs) == 2 and all(jobs.values()) and len(set(jobs.values())) == 2, jobs

    ran = {t["key"]: t["worker"] for t in stream.data}
    assert f"fit-{info['run_id']}" in ran and f"check-{info['run_id']}" in ran
    assert len({c["label"] for c in calls}) >= 3, calls  # the first population and 2 generations
    assert {jobs[w] for w in ran.values()} <= set(jobs.values())  # every task ran on a worker in a job
    assert {jobs[c["worker"]] for c in calls} == set(jobs.values())  # an evaluator in each job
    for name in ("fit", "check"):
        assert info["elements"][name]["worker"]["slurm_job_id"] in jobs.values()


def test_submit_to_slurm_keeps_running_after_the_submitter_exits(devslurm, tmp_path):
    profiles_file, pipeline = devslurm
    store = tmp_path / "store"
    bin_ = Path(sys.executable).parent
    done = subprocess.run(
        [bin_ / "sweepfit", "submit", str(pipeline), "--cluster", "devslurm", "--profiles", str(profiles_file),
         "--store", str(store)], capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    deadline = time.monotonic() + 300
    while True:
        info = json.loads(subprocess.run([bin_ / "sweepfit", "status", run_id, "--store", str(store), "--json"],
                                         capture_output=True, text=True, check=True).stdout)
        if info["status"] in ("completed", "failed", "canceled", "lost"):
            break
        assert time.monotonic() < deadline, info
        time.sleep(1)
    assert info["status"] == "completed", info
    assert all(e["worker"].get("slurm_job_id") for e in info["elements"].values()), info["elements"]
    # dask-jobqueue's scheduler, started by the driver, had sweepfit's pages in its dashboard
    assert info["pages"] == f"{info['dashboard'].rsplit('/', 1)[0]}/individual-sweepfit-progress?run={run_id}"
