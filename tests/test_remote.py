"""A separate `dask scheduler` + `dask worker` on loopback: submit, let the submitter exit, poll, cancel."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from distributed import Client

from tests.conftest import dask_processes

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
D_N = "Negative particle diffusivity [m2.s-1]"
D_P = "Positive particle diffusivity [m2.s-1]"


def _pipeline(data: Path, *, maxiter: int, popsize: int, params: tuple[str, ...]) -> dict:
    bounds = {D_N: [1.0e-15, 1.0e-12], D_P: [1.0e-16, 1.0e-13]}
    objectives = {"1C": {"objective": "CurrentDriven", "model": {"type": "SPM"}, "data": f"file:{data}"}}
    return {
        "project": "remote-test",
        "elements": {
            "start": {"element_type": "entry", "values": {"Ambient temperature [K]": 298.15}},
            "fit": {
                "element_type": "data_fit",
                "objectives": objectives,
                "parameters": {p: {"bounds": bounds[p], "transform": "log10"} for p in params},
                "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": popsize,
                              "maxiter": maxiter, "tol": 0, "polish": False},
            },
            "check": {"element_type": "validation", "objectives": objectives},
        },
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from elements.synthetic import synthetic_discharge

    path = tmp_path_factory.mktemp("data") / "short.csv"
    synthetic_discharge(values={D_N: 3.3e-14, D_P: 4e-15}, model="SPM", current=5.0, duration=600.0).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """`dask scheduler` and `dask worker` (2 one-thread processes) as separate processes on 127.0.0.1."""
    with dask_processes(tmp_path_factory.mktemp("dask"), "--nworkers", "2", "--nthreads", "1", workers=2) as (address, _):
        yield address


def sweepfit(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([BIN / "sweepfit", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, f"sweepfit {' '.join(args)}: rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def status(run_id: str, store: Path) -> dict:
    return json.loads(sweepfit("status", run_id, "--store", str(store), "--json").stdout)


def submit(spec: dict, tmp_path: Path, address: str) -> str:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    done = sweepfit("submit", str(path), "--cluster", address, "--store", str(tmp_path / "store"))
    run_id = done.stdout.strip()  # the run id alone on stdout; links go to stderr
    assert run_id and "\n" not in run_id, done.stdout
    assert "dashboard: http://127.0.0.1:" in done.stderr
    return run_id


def test_submit_exits_and_the_run_completes_on_the_scheduler(tmp_path, scheduler, data):
    started = time.monotonic()
    run_id = submit(_pipeline(data, maxiter=3, popsize=4, params=(D_N,)), tmp_path, scheduler)
    # The submitting process has exited (subprocess.run returned); the scheduler runs the graph.
    store = tmp_path / "store"
    seen = set()
    while (info := status(run_id, store))["status"] not in ("completed", "failed", "canceled", "lost"):
        seen.add(info["status"])
        assert time.monotonic() - started < 240, info
        time.sleep(1)
    assert info["status"] == "completed", info
    assert info["scheduler"] == scheduler
    for name in ("start", "fit", "check"):
        assert info["elements"][name]["status"] == "completed"
        assert info["elements"][name]["worker"]["worker"].startswith("tcp://127.0.0.1:")

    result = json.loads(sweepfit("result", run_id, "--store", str(store), "--json").stdout)
    fit = result["elements"]["fit"]["summary"]
    assert 1e-15 <= fit["parameters"][D_N] <= 1e-12 and fit["cost"] > 0 and fit["evaluations"] >= 8
    assert result["elements"]["check"]["summary"]["metrics"]["1C"]["RMSE"] > 0
    assert Path(result["path"]).is_dir() and result["store"] == str(store.resolve())
    listed = json.loads(sweepfit("list", "--store", str(store), "--project", "remote-test", "--json").stdout)
    assert [r["run_id"] for r in listed] == [run_id]


def test_cancel_stops_a_fit_mid_run_and_keeps_finished_elements(tmp_path, scheduler, data):
    run_id = submit(_pipeline(data, maxiter=2000, popsize=10, params=(D_N, D_P)), tmp_path, scheduler)
    store = tmp_path / "store"
    deadline = time.monotonic() + 180
    while (status(run_id, store)["elements"]["fit"].get("progress") or {}).get("done", 0) < 3:  # 3 generations
        assert time.monotonic() < deadline, status(run_id, store)
        time.sleep(0.5)

    done = sweepfit("cancel", run_id, "--store", str(store), "--wait", "60")
    assert f"run {run_id}: canceled" in done.stdout
    info = status(run_id, store)
    assert info["status"] == "canceled"
    assert {n: e["status"] for n, e in info["elements"].items()} == {
        "start": "completed", "fit": "canceled", "check": "canceled"}
    assert info["elements"]["fit"]["progress"]["evaluations"] < 2000 * 20  # stopped long before maxiter

    # Nothing of the run is left on the scheduler, and the workers are idle again.
    with Client(scheduler, timeout=30) as client:
        deadline = time.monotonic() + 30
        while left := client.run_on_scheduler(
            lambda dask_scheduler: [k for k in dask_scheduler.tasks if run_id in str(k)]
        ):
            assert time.monotonic() < deadline, left
            time.sleep(0.5)
        assert not any(client.processing().values())
    result = json.loads(sweepfit("result", run_id, "--store", str(store), "--json").stdout)
    assert result["elements"]["start"]["summary"]  # the finished element's results stay
