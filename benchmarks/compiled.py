"""PyBaMM's compiled IDAKLU (``sweepfit.solve.compile``) against uncompiled, side by side in one process.

What a worker runs, through the engine (``elements.engine.solve``), on the benchmark problems:

  sweep     a chunk of 64 points: SPMe, Chen2020, 5 A for 3600 s, two diffusivities, voltage every 10 s;
  fit       a DE chunk of 10 candidates on the 1C synthetic discharge (a measured current profile);
  gradient  one candidate with IDAKLU's sensitivities (what the least-squares fits solve).

Each is built and solved once per mode (timed apart: PyBaMM compiles at the first solve), then solved
``--repeats`` times, compiled and uncompiled alternating. Prints the median time of each, the spread
of the ratio over the repeats, and the largest difference between their voltages.

    python benchmarks/compiled.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace

import numpy as np

from elements.engine import Outcome, Setup, solve

D_N, D_P = "Negative particle diffusivity [m2.s-1]", "Positive particle diffusivity [m2.s-1]"


def problems() -> dict[str, tuple[Setup, list[dict[str, float]], bool]]:
    from elements.synthetic import synthetic_discharge

    frame = synthetic_discharge(values={D_N: 3.3e-14, D_P: 4e-15}, current=5.0, duration=3500.0)
    t, current = frame["Time [s]"].to_numpy(), frame["Current [A]"].to_numpy()
    base = Setup("SPMe", {}, "Chen2020", {}, (D_N, D_P), ("Voltage [V]",), compile=False)
    rng = np.random.default_rng(0)
    sweep = [{D_N: a, D_P: b} for a, b in zip(np.geomspace(1e-14, 1e-13, 64), np.geomspace(1e-15, 1e-14, 64))]
    fit = [{D_N: 10 ** a, D_P: 10 ** b} for a, b in zip(rng.uniform(-14.5, -13, 10), rng.uniform(-15, -14, 10))]
    return {
        "sweep": (replace(base, current=5.0, duration=3600.0, t_eval=np.arange(0.0, 3600.1, 10.0)), sweep, False),
        "fit": (replace(base, profile=(t, current), duration=float(t[-1]), t_eval=t), fit, False),
        "gradient": (replace(base, profile=(t, current), duration=float(t[-1]), t_eval=t), fit[:1], True),
    }


def voltage(solution) -> Outcome:
    return Outcome(np.asarray(solution["Voltage [V]"].data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["PYBAMM_CASADI_AOT_CACHE"] = cache  # a cold compile, as on a new machine
        print(f"{'problem':<9} {'first s':>7} {'compiled':>8} | {'solve ms':>8} {'compiled':>8} "
              f"{'ratio':>6} {'spread':>13} {'max |dV|':>9}")
        for name, (setup, inputs, sensitive) in problems().items():
            compiled = replace(setup, compile=True)
            builds = {}
            for s in (setup, compiled):
                started = time.perf_counter()
                solve(s, inputs[:1], voltage, sensitivities=sensitive)  # builds, sets up, compiles
                builds[s.compile] = time.perf_counter() - started
            times: dict[bool, list[float]] = {False: [], True: []}
            out = {}
            for _ in range(args.repeats):
                for s in (setup, compiled):
                    started = time.perf_counter()
                    out[s.compile] = solve(s, inputs, voltage, sensitivities=sensitive)
                    times[s.compile].append(time.perf_counter() - started)
            ratios = np.array(times[True]) / np.array(times[False])
            diff = max(float(np.max(np.abs(a.value - b.value))) for a, b in zip(out[False], out[True]))
            print(f"{name:<9} {builds[False]:>7.2f} {builds[True]:>8.2f} | {np.median(times[False]) * 1e3:>8.1f} "
                  f"{np.median(times[True]) * 1e3:>8.1f} {np.median(ratios):>6.2f} "
                  f"{f'{ratios.min():.2f}-{ratios.max():.2f}':>13} {diff:>9.1e}")
    print("first: build and first solve of one input (compiling, with a cold cache); "
          "ratio: compiled / uncompiled solve time (median of the repeats' ratios; spread: min-max)")


if __name__ == "__main__":
    main()
