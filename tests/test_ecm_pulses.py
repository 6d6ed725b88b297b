"""Pulse by pulse: an HPPC test's pulses fitted as keys of an array_data_fit and assembled into tables over SOC,
and over SOC and temperature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import orchestrator
from elements.stacking import unstack
from elements.synthetic import SOC_GRID, synthetic_hppc, two_rc_cell, two_rc_grid
from orchestrator.figures import element_figures
from orchestrator.store import run_path
from tests.conftest import DATA, run_serially

SOCS = np.round(np.linspace(0.95, 0.05, 10), 2)
CELL = two_rc_cell()
TRUTH = {name: np.array(t["y"]) for name, t in CELL.items()}
GRID = SOC_GRID
FIXED = {"Cell capacity [A.h]": 5.0, "Lower voltage cut-off [V]": 2.5, "Upper voltage cut-off [V]": 4.4}
BOUNDS = {"R0 [Ohm]": ([1e-3, 0.1], 0.02), "R1 [Ohm]": ([1e-4, 0.05], 0.003), "C1 [F]": ([50, 5e3], 500),
          "R2 [Ohm]": ([1e-4, 0.05], 0.01), "C2 [F]": ([1e3, 1e5], 1e4)}


@pytest.fixture(scope="module")
def hppc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-RC cell's HPPC test at ten SOCs, 0.1 mV of noise, its parameters tables over SOC."""
    path = tmp_path_factory.mktemp("hppc") / "hppc.csv"
    synthetic_hppc(values=CELL, socs=SOCS, capacity=5.0).to_csv(path, index=False)
    return path


def pipeline(data: Path, socs: np.ndarray) -> dict:
    """Instantaneous R0 from the steps, a 2-RC fit per pulse (pulse 2 k is the test pulse at SOCS[k]), the tables."""
    index = {float(s): 2 * k for k, s in enumerate(SOCS)}
    model = {"type": "ECM", "options": {"rc pairs": 2}}
    return {"elements": {
        "steps": {"element_type": "calculation", "calculation": "HPPCTables", "data": f"file:{data}", "capacity": 5.0,
                  "initial_soc": float(SOCS[0]), "pulses": list(index.values()), "tables": ["R0 [Ohm]"]},
        "pulses": {"element_type": "array_data_fit",
                   "objectives": {str(s): {"type": "Pulse", "data": f"file:{data}", "pulses": [index[float(s)]],
                                           "model": model, "parameters": FIXED} for s in socs},
                   "parameters": {name: {"bounds": b, "initial_value": x0, "transform": "log10"}
                                  for name, (b, x0) in BOUNDS.items()},
                   "optimizer": {"type": "ScipyLeastSquares"}},
        "tables": {"element_type": "calculation", "calculation": "ECMTables", "fit": "pulses"},
    }}


def test_per_pulse_fits_recover_the_circuit_over_soc_and_assemble_into_its_tables(hppc, tmp_path):
    info = run_serially(pipeline(hppc, SOCS), tmp_path)
    assert info["status"] == "completed", info
    fits = orchestrator.open_run(info["run_id"], tmp_path)["pulses"].to_dataset()
    np.testing.assert_allclose(fits["key"].values, SOCS)
    tables = info["elements"]["tables"]["parameters"]
    for j, name in enumerate(fits["parameter"].values):
        truth = np.interp(SOCS, GRID, TRUTH[name])
        # the slow pair (60 s) relaxes for three of its time constants only: less sharply identified
        rtol = 0.02 if name in ("R0 [Ohm]", "R1 [Ohm]", "C1 [F]") else 0.1
        np.testing.assert_allclose(fits["best_x"].values[:, j], truth, rtol=rtol, err_msg=name)
        assert tables[name]["argument"] == "SoC"
        np.testing.assert_array_equal(tables[name]["x"], SOCS[::-1])  # the assembled table is the per-key results
        np.testing.assert_array_equal(tables[name]["y"], fits["best_x"].values[::-1, j])
    assert np.all(fits["best_cost"].values < 2e-4)  # the 0.1 mV noise, not a misfit
    drawn = element_figures(info["run_id"], "tables", store=tmp_path)["tables"]
    assert [ax.get_title() for ax in drawn.axes if ax.get_visible()] == sorted(TRUTH)
    # R0 from the first sample of a pulse, one second in, also holds what the RC pairs moved in that second
    quick = np.array(info["elements"]["steps"]["parameters"]["R0 [Ohm]"]["y"])[::-1]
    r0 = np.interp(SOCS, GRID, TRUTH["R0 [Ohm]"])
    assert np.all((quick > r0) & (quick < r0 + np.interp(SOCS, GRID, TRUTH["R1 [Ohm]"]) * (1 - np.exp(-0.2))))


SCALES = {25.0: 1.0, 10.0: 1.5, 0.0: 2.5}  # °C: the resistances' scale there (a colder cell resists more)
SCALE_POWER = {"R0 [Ohm]": 1, "R1 [Ohm]": 1, "C1 [F]": -1, "R2 [Ohm]": 1, "C2 [F]": -1}  # see two_rc_grid


@pytest.fixture(scope="module")
def hppc_by_temperature(tmp_path_factory: pytest.TempPathFactory) -> dict[float, Path]:
    """The 2-RC cell's HPPC test at ten SOCs at each temperature, its parameters grids over SOC and temperature."""
    folder = tmp_path_factory.mktemp("hppc_by_temperature")
    grid = two_rc_grid(SCALES)
    paths = {}
    for celsius in SCALES:
        paths[celsius] = folder / f"hppc_{celsius:g}C.csv"
        synthetic_hppc(values=grid, socs=SOCS, capacity=5.0, temperature=273.15 + celsius).to_csv(paths[celsius],
                                                                                                     index=False)
    return paths


def test_per_pulse_fits_over_soc_and_temperature_assemble_into_2d_tables(hppc_by_temperature, tmp_path):
    spec = pipeline(hppc_by_temperature[25.0], SOCS)
    fit = spec["elements"]["pulses"]
    fit["objectives"] = {f"{s}, {celsius:g}": {**fit["objectives"][str(s)], "data": f"file:{path}"}
                         for celsius, path in hppc_by_temperature.items() for s in SOCS}
    spec["elements"] = {"pulses": fit, "tables": {**spec["elements"]["tables"],
                                                  "argument": ["SoC", "Cell temperature [degC]"]}}
    info = run_serially(spec, tmp_path)
    assert info["status"] == "completed", info
    tree = orchestrator.open_run(info["run_id"], tmp_path)
    fits = tree["pulses"].to_dataset()
    keys = [tuple(map(float, k.split(", "))) for k in fits["key"].values]
    assert len(keys) == 30
    # the 30 keys' fits and traces stacked on key: a few dozen zarr arrays, not ~18 per key
    arrays = list((run_path(info["run_id"], tmp_path) / "pulses").rglob("zarr.json"))
    assert len(arrays) < 60, len(arrays)
    last = unstack(tree["pulses/traces"].to_dataset(), fits["key"].values[-1])
    misfit = last["model Voltage [V]"] - last["data Voltage [V]"]
    assert last.sizes["time"] == 201 and float(np.sqrt((misfit**2).mean())) < 2e-4  # the pulse, its fit
    tables = info["elements"]["tables"]["parameters"]
    stored = orchestrator.open_run(info["run_id"], tmp_path)["tables"].to_dataset()
    assert stored["R0 [Ohm]"].dims == ("soc", "temperature")
    for j, name in enumerate(fits["parameter"].values):
        truth = np.array([np.interp(s, GRID, TRUTH[name]) * SCALES[c] ** SCALE_POWER[name] for s, c in keys])
        if name in ("R0 [Ohm]", "R1 [Ohm]", "C1 [F]"):
            np.testing.assert_allclose(fits["best_x"].values[:, j], truth, rtol=0.02, err_msg=name)
        found = tables[name]
        assert found["arguments"] == ["SoC", "Cell temperature [degC]"]
        assert found["x"] == [sorted(SOCS.tolist()), sorted(SCALES)]
        # every knot of the assembled table is that key's own result
        at = {(s, c): found["y"][found["x"][0].index(s)][found["x"][1].index(c)] for s, c in keys}
        assert [at[k] for k in keys] == fits["best_x"].values[:, j].tolist()
        np.testing.assert_array_equal(stored[name].values, np.array(found["y"]))
    again = run_serially(spec, tmp_path)  # the same spec and data: both from the cache, the grids as stored
    assert all("cached_from" in e for e in again["elements"].values())
    assert again["elements"]["tables"]["parameters"] == tables
    drawn = element_figures(info["run_id"], "tables", store=tmp_path)["tables"]
    panels = [ax for ax in drawn.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == sorted(TRUTH)
    assert all(len(ax.get_lines()) == len(SCALES) for ax in panels)  # a line per temperature


@pytest.mark.slow
def test_per_pulse_fits_run_as_concurrent_tasks(hppc, client, tmp_path):
    from distributed import get_task_stream

    spec = pipeline(hppc, SOCS[:6])
    with get_task_stream(client) as stream:
        info = orchestrator.run(spec, client=client, store=tmp_path)
    assert info["status"] == "completed", info
    runs = [(t["worker"], s["start"], s["stop"]) for t in stream.data if "-keys-" in str(t["key"])
            for s in t["startstops"] if s["action"] == "compute"]
    assert len(runs) == 6 and len({w for w, _, _ in runs}) == 2
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in runs for b in runs)  # two at once


SAMSUNG = {"source": f"file:{DATA / 'samsung_inr21700' / 'multipulse_hppc.xlsx'}", "sheet": "Sheet1",
           "column_map": {"Time": "Time [s]", "Current": "Current [A]", "Voltage": "Voltage [V]"}}


def samsung_fit(rc_pairs: int) -> dict:
    """The Samsung INR21700 (3 A.h) multi-pulse test: OCV from its rests, then one fit of the whole test
    (PyBOP's example bounds and starting values)."""
    parameters = {"R0 [Ohm]": [1e-4, 0.1, 0.005], "R1 [Ohm]": [1e-4, 0.1, 0.005], "C1 [F]": [100, 1000, 500],
                  "R2 [Ohm]": [1e-4, 0.1, 0.005], "C2 [F]": [1000, 10000, 2000]}
    return {"elements": {
        "rests": {"element_type": "calculation", "calculation": "HPPCTables", "data": SAMSUNG, "capacity": 3.0,
                  "initial_soc": 0.99, "tables": ["Open-circuit voltage [V]"]},
        "fit": {"element_type": "data_fit",
                "objectives": {"hppc": {"type": "CurrentDriven", "data": SAMSUNG, "initial_state": "from data",
                                        "model": {"type": "ECM", "options": {"rc pairs": rc_pairs}},
                                        "parameters": {"Cell capacity [A.h]": 3.0, "Upper voltage cut-off [V]": 4.3,
                                                       "Lower voltage cut-off [V]": 2.5}}},
                "parameters": {name: {"bounds": [lo, hi], "initial_value": x0, "transform": "log10"}
                               for name, (lo, hi, x0) in list(parameters.items())[:1 + 2 * rc_pairs]},
                "optimizer": {"type": "ScipyLeastSquares"}},
    }}


def test_samsung_multipulse_fits_better_with_two_rc_pairs_than_one(tmp_path):
    rmse = {}
    for rc_pairs in (1, 2):
        info = run_serially(samsung_fit(rc_pairs), tmp_path / str(rc_pairs))
        assert info["status"] == "completed", info
        fit = info["elements"]["fit"]
        rmse[rc_pairs] = fit["summary"]["cost"]
        assert 0.005 < fit["parameters"]["R0 [Ohm]"] < 0.015  # a 21700 cell's ohmic resistance, ~10 mOhm
    assert rmse[2] < rmse[1] < 0.003  # volts
