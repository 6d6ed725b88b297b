"""The one run lifecycle: every way a run can stop says why, progress is typed, inputs are keyed."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from elements.core.status import Progress, Status
from orchestrator import store as stores
from orchestrator.cli import app
from orchestrator.monitor import _layout, _runs
from tests.conftest import D_N, D_P, dask_processes, run_serially

BIN = Path(sys.executable).parent


def _fit(data: Path) -> dict:
    objectives = {"1C": {"objective": "CurrentDriven", "model": {"type": "SPM"}, "data": f"file:{data}"}}
    return {"project": "lifecycle", "elements": {"fit": {
        "element_type": "data_fit", "objectives": objectives,
        "parameters": {D_N: {"bounds": [1e-15, 1e-12], "transform": "log10"},
                       D_P: {"bounds": [1e-16, 1e-13], "transform": "log10"}},
        "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 10, "maxiter": 5000, "tol": 0}}}}


def _wait(what, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, message
        time.sleep(0.2)
    return found


def _only_run(store: Path) -> Path:
    return _wait(lambda: next(iter(sorted((store / "runs").glob("*.zarr"))), None) if (store / "runs").is_dir()
                 else None, 60, "no run was created")


@pytest.mark.slow
def test_killing_the_only_worker_ends_the_run_failed_with_the_reason(short_csv, tmp_path):
    with dask_processes(tmp_path, "--no-nanny", "--nthreads", "2") as (address, worker):
        (tmp_path / "fit.yaml").write_text(yaml.safe_dump(_fit(short_csv)))
        env = {**os.environ, "DASK_SWEEPFIT__RUN__NO_WORKERS_TIMEOUT": "10", "DASK_SWEEPFIT__RUN__STALLED_AFTER": "1"}
        run = subprocess.Popen([BIN / "sweepfit", "run", "fit.yaml", "--cluster", address, "--store", "store"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        path = _only_run(tmp_path / "store")
        _wait(lambda: (stores.read_attrs(path)["elements"]["fit"].get("progress") or {}).get("done", 0) >= 2, 120,
              "the fit never got going")
        worker.send_signal(signal.SIGKILL)
        killed, killed_at = time.monotonic(), dt.datetime.now(dt.timezone.utc)
        stalled = _wait(lambda: stores.read_attrs(path)["status"] == Status.STALLED, 30, "the run never read stalled")
        shown = CliRunner().invoke(app, ["status", path.stem, "--store", str(tmp_path / "store")]).output
        assert stalled and "stalled (no workers since" in shown, shown
        since = dt.datetime.fromisoformat(re.search(r"no workers since (\S+);", shown)[1])
        assert abs((since - killed_at).total_seconds()) < 3  # when the loss was seen, not when it was written
        out, err = run.communicate(timeout=90)
        assert time.monotonic() - killed < 30, "the run did not notice its workers were gone in time"
        assert run.returncode == 1, err
        info = stores.read_attrs(path)
        assert info["status"] == Status.FAILED
        assert "no workers for 10 s" in info["error"]
        assert info["elements"]["fit"]["status"] == Status.FAILED and "no workers" in info["elements"]["fit"]["error"]
        assert "no workers for 10 s" in err  # printed by sweepfit run, on one line


def test_a_scheduler_that_never_answers_ends_the_run_failed(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never speaks Dask
    address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
    spec = {"project": "lifecycle", "elements": {"start": {"element_type": "entry", "values": {"x": 1.0}}}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(spec))
    env = {**os.environ, "DASK_SWEEPFIT__CLUSTER__CONNECT_TIMEOUT": "3"}
    started = time.monotonic()
    done = subprocess.run([BIN / "sweepfit", "run", "p.yaml", "--cluster", address, "--store", "store"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    silent.close()
    assert time.monotonic() - started < 60
    assert done.returncode == 2
    assert f"no Dask scheduler answered at {address} within 3 s" in done.stderr
    info = stores.read_attrs(_only_run(tmp_path / "store"))
    assert info["status"] == Status.FAILED and info["error"].startswith("cluster did not start: ConnectionError")
    status = CliRunner().invoke(app, ["status", info["run_id"], "--store", str(tmp_path / "store")])
    assert "failed" in status.output and "no Dask scheduler answered" in status.output


@pytest.mark.slow
def test_a_real_sweeps_progress_shows_in_status_and_the_monitor(tmp_path):
    side = np.geomspace(1e-14, 1e-13, 24).tolist()
    spec = {"project": "lifecycle", "elements": {"grid": {
        "element_type": "sweep", "model": {"type": "SPM"}, "protocol": {"current": 5.0, "duration": 1800},
        "grid": {D_N: side, D_P: [v / 10 for v in side]}, "chunk_size": 4,
        "outputs": {"variables": ["Voltage [V]"], "time": {"stop": 1800, "step": 60}, "summaries": ["final_voltage"]}}}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec))
    store = tmp_path / "store"
    done = subprocess.run([BIN / "sweepfit", "submit", "sweep.yaml", "--store", str(store)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    path = stores.run_path(run_id, store)

    def midway() -> str | None:
        progress = stores.read_attrs(path)["elements"]["grid"].get("progress")
        if progress and 0 < progress["done"] < progress["total"]:
            return CliRunner().invoke(app, ["status", run_id, "--store", str(store)]).output
        return None

    shown = _wait(midway, 180, "no partial progress was ever recorded")
    found = re.search(r"grid: running {2}chunks (\d+)/(\d+)", shown)
    assert found and int(found[2]) == 144 and 0 < int(found[1]) <= 144, shown
    sources: dict = {}
    _layout(_runs(store, run_id), sources)  # the monitor page, built from the same records
    assert sources[f"done:{run_id}:grid"].data["total"] == [144]
    assert int(found[1]) <= sources[f"done:{run_id}:grid"].data["done"][0] <= 144
    _wait(lambda: Status(stores.read_attrs(path)["status"]).finished, 300, "the sweep did not finish")
    final = stores.read_attrs(path)
    assert final["status"] == Status.COMPLETED
    assert Progress.model_validate(final["elements"]["grid"]["progress"]).line() == "chunks 144/144"


def test_editing_a_profile_file_recomputes_the_sweep(tmp_path):
    drive = tmp_path / "drive.csv"
    pd.DataFrame({"Time [s]": [0.0, 300.0, 600.0], "Current [A]": [5.0, 5.0, 5.0]}).to_csv(drive, index=False)
    spec = {"project": "lifecycle", "elements": {"drive": {
        "element_type": "sweep", "model": {"type": "SPM"}, "protocol": {"profile": f"file:{drive}"},
        "grid": {D_N: [1e-14, 3e-14]}, "outputs": {"time": {"stop": 600, "step": 60}, "summaries": ["final_voltage"]}}}}
    first = run_serially(spec, tmp_path / "store")
    again = run_serially(spec, tmp_path / "store")
    assert again["elements"]["drive"].get("cached_from", {}).get("run_id") == first["run_id"]
    pd.DataFrame({"Time [s]": [0.0, 300.0, 600.0], "Current [A]": [5.0, 2.0, 2.0]}).to_csv(drive, index=False)
    edited = run_serially(spec, tmp_path / "store")
    assert "cached_from" not in edited["elements"]["drive"] and edited["elements"]["drive"]["solves"] > 0
    lineage = json.loads(CliRunner().invoke(app, ["lineage", edited["run_id"], "--store", str(tmp_path / "store"),
                                                  "--json"]).output)
    assert list(lineage["elements"]["drive"]["data"]) == [f"file:{drive}"]
    import orchestrator

    before = orchestrator.open_sweep(first["run_id"], "drive", store=tmp_path / "store").final_voltage.values
    after = orchestrator.open_sweep(edited["run_id"], "drive", store=tmp_path / "store").final_voltage.values
    assert np.all(after > before)  # a lighter drive after 300 s: the edited file is what was solved


def test_progress_is_written_off_the_element_thread_latest_first_and_all_before_close():
    import threading

    from orchestrator.worker import Latest

    written, release = [], threading.Event()

    def slow(value):
        release.wait(5)
        written.append(value)

    latest = Latest(slow)
    latest(1)  # the writer takes this one and blocks in it
    time.sleep(0.2)
    for value in (2, 3, 4):  # handed in while it writes: only the latest is kept
        latest(value)
    release.set()
    latest.close()
    assert written == [1, 4]
    assert not latest.thread.is_alive()
