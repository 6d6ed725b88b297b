"""``Pulse``: current pulses and their relaxations (GITT, HPPC), each simulated from its own rest."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from elements.core.data import CURRENT, TIME, DataError, Measurement
from elements.objectives import OBJECTIVES
from elements.objectives.current_driven import FROM_DATA, CurrentDriven


@OBJECTIVES.register("Pulse")
class Pulse(CurrentDriven):
    """A pulse test, cut into its pulses, each one objective started from the rest before it.

    After the data's own windows (``steps``, ``time_range``, ...), a pulse is a run of samples whose
    ``|Current [A]|`` reaches ``rest_current``, with the relaxation after it up to the next pulse.
    Each starts at the last rest sample before its current flows, so its first voltage is
    open-circuit and ``initial_state: "from data"`` (the default here) puts every pulse at its own
    state of charge; a long GITT test becomes short solves, and an error in the state of charge
    between pulses does not accumulate. ``pulses`` picks some (0-based, in time order); each
    becomes the objective ``<name>/<file> pulse <i>``. The voltage of the pulse and of its
    relaxation is compared: the jump when current starts and stops carries the resistances, the
    slow part and the relaxation the solid diffusivities.

    Examples
    --------
    >>> Pulse(data="file:gitt.csv", pulses=[0, 5, 10], parameter_set="Chen2020").initial_state
    'from data'
    """

    type: Literal["Pulse"] = "Pulse"  # type: ignore[assignment]
    initial_state: float | str | None = FROM_DATA
    pulses: list[int] | None = None
    rest_current: float = Field(1e-3, gt=0, description="below this |current| [A] the cell rests")

    def measurements(self, name: str, base_dir: Path) -> list[Measurement]:
        found = []
        for m in super().measurements(name, base_dir):
            pieces = split_pulses(m, rest_current=self.rest_current)
            chosen = chosen_pulses(f"objective {name!r}", m, len(pieces), self.pulses, self.rest_current)
            found.extend(pieces[i] for i in chosen)
        return found


def split_pulses(m: Measurement, *, rest_current: float) -> list[Measurement]:
    """``m`` cut into pulses: each from the last rest sample before its current flows to the last
    sample before the next pulse's, time from 0.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"Time [s]": range(8), "Current [A]": [0, 1, 1, 0, 0, 2, 0, 0],
    ...                       "Voltage [V]": [4.0, 3.9, 3.9, 4.0, 4.0, 3.8, 3.95, 4.0]})
    >>> [list(p.frame["Current [A]"]) for p in split_pulses(Measurement("gitt", "-", frame, ""), rest_current=0.01)]
    [[0, 1, 1, 0, 0], [0, 2, 0, 0]]
    """
    pieces = []
    for i, (start, end) in enumerate(pulse_bounds(m, rest_current=rest_current)):
        frame = m.frame.iloc[start : end + 1].reset_index(drop=True)
        frame[TIME] = frame[TIME] - frame[TIME].iloc[0]
        pieces.append(replace(m, name=f"{m.name} pulse {i}", frame=frame))
    return pieces


def pulse_bounds(m: Measurement, *, rest_current: float) -> list[tuple[int, int]]:
    """Each pulse's first and last row in ``m``: from the last rest sample before its current flows
    to the last sample before the next pulse's (see :func:`split_pulses`)."""
    flowing = np.abs(m.frame[CURRENT].to_numpy()) >= rest_current
    starts = np.flatnonzero(flowing & ~np.r_[False, flowing[:-1]])
    if not len(starts):
        raise DataError(f"{m.source}: no current pulse (|current| >= {rest_current} A); check the current "
                        f"column and rest_current")
    if starts[0] == 0:
        raise DataError(f"{m.source}: current flows from the first sample, so the first pulse has no rest "
                        f"(open-circuit) voltage to start from; select a window that begins at rest")
    ends = [*(starts[1:] - 1), len(flowing) - 1]
    return [(int(start), int(end)) for start, end in zip(starts - 1, ends)]


def chosen_pulses(label: str, m: Measurement, found: int, pulses: list[int] | None, rest_current: float) -> list[int]:
    """``pulses`` (all ``found`` where None), checked to exist in ``m``."""
    chosen = list(range(found)) if pulses is None else pulses
    missing = [i for i in chosen if not 0 <= i < found]
    if missing:
        raise DataError(f"{label}: data {m.source!r} has {found} pulse(s) (|current| >= {rest_current} A after a "
                        f"rest); pulses {missing} do not exist. Valid: 0 to {found - 1}")
    return chosen


__all__ = ["Pulse", "chosen_pulses", "pulse_bounds", "split_pulses"]
