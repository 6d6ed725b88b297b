"""The data_fit and validation elements, the solve engine, and end-to-end runs on a real LocalCluster."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import orchestrator
from elements import engine
from elements.costs import COSTS
from elements.fit.evaluation import evaluate
from orchestrator import store as stores
from orchestrator.lifecycle import prepare
from orchestrator.spec import load_pipeline
from orchestrator.worker import run_element
from tests.conftest import D_N, D_P, DATA, TRUE, fit_pipeline, run_serially


@pytest.fixture(scope="module")
def short_problem(short_csv):
    spec = load_pipeline(fit_pipeline(short_csv)).elements["fit"]
    [problem] = spec.objectives["1C"].build("1C", inputs=(D_N, D_P), existing={}, cost=spec.cost, base_dir=Path.cwd())
    return problem


def test_serial_fit_keeps_every_evaluation(short_csv, tmp_path):
    info = run_serially(fit_pipeline(short_csv, popsize=4, maxiter=3), tmp_path)
    assert info["status"] == "completed"
    fit = orchestrator.open_run(info["run_id"], tmp_path)["fit"].to_dataset()
    # scipy DE: popsize x n_parameters members, initial population plus one per generation
    assert fit.sizes["evaluation"] == 8 * (fit.attrs["nit"] + 1)
    assert fit.sizes["parameter"] == 2
    assert float(fit.best_cost) == pytest.approx(float(fit.cost.min()))
    best = fit.x.isel(evaluation=int(fit.cost.argmin("evaluation")))
    np.testing.assert_allclose(best.values, fit.best_x.values)
    assert set(fit.status.values) <= {"ok", "terminated", "infeasible", "timeout"}
    assert info["elements"]["fit"]["summary"]["parameters"] == dict(zip(fit.parameter.values, fit.best_x.values))


def test_validation_reports_metrics_and_traces(short_csv, tmp_path):
    spec = fit_pipeline(short_csv)
    spec["elements"] = {
        "seed": {"element_type": "entry", "values": TRUE},
        "check": spec["elements"]["check"],
    }
    info = run_serially(spec, tmp_path)
    metrics = info["elements"]["check"]["summary"]["metrics"]["1C"]
    assert metrics["RMSE"] < 0.0015  # the true parameters: only the 1 mV noise is left
    assert metrics["MAE"] <= metrics["RMSE"] <= metrics["Max"]
    tree = orchestrator.open_run(info["run_id"], tmp_path)
    trace = tree["check/traces/1C"].to_dataset()
    residual = trace["model Voltage [V]"] - trace["data Voltage [V]"]
    assert float(np.sqrt((residual**2).mean())) == pytest.approx(metrics["RMSE"])


def test_entry_values_flow_into_later_elements(short_csv, tmp_path):
    wrong = {D_N: 1e-15, D_P: 1e-15}
    spec = fit_pipeline(short_csv)
    spec["elements"] = {"seed": {"element_type": "entry", "values": wrong}, "check": spec["elements"]["check"]}
    info = run_serially(spec, tmp_path)
    assert info["elements"]["check"]["summary"]["metrics"]["1C"]["RMSE"] > 0.01


def test_failing_candidate_is_data_not_a_crash(short_problem):
    X = np.array([[3.3e-14, 4e-15], [np.nan, 4e-15], [3.3e-14, 4e-15]])
    found = evaluate([short_problem], X)
    costs, status, messages = found.cost, found.status, found.message
    assert status == ["ok", "infeasible", "ok"]
    assert np.isinf(costs[1]) and np.isfinite(costs[[0, 2]]).all()
    assert "input" in messages[1].lower() or "error" in messages[1].lower()
    assert costs[0] == costs[2]


def test_early_cut_off_is_padded_not_nan(short_problem):
    [outcome] = short_problem.solve(np.array([[1e-18, 4e-15]]))  # starved anode: hits 2.5 V early
    assert outcome.status == "terminated" and "Minimum voltage" in outcome.message
    voltage = outcome.value["Voltage [V]"]
    assert len(voltage) == len(short_problem.time) and np.isfinite(voltage).all()
    assert np.isfinite(short_problem.cost(outcome))


def test_overdue_solve_is_a_timeout(short_problem):
    # A DFN solve (~25 ms) outlasts the GIL switch interval (5 ms), so the watchdog gets to look
    # before it ends; a 2 ms SPMe solve can finish before the waiting thread runs again.
    hurried = dataclasses.replace(
        short_problem, setup=dataclasses.replace(short_problem.setup, model="DFN", time_limit=1e-4)
    )
    outcomes = hurried.solve(np.array([[3.3e-14, 4e-15], [3e-14, 4e-15]]))
    assert [o.status for o in outcomes] == ["timeout", "timeout"]
    assert "exceeded" in outcomes[0].message


def test_built_model_is_reused(short_problem):
    short_problem.solve(np.array([[3.3e-14, 4e-15]]))
    builds = engine.stats["builds"]
    short_problem.solve(np.array([[3e-14, 4e-15], [2e-14, 4e-15]]))
    assert engine.stats["builds"] == builds


def test_batched_equals_single_solves(short_problem):
    X = np.array([[3.3e-14, 4e-15], [1e-14, 8e-15], [5e-14, 2e-15]])
    batched = short_problem.solve(X)
    singles = [short_problem.solve(row[None, :])[0] for row in X]
    for b, s in zip(batched, singles):
        np.testing.assert_array_equal(b.value["Voltage [V]"], s.value["Voltage [V]"])


def test_folder_source_makes_one_objective_per_file(short_csv, tmp_path):
    folder = tmp_path / "cells"
    folder.mkdir()
    for name in ("a.csv", "b.csv"):
        (folder / name).write_bytes(short_csv.read_bytes())
    spec = load_pipeline(
        {"elements": {"v": {"element_type": "validation", "objectives": {"cells": {"data": f"folder:{folder}"}}}}}
    ).elements["v"]
    found = spec.objectives["cells"].build("cells", inputs=(), existing={}, cost=COSTS["RMSE"](), base_dir=tmp_path)
    assert [p.name for p in found] == ["cells/a", "cells/b"]


def test_weighted_objectives_add_up(short_problem):
    X = np.array([[2e-14, 5e-15]])
    [single] = evaluate([short_problem], X).cost
    heavy = dataclasses.replace(short_problem, weight=3.0)
    [combined] = evaluate([short_problem, heavy], X).cost
    assert combined == pytest.approx(4 * single)


@pytest.mark.slow
def test_cluster_run_recovers_truth_and_matches_serial(synthetic_csv, client, tmp_path):
    spec = fit_pipeline(synthetic_csv, popsize=15, tol=0.001)
    info = orchestrator.run(spec, client=client, store=tmp_path / "cluster")
    assert info["status"] == "completed", info
    fitted = info["elements"]["fit"]["summary"]["parameters"]
    for name, truth in TRUE.items():
        assert fitted[name] == pytest.approx(truth, rel=0.02)

    serial = run_serially(spec, tmp_path / "serial")
    assert serial["elements"]["fit"]["summary"] == info["elements"]["fit"]["summary"]

    tree = xr.open_datatree(info["path"], engine="zarr")
    fit = tree["fit"].to_dataset()
    history = orchestrator.open_run(serial["run_id"], tmp_path / "serial")["fit"].to_dataset()
    assert fit.sizes["evaluation"] == info["elements"]["fit"]["summary"]["evaluations"] > 500
    np.testing.assert_array_equal(fit.cost.values, history.cost.values)
    assert fit.generation.max() == fit.attrs["nit"]
    assert stores.read_attrs(Path(info["path"]))["status"] == "completed" and tree.attrs["spec"]["project"] == "tests"
    assert {"pybamm", "dask", "zarr"} <= set(tree.attrs["versions"])
    assert fit.attrs["chunks_per_generation"] == 2  # one per worker: the evaluators (transport: actors)


@pytest.mark.slow
def test_fit_to_measured_enertech_discharge_halves_the_error(tmp_path):
    """Ai2020 SPMe vs the Enertech 1C discharge (Ai et al. 2020): fit both diffusivities as constants."""
    objective = {
        "objective": "CurrentDriven",
        "model": {"type": "SPMe"},
        "parameter_set": "Ai2020",
        "data": {
            "source": f"file:{DATA / 'enertech' / '1C_discharge_U.txt'}",
            "columns": ["Time [s]", "Voltage [V]"],
            "current": 2.28,  # 1C of the 2.28 A.h cell
        },
    }
    spec = {
        "elements": {
            "before": {"element_type": "validation", "objectives": {"1C": objective}},
            "fit": {
                "element_type": "data_fit",
                "objectives": {"1C": objective},
                "parameters": {
                    D_N: {"bounds": [1e-16, 1e-12], "transform": "log10", "replace_function": True},
                    D_P: {"bounds": [1e-17, 1e-12], "transform": "log10", "replace_function": True},
                },
                "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 8, "maxiter": 15},
            },
            "after": {"element_type": "validation", "objectives": {"1C": objective}},
        }
    }
    info = run_serially(spec, tmp_path)
    before = info["elements"]["before"]["summary"]["metrics"]["1C"]["RMSE"]
    after = info["elements"]["after"]["summary"]["metrics"]["1C"]["RMSE"]
    assert before > 0.04
    assert after * 2 <= before


def test_resumed_run_keeps_elements_that_completed(short_csv, tmp_path):
    spec = fit_pipeline(short_csv, popsize=4, maxiter=1)
    run = prepare(spec, store_root=tmp_path)
    fitted = run_element(str(run.path), "fit", run.pipeline.elements["fit"], {}, str(run.base_dir))
    before = orchestrator.status(run.run_id, store=tmp_path)["elements"]["fit"]  # then the run "dies"

    resumed = prepare(spec, store_root=tmp_path, resume=run.run_id)
    assert resumed.run_id == run.run_id
    path, pipeline, base = str(resumed.path), resumed.pipeline, str(resumed.base_dir)
    assert run_element(path, "fit", pipeline.elements["fit"], {}, base) == fitted
    run_element(path, "check", pipeline.elements["check"], fitted, base)
    after = orchestrator.status(run.run_id, store=tmp_path)
    assert after["elements"]["fit"] == before  # not run again: same start time, same solves
    assert after["elements"]["check"]["status"] == after["status"] == "completed"


def test_a_short_pulse_after_a_long_rest_is_not_stepped_over(tmp_path):
    """The measured current's jumps are solver breakpoints: the pulse shows in the model's voltage."""
    import pandas as pd
    import pybamm

    from elements.costs import COSTS
    from elements.objectives import OBJECTIVES

    t = np.arange(0.0, 4001.0, 10.0)
    current = np.where((t > 3600) & (t <= 3900), 5.0, 0.0)
    pd.DataFrame({"Time [s]": t, "Current [A]": current, "Voltage [V]": 3.9}).to_csv(tmp_path / "pulse.csv", index=False)
    kind = OBJECTIVES["CurrentDriven"].model_validate({"data": f"file:{tmp_path / 'pulse.csv'}", "model": {"type": "SPMe"}})
    [objective] = kind.build("pulse", inputs=(), existing={}, cost=COSTS["RMSE"](), base_dir=tmp_path)
    assert objective.setup.breakpoints == (3610.0, 3910.0)
    [outcome] = objective.solve(np.empty((1, 0)))
    # The same protocol as an Experiment, whose steps PyBaMM solves one by one: the reference.
    steps = ["Rest for 3610 seconds", "Discharge at 5 A for 300 seconds", "Rest for 90 seconds"]
    sim = pybamm.Simulation(pybamm.lithium_ion.SPMe(), parameter_values=pybamm.ParameterValues("Chen2020"),
                            experiment=pybamm.Experiment(steps))
    reference = sim.solve()["Voltage [V]"](t=t)
    # Inside the pulse, after its first minute: the measured current ramps over one 10 s sample at
    # each end, where the Experiment steps.
    pulse = (t > 3670) & (t <= 3900)
    # Without breakpoints the solver stepped over the whole pulse: the voltage stayed flat (measured).
    np.testing.assert_allclose(outcome.value["Voltage [V]"][pulse], reference[pulse], atol=2e-3)


@pytest.mark.slow
def test_a_fit_on_actors_makes_the_same_evaluations_as_on_tasks(short_csv, tmp_path):
    """``sweepfit.fit.transport: actors``: one evaluator per worker holds the objectives; the fit's
    evaluations are those the task transport makes, and no generation goes through chunk tasks."""
    import dask.config
    from distributed import get_task_stream

    from clusters import closing, local_client

    spec = fit_pipeline(short_csv, popsize=4, maxiter=4, polish=False, tol=0)
    del spec["elements"]["check"]
    found = {}
    for transport in ("tasks", "actors"):
        with dask.config.set({"sweepfit.fit.transport": transport}):
            with closing(local_client(n_workers=2, threads_per_worker=1)) as client, get_task_stream(client) as stream:
                info = orchestrator.run(spec, client=client, store=tmp_path / transport)
        assert info["status"] == "completed", info
        ds = orchestrator.open_run(info["run_id"], tmp_path / transport)["fit"].to_dataset()
        chunks = [t for t in stream.data if "-gen" in str(t["key"])]
        found[transport] = (ds, chunks, info["elements"]["fit"]["solves"])
    (tasks, task_chunks, task_solves), (actors, actor_chunks, actor_solves) = found["tasks"], found["actors"]
    for name in ("x", "cost", "generation", "best_x"):
        np.testing.assert_array_equal(actors[name].values, tasks[name].values, err_msg=name)
    assert task_chunks and not actor_chunks  # the generations went to the evaluators, not to tasks
    assert actor_solves == task_solves == tasks.sizes["evaluation"] + 1  # every candidate, and the best's traces
    assert actors.attrs["chunks_per_generation"] == 2  # one per worker: calls are dealt in turn


def test_an_unknown_fit_transport_is_an_error_naming_the_valid_ones(short_csv, tmp_path):
    import dask.config

    spec = fit_pipeline(short_csv, popsize=2, maxiter=1, polish=False)
    with dask.config.set({"sweepfit.fit.transport": "actor"}), pytest.raises(ValueError) as caught:
        run_serially(spec, tmp_path)
    assert "sweepfit.fit.transport is 'actor'; valid: 'actors' (the default) or 'tasks'" in str(caught.value)
