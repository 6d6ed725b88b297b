"""A pulse test (GITT, HPPC) cut into its pulses: what the ``Pulse`` objective fits and ``HPPCTables`` reads."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from elements.core.data import CURRENT, TIME, DataError, Measurement


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


__all__ = ["chosen_pulses", "pulse_bounds", "split_pulses"]
