"""Synthetic measurements from a PyBaMM model: for demos, tests and checking that a fit recovers truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from elements.models import MODELS, parameter_values


def synthetic_discharge(
    *,
    values: dict[str, float],
    model: str = "SPMe",
    parameter_set: str = "Chen2020",
    current: float = 5.0,
    duration: float = 3000.0,
    step: float = 10.0,
    noise: float = 0.001,
    seed: int = 0,
) -> pd.DataFrame:
    """A constant-current discharge with Gaussian voltage noise (``noise`` in volts).

    Examples
    --------
    >>> df = synthetic_discharge(values={"Negative particle diffusivity [m2.s-1]": 3.3e-14})  # doctest: +SKIP
    >>> list(df.columns)  # doctest: +SKIP
    ['Time [s]', 'Current [A]', 'Voltage [V]']
    """
    import pybamm

    params = parameter_values(parameter_set)
    params.update({**values, "Current function [A]": current})
    t = np.arange(0.0, duration + step / 2, step)
    solution = pybamm.Simulation(MODELS[model]({}), parameter_values=params).solve([0, duration], t_interp=t)
    voltage = solution["Voltage [V]"].entries
    if len(voltage) < len(t):
        raise ValueError(
            f"the discharge reached a cut-off at {solution.t[-1]:.0f} s, before duration={duration} s; "
            "lower the current or the duration"
        )
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"Time [s]": t, "Current [A]": np.full_like(t, current), "Voltage [V]": voltage + rng.normal(0, noise, len(t))}
    )
