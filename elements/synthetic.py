"""Synthetic measurements from a PyBaMM model: for demos, tests and checking that a fit recovers truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from elements import engine
from elements.models import MODELS, parameter_values
from elements.values import apply, grid_table, table

SOC_GRID = np.linspace(0.0, 1.0, 11)


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


def two_rc_cell(*, resistance_scale: float = 1.0) -> dict[str, dict[str, Any]]:
    """A 2-RC cell's R0, R1 and C1 as tables over SOC (curving to a minimum mid-range) and R2, C2
    (a 60 s time constant) over ``SOC_GRID``; ``resistance_scale`` multiplies the resistances (a colder cell).

    Examples
    --------
    >>> cell = two_rc_cell()
    >>> round(cell["R0 [Ohm]"]["y"][6], 6), cell["R0 [Ohm]"]["argument"]
    (0.01, 'SoC')
    """
    soc = SOC_GRID
    found = {"R0 [Ohm]": 0.010 * (1 + 0.8 * (soc - 0.6) ** 2) * resistance_scale,
             "R1 [Ohm]": 0.005 * (1 + 0.5 * (soc - 0.5) ** 2) * resistance_scale,
             "C1 [F]": 1000 * (1 + 0.3 * soc), "R2 [Ohm]": np.full_like(soc, 0.008 * resistance_scale),
             "C2 [F]": np.full_like(soc, 7500.0)}
    return {name: table(soc, y, argument="SoC") for name, y in found.items()}


def two_rc_grid(scales: Mapping[float, float]) -> dict[str, dict[str, Any]]:
    """:func:`two_rc_cell` at each temperature [°C] of ``scales``, its resistances times the scale there
    and its capacitances over it, as grids over (``SoC``, ``Cell temperature [degC]``); between the
    temperatures the ECM interpolates linearly. The time constants stay those of ``two_rc_cell``, so an
    HPPC test's rests (:func:`synthetic_hppc`) relax the slow pair at every temperature.

    Examples
    --------
    >>> grid = two_rc_grid({25.0: 1.0, 0.0: 2.5})
    >>> grid["R0 [Ohm]"]["x"][1], round(grid["R0 [Ohm]"]["y"][6][0], 6), round(grid["C2 [F]"]["y"][6][0])
    ([0.0, 25.0], 0.025, 3000)
    """
    temperatures = sorted(scales)
    cells = [two_rc_cell(resistance_scale=scales[t]) for t in temperatures]
    for cell, t in zip(cells, temperatures):
        for name in ("C1 [F]", "C2 [F]"):
            cell[name]["y"] = [y / scales[t] for y in cell[name]["y"]]
    return {name: grid_table([SOC_GRID, temperatures], np.column_stack([cell[name]["y"] for cell in cells]),
                             arguments=["SoC", "Cell temperature [degC]"]) for name in cells[0]}


def synthetic_ecm(
    *,
    values: dict[str, Any],
    time: np.ndarray,
    current: np.ndarray,
    initial_soc: float,
    capacity: float = 5.0,
    rc_pairs: int = 2,
    temperature: float = 298.15,
    noise: float = 1e-4,
    seed: int = 0,
) -> pd.DataFrame:
    """An equivalent circuit's voltage (PyBaMM's Thevenin, isothermal at ``temperature`` [K]) for a
    measured ``current`` [A] on ``time`` [s], linear between samples as a fit drives it, plus Gaussian noise.

    ``values`` are the circuit's (``R0 [Ohm]``, ``R1 [Ohm]``, ``C1 [F]``, ..., numbers, tables over
    ``SoC`` or grids over ``SoC`` and temperature: :mod:`elements.values`), over PyBaMM's ``ECM_Example``.

    Examples
    --------
    >>> t = np.arange(0.0, 61.0)
    >>> df = synthetic_ecm(values={"R0 [Ohm]": 0.01}, time=t, current=np.full_like(t, 5.0), initial_soc=0.9,
    ...                    rc_pairs=1)  # doctest: +SKIP
    """
    import pybamm

    params = parameter_values("ECM_Example", "ECM", {"rc pairs": rc_pairs})
    drive = pybamm.Interpolant(time, current, pybamm.t, interpolator="linear")
    apply(params, {"Lower voltage cut-off [V]": 2.5, "Upper voltage cut-off [V]": 4.4, **values,
                   "Cell capacity [A.h]": capacity, "Initial SoC": initial_soc, "Current function [A]": drive,
                   "Ambient temperature [K]": temperature, "Initial temperature [K]": temperature})
    model = MODELS["ECM"]({"rc pairs": rc_pairs, "thermal": "isothermal"})
    t_span = np.union1d([0.0, time[-1]], engine.jumps(time, current))
    solution = pybamm.Simulation(model, parameter_values=params, solver=pybamm.IDAKLUSolver(rtol=1e-8, atol=1e-10)
                                 ).solve(t_span, t_interp=time)
    voltage = solution["Voltage [V]"](t=time)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"Time [s]": time, "Current [A]": current, "Voltage [V]": voltage + rng.normal(0, noise, len(time))})


def synthetic_hppc(
    *,
    values: dict[str, Any],
    socs: Sequence[float],
    capacity: float = 5.0,
    c_rate: float = 1.0,
    pulse: float = 20.0,
    relax: float = 180.0,
    rest: float = 600.0,
    **circuit: Any,
) -> pd.DataFrame:
    """An HPPC test of an equivalent circuit (:func:`synthetic_ecm`, whose options ``circuit`` passes on).

    From a rest at ``socs[0]``: at each SOC a ``pulse`` s discharge at ``c_rate``, ``relax`` s of rest,
    then (but after the last) a discharge at the same rate down to the next SOC and ``rest`` s of rest;
    each pulse starts at its SOC (to the second of discharge). Cut into pulses
    (:func:`elements.pulses.split_pulses`), the test pulse at ``socs[k]`` is pulse ``2 k``.

    Examples
    --------
    >>> df = synthetic_hppc(values={"R0 [Ohm]": 0.01}, socs=[0.9, 0.8], rc_pairs=1)  # doctest: +SKIP
    >>> df["Current [A]"].max()  # doctest: +SKIP
    5.0
    """
    amps = c_rate * capacity
    time, current = [0.0], [0.0]

    def hold(seconds: float, amps: float) -> None:  # one sample a second
        t = np.arange(1.0, seconds + 0.5)
        time.extend(time[-1] + t)
        current.extend([amps] * len(t))

    hold(60.0, 0.0)
    for k, soc in enumerate(socs):
        hold(pulse, amps)
        hold(relax, 0.0)
        if k + 1 < len(socs):
            hold(round((soc - socs[k + 1]) * capacity / amps * 3600.0 - pulse), amps)  # the pulse took its share
            hold(rest, 0.0)
    return synthetic_ecm(values=values, time=np.array(time), current=np.array(current), initial_soc=socs[0],
                         capacity=capacity, **circuit)
