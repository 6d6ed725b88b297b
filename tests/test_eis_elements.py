"""Impedance as pipeline elements: the EIS objective, LevenbergMarquardt, array_data_fit, eis_dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr
from impedance import preprocessing

import orchestrator
from elements.eis import dataset as eis_dataset
from elements.eis.circuits import Circuit
from elements.eis.fit import fit, random_parameters, synthetic_spectra
from elements.element import Context, RunHandle
from elements.stacking import unstack
from orchestrator import figures
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import D_N, DATA, run_serially

EXAMPLE = DATA / "eis_example_liion.csv"
STRING = "R0-p(R1,C1)-p(R2-Wo1,C2)"
CIRCUIT = Circuit(STRING)
GUESS = [0.01, 0.01, 100, 0.01, 0.05, 100, 1]  # impedance.py's documented initial guess for this circuit
COLUMNS = ["Frequency [Hz]", "Z_real [Ohm]", "Z_imag [Ohm]"]
# Synthetic truths: both arcs and the Warburg's bend inside 1 mHz - 10 kHz (as tests/test_eis_fit.py)
BOUNDS = {
    "R0": (5e-3, 5e-2), "R1": (2e-3, 5e-2), "C1": (0.5, 20.0), "R2": (2e-3, 5e-2),
    "Wo1_0": (1e-2, 2e-1), "Wo1_1": (1.0, 100.0), "C2": (0.05, 2.0),
}
F = np.logspace(-3, 4, 71)
SMALL = "R0-p(R1,C1)"
SMALL_BOUNDS = {"R0": (1e-3, 1e-1), "R1": (1e-3, 1e-1), "C1": (0.1, 100.0)}


def write_spectrum(path: Path, f: np.ndarray, z: np.ndarray, *, header: bool = True) -> None:
    pd.DataFrame({"Frequency [Hz]": f, "Z_real [Ohm]": z.real, "Z_imag [Ohm]": z.imag}).to_csv(
        path, index=False, header=header)


def eis(data: object, circuit: str = STRING, **options: object) -> dict:
    return {"type": "EIS", "circuit": circuit, "data": data, **options}


def example_data() -> dict:
    """impedance.py's example file: header-less, so its columns are named."""
    return {"source": f"file:{EXAMPLE}", "columns": COLUMNS}


def parameters(bounds: dict, **extra: object) -> dict:
    return {name: {"bounds": list(b), "transform": "log10", **extra} for name, b in bounds.items()}


@pytest.fixture(scope="module")
def example() -> tuple[np.ndarray, np.ndarray]:
    f, z = preprocessing.readCSV(str(EXAMPLE))
    return preprocessing.ignoreBelowX(f, z)


def test_data_fit_with_levenberg_marquardt_agrees_with_eis_fit(example, tmp_path):
    wide = {"R0": (1e-4, 1), "R1": (1e-4, 1), "C1": (1e-2, 1e4), "R2": (1e-4, 1), "Wo1_0": (1e-3, 10),
            "Wo1_1": (1e-1, 1e4), "C2": (1e-3, 1e3)}
    fitted = parameters(wide)
    for name, guess in zip(CIRCUIT.parameter_names, GUESS, strict=True):
        fitted[name]["initial_value"] = guess
    spec = {"elements": {"fit": {
        "element_type": "data_fit",
        "objectives": {"spectrum": eis(example_data(), drop_positive_imag=True)},
        "parameters": fitted,
        "optimizer": {"type": "LevenbergMarquardt", "n_starts": 4, "seed": 3},
    }}}
    info = run_serially(spec, tmp_path)
    assert info["status"] == "completed", info["elements"]["fit"].get("error")
    ds = orchestrator.open_run(info["run_id"], tmp_path)["fit"].to_dataset()
    # every start and where it ended are recorded evaluations: generation 0 the starts, 1 the ends
    np.testing.assert_array_equal(ds.generation.values, [0] * 4 + [1] * 4)
    starts, ends = ds.x.values[:4], ds.x.values[4:]
    np.testing.assert_allclose(starts[0], GUESS)  # the initial values are the first start
    f, z = example
    oracle = fit(CIRCUIT, f, z, starts[None], bounds={k: tuple(v) for k, v in wide.items()})
    np.testing.assert_allclose(ends, oracle.start_parameters[0], rtol=0.01)
    np.testing.assert_allclose(ds.best_x.values, oracle.parameters[0], rtol=0.01)
    # the objective's cost is the sum of squares, eis_fit's half of it
    assert float(ds.best_cost) == pytest.approx(2 * oracle.cost[0], rel=1e-3)
    assert float(ds.best_cost) == pytest.approx(float(ds.cost[4:].min()))
    assert ds.attrs["nit"] == oracle.iterations[0]
    assert ds.attrs["success"] and ds.attrs["message"].startswith(f"start {int(oracle.best_start[0])} of 4: converged")
    traces = orchestrator.open_run(info["run_id"], tmp_path)["fit/traces/spectrum"].to_dataset()
    np.testing.assert_allclose(traces.Z_imag.values, z.imag)  # only the points below the axis
    np.testing.assert_allclose(traces.Z_real_fit + 1j * traces.Z_imag_fit, CIRCUIT.impedance(ds.best_x.values, f))


@pytest.mark.parametrize("weighting", ["unit", "proportional", "modulus"])
def test_cost_is_the_weighted_sum_of_squares(example, weighting):
    spec = load_pipeline({"elements": {"fit": {
        "element_type": "data_fit", "objectives": {"s": eis(example_data(), drop_positive_imag=True, weighting=weighting)},
        "parameters": parameters(BOUNDS)}}}).elements["fit"]
    [objective] = spec.objectives["s"].build("s", inputs=CIRCUIT.parameter_names, existing={}, cost=spec.cost,
                                             base_dir=Path.cwd())
    f, z = example
    model = np.asarray(CIRCUIT.impedance(GUESS, f))
    w_real, w_imag = {"unit": (1, 1), "proportional": (1 / abs(z.real), 1 / abs(z.imag)),
                      "modulus": (1 / abs(z), 1 / abs(z))}[weighting]
    by_hand = np.sum((w_real * (model - z).real) ** 2) + np.sum((w_imag * (model - z).imag) ** 2)
    assert objective.cost(objective.solve(np.array([GUESS]))[0]) == pytest.approx(by_hand, rel=1e-12)


def test_population_optimizer_fits_eis_with_held_parameters(tmp_path):
    truth = {"R0": 0.012, "R1": 0.03, "C1": 4.0}
    write_spectrum(tmp_path / "small.csv", F, np.asarray(Circuit(SMALL).impedance(list(truth.values()), F)),
                   header=False)
    data = {"source": f"file:{tmp_path / 'small.csv'}", "columns": COLUMNS}
    spec = {"elements": {
        "start": {"element_type": "entry", "values": {"R0": truth["R0"]}},  # held, from upstream
        "fit": {
            "element_type": "data_fit",
            "objectives": {"small": eis(data, circuit=SMALL, weighting="modulus")},
            "parameters": parameters({"C1": SMALL_BOUNDS["C1"], "R1": SMALL_BOUNDS["R1"]}),  # not the circuit's order
            "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 10, "tol": 1e-8},
        },
    }}
    info = run_serially(spec, tmp_path)
    found = info["elements"]["fit"]["summary"]["parameters"]
    assert found == pytest.approx({"C1": truth["C1"], "R1": truth["R1"]}, rel=0.01)


def test_validation_checks_values_from_upstream(example, tmp_path):
    f, z = example
    best = fit(CIRCUIT, f, z, GUESS).parameters[0]
    values = dict(zip(CIRCUIT.parameter_names, map(float, best), strict=True))
    spec = {"elements": {
        "entry": {"element_type": "entry", "values": values},
        "check": {"element_type": "validation", "objectives": {"example": eis(example_data(), drop_positive_imag=True)}},
    }}
    info = run_serially(spec, tmp_path)
    metrics = info["elements"]["check"]["summary"]["metrics"]["example"]
    residual = np.asarray(CIRCUIT.impedance(best, f)) - z
    stacked = np.concatenate([residual.real, residual.imag])  # in Ohm, unweighted
    assert metrics["RMSE"] == pytest.approx(np.sqrt(np.mean(stacked**2)), rel=1e-9)
    assert metrics["Max"] == pytest.approx(np.abs(stacked).max(), rel=1e-9)
    assert metrics["status"] == "ok"

    del spec["elements"]["entry"]["values"]["C2"]
    with pytest.raises(ValueError, match=r"parameter\(s\) C2 have no value"):
        run_serially(spec, tmp_path)


@pytest.fixture(scope="module")
def spectra_folder(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """50 noise-free synthetic spectra, one file each, and their true parameters."""
    folder = tmp_path_factory.mktemp("spectra")
    truth = random_parameters(CIRCUIT, 50, bounds=BOUNDS, seed=1)
    for i, z in enumerate(np.asarray(synthetic_spectra(CIRCUIT, truth, F))):
        write_spectrum(folder / f"soc_{i:02d}.csv", F, z)
    return folder, truth


def test_array_data_fit_over_a_folder_recovers_truth(spectra_folder, tmp_path):
    folder, truth = spectra_folder
    spec = {"elements": {"fit": {
        "element_type": "array_data_fit",
        "objectives": {"soc": eis(f"folder:{folder}")},
        "parameters": parameters(BOUNDS),
        "optimizer": {"type": "LevenbergMarquardt", "n_starts": 16},
    }}}
    info = run_serially(spec, tmp_path)
    assert info["status"] == "completed", info["elements"]["fit"].get("error")
    ds = orchestrator.open_run(info["run_id"], tmp_path)["fit"].to_dataset()
    assert list(ds.spectrum.values) == [f"soc_{i:02d}" for i in range(50)]  # one key per file
    recovered = np.all(np.abs(ds.best_x.values / truth - 1) < 0.01, axis=1)
    assert recovered.mean() >= 0.95
    assert ds.attrs["chunks"] == 3 and ds.sizes["start"] == 16  # 3 chunks per worker thread, serially one thread
    np.testing.assert_array_equal(ds.best_cost, ds.end_cost.min("start"))
    z = synthetic_spectra(CIRCUIT, truth, F)
    np.testing.assert_allclose(ds.Z_real + 1j * ds.Z_imag, z)
    np.testing.assert_allclose(ds.Z_real_fit + 1j * ds.Z_imag_fit, CIRCUIT.impedance(ds.best_x.values, F))
    assert {"nyquist", "bode"} <= set(figures.element_figures(info["run_id"], "fit", store=tmp_path))


def test_array_data_fit_with_a_population_optimizer_fits_each_key(tmp_path):
    truths = {0.2: [0.01, 0.02, 2.0], 0.8: [0.02, 0.05, 8.0]}
    objectives = {}
    for soc, truth in truths.items():
        write_spectrum(tmp_path / f"{soc}.csv", F, np.asarray(Circuit(SMALL).impedance(truth, F)))
        objectives[soc] = eis(f"file:{tmp_path / f'{soc}.csv'}", circuit=SMALL)  # keys are numbers, as YAML reads `0.2:`
    spec = {"elements": {"fit": {
        "element_type": "array_data_fit", "objectives": objectives, "parameters": parameters(SMALL_BOUNDS),
        "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 10, "tol": 1e-8},
    }}}
    info = run_serially(spec, tmp_path)
    tree = orchestrator.open_run(info["run_id"], tmp_path)
    ds = tree["fit"].to_dataset()
    np.testing.assert_array_equal(ds.key.values, [0.2, 0.8])
    np.testing.assert_allclose(ds.best_x.values, list(truths.values()), rtol=0.01)
    # every key's fit and traces, stacked on key: each key's as its own data_fit wrote it
    one = unstack(tree["fit/fits"].to_dataset(), 0.8)
    assert float(one.best_cost) == float(ds.best_cost.sel(key=0.8)) and one.attrs["nfev"] == int(ds.nfev.sel(key=0.8))
    assert one.sizes["evaluation"] == one.attrs["nfev"] and np.isfinite(one["cost"]).any()
    assert "Z_real_fit" in unstack(tree["fit/traces"].to_dataset(), 0.2)


def test_levenberg_marquardt_names_objectives_without_residuals(tmp_path):
    pd.DataFrame({"Time [s]": [0.0, 1.0, 2.0], "Voltage [V]": [4.0, 3.99, 3.98], "Current [A]": [1.0] * 3}).to_csv(
        tmp_path / "1C.csv", index=False)
    current_driven = {"type": "CurrentDriven", "data": f"file:{tmp_path / '1C.csv'}"}
    fitted = {D_N: {"bounds": [1e-15, 1e-12], "transform": "log10"}}
    lm = {"type": "LevenbergMarquardt"}
    spec = {"elements": {"fit": {"element_type": "data_fit", "objectives": {"1C": current_driven},
                                 "parameters": fitted, "optimizer": lm}}}
    # checked with the spec, before anything runs
    with pytest.raises(SpecError, match=r"elements.fit: optimizer: LevenbergMarquardt needs .*'1C' give no least"):
        load_pipeline(spec)
    spec["elements"]["fit"]["element_type"] = "array_data_fit"
    with pytest.raises(SpecError, match=r"elements.fit: optimizer: LevenbergMarquardt needs .*'1C' give no least"):
        load_pipeline(spec)


def test_levenberg_marquardt_fits_one_objective_at_a_time(spectra_folder, tmp_path):
    folder, _ = spectra_folder
    spec = {"elements": {"fit": {"element_type": "data_fit", "objectives": {"all": eis(f"folder:{folder}")},
                                 "parameters": parameters(BOUNDS), "optimizer": {"type": "LevenbergMarquardt"}}}}
    with pytest.raises(TypeError, match="fits one objective at a time; this fit has 50.*array_data_fit"):
        run_serially(spec, tmp_path)


def pipeline_with(element: dict) -> dict:
    return {"elements": {"e": element}}


DATASET = {"element_type": "eis_dataset", "circuits": {"randles": SMALL},
           "parameters": {k: {"bounds": list(v)} for k, v in SMALL_BOUNDS.items()},
           "frequencies": {"logspace": [1e-3, 1e4, 71]}, "n": 10}
BAD = [
    (pipeline_with({"element_type": "data_fit", "objectives": {"s": eis("file:x.csv", circuit="R0-p(R1,C1")},
                    "parameters": parameters(SMALL_BOUNDS)}),
     "elements.e.objectives.s.circuit", "expected ',' or ')' to close the 'p(' at position 3"),
    (pipeline_with({"element_type": "data_fit", "objectives": {"s": eis("file:x.csv", circuit="R0-Q1")},
                    "parameters": parameters(SMALL_BOUNDS)}),
     "elements.e.objectives.s.circuit", "unknown circuit element 'Q' in 'Q1'; valid elements: C, CPE, L"),
    (pipeline_with({"element_type": "data_fit", "objectives": {"s": eis("file:x.csv", circuit=SMALL)},
                    "parameters": parameters({**SMALL_BOUNDS, "R9": (1.0, 2.0)})}),
     "elements.e", "unknown parameter 'R9' of circuit 'R0-p(R1,C1)'; valid parameters: 'C1', 'R0', 'R1'"),
    (pipeline_with({"element_type": "array_data_fit", "objectives": {"s": eis("file:x.csv", circuit=SMALL)},
                    "parameters": parameters({"CPE1_0": (1.0, 2.0)})}),
     "elements.e", "unknown parameter 'CPE1_0' of circuit"),
    (pipeline_with({"element_type": "validation", "objectives": {"s": eis("file:x.csv", circuit=SMALL,
                                                                          parameters={"C2": 1.0})}}),
     "elements.e.objectives.s", "parameters: unknown parameter 'C2' of circuit"),
    (pipeline_with({**DATASET, "circuits": {"bad": "R0-p(R1,,C1)"}}),
     "elements.e.circuits.bad.circuit", "expected an element or 'p(', found ','"),
    (pipeline_with({**DATASET, "circuits": [SMALL, STRING]}),
     "elements.e", f"circuit {STRING!r} ({STRING}) has no distribution for R2, Wo1_0, Wo1_1, C2"),
    (pipeline_with({**DATASET, "parameters": {**DATASET["parameters"], "L1": {"bounds": [1, 2]}}}),
     "elements.e", "parameters: 'L1' is a parameter of none of the circuits"),
    (pipeline_with({**DATASET, "parameters": {**DATASET["parameters"], "R0": {"bounds": [0, 0.1]}}}),
     "elements.e", "R0 is drawn log-uniformly and needs a lower bound above 0, got [0.0, 0.1]"),
]


@pytest.mark.parametrize("spec, path, phrase", BAD, ids=[b[2] for b in BAD])
def test_bad_circuits_and_parameters_are_spec_errors(spec, path, phrase):
    with pytest.raises(SpecError) as caught:
        load_pipeline(spec)
    assert any(p == path and phrase in m for p, m in caught.value.problems), caught.value.problems


def dataset_spec(n: int, **options: object) -> dict:
    return {"elements": {"spectra": {
        "element_type": "eis_dataset",
        "circuits": {"randles": SMALL, "two_arcs": {"circuit": STRING, "weight": 3}},
        "parameters": {**{k: {"bounds": list(v)} for k, v in BOUNDS.items()}, "C1": {"bounds": [0.5, 20.0],
                                                                                       "distribution": "uniform"}},
        "frequencies": {"logspace": [1e-3, 1e4, 71]}, "n": n, "noise": 1e-3, "seed": 7, **options,
    }}}


def check_regenerated(ds: xr.Dataset, picks: np.ndarray, noise: float) -> None:
    """Spectra made again from their stored parameters lie within the noise of the stored ones."""
    circuits = ds.attrs["circuits"]
    for i in picks:
        row = ds.isel(spectrum=int(i))
        circuit = Circuit(circuits[str(row.label.values)])
        params = [float(row[name]) for name in circuit.parameter_names]
        clean = np.asarray(circuit.impedance(params, ds.frequency.values))
        stored = row.Z_real.values + 1j * row.Z_imag.values
        deviation = (stored - clean) / np.abs(clean)
        assert np.abs(deviation.real).max() < 6 * noise and np.abs(deviation.imag).max() < 6 * noise
        assert np.abs(deviation).max() > 0  # the noise is there


def test_dataset_is_a_seeded_table_and_resumes(tmp_path):
    info = run_serially(dataset_spec(3000, chunk_size=1000), tmp_path)
    assert info["elements"]["spectra"]["summary"]["counts"]["chunks_written"] == 3
    path = tmp_path / "runs" / f"{info['run_id']}.zarr"
    ds = xr.open_datatree(path, engine="zarr")["spectra"].to_dataset().load()
    assert ds.Z_real.shape == (3000, 71) and (ds.status == "ok").all()
    assert (ds.label == "two_arcs").mean() == pytest.approx(0.75, abs=0.05)
    randles = ds.label == "randles"
    np.testing.assert_array_equal(ds.R2.isnull(), randles)  # not a parameter of that circuit
    assert float(ds.C1.min()) >= 0.5 and float(ds.C1.max()) <= 20.0
    assert np.mean(ds.C1) == pytest.approx(10.25, rel=0.05)  # uniform, as asked, not log-uniform
    check_regenerated(ds, np.arange(0, 3000, 150), noise=1e-3)
    assert {"nyquist", "bode"} <= set(figures.element_figures(info["run_id"], "spectra", store=tmp_path))

    # a chunk left unwritten (a killed run) is written again, to the same values
    group = zarr.open_group(str(path), path="spectra", mode="r+")
    group["solve_count"][1] = 0
    group["Z_real"][1000:2000] = np.nan
    spec = load_pipeline(dataset_spec(3000, chunk_size=1000)).elements["spectra"]
    result = eis_dataset.run(spec, Context(name="spectra", run=RunHandle(store_group=lambda: (str(path), "spectra"))))
    assert result.summary.counts["chunks_written"] == 1 and result.summary.counts["chunks_resumed"] == 2
    again = xr.open_datatree(path, engine="zarr")["spectra"].to_dataset().load()
    xr.testing.assert_identical(again.drop_vars("solve_count"), ds.drop_vars("solve_count"))


@pytest.mark.slow
def test_dataset_of_100k_spectra_on_a_local_cluster(client, tmp_path):
    info = orchestrator.run(dataset_spec(100_000), client=client, store=tmp_path)
    assert info["status"] == "completed", info["elements"]["spectra"].get("error")
    counts = info["elements"]["spectra"]["summary"]["counts"]
    assert counts["spectra_written"] == 100_000 and counts["chunks"] == 7  # 16384 spectra per chunk task
    tree = xr.open_datatree(tmp_path / "runs" / f"{info['run_id']}.zarr", engine="zarr")
    ds = tree["spectra"].to_dataset()
    assert ds.sizes == {"spectrum": 100_000, "frequency": 71, "chunk": 7}
    assert ds.chunk_done.all() and (ds.status == "ok").all()
    assert (ds.label == "two_arcs").mean() == pytest.approx(0.75, abs=0.01)
    for name, (lower, upper) in BOUNDS.items():
        assert lower <= float(ds[name].min()) and float(ds[name].max()) <= upper
    check_regenerated(ds, np.random.default_rng(0).choice(100_000, 20, replace=False), noise=1e-3)


def test_an_eis_objective_refuses_a_cost_of_its_own():
    from pydantic import ValidationError

    from elements.objectives.eis import EIS

    with pytest.raises(ValidationError, match="remove `cost` from this objective"):
        EIS(circuit="R0-p(R1,C1)", data="file:x.csv", cost="MAE")
