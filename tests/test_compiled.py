"""PyBaMM's compiled IDAKLU (sweepfit.solve.compile) gives the uncompiled solves' numbers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from elements import engine
from elements.engine import Outcome, Setup

from .conftest import D_N, D_P

SETUP = Setup("SPM", {}, "Chen2020", {}, (D_N, D_P), ("Voltage [V]",), current=5.0, duration=600.0,
              t_eval=np.linspace(0.0, 600.0, 61), compile=False)
INPUTS = [{D_N: 3.3e-14, D_P: 4e-15}, {D_N: 1e-13, D_P: 1e-14}]


def voltage(solution) -> Outcome:
    return Outcome(np.asarray(solution["Voltage [V]"].data))


def gradient(solution) -> Outcome:
    return Outcome(None, sensitivities=solution["Voltage [V]"].sensitivities)


@pytest.mark.parametrize("setup", [SETUP, replace(SETUP, experiment=(("Discharge at 1C for 10 minutes",),),
                                                  current=None)], ids=["drive", "experiment"])
def test_compiled_solve_equals_uncompiled(setup: Setup, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PYBAMM_CASADI_AOT_CACHE", str(tmp_path))
    plain = engine.solve(setup, INPUTS, voltage)
    compiled = engine.solve(replace(setup, compile=True), INPUTS, voltage)
    assert list(tmp_path.glob("*.so")), "nothing was compiled"
    for a, b in zip(plain, compiled, strict=True):
        assert a.status is b.status is engine.SolveStatus.OK
        np.testing.assert_allclose(b.value, a.value, rtol=1e-8, atol=0)


def test_compiled_sensitivities_equal_uncompiled(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PYBAMM_CASADI_AOT_CACHE", str(tmp_path))
    plain = engine.solve(SETUP, INPUTS[:1], gradient, sensitivities=True)[0].sensitivities
    compiled = engine.solve(replace(SETUP, compile=True), INPUTS[:1], gradient, sensitivities=True)[0].sensitivities
    for name in (D_N, D_P):
        np.testing.assert_allclose(compiled[name], plain[name], rtol=1e-8, atol=1e-8 * np.abs(plain[name]).max())


def test_without_gcc_solves_uncompiled(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("PYBAMM_CASADI_AOT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no compiler on it
    setup = replace(SETUP, compile=True, duration=300.0, t_eval=np.linspace(0.0, 300.0, 31))
    outcomes = engine.solve(setup, INPUTS, voltage)
    assert all(o.status is engine.SolveStatus.OK for o in outcomes)
    assert not list((tmp_path / "cache").glob("*.so"))
    assert "gcc is not on PATH" in caplog.text
