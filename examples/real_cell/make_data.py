"""Make the example's measured files from the Enertech discharges in tests/data/enertech.

Each ``<rate>.csv`` holds ``Time [s]``, ``Current [A]`` (positive on discharge; 0 at t = 0, where the
cell still rests, so the first voltage is open-circuit), ``Voltage [V]`` and, where measured,
``Volume-averaged cell temperature [K]`` = 298.15 K (the 25 °C ambient of the tests) plus the
measured temperature rise, interpolated onto the voltage's times. One sample every 10 s (every
30 s at 0.1C) after the first second keeps the files small and the fits cheap; the sample at 1 s
keeps the switch from rest to load sharp.

Run from the repository root: ``python examples/real_cell/make_data.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "tests" / "data" / "enertech"
CAPACITY, AMBIENT = 2.28, 298.15  # A.h, K
RATES = {"0.1C": 30, "0.5C": 10, "1C": 10, "2C": 10}  # rate: sampling [s]


def main() -> None:
    for rate, step in RATES.items():
        time, voltage = np.loadtxt(SOURCE / f"{rate}_discharge_U.txt", unpack=True)
        keep = (time <= 1) | (np.round(time) % step == 0) | (time == time[-1])
        frame = pd.DataFrame({"Time [s]": time[keep],
                              "Current [A]": np.where(time[keep] > 0, float(rate[:-1]) * CAPACITY, 0.0),
                              "Voltage [V]": voltage[keep]})
        rise = SOURCE / f"{rate}_discharge_T.txt"
        if rise.exists():
            t, dT = np.loadtxt(rise, unpack=True)
            frame["Volume-averaged cell temperature [K]"] = AMBIENT + np.interp(frame["Time [s]"], t, dT)
        frame.to_csv(HERE / f"{rate}.csv", index=False, float_format="%.7g")
        print(f"{rate}.csv: {len(frame)} rows")


if __name__ == "__main__":
    main()
