"""A PyBaMM model's impedance, from PyBaMM's frequency-domain ``EISSimulation`` (Hallemans et al. 2025).

The simulation linearises the model about its initial state with the current held at zero and
solves ``(i omega M - J) x = b`` at each frequency. The fitted parameters are InputParameters, so
one built simulation (cached per worker process, as :func:`elements.engine.built`) serves every
candidate: a candidate costs one Jacobian evaluation and one sparse solve per frequency.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from dask.base import tokenize
from scipy.sparse.linalg import MatrixRankWarning

from elements import engine
from elements.models import MODELS, parameter_values
from elements.values import apply

if TYPE_CHECKING:
    import pandas as pd

SURFACE_FORM = "surface form"
SURFACE_FORMS = ("differential", "algebraic")


def with_surface_form(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the double layer the frequency-domain method needs: a surface form of
    ``"false"`` (PyBaMM's default, no double layer) becomes ``"differential"``.

    Examples
    --------
    >>> with_surface_form({"thermal": "isothermal"})
    {'thermal': 'isothermal', 'surface form': 'differential'}
    """
    if options.get(SURFACE_FORM, "false") in SURFACE_FORMS:
        return dict(options)
    return {**options, SURFACE_FORM: "differential"}


@dataclass(frozen=True, eq=False)
class EISSetup:
    """One buildable impedance simulation: model, values held (``fixed``) and fitted (``inputs``)."""

    model: str
    model_options: dict[str, Any]
    parameter_set: str
    fixed: dict[str, Any]
    inputs: tuple[str, ...]
    var_pts: dict[str, int] = field(default_factory=dict)

    @cached_property
    def key(self) -> str:
        """Token of everything the built simulation depends on."""
        return "eis-" + tokenize(self.model, self.model_options, self.parameter_set, sorted(self.fixed.items()),
                                 self.inputs, sorted(self.var_pts.items()))


def simulation(setup: EISSetup) -> Any:
    """The setup's ``pybamm.EISSimulation``, not yet built (the reference the tests compare with)."""
    import pybamm

    values = apply(parameter_values(setup.parameter_set), setup.fixed, inputs=setup.inputs,
                   options=setup.model_options)
    model = MODELS[setup.model](dict(setup.model_options))
    return pybamm.EISSimulation(model, values, var_pts=dict(setup.var_pts) or None)


def _build(setup: EISSetup) -> tuple[Any, threading.Lock]:
    sim = simulation(setup)
    sim.build()
    return sim, threading.Lock()  # a simulation keeps its last operating point: one solve at a time


def impedance(setup: EISSetup, X: np.ndarray, frequency: np.ndarray) -> list[engine.Outcome]:
    """One outcome per row of ``X`` (the inputs' values): the complex impedance [Ohm] at ``frequency``,
    or a failure with its reason. Never raises."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    try:
        sim, lock = engine.cached(setup.key, lambda: _build(setup))
    except Exception as exc:  # noqa: BLE001 - a setup that cannot be built is data
        return [engine.failed(f"build failed: {type(exc).__name__}: {exc}") for _ in X]
    engine.count(len(X))
    outcomes = []
    with lock, warnings.catch_warnings():
        # a singular system (no double layer, say) gives NaN: reported below as the candidate's failure
        warnings.simplefilter("ignore", MatrixRankWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for row in X:
            try:
                z = np.asarray(sim.solve(frequency, inputs=dict(zip(setup.inputs, map(float, row)))).impedance)
            except Exception as exc:  # noqa: BLE001 - a failing candidate is data, not a crash
                outcomes.append(engine.failed(exc))
                continue
            outcomes.append(engine.Outcome(z) if np.isfinite(z).all()
                            else engine.failed("the model's impedance is not finite at these values"))
    return outcomes


def synthetic_spectrum(
    *, values: dict[str, Any], frequency: np.ndarray, initial_soc: float, model: str = "SPMe",
    parameter_set: str = "Chen2020", noise: float = 0.0, seed: int = 0,
) -> pd.DataFrame:
    """A model's impedance at ``initial_soc`` with Gaussian noise on ``Re Z`` and ``Im Z`` of standard
    deviation ``noise * |Z|``, as the three columns an ``EIS`` objective reads.

    Examples
    --------
    >>> df = synthetic_spectrum(values={}, frequency=np.logspace(-2, 3, 6), initial_soc=0.5)
    >>> list(df.columns), round(float(df["Z_real [Ohm]"].iloc[-1]), 4)
    (['Frequency [Hz]', 'Z_real [Ohm]', 'Z_imag [Ohm]'], 0.0055)
    """
    import pandas as pd

    setup = EISSetup(model, with_surface_form({}), parameter_set, {**values, "Initial SOC": initial_soc}, ())
    z = np.asarray(simulation(setup).solve(frequency).impedance)
    z = z + noise * np.abs(z) * ([1, 1j] @ np.random.default_rng(seed).normal(size=(2, len(z))))
    return pd.DataFrame({"Frequency [Hz]": frequency, "Z_real [Ohm]": z.real, "Z_imag [Ohm]": z.imag})


__all__ = ["SURFACE_FORM", "EISSetup", "impedance", "simulation", "synthetic_spectrum", "with_surface_form"]
