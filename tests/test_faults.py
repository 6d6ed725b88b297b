"""Bad and oversized input, and runs whose every candidate fails: one clear line, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import orchestrator
from elements import engine
from elements.core.storage import read_json
from elements.data_fit import run
from elements.element import Context, FanOut, RunHandle
from elements.fit.journal import Journal, folder
from orchestrator.cli import app
from orchestrator.lifecycle import prepare
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import D_N, D_P, dask_processes, fit_pipeline, run_serially


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_fit_whose_every_candidate_fails_ends_failed_and_every_view_prints_it(short_csv, tmp_path):
    from elements.data_fit import FitFailed

    frame = pd.read_csv(short_csv).assign(**{"Current [A]": 1e6})  # no cell survives a megaampere
    frame.to_csv(tmp_path / "absurd.csv", index=False)
    with pytest.raises(FitFailed, match=r"all (\d+) evaluations failed; \1 of them: .*non-positive at initial conditions"):
        run_serially(fit_pipeline(tmp_path / "absurd.csv", popsize=2, maxiter=1), tmp_path / "store")
    store = str(tmp_path / "store")
    [run_id] = orchestrator.runs_table(store)["run_id"]
    info = orchestrator.status(run_id, store=store)
    assert info["elements"]["fit"]["status"] == "failed" and "evaluations failed" in info["elements"]["fit"]["error"]
    for args in (["status", run_id], ["result", run_id, "--json"], ["status", run_id, "--json"], ["list"],
                 ["lineage", run_id]):
        done = cli(*args, "--store", store)
        assert done.exception is None or isinstance(done.exception, SystemExit), (args, done.output)
    assert "evaluations failed" in cli("status", run_id, "--store", store).output


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("elements:\n  fit:\n    element_type: entry\n    values: {x: 1}\n  fit:\n    element_type: entry\n")
    with pytest.raises(SpecError, match=r"twice.yaml: not valid YAML or JSON: key 'fit' is given twice, on lines 2 and 5"):
        load_pipeline(path)


@pytest.mark.parametrize("option, message", [
    ({"maxiter": -1}, "elements.fit.optimizer.maxiter: Input should be greater than or equal to 1"),
    ({"popsize": 0}, "elements.fit.optimizer.popsize: Input should be greater than or equal to 1"),
    ({"recombination": 2}, "elements.fit.optimizer.recombination: Input should be less than or equal to 1"),
])
def test_impossible_optimizer_options_are_rejected(short_csv, option, message):
    with pytest.raises(SpecError) as caught:
        load_pipeline(fit_pipeline(short_csv, **option))
    assert message in str(caught.value)


def test_a_sweep_over_the_size_limit_needs_allow_large(tmp_path):
    sweep = {"element_type": "sweep", "protocol": {"current": 5.0, "duration": 600},
             "grid": {D_N: {"logspace": [1e-15, 1e-13, 10000]}, D_P: {"linspace": [1e-15, 1e-14, 1000]}}}
    with pytest.raises(SpecError, match=r"the sweep has 10,000,000 points \(10,000 x 1,000\), more than "
                                         r"sweepfit.sweep.max-points = 1,000,000; set allow_large: true"):
        load_pipeline({"elements": {"grid": sweep}})
    assert load_pipeline({"elements": {"grid": {**sweep, "allow_large": True}}}).elements["grid"].size == 10_000_000


@pytest.mark.parametrize("kind", ["file", "missing parent"])
def test_a_store_root_that_cannot_hold_runs_is_one_line_and_exit_2(tmp_path, kind):
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"elements": {"a": {"element_type": "entry", "values": {"x": 1}}}}))
    if kind == "file":
        store = tmp_path / "a-file"
        store.write_text("not a folder")
        expected = f"store root {store} is a file, not a folder"
    else:
        store = tmp_path / "a-file" / "below"  # a path under a file: no folder can be made there
        (tmp_path / "a-file").write_text("")
        expected = f"store root {store} is not writable"
    done = cli("run", str(tmp_path / "p.yaml"), "--store", str(store))
    assert done.exit_code == 2 and expected in done.output and "Traceback" not in done.output


def test_a_run_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    from orchestrator import store as stores

    seen = []
    real = stores.write_run

    def looking(path, **values):  # the last record written before the run is in place
        seen.append(list((tmp_path / "runs").glob("*.zarr")))
        real(path, **values)

    monkeypatch.setattr(stores, "write_run", looking)
    path = stores.create_run({"run_id": "r1"}, {"a": {}}, tmp_path)
    assert seen == [[]]  # readers listing runs saw nothing while it was made
    assert stores.read_attrs(path)["elements"]["a"]["status"] == "pending"

    def full(path, **values):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(stores, "write_run", full)
    with pytest.raises(stores.StoreError, match="nothing was kept"):
        stores.create_run({"run_id": "r2"}, {"a": {}}, tmp_path)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["r1.zarr"]


@pytest.mark.slow
def test_two_identical_runs_at_once_compute_once(short_csv, tmp_path):
    """Both runs go to one scheduler; the second arrives while the first computes, waits, and loads."""
    bin_ = Path(sys.executable).parent
    store = tmp_path / "store"
    with dask_processes(tmp_path, "--nworkers", "2", "--nthreads", "1", workers=2) as (address, _):
        (tmp_path / "fit.yaml").write_text(yaml.safe_dump(fit_pipeline(short_csv, popsize=6, maxiter=250, tol=0)))

        def submit() -> str:
            done = subprocess.run([bin_ / "sweepfit", "submit", "fit.yaml", "--cluster", address, "--store", "store"],
                                  cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120)
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        def fit(run_id: str) -> dict:
            return orchestrator.get(run_id, store=store)["elements"]["fit"]

        first = submit()
        deadline = time.monotonic() + 120
        while (fit(first).get("progress") or {}).get("done", 0) < 2:
            assert time.monotonic() < deadline, fit(first)
            time.sleep(0.2)
        second = submit()
        while not all(orchestrator.get(r, store=store)["status"] in ("completed", "failed", "lost") for r in (first, second)):
            assert time.monotonic() < deadline + 180, [fit(first), fit(second)]
            time.sleep(0.5)
    computed, loaded = fit(first), fit(second)
    assert computed["status"] == loaded["status"] == "completed"
    assert computed["solves"] > 0 and "cached_from" not in computed  # one computation ...
    assert loaded["solves"] == 0 and loaded["cached_from"]["run_id"] == first  # ... the twin waited and loaded it
    assert loaded["started"] < computed["finished"]  # it arrived while the first computed
    assert loaded["summary"]["parameters"] == computed["summary"]["parameters"]
    assert not list((store / "claims").glob("*.json"))  # claims are released


class Killed(RuntimeError):
    """Stands for the process dying after some generations."""


def _fit(spec, store, *, stop_after: int | None = None, parameters: dict | None = None):
    """Run a data_fit element serially into ``store`` (its journal there), stopping after
    ``stop_after`` generations; the result and the solves it ran."""
    calls = []

    def check_canceled() -> None:
        if stop_after is not None and len(calls) == stop_after:
            raise Killed
        calls.append(1)

    before = engine.thread_solves()
    ctx = Context(name="fit", parameters=parameters or {}, fan=FanOut(as_completed=lambda label: map),  # starts one by one
                  run=RunHandle(check_canceled=check_canceled, store_group=lambda: (str(store), "fit")))
    return run(spec, ctx), engine.thread_solves() - before


def test_an_interrupted_fit_resumes_from_its_journal_with_the_same_answer(short_csv, tmp_path):
    spec = load_pipeline(fit_pipeline(short_csv, popsize=3, maxiter=6, tol=0, seed=None)).elements["fit"]
    with pytest.raises(Killed):
        _fit(spec, tmp_path / "killed", stop_after=3)
    stored = sorted(p.name for p in folder(tmp_path / "killed", "fit").glob("gen*.npz"))
    assert stored == ["gen000000.npz", "gen000001.npz", "gen000002.npz"]
    resumed, solves = _fit(spec, tmp_path / "killed")
    ds = resumed.datasets[""]
    # the seed it drew was recorded and replayed: a fresh fit with that seed gives the same evaluations
    seeded = spec.model_copy(update={"optimizer": spec.optimizer.model_copy(update={"seed": ds.attrs["seed"]})})
    reference, all_solves = _fit(seeded, tmp_path / "reference")
    expected = reference.datasets[""]
    assert ds.attrs["nfev"] == expected.attrs["nfev"] == 6 * 7
    for name in ("x", "cost", "generation", "status", "message", "best_x", "best_cost"):
        np.testing.assert_array_equal(ds[name].values, expected[name].values, err_msg=name)
    replayed = int((ds.generation < 3).sum())
    assert solves == ds.attrs["nfev"] - replayed + 1  # the remaining candidates, and the best one's traces
    assert all_solves == ds.attrs["nfev"] + 1


@pytest.mark.parametrize("optimizer", [{"type": "ScipyMinimize", "method": "L-BFGS-B"}, {"type": "ScipyLeastSquares"}])
def test_an_interrupted_gradient_fit_resumes_with_its_gradients_replayed(short_csv, tmp_path, optimizer):
    pipeline = fit_pipeline(short_csv)
    pipeline["elements"]["fit"]["optimizer"] = optimizer
    spec = load_pipeline(pipeline).elements["fit"]
    with pytest.raises(Killed):
        _fit(spec, tmp_path / "killed", stop_after=3)
    resumed, solves = _fit(spec, tmp_path / "killed")
    reference, all_solves = _fit(spec, tmp_path / "reference")
    ds, expected = resumed.datasets[""], reference.datasets[""]
    for name in ("x", "cost", "gradient", "status", "best_x", "best_cost"):
        np.testing.assert_array_equal(ds[name].values, expected[name].values, err_msg=name)
    assert not np.isnan(ds.gradient.values).any()
    assert solves == all_solves - 3  # one solve (with sensitivities) per call, three of them replayed


def test_an_interrupted_multistart_fit_solves_only_the_starts_it_had_not_finished(short_csv, tmp_path):
    pipeline = fit_pipeline(short_csv, popsize=2, maxiter=2, tol=0)
    pipeline["elements"]["fit"]["multistarts"] = 4  # no sampler seed: one is drawn, recorded and replayed
    spec = load_pipeline(pipeline).elements["fit"]
    with pytest.raises(Killed):
        _fit(spec, tmp_path / "killed", stop_after=2)  # after three of the four starts
    assert sorted(p.name for p in folder(tmp_path / "killed", "fit").glob("start*")) == ["start0", "start1", "start2"]
    resumed, solves = _fit(spec, tmp_path / "killed")
    ds = resumed.datasets[""]
    sampler = spec.initial_guess_sampler.model_copy(update={"seed": ds.attrs["seed"]})
    reference, _ = _fit(spec.model_copy(update={"initial_guess_sampler": sampler}), tmp_path / "reference")
    expected = reference.datasets[""]
    for name in ("x", "cost", "start_index", "end_x", "start_x", "best_x"):
        np.testing.assert_array_equal(ds[name].values, expected[name].values, err_msg=name)
    assert solves == int(ds.start_nfev[3]) + 1  # the fourth start, and the best one's traces


@pytest.mark.parametrize("command", ["run", "submit"])
def test_resuming_a_run_of_another_pipeline_is_one_line_and_exit_2(tmp_path, command):
    for name, x in (("p.yaml", 1), ("q.yaml", 2)):
        (tmp_path / name).write_text(yaml.safe_dump({"elements": {"a": {"element_type": "entry", "values": {"x": x}}}}))
    run_id = prepare(tmp_path / "p.yaml", store_root=tmp_path / "store").run_id
    done = cli(command, str(tmp_path / "q.yaml"), "--resume", run_id, "--store", str(tmp_path / "store"))
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert f"cannot resume run {run_id}: it was made from a different pipeline" in " ".join(done.output.split())


def test_a_journal_from_another_problem_is_refused(short_csv, tmp_path):
    spec = load_pipeline(fit_pipeline(short_csv, popsize=2, maxiter=2, seed=0)).elements["fit"]
    with pytest.raises(Killed):
        _fit(spec, tmp_path, stop_after=1)
    with pytest.raises(ValueError, match=r"cannot resume the fit from .*values from upstream elements changed"):
        _fit(spec, tmp_path, parameters={"Ambient temperature [K]": 300.0})
    token = read_json(folder(tmp_path, "fit") / "journal.json")["token"]
    journal = Journal(folder(tmp_path, "fit"), token)  # the same problem ...
    stored = journal.stored[0].x
    with pytest.raises(ValueError, match=r"generation 0 asks for other candidates than the stored ones"):
        journal.replay(0, stored + 1e-12)  # ... but the optimizer asks for other candidates (its code changed)
    assert journal.replay(0, stored.copy()) is journal.stored[0] and journal.replay(1, stored) is None
    journal.close()


@pytest.mark.slow
def test_a_killed_fit_resumes_from_its_last_generation_with_the_same_answer(short_csv, tmp_path):
    """`sweepfit run` on its LocalCluster is killed (the whole process group) mid-fit; `sweepfit run
    --resume` replays the stored generations, solves only the rest, and ends where a fit that was
    never stopped ends (run serially here: the same seed gives the same answer anywhere)."""
    spec = fit_pipeline(short_csv, popsize=4, maxiter=12, tol=0)  # 8 candidates x 13 generations
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(spec))
    sweepfit = [Path(sys.executable).parent / "sweepfit", "run", "fit.yaml", "--store", "store", "--workers", "1"]
    killed = subprocess.Popen(sweepfit, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    journal = None
    try:
        deadline = time.monotonic() + 120
        while killed.poll() is None and time.monotonic() < deadline:
            journal = next((folder(run, "fit") for run in (tmp_path / "store" / "runs").glob("*.zarr")), None)
            if journal is not None and len(list(journal.glob("gen*.npz"))) >= 3:
                break
            time.sleep(0.02)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    stored = len(list(journal.glob("gen*.npz")))
    assert 3 <= stored < 13, f"the kill came at generation {stored}, too late to test resume"
    run_id = journal.parent.parent.stem
    assert orchestrator.get(run_id, store=tmp_path / "store")["elements"]["fit"]["status"] == "running"

    done = subprocess.run([*sweepfit, "--resume", run_id, "--json"], cwd=tmp_path, capture_output=True, text=True,
                          check=False, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    info = orchestrator.get(run_id, store=tmp_path / "store")
    assert info["status"] == "completed"
    resumed = orchestrator.open_run(run_id, tmp_path / "store")["fit"].to_dataset()
    reference = orchestrator.open_run(run_serially(spec, tmp_path / "reference")["run_id"],
                                      tmp_path / "reference")["fit"].to_dataset()
    assert resumed.attrs["nfev"] == reference.attrs["nfev"] == 8 * 13
    for name in ("x", "cost", "generation", "status", "best_x", "best_cost", "best_cost_per_generation"):
        np.testing.assert_array_equal(resumed[name].values, reference[name].values, err_msg=name)
    # no generation lost or solved twice: the resumed fit solved the unstored candidates (and the best one's traces)
    assert info["elements"]["fit"]["solves"] == 8 * (13 - stored) + 1
    assert not journal.exists()  # the datasets hold it all now


def test_an_attempt_left_running_by_a_dead_client_stops_when_the_run_is_resumed(short_csv, tmp_path):
    """On a remote cluster an element task outlives its client; once the run is resumed, that old
    attempt stops at its next generation and writes nothing more into the resumed run."""
    import threading

    from orchestrator import store as stores
    from orchestrator.worker import Superseded, run_element

    pipeline = fit_pipeline(short_csv, popsize=3, maxiter=500, tol=0, polish=False)
    del pipeline["elements"]["check"]
    prepared = prepare(pipeline, store_root=tmp_path / "store")
    raised: list[BaseException] = []

    def old_attempt() -> None:
        try:
            run_element(str(prepared.path), "fit", prepared.pipeline.elements["fit"], {}, str(prepared.base_dir))
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            raised.append(exc)

    thread = threading.Thread(target=old_attempt)
    thread.start()
    record = prepared.path / "_elements" / "fit.json"
    deadline = time.monotonic() + 60
    while (read_json(record).get("progress") or {}).get("done", 0) < 3:
        assert time.monotonic() < deadline and thread.is_alive(), read_json(record)
        time.sleep(0.1)
    stores.write_run(prepared.path, resumed=stores.now())  # what `--resume` does before its attempt starts
    time.sleep(0.5)  # a write the old attempt had begun before it could see the resume
    stores.write_element(prepared.path, "fit", status="pending", progress=None)
    thread.join(timeout=60)
    assert not thread.is_alive() and isinstance(raised[0], Superseded)
    assert read_json(record)["status"] == "pending" and read_json(record)["progress"] is None  # untouched


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("transport", ["tasks", "actors"])
def test_a_worker_killed_mid_fit_changes_nothing(short_csv, tmp_path, transport):
    """SIGKILL the worker that does not run the fit's own task, mid-fit: its nanny restarts it, its
    chunks (or its evaluator) are made again, and the fit makes the evaluations an undisturbed one makes."""
    import dask.config

    from clusters import closing, local_client

    spec = fit_pipeline(short_csv, popsize=4, maxiter=12, polish=False, tol=0)
    del spec["elements"]["check"]
    with dask.config.set({"sweepfit.fit.transport": transport}):
        with closing(local_client(n_workers=2, threads_per_worker=1)) as client:
            run_id = orchestrator.submit(spec, client=client, store=tmp_path / "store")
            deadline = time.monotonic() + 120
            while (orchestrator.get(run_id, store=tmp_path / "store")["elements"]["fit"].get("progress") or {}).get("done", 0) < 3:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            element = orchestrator.get(run_id, store=tmp_path / "store")["elements"]["fit"]["worker"]["worker"]
            pids = client.run(os.getpid)
            [victim] = [pid for address, pid in pids.items() if address != element]
            os.kill(victim, signal.SIGKILL)
            fit = orchestrator.get(run_id, store=tmp_path / "store")["elements"]["fit"]
            assert fit["status"] == "running" and fit["progress"]["done"] < 13  # killed mid-fit
            while orchestrator.get(run_id, store=tmp_path / "store")["status"] not in ("completed", "failed"):
                assert time.monotonic() < deadline + 120
                time.sleep(0.2)
    info = orchestrator.get(run_id, store=tmp_path / "store")
    assert info["status"] == "completed", info
    killed = orchestrator.open_run(run_id, tmp_path / "store")["fit"].to_dataset()
    undisturbed = orchestrator.open_run(run_serially(spec, tmp_path / "serial")["run_id"], tmp_path / "serial")["fit"]
    assert killed.sizes["evaluation"] == 4 * 2 * 13
    for name in ("x", "cost", "generation", "best_x", "best_cost"):
        np.testing.assert_array_equal(killed[name].values, undisturbed[name].values, err_msg=name)
