"""The sweep element: samplers, values against direct PyBaMM solves, failures as data, kill and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dask.config
import numpy as np
import pytest
import xarray as xr

import orchestrator
from elements import sweep, sweep_store
from orchestrator import lifecycle, runner, worker
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import D_N, D_P

DRIVE = {"current": 5.0, "duration": 3700.0}
EXPERIMENT = ["Discharge at {c_rate}C until 3.0 V", "Rest for 5 minutes"]


def element(**spec: object) -> dict:
    return {"element_type": "sweep", "model": {"type": "SPMe"}, **spec}


def run_serial(store: Path, spec: dict, name: str = "sweep") -> tuple[Path, xr.Dataset]:
    """Run one sweep element in this process (a serial map), as a worker would."""
    run = lifecycle.prepare({"project": "tests", "elements": {name: spec}}, store_root=store)
    worker.run_element(str(run.path), name, run.pipeline.elements[name], {}, str(run.base_dir))
    return run.path, orchestrator.open_sweep(run.path, name).load()


def direct(values: dict[str, float], *, experiment: list[str] | None = None, options: dict | None = None):
    """A plain PyBaMM solve of one point, nothing from sweepfit."""
    import pybamm

    params = pybamm.ParameterValues("Chen2020")
    params.update(values, check_already_exists=False)
    model = pybamm.lithium_ion.SPMe({"calculate discharge energy": "true", **(options or {})})
    if experiment is None:
        params["Current function [A]"] = DRIVE["current"]
        sim = pybamm.Simulation(model, parameter_values=params, solver=pybamm.IDAKLUSolver())
        return sim.solve([0, DRIVE["duration"]], t_interp=np.arange(0, DRIVE["duration"] + 1, 100.0))
    sim = pybamm.Simulation(model, experiment=pybamm.Experiment(experiment), parameter_values=params,
                            solver=pybamm.IDAKLUSolver())
    return sim.solve()


def test_grid_is_one_dimension_per_variable_with_coordinates(tmp_path: Path) -> None:
    spec = element(
        protocol=DRIVE, grid={D_N: {"logspace": [1e-14, 1e-13, 3]}, D_P: [1e-15, 4e-15]},
        outputs={"time": {"stop": 3700, "step": 100}, "summaries": ["final_voltage", "time_to_cutoff"]},
        chunk_size=2,
    )
    _, ds = run_serial(tmp_path, spec)
    assert ds["Voltage [V]"].dims == (D_N, D_P, "time")
    assert ds["Voltage [V]"].shape == (3, 2, 38)
    np.testing.assert_allclose(ds[D_N].values, [1e-14, np.sqrt(1e-27), 1e-13])
    np.testing.assert_array_equal(ds[D_P].values, [1e-15, 4e-15])
    assert (ds.status == "ok").all()
    assert ds.sizes["chunk"] == 3 and ds.chunk_done.all() and (ds.solve_count == 1).all()
    one = ds.sel({D_P: 4e-15}).isel({D_N: 0})
    assert np.isfinite(one.final_voltage) and one.final_voltage < 3.0  # the run reached its cut-off
    assert np.isnan(one["Voltage [V]"].sel(time=3700.0))  # past the cut-off: NaN, not held


def test_a_chunk_killed_between_its_done_mark_and_its_mirror_is_done_on_resume(tmp_path: Path) -> None:
    spec = element(protocol=DRIVE, grid={D_N: [1e-14, 3e-14, 1e-13]}, chunk_size=1,
                   outputs={"summaries": ["final_voltage"]})
    path, _ = run_serial(tmp_path, spec)
    sweep_store.open_group(path, "sweep")["chunk_done"][1] = False  # the task died after solve_count
    assert sweep_store.done(path, "sweep").all()  # the done mark is solve_count
    assert sweep_store.resumed(path, "sweep").all()
    assert orchestrator.open_sweep(path, "sweep").chunk_done.values.all()  # the mirror agrees again


def test_points_random_and_latin_hypercube_lie_on_a_point_dimension(tmp_path: Path) -> None:
    points = [{D_N: 1e-14, "Ambient temperature [K]": 288.15}, {D_N: 3e-14, "Ambient temperature [K]": 308.15},
              {D_N: 5e-14, "Ambient temperature [K]": 298.15}]
    spec = element(protocol={"c_rate": 0.5, "duration": 600}, points=points,
                   outputs={"time": {"stop": 600, "step": 60}, "summaries": ["max_temperature"]})
    _, ds = run_serial(tmp_path / "points", spec)
    assert ds["Voltage [V]"].dims == ("point", "time") and ds.sizes["point"] == 3
    assert D_N in ds.coords and ds.coords[D_N].dims == ("point",)
    np.testing.assert_array_equal(ds["Ambient temperature [K]"].values, [288.15, 308.15, 298.15])
    # isothermal SPMe: the cell sits at the ambient temperature it was swept over
    np.testing.assert_allclose(ds.max_temperature.values, [288.15, 308.15, 298.15])

    bounds = {D_N: {"bounds": [1e-15, 1e-13], "log": True}, D_P: {"bounds": [1e-15, 5e-15]}}
    for sampler in ("random", "latin_hypercube"):
        pipeline = load_pipeline({"elements": {"s": element(protocol=DRIVE, **{sampler: {"n": 8, "seed": 3, "variables": bounds}})}})
        values = sweep.sample(pipeline.elements["s"])
        assert set(values) == {D_N, D_P} and all(len(v) == 8 for v in values.values())
        assert 1e-15 <= values[D_N].min() and values[D_N].max() <= 1e-13
        again = sweep.sample(pipeline.elements["s"])
        np.testing.assert_array_equal(values[D_N], again[D_N])  # seeded
    # Latin hypercube: exactly one sample in each of the n strata of every variable (log for D_N)
    strata = np.floor((np.log10(values[D_N]) + 15) / 2 * 8)
    np.testing.assert_array_equal(np.sort(strata), np.arange(8))
    strata = np.floor((values[D_P] - 1e-15) / 4e-15 * 8)
    np.testing.assert_array_equal(np.sort(strata), np.arange(8))

    lhs = element(protocol={"current": 5.0, "duration": 300},
                  latin_hypercube={"n": 5, "seed": 0, "variables": bounds}, outputs={"time": {"stop": 300, "step": 100}})
    _, ds = run_serial(tmp_path / "lhs", lhs)
    assert ds["Voltage [V]"].shape == (5, 4) and (ds.status == "ok").all()
    np.testing.assert_array_equal(ds[D_N].values, sweep.sample(load_pipeline({"elements": {"s": lhs}}).elements["s"])[D_N])


def test_drive_values_equal_a_direct_pybamm_solve(tmp_path: Path) -> None:
    spec = element(
        protocol=DRIVE, grid={D_N: [1e-14, 3.3e-14], D_P: [4e-15]},
        outputs={"variables": ["Voltage [V]", "Discharge capacity [A.h]"], "time": {"stop": 3700, "step": 100}},
    )
    _, ds = run_serial(tmp_path, spec)
    for d_n in (1e-14, 3.3e-14):
        got = ds.sel({D_N: d_n, D_P: 4e-15})
        solution = direct({D_N: d_n, D_P: 4e-15})
        n = len(solution.t[solution.t <= DRIVE["duration"]])
        for name in ("Voltage [V]", "Discharge capacity [A.h]"):
            expected = solution[name].entries
            series = got[name].values
            ended = int(np.isfinite(series).sum())
            np.testing.assert_allclose(series[:ended], expected[:ended], rtol=1e-8, atol=1e-8)
        assert ended <= n
        np.testing.assert_allclose(got.final_voltage, solution["Voltage [V]"].entries[-1], rtol=1e-8)
        capacity = solution["Discharge capacity [A.h]"].entries
        np.testing.assert_allclose(got.discharge_capacity, capacity[-1] - capacity[0], rtol=1e-8)
        energy = solution["Discharge energy [W.h]"].entries
        np.testing.assert_allclose(got.energy, energy[-1] - energy[0], rtol=1e-8)
        np.testing.assert_allclose(got.time_to_cutoff, solution.t[-1], rtol=1e-8)
        assert str(got.status.values) == "ok" and "Minimum voltage" in str(got.message.values)


def test_experiment_placeholder_values_equal_a_direct_pybamm_solve(tmp_path: Path) -> None:
    points = [{"c_rate": 1.0, D_N: 3.3e-14}, {"c_rate": 2.0, D_N: 1e-14}]
    spec = element(protocol={"experiment": EXPERIMENT}, points=points,
                   outputs={"time": {"per_step": 30}})
    _, ds = run_serial(tmp_path, spec)
    assert ds["Voltage [V]"].dims == ("point", "step", "sample")
    assert list(ds.step_name.values) == EXPERIMENT
    for i, point in enumerate(points):
        got = ds.isel(point=i)
        steps = [s.format(c_rate=point["c_rate"]) for s in EXPERIMENT]
        solution = direct({D_N: point[D_N]}, experiment=steps)
        for j, step in enumerate(s for c in solution.cycles for s in c.steps):
            times = np.linspace(step.t[0], step.t[-1], 30)
            np.testing.assert_allclose(got.step_time[j], times, rtol=1e-12)
            np.testing.assert_allclose(got["Voltage [V]"][j], step["Voltage [V]"](times), rtol=1e-8, atol=1e-8)
        capacity = solution["Discharge capacity [A.h]"].entries
        np.testing.assert_allclose(got.discharge_capacity, capacity[-1] - capacity[0], rtol=1e-8)
        np.testing.assert_allclose(got.final_voltage, solution["Voltage [V]"].entries[-1], rtol=1e-8)
        np.testing.assert_allclose(got.time_to_cutoff, solution.cycles[0].steps[0].t[-1], rtol=1e-8)
        assert str(got.status.values) == "ok"


def test_infeasible_and_overdue_points_are_recorded_not_raised(tmp_path: Path) -> None:
    spec = element(protocol={"duration": 600}, points=[{"Current function [A]": 5.0}, {"Current function [A]": 1000.0}],
                   outputs={"time": {"stop": 600, "step": 60}})
    path, ds = run_serial(tmp_path / "a", spec)
    assert list(ds.status.values) == ["ok", "infeasible"]
    assert "non-positive at initial conditions" in str(ds.message.values[1])
    assert np.isnan(ds["Voltage [V]"][1]).all() and np.isfinite(ds["Voltage [V]"][0]).all()
    assert runner.status(str(path))["status"] == "completed"

    # DFN: a solve long enough (> the 5 ms GIL switch interval) for the watchdog to look before it ends.
    with dask.config.set({"sweepfit.solve.time-limit": 1e-4}):
        _, ds = run_serial(tmp_path / "b", element(model={"type": "DFN"}, protocol={"current": 5.0, "duration": 3000},
                                                   grid={D_N: [1e-14, 2e-14]}, chunk_size=2))
    assert list(ds.status.values) == ["timeout", "timeout"]
    assert "time-limit" in str(ds.message.values[0])


def test_spec_problems_are_all_reported_with_paths() -> None:
    bad = element(protocol={"experiment": ["Discharge at {c_rate}C until 2.5 V"]},
                  grid={"Negative particle diffusivity": [1.0]}, points=[{"x": 1.0}])
    with pytest.raises(SpecError, match="exactly one of grid, points"):
        load_pipeline({"elements": {"s": bad}})
    bad = element(protocol={"experiment": ["Discharge at {c_rate}C until 2.5 V"]},
                  grid={"Negative particle diffusivity": [1.0]}, outputs={"variables": ["Voltage"]})
    with pytest.raises(SpecError) as error:
        load_pipeline({"elements": {"s": bad}})
    text = str(error.value)
    assert "placeholder {c_rate} has no values" in text
    assert "Did you mean 'Negative particle diffusivity [m2.s-1]'" in text
    assert "Did you mean 'Voltage [V]'" in text
    with pytest.raises(SpecError, match="per_step needs an experiment"):
        load_pipeline({"elements": {"s": element(protocol=DRIVE, grid={D_N: [1e-14]}, outputs={"time": {"per_step": 5}})}})
    with pytest.raises(SpecError, match="not valid for PyBaMM"):
        load_pipeline({"elements": {"s": element(protocol={"experiment": ["Dischrge at {c_rate}C until 2.5 V"]},
                                                 grid={"c_rate": [1.0]}, outputs={"time": {"per_step": 5}})}})


KILLED_SWEEP = {
    "project": "tests",
    "elements": {
        "resumable": element(
            protocol={"experiment": ["Discharge at {c_rate}C until 3.2 V"]},
            grid={"c_rate": [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4], D_N: [2e-14, 3e-14]},
            outputs={"time": {"per_step": 10}, "summaries": ["discharge_capacity"]},
            chunk_size=2,
        )
    },
}


def test_a_killed_sweep_resumes_without_losing_or_repeating_a_chunk(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        from distributed import Client
        import orchestrator
        if __name__ == "__main__":
            with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
                orchestrator.run({KILLED_SWEEP!r}, client=client, store=sys.argv[1])
    """)
    process = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=Path(__file__).parents[1],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    group, done_before = None, np.zeros(0, bool)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            runs = list((tmp_path / "runs").glob("*.zarr"))
            if runs and (runs[0] / "resumable" / "solve_count").exists():
                group = runs[0]
                done_before = np.asarray(sweep_store.done(group, "resumable"))
                if done_before.sum() >= 2:
                    break
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert group is not None and 2 <= done_before.sum() < done_before.size, "the kill came too late to test resume"
    run_id = runner.status(str(group))["run_id"]
    assert runner.status(run_id, store=tmp_path)["status"] == "running"  # killed, never finished

    from distributed import Client

    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        info = orchestrator.run(KILLED_SWEEP, client=client, store=tmp_path, resume=run_id)
    assert info["status"] == "completed" and info["run_id"] == run_id
    counts = info["elements"]["resumable"]["summary"]["counts"]
    ds = orchestrator.open_sweep(run_id, "resumable", store=tmp_path).load()
    assert ds.chunk_done.all() and (ds.status == "ok").all()
    assert (ds.solve_count == 1).all(), "a chunk was solved twice"
    assert counts["chunks_resumed"] >= done_before.sum()
    assert counts["chunks_solved"] + counts["chunks_resumed"] == ds.sizes["chunk"] == 10
    # every point is there, and a higher C-rate delivers less charge to the same cut-off
    assert np.isfinite(ds.discharge_capacity).all()
    assert (ds.discharge_capacity.diff("c_rate") < 0).all()
    tree = xr.open_datatree(ds.encoding.get("source", str(group)), engine="zarr")
    assert "resumable" in tree.children


@pytest.mark.slow
def test_c_rate_by_ambient_temperature_on_a_local_cluster(client, tmp_path: Path) -> None:
    spec = {
        "project": "tests",
        "elements": {
            "rates": element(
                model={"type": "SPMe", "options": {"thermal": "lumped"}},
                protocol={"experiment": ["Discharge at {c_rate}C until 2.5 V", "Rest for 10 minutes"]},
                grid={"c_rate": [0.5, 1.0, 2.0], "Ambient temperature [K]": [273.15, 298.15, 318.15]},
                outputs={"time": {"stop": 7200, "step": 60}},
            )
        },
    }
    info = orchestrator.run(spec, client=client, store=tmp_path)
    assert info["status"] == "completed", info
    ds = xr.open_datatree(info["path"], engine="zarr")["rates"].to_dataset()
    assert ds["Voltage [V]"].dims == ("c_rate", "Ambient temperature [K]", "time")
    assert (ds.status == "ok").all() and ds.chunk_done.all() and (ds.solve_count == 1).all()
    two_c = ds.sel(c_rate=2.0)
    assert two_c["Voltage [V]"].shape == (3, 121)
    # a warmer cell delivers more at 2C; a lumped thermal model heats above ambient
    assert (two_c.discharge_capacity.diff("Ambient temperature [K]") > 0).all()
    assert (ds.max_temperature > ds["Ambient temperature [K]"]).all()
    assert (ds.time_to_cutoff.sel({"Ambient temperature [K]": 298.15}).diff("c_rate") < 0).all()
