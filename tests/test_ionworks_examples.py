"""ionworks-schema 0.33's own worked examples (``docs/examples/*.py`` of its sdist, MIT), built with the
same calls as the example scripts and run unmodified from ``to_config()``; each recovers the truth its
data generator (``docs/examples/data/generate_*.py``) states."""

from __future__ import annotations

import ionworks_schema as iws
import pandas as pd
import pybamm
import pytest

import orchestrator
from orchestrator.cache import element_keys
from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import run_serially

J0_REF = "Negative electrode reference exchange-current density [A.m-2]"


def current_driven() -> dict:
    """``docs/examples/current_driven.py`` up to the client call (``generate_current_driven.py``: j0_ref = 3.0)."""
    data = {"0.5 C": pd.read_csv(iws.example_data("current_driven_discharge"))}
    baseline = pybamm.ParameterValues("Chen2020")
    baseline["Negative electrode reaction activation energy [J.mol-1]"] = 0.0
    known = iws.direct_entries.DirectEntry(parameters=baseline)
    j0_function = iws.direct_entries.arrhenius_butler_volmer_exchange_current_density(electrode="negative")
    parameters = {J0_REF: iws.Parameter(J0_REF, initial_value=1.0, bounds=(0.1, 10.0))}
    fit = iws.DataFit(
        objectives={
            rate: iws.objectives.CurrentDriven(
                data=df, options=iws.objectives.CurrentDrivenOptions(model=pybamm.lithium_ion.SPMe()))
            for rate, df in data.items()
        },
        parameters=parameters,
        cost=iws.costs.RMSE(),
        optimizer=iws.optimizers.ScipyMinimize(method="Nelder-Mead", max_iterations=20),
    )
    return iws.Pipeline({"known": known, "j0_function": j0_function, "fit": fit}).to_config()


@pytest.fixture(scope="module")
def current_driven_config() -> dict:
    return current_driven()


def test_current_driven_example_recovers_the_reference_exchange_current_density(current_driven_config, tmp_path):
    info = run_serially(current_driven_config, tmp_path)
    assert info["status"] == "completed", info
    assert info["elements"]["fit"]["summary"]["parameters"][J0_REF] == pytest.approx(3.0, rel=0.02)
    entry = orchestrator.open_run(info["run_id"], tmp_path)["known"].to_dataset()
    functions = entry.attrs["functions"]
    assert functions["Negative electrode OCP [V]"]["func_name"] == "graphite_LGM50_ocp_Chen2020"  # stored as written
    assert float(entry["value"].sel(parameter="Negative electrode reaction activation energy [J.mol-1]")) == 0.0


def test_a_whole_parameter_set_is_hashed_stably_into_the_cache_keys(current_driven_config):
    def keys(config: dict) -> dict[str, str]:
        return element_keys(load_pipeline(config).to_dict()["elements"], {}, {})

    again = current_driven()  # built afresh: the same set must give the same keys
    assert keys(again) == keys(current_driven_config)
    changed = current_driven()
    ocp = changed["elements"]["known"]["values"]["Negative electrode OCP [V]"]
    ocp["children"][0]["children"][0]["children"][0]["children"][0]["children"][0]["value"] = 0.25  # 0.2482 V
    assert keys(changed)["known"] != keys(current_driven_config)["known"]
    assert keys(changed)["fit"] != keys(current_driven_config)["fit"]  # downstream of a changed function


def test_a_fitted_parameter_must_be_introduced_by_an_entry(current_driven_config):
    without = {**current_driven_config, "elements": {
        k: v for k, v in current_driven_config["elements"].items() if k != "j0_function"}}
    with pytest.raises(SpecError) as caught:
        load_pipeline(without)
    assert f"unknown parameter of Chen2020 '{J0_REF}'" in str(caught.value)


def test_an_unreadable_function_is_an_error_naming_it(current_driven_config):
    config = current_driven()
    config["elements"]["known"]["values"]["Negative electrode OCP [V]"] = {"$type": "pybamm.NoSuchSymbol"}
    with pytest.raises(SpecError) as caught:
        load_pipeline(config)
    assert "'Negative electrode OCP [V]': PyBaMM cannot read this serialised function" in str(caught.value)
    config["elements"]["j0_function"]["electrode"] = "middle"
    with pytest.raises(SpecError, match=r"elements.j0_function.function.electrode"):
        load_pipeline(config)
