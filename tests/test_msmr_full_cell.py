"""``MSMRFullCell``: a full cell's capacity against its voltage, by PyBaMM's MSMR electrodes, fitted to
synthetic data with a known truth (PyBaMM's ``MSMR_Example`` species)."""

from __future__ import annotations

from pathlib import Path

import ionworks_schema as iws
import numpy as np
import pandas as pd
import pybamm
import pytest

import orchestrator
from elements.core.data import DataError
from elements.costs import COSTS
from elements.objectives import OBJECTIVES, legacy
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import run_serially

Q_N, Q_P = "Negative electrode capacity [A.h]", "Positive electrode capacity [A.h]"
Q_LI, LOWER = "Cyclable lithium capacity [A.h]", "Negative electrode lower excess capacity [A.h]"
U0_N = "Negative electrode host site standard potential (0) [V]"
U0_P = "Positive electrode host site standard potential (1) [V]"
TRUE = {Q_N: 5.6, Q_P: 5.4, Q_LI: 5.0, LOWER: 0.05}
SPECIES = {k: v for k, v in pybamm.ParameterValues("MSMR_Example").items()
           if "host site" in k and any(s in k for s in ("standard potential", "occupancy fraction", "ideality factor"))}
OPTIONS = {"open-circuit potential": "MSMR", "particle": "MSMR", "intercalation kinetics": "MSMR",
           "number of MSMR reactions": ("6", "4")}


def lithiated(electrode: str, u: np.ndarray) -> np.ndarray:
    """PyBaMM's MSMR stoichiometry of an electrode of MSMR_Example at potentials ``u``."""
    side = getattr(pybamm.LithiumIonParameters(OPTIONS), electrode).prim
    values = pybamm.ParameterValues({**SPECIES, "Ambient temperature [K]": 298.15})
    x = side.x(pybamm.Vector(u), pybamm.Parameter("Ambient temperature [K]"))
    return values.process_symbol(x).evaluate().ravel()


@pytest.fixture(scope="module")
def ocv() -> pd.DataFrame:
    """60 points, even in capacity, from 3.0 to 4.15 V: a grid of negative potentials, the positive's
    potential from its tabulated stoichiometry inverted by interpolation (not the objective's method)."""
    u_n = np.linspace(0.0, 1.2, 4000)
    in_negative = TRUE[Q_N] * lithiated("n", u_n)
    u_table = np.linspace(2.5, 5.0, 20000)
    y_table = lithiated("p", u_table)
    u_p = np.interp((TRUE[Q_LI] - in_negative) / TRUE[Q_P], y_table[::-1], u_table[::-1], left=np.nan, right=np.nan)
    v, q = u_p - u_n, in_negative - TRUE[LOWER]
    keep = np.isfinite(v) & (v >= 3.0) & (v <= 4.15)
    v, q = v[keep][::-1], q[keep][::-1]  # rising
    grid = np.linspace(q[0], q[-1], 60)
    return pd.DataFrame({"Capacity [A.h]": grid, "Voltage [V]": np.interp(grid, q, v)})


def pipeline(data: pd.DataFrame) -> dict:
    """Species held by an entry; the capacities (5 % off) and one standard potential of each electrode
    (10 mV off) fitted, with ionworks-schema's own classes."""
    known = iws.direct_entries.DirectEntry(parameters={**SPECIES, "Ambient temperature [K]": 298.15})
    truth = {**TRUE, U0_N: SPECIES[U0_N], U0_P: SPECIES[U0_P]}
    parameters = {}
    for name, value in truth.items():
        start = value * 1.05 if "capacity" in name else value + 0.01
        bounds = (0.8 * start, 1.2 * start) if "capacity" in name else (start - 0.05, start + 0.05)
        parameters[name] = iws.Parameter(name, initial_value=start, bounds=bounds)
    model = iws.models.MSMRFullCellModel(
        iws.models.MSMRHalfCellModel(electrode="negative", options={"species format": "Xj"}),
        iws.models.MSMRHalfCellModel(electrode="positive", options={"species format": "Xj"}))
    objective = iws.objectives.MSMRFullCell(data=data, options=iws.objectives.MSMRFullCellOptions(model=model))
    fit = iws.DataFit(objectives={"ocv": objective}, parameters=parameters,
                      optimizer=iws.optimizers.ScipyLeastSquares(max_nfev=50))
    return iws.Pipeline({"known": known, "fit": fit}).to_config()


def test_full_cell_fit_recovers_capacities_and_potentials(ocv, tmp_path):
    info = run_serially(pipeline(ocv), tmp_path)
    assert info["status"] == "completed", info
    found = info["elements"]["fit"]["summary"]["parameters"]
    for name, value in {**TRUE, U0_N: SPECIES[U0_N], U0_P: SPECIES[U0_P]}.items():
        assert found[name] == pytest.approx(value, rel=0.02), name
    traces = orchestrator.open_run(info["run_id"], tmp_path)["fit/traces/ocv"].to_dataset()
    assert float(abs(traces["model Capacity [A.h]"] - traces["data Capacity [A.h]"]).max()) < 2e-3  # of 4.1 A.h


def built(data: pd.DataFrame, tmp_path: Path, existing: dict = SPECIES, **options: object) -> list:
    """The worker-side objectives, the capacities of TRUE fitted."""
    path = tmp_path / "ocv.csv"
    data.to_csv(path, index=False)
    kind = OBJECTIVES["MSMRFullCell"](**legacy({"type": "MSMRFullCell", "data": f"file:{path}", "options": options}))
    return kind.build("ocv", inputs=tuple(TRUE), existing=existing, cost=COSTS["RMSE"](), base_dir=tmp_path)


def test_the_balance_is_pybamms_electrode_state_of_health(tmp_path):
    """PyBaMM's MSMR electrode SOH between 3.0 and 4.1 V: the negative's stoichiometry at each end."""
    values = pybamm.ParameterValues("MSMR_Example")
    values.update({"Open-circuit voltage at 0% SOC [V]": 3.0, "Open-circuit voltage at 100% SOC [V]": 4.1})
    soh = pybamm.lithium_ion.ElectrodeSOHSolver(values, param=pybamm.LithiumIonParameters(OPTIONS), options=OPTIONS)
    ends = soh.solve({"Q_n": TRUE[Q_N], "Q_p": TRUE[Q_P], "Q_Li": TRUE[Q_LI]})
    [objective] = built(pd.DataFrame({"Capacity [A.h]": [0.0, 3.9], "Voltage [V]": [3.0, 4.1]}), tmp_path)
    [outcome] = objective.solve(np.array([list(TRUE.values())]))
    in_negative = outcome.value["Capacity [A.h]"] + TRUE[LOWER]
    expected = TRUE[Q_N] * np.array([float(ends["x_0"]), float(ends["x_100"])])
    np.testing.assert_allclose(in_negative, expected, rtol=2e-5)  # MSMR_Example's X_j sum to 0.99999, not 1


def test_gradient_matches_finite_differences(ocv, tmp_path):
    [objective] = built(ocv, tmp_path)
    x = np.array([5.5, 5.5, 4.9, 0.07])
    [found] = objective.value_and_grad(x[None])
    steps = 1e-6 * x
    numeric = [(objective.cost(objective.solve((x + h * e)[None])[0]) -
                objective.cost(objective.solve((x - h * e)[None])[0])) / (2 * h) for h, e in zip(steps, np.eye(4))]
    np.testing.assert_allclose(found.gradient, numeric, rtol=1e-5)


def test_dudq_cutoff_leaves_out_the_steep_points(ocv, tmp_path):
    slope = np.abs(np.gradient(ocv["Voltage [V]"], ocv["Capacity [A.h]"]))
    cutoff = float(np.median(slope))
    [objective] = built(ocv, tmp_path, **{"dUdQ cutoff": cutoff})
    np.testing.assert_array_equal(objective.voltage, ocv["Voltage [V]"][slope <= cutoff])
    assert len(built(ocv, tmp_path, **{"dUdQ cutoff": "none"})[0].voltage) == len(ocv)  # ionworks' "no cutoff"


def test_lithium_beyond_the_electrodes_is_a_failed_evaluation_with_its_reason(ocv, tmp_path):
    [objective] = built(ocv, tmp_path)
    [outcome] = objective.solve(np.array([[5.6, 5.4, 11.5, 0.05]]))  # Q_Li above Q_n + Q_p
    assert outcome.value is None and "no lithium balance at 60 of 60 voltages" in outcome.message
    assert objective.cost(outcome) == float("inf")


def test_bad_data_and_options_are_errors_naming_them(ocv, tmp_path):
    falling = ocv.assign(**{"Capacity [A.h]": ocv["Capacity [A.h]"].max() - ocv["Capacity [A.h]"]})
    with pytest.raises(DataError, match="the capacity falls as the voltage rises"):
        built(falling, tmp_path)
    with pytest.raises(ValueError, match=r"needs \[\"positive electrode's species"):
        built(ocv, tmp_path, existing={k: v for k, v in SPECIES.items() if k.startswith("Negative")})
    config = pipeline(ocv)
    config["elements"]["fit"]["parameters"]["Positive electrode lower excess capacity [A.h]"] = {"bounds": [0, 1]}
    with pytest.raises(SpecError, match="unknown MSMR full-cell parameter 'Positive electrode lower excess capacity"):
        load_pipeline(config)
    config = pipeline(ocv)
    objective = config["elements"]["fit"]["objectives"]["ocv"]
    objective["options"]["model"]["positive_electrode_model"]["electrode"] = "negative"
    objective["options"]["dQdU cutoff"] = 1.0
    with pytest.raises(SpecError) as caught:
        load_pipeline(config)
    text = str(caught.value)
    assert "positive_electrode_model describes the negative electrode" in text
    assert "unknown option 'dQdU cutoff' of MSMRFullCell" in text
