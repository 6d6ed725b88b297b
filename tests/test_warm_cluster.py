"""The warm local cluster as a user drives it: real `sweepfit cluster up/down` and `sweepfit run`
processes (`down` and `status` in-process), its record in a private folder, and no process of it left
behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dask.config
import psutil
import pytest
import yaml
from typer.testing import CliRunner

from clusters import warm
from orchestrator.cli import app

ENTRY_ONLY = {"elements": {"start": {"element_type": "entry", "values": {"Ambient temperature [K]": 298.15}}}}
SWEEPFIT = str(Path(sys.executable).with_name("sweepfit"))


@pytest.fixture
def folder(tmp_path):
    """Where the warm cluster is recorded, for this process and the processes it starts (not ~/.cache)."""
    path = tmp_path / "warm"
    with dask.config.set({"sweepfit.warm.folder": str(path)}):
        yield path


def sweepfit(*args: str, cwd: Path, folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DASK_SWEEPFIT__WARM__FOLDER": str(folder)}
    return subprocess.run([SWEEPFIT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def family(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def test_up_then_runs_use_it_then_down_leaves_no_process(folder, tmp_path):
    import orchestrator

    (tmp_path / "entry.yaml").write_text(yaml.safe_dump(ENTRY_ONLY))
    up = sweepfit("cluster", "up", "--workers", "1", cwd=tmp_path, folder=folder)
    assert up.returncode == 0, up.stderr
    address = up.stdout.strip()
    record = warm.find()
    try:
        assert record is not None and record.address == address and record.workers == 1
        processes = family(record.pid)
        assert len(processes) >= 2  # the cluster's process and its worker's
        assert warm.start() == (record, True)  # up again: the one that is up

        done = sweepfit("run", "entry.yaml", "--store", "runs", "--json", cwd=tmp_path, folder=folder)
        assert done.returncode == 0, done.stderr
        assert f"cluster: the warm cluster at {address}" in done.stderr
        shown = orchestrator.get(json.loads(done.stdout)["run_id"], store=tmp_path / "runs")
        assert shown["scheduler"] == address and shown["cluster"] == "warm"
        assert all(p.is_running() for p in processes)  # the run closed its client, not the cluster
    finally:
        down = CliRunner().invoke(app, ["cluster", "down"])
    assert down.exit_code == 0 and f"warm cluster at {address} stopped" in down.output
    gone, alive = psutil.wait_procs(processes, timeout=10)
    assert not alive
    assert warm.find() is None and not warm.record_path().exists()


def test_idle_cluster_stops_itself_and_its_workers(folder):
    record, already = warm.start(n_workers=1, idle_timeout=3)
    assert not already
    processes = family(record.pid)
    gone, alive = psutil.wait_procs(processes, timeout=60)
    assert not alive, [p.cmdline() for p in alive]
    assert not warm.record_path().exists()
    assert "idle" in Path(record.log).read_text()


def test_stale_record_is_dropped_and_a_missing_cluster_is_one_line(folder, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder.mkdir()
    warm.record_path().write_text(json.dumps({"address": "tcp://127.0.0.1:9", "dashboard": None, "pid": dead.pid,
                                              "workers": 1, "idle_timeout": None, "log": "x"}))
    assert warm.find() is None
    assert not warm.record_path().exists()  # its process is gone: the record goes too

    (tmp_path / "entry.yaml").write_text(yaml.safe_dump(ENTRY_ONLY))
    cli = CliRunner()
    done = cli.invoke(app, ["run", str(tmp_path / "entry.yaml"), "--store", str(tmp_path / "runs"), "--cluster", "warm"])
    assert done.exit_code == 2
    assert "no warm cluster is up on this machine: start one with `sweepfit cluster up`" in done.output
    assert "Traceback" not in done.output
    status = cli.invoke(app, ["cluster", "status"])
    assert status.exit_code == 1 and "no warm cluster is up" in status.output
