"""The EIS objective with a PyBaMM model: PyBaMM's frequency-domain impedance, fitted across states of charge."""

from __future__ import annotations

from pathlib import Path

import ionworks_schema as iws
import numpy as np
import pybamm
import pytest

import orchestrator
from orchestrator import figures
from elements.costs import COSTS
from elements.eis.physics import synthetic_spectrum
from elements.objectives import OBJECTIVES, legacy
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import D_N, run_serially

CDL_N = "Negative electrode double-layer capacity [F.m-2]"
J0_N = "Negative electrode exchange-current density [A.m-2]"
TRUTH = {CDL_N: 0.3, f"{J0_N} factor": 1.3}  # Chen2020: 0.2 F/m2 and factor 1
SOCS = (0.1, 0.3, 0.5, 0.7, 0.9)
F = np.logspace(-1, 3, 9)  # the kinetic arc; solid diffusion (corner near 1 mHz) is out of sight
SPME = {"type": "SPMe", "options": {"surface form": "differential"}}


def spectrum_file(folder: Path, soc: float, *, noise: float = 0.0, seed: int = 0, values: dict = TRUTH) -> str:
    path = folder / f"soc_{soc}.csv"
    synthetic_spectrum(values=values, frequency=F, initial_soc=soc, noise=noise, seed=seed).to_csv(path, index=False)
    return f"file:{path}"


def objective(config: dict, tmp_path: Path, inputs: tuple[str, ...]) -> object:
    kind = OBJECTIVES["EIS"](**legacy(config))
    [built] = kind.build("eis", inputs=inputs, existing={}, cost=COSTS["SSE"](), base_dir=tmp_path)
    return built


def reference(model: pybamm.BaseModel, row: np.ndarray, soc: float) -> np.ndarray:
    """PyBaMM alone: the values put in by hand, the SOC by EISSimulation.solve."""
    values = pybamm.ParameterValues("Chen2020")
    j0 = values[J0_N]
    values.update({CDL_N: row[0], J0_N: lambda *args: row[1] * j0(*args)})
    return np.asarray(pybamm.EISSimulation(model, values).solve(F, initial_soc=soc).impedance)


@pytest.mark.parametrize("model, config", [
    (pybamm.lithium_ion.SPMe({"surface form": "differential"}), {"model": SPME, "initial_soc": 0.3}),
    # ionworks-schema's form; its to_config() writes every option, surface form "false" among them
    (pybamm.lithium_ion.DFN({"surface form": "differential"}),
     {"options": {"model": iws.objectives.EIS(data_input="file:x.csv", options={"model": pybamm.lithium_ion.DFN()})
                  .to_config()["options"]["model"]}, "parameters": {"Initial SOC": 0.3}}),
])
def test_impedance_equals_pybamm_eis_simulation(model, config, tmp_path):
    built = objective({"type": "EIS", "data": spectrum_file(tmp_path, 0.3), **config}, tmp_path, tuple(TRUTH))
    X = np.array([[0.2, 1.0], [0.3, 1.3], [0.5, 0.7]])
    outcomes = built.solve(X)
    for row, outcome in zip(X, outcomes, strict=True):
        np.testing.assert_allclose(outcome.value, reference(model, row, 0.3), rtol=1e-8)


def test_a_failing_candidate_is_data_with_its_reason(tmp_path):
    built = objective({"type": "EIS", "model": SPME, "data": spectrum_file(tmp_path, 0.5), "initial_soc": 0.5},
                      tmp_path, tuple(TRUTH))
    good, bad = built.solve(np.array([[0.3, 1.3], [0.0, 1.0]]))  # no double layer: a singular system
    assert built.cost(good) == pytest.approx(0, abs=1e-20)
    assert bad.value is None and "not finite" in bad.message and built.cost(bad) == float("inf")
    assert built.traces(bad).attrs["status"] == "infeasible"


def test_surface_form_is_set_for_the_frequency_domain(tmp_path):
    built = objective({"type": "EIS", "model": "SPM", "data": spectrum_file(tmp_path, 0.5)}, tmp_path, ())
    assert built.setup.model_options == {"surface form": "differential"}
    kept = objective({"type": "EIS", "model": {"type": "SPM", "options": {"surface form": "algebraic"}},
                      "data": spectrum_file(tmp_path, 0.5)}, tmp_path, ())
    assert kept.setup.model_options == {"surface form": "algebraic"}


@pytest.mark.parametrize("objective_config, phrase", [
    ({"circuit": "R0-p(R1,C1)", "model": "SPM"}, "either circuit: (an impedance.py string"),
    ({}, "not neither"),
    ({"circuit": "R0-p(R1,C1)", "initial_soc": 0.5}, "initial_soc and var_pts apply to a model's impedance"),
    ({"model": "SPMe", "parameters": {"Negative electrode double-layer capacity": 0.2}},
     "unknown parameter of Chen2020 'Negative electrode double-layer capacity'"),
    ({"model": "SPMe", "initial_soc": 1.5}, "initial_soc"),
    ({"options": {"model": "SPMe", "simulation_kwargs": {"geometry": {}}}}, "sweepfit sets the mesh by var_pts"),
])
def test_bad_model_eis_is_a_spec_error(objective_config, phrase):
    spec = {"elements": {"fit": {
        "element_type": "data_fit", "objectives": {"eis": {"type": "EIS", "data": "file:x.csv", **objective_config}},
        "parameters": {CDL_N: {"bounds": [0.05, 1.0]}}}}}
    with pytest.raises(SpecError, match="eis") as caught:
        load_pipeline(spec)
    assert phrase in str(caught.value)


def fit_element(objectives: dict, bounds: dict, **options: object) -> dict:
    return {"element_type": "data_fit", "objectives": objectives,
            "parameters": {n: {"bounds": list(b), "transform": "log10"} for n, b in bounds.items()},
            "optimizer": {"type": "ScipyDifferentialEvolution", "seed": 0, "popsize": 6, "tol": 1e-6,
                          "maxiter": 25, **options}}


BOUNDS = {CDL_N: (0.05, 1.0), f"{J0_N} factor": (0.3, 3.0)}


def test_spectra_at_five_socs_recover_double_layer_and_kinetics(tmp_path):
    """One objective per SOC sharing the parameters, 1 % noise; then the linear intervals and correlation."""
    objectives = {f"soc {soc}": {"type": "EIS", "model": SPME, "initial_soc": soc,
                                 "data": spectrum_file(tmp_path, soc, noise=0.01, seed=i), "weighting": "modulus"}
                  for i, soc in enumerate(SOCS)}
    ci = {"element_type": "linear_confidence_interval", "objectives": objectives,
          "parameters": {n: {"bounds": list(b), "transform": "log10"} for n, b in BOUNDS.items()}}
    info = run_serially({"elements": {"fit": fit_element(objectives, BOUNDS), "ci": ci}}, tmp_path / "store")
    assert info["status"] == "completed", info
    found = info["elements"]["fit"]["summary"]["parameters"]
    assert found == pytest.approx(TRUTH, rel=0.03)
    ds = orchestrator.open_run(info["run_id"], tmp_path / "store")["ci"].to_dataset()
    correlation = float(ds["correlation"].values[0, 1])
    assert abs(correlation) < 0.9  # the double layer (arc's frequency) and kinetics (its width) separate
    assert (ds["upper"].values / ds["lower"].values < 1.1).all()  # both pinned within a few per cent


def test_spectra_and_a_discharge_together_recover_what_neither_recovers_alone(short_csv, tmp_path):
    """Above 0.1 Hz a spectrum sees the double layer but not solid diffusion (its corner lies near 1 mHz);
    a discharge (no double layer in its model) sees diffusion only. Each alone leaves one parameter
    where the optimizer happened to stop; together they pin both. Each objective's sum of squares is
    weighted by its noise variance (1 % of |Z| for a modulus-weighted spectrum, 1 mV for the discharge),
    so the spectra's faint, noisy hold on diffusion does not outweigh the discharge's."""
    truth = {CDL_N: 0.3, D_N: 3.3e-14}  # the discharge's diffusivity, as tests/conftest.py writes it
    bounds = {CDL_N: (0.05, 1.0), D_N: (1e-15, 1e-12)}
    spectra = {}
    for soc in (0.3, 0.7):
        path = tmp_path / f"soc_{soc}.csv"
        synthetic_spectrum(values={CDL_N: truth[CDL_N]}, frequency=F, initial_soc=soc, noise=0.01).to_csv(path)
        spectra[f"eis {soc}"] = {"type": "EIS", "model": SPME, "initial_soc": soc, "data": f"file:{path}",
                                 "weighting": "modulus"}
    discharge = {"1C": {"type": "CurrentDriven", "model": {"type": "SPMe"}, "data": f"file:{short_csv}",
                        "cost": {"type": "SSE"}, "weight": 0.01**2 / 0.001**2}}
    spec = {"elements": {
        "eis_only": fit_element(spectra, bounds),
        "discharge_only": fit_element(discharge, bounds),
        "joint": fit_element({**spectra, **discharge}, bounds),
    }}
    info = run_serially(spec, tmp_path / "store")
    assert info["status"] == "completed", info
    found = {name: info["elements"][name]["summary"]["parameters"] for name in spec["elements"]}
    errors = {name: {n: abs(v / truth[n] - 1) for n, v in values.items()} for name, values in found.items()}
    assert errors["eis_only"][CDL_N] < 0.03 and errors["eis_only"][D_N] > 0.03, found
    assert errors["discharge_only"][D_N] < 0.03 and errors["discharge_only"][CDL_N] > 0.03, found
    assert max(errors["joint"].values()) < 0.03, found


def test_array_data_fit_fits_each_soc_and_draws_its_spectra(tmp_path):
    """Each SOC its own fit: a double layer that grows with SOC, found per key."""
    truths = {0.3: 0.2, 0.7: 0.4}
    factor = f"{J0_N} factor"
    objectives = {soc: {"type": "EIS", "model": SPME, "initial_soc": soc, "parameters": {factor: TRUTH[factor]},
                        "data": spectrum_file(tmp_path, soc, values={**TRUTH, CDL_N: cdl})}
                  for soc, cdl in truths.items()}
    spec = {"elements": {"fit": {**fit_element(objectives, {CDL_N: BOUNDS[CDL_N]}, maxiter=10),
                                 "element_type": "array_data_fit"}}}
    info = run_serially(spec, tmp_path / "store")
    ds = orchestrator.open_run(info["run_id"], tmp_path / "store")["fit"].to_dataset()
    np.testing.assert_array_equal(ds.key.values, list(truths))
    np.testing.assert_allclose(ds.best_x.values[:, 0], list(truths.values()), rtol=0.01)
    drawn = figures.element_figures(info["run_id"], "fit", store=tmp_path / "store")
    assert {f"{kind} traces {soc}" for kind in ("nyquist", "bode") for soc in truths} <= set(drawn)
