"""The monitor's live figures from a real run's store: the fit's best candidate, the sweep's map."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from elements.preview import Preview, snapshot
from orchestrator import live, monitor
from orchestrator import store as stores
from tests.conftest import D_N, fit_pipeline, run_serially

T_AMB = "Ambient temperature [K]"


@pytest.fixture(scope="module")
def run(short_csv, tmp_path_factory) -> tuple[Path, str]:
    spec = fit_pipeline(short_csv, popsize=3, maxiter=3, polish=False)
    del spec["elements"]["check"]
    spec["elements"]["grid"] = {
        "element_type": "sweep", "model": {"type": "SPM"}, "protocol": {"current": 5.0, "duration": 600.0},
        "grid": {D_N: [1e-14, 3e-14], T_AMB: [288.15, 298.15, 308.15]}, "chunk_size": 2,
        "outputs": {"time": {"stop": 600, "step": 60}, "summaries": ["final_voltage"]},
    }
    store = tmp_path_factory.mktemp("live") / "store"
    info = run_serially(spec, store)
    assert info["status"] == "completed", info
    return stores.run_path(info["run_id"], store), info["run_id"]


def test_a_fit_previews_its_best_candidate_against_the_data(run):
    path, _ = run
    preview = stores.read_preview(path, "fit")
    fit = xr.open_dataset(path, group="fit", engine="zarr")
    traces = xr.open_dataset(path, group="fit/traces/1C", engine="zarr")
    # the last snapshot is the fit's answer: its cost, and the stored traces of the best candidate
    assert preview["cost"] == pytest.approx(float(fit["best_cost"]), rel=1e-12)
    assert 1 <= preview["step"] <= int(fit["generation"].max()) + 1  # the generation that found it
    shown = preview["objectives"]["1C"]
    assert shown["x"] == "time" and shown["values"] == pytest.approx(traces["time"].values.tolist())
    assert shown["lines"]["model Voltage [V]"] == pytest.approx(traces["model Voltage [V]"].values.tolist(), rel=1e-9)
    assert shown["lines"]["data Voltage [V]"] == pytest.approx(traces["data Voltage [V]"].values.tolist())
    # what the page draws of it: model against data in one figure with units on the axes
    [(title, columns, xlabel, ylabel)] = live.preview_data(preview)
    assert (title, xlabel, ylabel) == ("1C: Voltage [V]", "Time [s]", "Voltage [V]")
    assert len(columns["x_data"]) == len(columns["y_model"]) == traces.sizes["time"]


def test_a_sweeps_map_is_its_summary_over_the_grid(run):
    path, _ = run
    found = live.sweep_map_data(path, "grid")
    ds = stores.open_sweep(path, "grid")
    assert found["dims"] == [D_N, T_AMB] and found["image"].shape == (2, 3)
    np.testing.assert_array_equal(found["image"], ds["final_voltage"].transpose(D_N, T_AMB).values)
    assert np.isfinite(found["image"]).all()


def test_an_unsolved_point_stays_grey_until_its_chunk_is_written(run, tmp_path):
    path, _ = run
    copy = tmp_path / path.name
    import shutil

    shutil.copytree(path, copy)
    from elements.sweep_store import open_group

    group = open_group(copy, "grid")
    group["final_voltage"][1, :] = np.nan  # as allocated, before the second row's chunks ran
    found = live.sweep_map_data(copy, "grid")
    assert np.isnan(found["image"][1]).all() and np.isfinite(found["image"][0]).all()


def test_the_page_holds_the_live_figures(run):
    path, run_id = run
    runs = monitor._runs(path.parent.parent, run_id)
    sources: dict = {}
    monitor._layout(runs, sources)
    model = sources[f"preview:{run_id}:fit:0"].data["y_model"]
    assert len(model) > 10 and all(math.isfinite(v) for v in model)
    image = sources[f"sweep:{run_id}:grid"].data["image"][0]
    assert image.shape == (2, 3)


def test_a_preview_is_written_when_the_best_improves_at_most_every_interval():
    written = []
    preview = Preview(lambda make: written.append(make()), every=3600)
    traces = {"o": xr.Dataset({"data V": ("time", [4.0, 3.9]), "model V": ("time", [4.0, 3.8])},
                              coords={"time": [0.0, 60.0]})}
    preview.offer(lambda: traces, 0.5, 1)
    preview.offer(lambda: traces, 0.7, 2)  # worse: ignored
    preview.offer(lambda: traces, 0.2, 3)  # better, but within the interval: held back
    assert [w["step"] for w in written] == [1]
    preview.flush()
    assert [w["step"] for w in written] == [1, 3] and written[-1]["cost"] == 0.2
    long = xr.Dataset({"model V": ("time", np.linspace(4, 3, 5000))}, coords={"time": np.arange(5000.0)})
    thin = snapshot({"o": long}, cost=math.inf, step=0)
    assert thin["cost"] is None and len(thin["objectives"]["o"]["lines"]["model V"]) <= 400
