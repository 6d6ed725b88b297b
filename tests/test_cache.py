"""The element cache: completed elements are loaded, not recomputed; edits recompute downstream only."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import orchestrator
from orchestrator import store as stores
from orchestrator.lifecycle import prepare
from orchestrator.worker import run_element
from tests.conftest import D_N, D_P

CLI = str(Path(sys.executable).with_name("sweepfit"))


def pipeline(data: Path) -> dict:
    """A tiny fit followed by a validation: an entry seeds D_p, the fit finds D_n."""
    objective = {"objective": "CurrentDriven", "model": {"type": "SPMe"}, "data": f"file:{data}"}
    return {"project": "cache", "elements": {
        "seed": {"element_type": "entry", "values": {D_P: 4e-15}},
        "fit": {"element_type": "data_fit", "objectives": {"1C": objective},
                "parameters": {D_N: {"bounds": [1e-15, 1e-12], "transform": "log10"}},
                "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 3, "maxiter": 2}},
        "check": {"element_type": "validation", "objectives": {"1C": dict(objective)}},
    }}


def run_serially(spec: dict, store: Path, **options) -> dict:
    """conftest.run_serially, with prepare's options (force): solves are counted in this thread."""
    run = prepare(spec, store_root=store, **options)
    values: dict = {}
    for name, element in run.pipeline.elements.items():
        values = run_element(str(run.path), name, element, values, str(run.base_dir))
    return orchestrator.status(run.run_id, store=store)


def solves(info: dict) -> dict[str, int]:
    return {name: e["solves"] for name, e in info["elements"].items()}


def cached(info: dict) -> dict[str, str | None]:
    """Per element, the run that computed what was loaded (None: computed in this run)."""
    return {name: (e.get("cached_from") or {}).get("computed_in") for name, e in info["elements"].items()}


@pytest.fixture(scope="module")
def first(short_csv, tmp_path_factory) -> tuple[Path, dict]:
    store = tmp_path_factory.mktemp("store")
    return store, run_serially(pipeline(short_csv), store)


def test_first_run_computes_and_records_keys(first):
    store, info = first
    assert info["status"] == "completed"
    assert cached(info) == {"seed": None, "fit": None, "check": None}
    assert solves(info)["seed"] == 0 and solves(info)["fit"] >= 9 and solves(info)["check"] == 1
    keys = [e["cache_key"] for e in info["elements"].values()]
    assert len(set(keys)) == 3 and all(len(k) == 64 for k in keys)


def test_editing_validation_recomputes_only_it(first, short_csv):
    store, before = first
    spec = pipeline(short_csv)
    spec["elements"]["check"]["objectives"]["1C"]["model"] = {"type": "SPM"}
    info = run_serially(spec, store)
    assert cached(info) == {"seed": before["run_id"], "fit": before["run_id"], "check": None}
    assert solves(info) == {"seed": 0, "fit": 0, "check": 1}
    assert info["elements"]["fit"]["summary"] == before["elements"]["fit"]["summary"]


def test_editing_the_fit_recomputes_it_and_downstream_not_upstream(first, short_csv):
    store, before = first
    spec = pipeline(short_csv)
    spec["elements"]["fit"]["optimizer"]["maxiter"] = 1
    info = run_serially(spec, store)
    assert cached(info) == {"seed": before["run_id"], "fit": None, "check": None}
    assert solves(info)["fit"] > 0 and solves(info)["check"] == 1


def test_force_recomputes_everything(first, short_csv):
    store, before = first
    info = run_serially(pipeline(short_csv), store, force=True)
    assert cached(info) == {"seed": None, "fit": None, "check": None}
    assert solves(info)["fit"] == solves(before)["fit"]
    # Same seed, same numbers: the cache never changes a result, only whether it is recomputed.
    assert info["elements"]["fit"]["summary"] == before["elements"]["fit"]["summary"]


def test_changed_data_is_a_different_key(first, short_csv, tmp_path):
    store, before = first
    edited = tmp_path / short_csv.name
    edited.write_text(short_csv.read_text() + "\n")  # same numbers, other bytes: keys follow the file
    keys = stores.read_attrs(prepare(pipeline(edited), store_root=store).path)["elements"]
    assert keys["seed"]["cache_key"] == before["elements"]["seed"]["cache_key"]
    assert keys["fit"]["cache_key"] != before["elements"]["fit"]["cache_key"]


@pytest.mark.slow
def test_unchanged_pipeline_on_a_warm_cluster_loads_everything(short_csv, client, tmp_path):
    spec = pipeline(short_csv)
    computed = orchestrator.run(spec, client=client, store=tmp_path)
    assert computed["status"] == "completed" and solves(computed)["fit"] > 0  # chunks on workers count

    started = time.perf_counter()
    loaded = orchestrator.run(copy.deepcopy(spec), client=client, store=tmp_path)
    wall = time.perf_counter() - started
    assert loaded["status"] == "completed"
    assert solves(loaded) == {"seed": 0, "fit": 0, "check": 0}
    assert set(cached(loaded).values()) == {computed["run_id"]}
    assert wall <= 2.0, f"a fully cached run took {wall:.2f} s"
    old, new = (orchestrator.open_run(i["run_id"], tmp_path) for i in (computed, loaded))
    assert new["fit"].to_dataset().identical(old["fit"].to_dataset())
    assert new["check/traces/1C"].to_dataset().identical(old["check/traces/1C"].to_dataset())


@pytest.mark.slow
def test_killed_run_resubmitted_resumes_at_the_unfinished_element(short_csv, synthetic_csv, client, tmp_path):
    spec = pipeline(short_csv)
    # A second, slower fit on the long discharge: the run is killed while it works.
    slow = copy.deepcopy(spec["elements"]["fit"])
    slow["objectives"]["1C"]["data"] = f"file:{synthetic_csv}"
    slow["parameters"][D_P] = {"bounds": [1e-16, 1e-13], "transform": "log10"}
    slow["optimizer"] = {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 8, "maxiter": 20}
    spec["elements"] = {"fit": spec["elements"]["fit"], "slow fit": slow, "check": spec["elements"]["check"]}
    file = tmp_path / "pipeline.yaml"
    file.write_text(yaml.safe_dump(spec, sort_keys=False))
    store = tmp_path / "store"

    proc = subprocess.Popen([CLI, "run", str(file), "--store", str(store), "--workers", "1", "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        killed = _wait_for(store, lambda e: e["fit"]["status"] == "completed", proc, timeout=120)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its LocalCluster and workers: one process group
        proc.wait()
    attrs = stores.read_attrs(killed)
    assert attrs["elements"]["slow fit"]["status"] != "completed"

    info = orchestrator.run(file, client=client, store=store)
    assert info["status"] == "completed"
    assert cached(info) == {"fit": attrs["run_id"], "slow fit": None, "check": None}
    assert solves(info)["fit"] == 0 and solves(info)["slow fit"] > 0


def _wait_for(store: Path, done, proc: subprocess.Popen, *, timeout: float) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "sweepfit run ended before it could be killed"
        runs = sorted((store / "runs").glob("*.zarr")) if (store / "runs").is_dir() else []
        if runs:
            try:
                if done(stores.read_attrs(runs[0])["elements"]):
                    return runs[0]
            except (KeyError, ValueError, FileNotFoundError):
                pass  # the run is being created
        time.sleep(0.05)
    raise AssertionError(f"the first element did not complete within {timeout} s")
