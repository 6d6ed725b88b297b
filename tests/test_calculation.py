"""The calculation element: derived parameter values flow into later elements."""

from __future__ import annotations

import pybamm
import pytest

from orchestrator.spec import SpecError, load_pipeline
from tests.conftest import run_serially

NEG = "Initial concentration in negative electrode [mol.m-3]"


def test_initial_state_from_a_voltage_feeds_validation(short_csv, tmp_path):
    spec = {
        "elements": {
            "start at 4.0 V": {"element_type": "calculation", "calculation": "InitialState", "initial_state": "4.0 V"},
            "check": {"element_type": "validation", "objectives": {"1C": {"data": f"file:{short_csv}"}}},
        }
    }
    info = run_serially(spec, tmp_path)
    derived = info["elements"]["start at 4.0 V"]["summary"]["values"]
    expected = pybamm.ParameterValues("Chen2020")
    expected.set_initial_state("4.0 V")
    assert derived[NEG] == pytest.approx(expected[NEG])
    assert info["elements"]["check"]["parameters"][NEG] == pytest.approx(expected[NEG])
    # the synthetic data starts fully charged: starting lower must fit worse than the 1 mV noise
    assert info["elements"]["check"]["summary"]["metrics"]["1C"]["RMSE"] > 0.01


def test_unknown_calculation_lists_valid_ones():
    with pytest.raises(SpecError, match="valid calculations: 'ECMTables', 'HPPCTables', 'InitialState'") as caught:
        load_pipeline({"elements": {"c": {"element_type": "calculation", "calculation": "Initial", "initial_state": 1}}})
    assert caught.value.problems[0][0] == "elements.c.calculation"
