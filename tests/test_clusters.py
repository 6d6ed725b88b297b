"""Getting a client: profiles, clear errors, and run status (lost, cancel, list) without a cluster."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import dask.config
import pytest
from typer.testing import CliRunner

import clusters
from clusters import profiles
from elements.core.status import Status, Summary
from orchestrator import runner
from orchestrator import store as stores
from orchestrator.cli import app
from orchestrator.liveness import pid_alive
from orchestrator.lifecycle import prepare
from orchestrator.monitor import free_port

ENTRY_ONLY = {
    "project": "p1",
    "name": "entry only",
    "elements": {
        "start": {"element_type": "entry", "values": {"Ambient temperature [K]": 298.15}},
        "again": {"element_type": "entry", "values": {"Ambient temperature [K]": 300.0}},
    },
}


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown cluster 'slurmm'.*'local', 'pbs', 'slurm'.*Did you mean 'slurm'"):
        profiles.resolve("slurmm")


def test_bad_profile_key_lists_valid_keys_and_suggests():
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'walltme' \(did you mean 'walltime'\?\); valid keys: .*account"):
        profiles.resolve("slurm", walltme="01:00:00")
    assert "jobs" not in profiles.resolve("slurm", adapt={"minimum": 1, "maximum": 4})  # an override picks the mode
    with dask.config.set({"sweepfit.clusters.both": {"type": "pbs", "jobs": 2, "adapt": {"maximum": 4}}}):
        with pytest.raises(ValueError, match=r"give `jobs` \(fixed size\) or `adapt` \(min/max\), not both"):
            profiles.resolve("both")
    with pytest.raises(ValueError, match="unknown key.*'cores'.*valid keys: dashboard-address, n-workers"):
        profiles.resolve("local", cores=4)


@pytest.fixture
def saved_config():
    saved = copy.deepcopy(dask.config.config)
    yield
    dask.config.config.clear()
    dask.config.config.update(saved)


def test_profiles_file_merges_into_dask_config(tmp_path, saved_config):
    path = tmp_path / "profiles.yaml"
    path.write_text(
        "sweepfit:\n  clusters:\n"
        "    hpc: {type: slurm, cores: 8, memory: 16GB, queue: compute, account: lab, "
        "job-extra-directives: ['--constraint=cpu'], adapt: {minimum: 1, maximum: 20}}\n"
        "    lab: {type: address, address: 'tls://lab:8786', tls: {ca-file: ca.pem, cert: me.pem, key: me.key}}\n"
        "    broken: {cores: 2}\n"
    )
    profiles.load_file(path)
    hpc = profiles.resolve("hpc", walltime="02:00:00")
    assert hpc == {"type": "slurm", "cores": 8, "memory": "16GB", "queue": "compute", "account": "lab",
                   "job-extra-directives": ["--constraint=cpu"], "adapt": {"minimum": 1, "maximum": 20},
                   "walltime": "02:00:00"}
    assert profiles.resolve("lab")["tls"]["ca-file"] == "ca.pem"
    assert "slurm" in profiles.names() and "hpc" in profiles.names()
    assert not clusters.outlives_process("hpc") and clusters.outlives_process("lab")
    with pytest.raises(ValueError, match="'broken': type must be one of .*, got None") as caught:
        profiles.resolve("broken")
    listed = re.search("one of (.*), got", str(caught.value)).group(1)  # in registration order
    assert sorted(listed.split(", ")) == ["'address'", "'local'", "'pbs'", "'slurm'", "'warm'"]
    with pytest.raises(FileNotFoundError, match="nowhere.yaml does not exist"):
        profiles.load_file(tmp_path / "nowhere.yaml")


def test_unreachable_address_says_which_and_how_to_start_one():
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError, match=rf"no Dask scheduler answered at {address} within 2(\.0)? s.*`dask scheduler --host 127.0.0.1"):
        clusters.get_client(address, timeout=2)


def test_missing_sbatch_points_at_slurm_up(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no sbatch, no qsub
    with pytest.raises(FileNotFoundError, match=r"`sbatch`, which is not on PATH.*clusters/dev/slurm-up.sh"):
        clusters.get_client("slurm")
    with pytest.raises(FileNotFoundError, match=r"`qsub`"):
        clusters.get_client("pbs")


def test_local_client_closes_its_cluster():
    with clusters.connect("local", n_workers=1) as client:
        assert len(client.scheduler_info()["workers"]) == 1
        cluster = client.cluster
        assert client.dashboard_link.startswith("http://127.0.0.1:")
    assert cluster.status.name == "closed"


def test_run_with_a_bad_cluster_fails_before_creating_a_run(tmp_path):
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps(ENTRY_ONLY))
    result = CliRunner().invoke(app, ["run", str(spec), "--store", str(tmp_path / "s"), "--cluster", "nope"])
    assert result.exit_code == 2
    assert "unknown cluster 'nope'" in result.output
    assert stores.list_runs(tmp_path / "s") == []


def test_cancel_without_a_scheduler_marks_everything_canceled(tmp_path):
    run = prepare(ENTRY_ONLY, store_root=tmp_path)
    path, run_id = run.path, run.run_id
    stores.write_manifest(path, "start")  # what a completed element writes before its record
    stores.write_element(path, "start", status=Status.COMPLETED, summary=Summary(values={"x": 1.0}))
    info = runner.cancel(run_id, store=tmp_path)
    assert info["status"] == "canceled"
    assert {n: e["status"] for n, e in info["elements"].items()} == {"start": "completed", "again": "canceled"}
    assert stores.cancel_requested(path)
    assert runner.cancel(run_id, store=tmp_path)["status"] == "canceled"  # idempotent


def test_status_reports_lost_when_the_scheduler_or_driver_is_gone(tmp_path):
    run = prepare(ENTRY_ONLY, store_root=tmp_path)
    stores.write_run(run.path, status=Status.RUNNING, scheduler=f"tcp://127.0.0.1:{free_port()}")
    info = runner.get(run.run_id, store=tmp_path)
    assert info["status"] == "lost" and "does not answer" in info["lost"]

    run = prepare(ENTRY_ONLY, store_root=tmp_path)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stores.write_run(run.path, driver={"pid": int(done.stdout), "host": os.uname().nodename, "log": "x.log"})
    assert runner.get(run.run_id, store=tmp_path)["status"] == "lost"
    stores.write_run(run.path, driver={"pid": os.getpid(), "host": os.uname().nodename, "log": "x.log"})
    assert runner.get(run.run_id, store=tmp_path)["status"] == "pending"


def test_list_filters_by_project_and_status(tmp_path):
    ids = [prepare({**ENTRY_ONLY, "project": p}, store_root=tmp_path).run_id for p in ("p1", "p2", "p1")]
    runner.cancel(ids[2], store=tmp_path)
    cli = CliRunner()
    listed = json.loads(cli.invoke(app, ["list", "--store", str(tmp_path), "--project", "p1", "--json"]).output)
    assert [r["run_id"] for r in listed] == [ids[0], ids[2]]
    listed = json.loads(cli.invoke(app, ["list", "--store", str(tmp_path), "--status", "canceled", "--json"]).output)
    assert [r["run_id"] for r in listed] == [ids[2]]
    table = cli.invoke(app, ["list", "--store", str(tmp_path)]).output
    assert ids[1] in table and "p2" in table
    status = json.loads(cli.invoke(app, ["status", ids[2], "--store", str(tmp_path), "--json"]).output)
    assert status["status"] == "canceled" and status["elements"]["start"]["status"] == "canceled"


def test_submit_to_local_runs_detached_and_finishes(tmp_path):
    """`submit --cluster local` starts a driver process that owns the LocalCluster."""
    run_id = runner.submit(ENTRY_ONLY, cluster="local", store=tmp_path)
    info = runner.get(run_id, store=tmp_path)
    assert info["status"] in ("pending", "running", "completed")
    deadline = time.monotonic() + 120
    while not Status((info := runner.get(run_id, store=tmp_path))["status"]).finished and info["status"] != "lost":
        assert time.monotonic() < deadline, info
        time.sleep(0.5)
    driver = stores.read_attrs(Path(info["path"]))["driver"]
    assert info["status"] == "completed", Path(driver["log"]).read_text()
    while pid_alive(driver["pid"]):  # the driver closes its cluster and exits once the run is over
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert "run finished: completed" in Path(driver["log"]).read_text()
    assert info["elements"]["again"]["worker"]["worker"].startswith("tcp://127.0.0.1:")
