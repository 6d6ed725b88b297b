"""Sweep throughput: sweepfit on a 2-worker LocalCluster vs a serial PyBaMM loop vs one batched process.

SPMe (Chen2020), 5 A for 3600 s, two diffusivities as inputs on a log grid, voltage only on a 10 s
time base. In the same run:

  (a) a serial PyBaMM loop on one reused, built model (``sim.solve(inputs=...)``; also shown:
      the same loop calling the built solver directly, without Simulation.solve's overhead);
  (b) one process solving every point in one batched IDAKLU call with ``num_threads=2``;
  (c) sweepfit: a ``sweep`` element on a LocalCluster of 2 single-thread workers, end to end
      (run created, chunk size measured, arrays allocated, solved, written to zarr).

Targets (issue 3): (c) >= 0.9x (b) and >= 1.8x (a). Run: ``python benchmarks/sweep.py [--side 64]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

D_N, D_P = "Negative particle diffusivity [m2.s-1]", "Positive particle diffusivity [m2.s-1]"
TIME = np.arange(0.0, 3600.0 + 1e-9, 10.0)


def grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    return np.geomspace(1e-14, 1e-13, side), np.geomspace(1e-15, 1e-14, side)


def built(threads: int):
    import pybamm

    values = pybamm.ParameterValues("Chen2020")
    values.update({D_N: "[input]", D_P: "[input]", "Current function [A]": 5.0})
    solver = pybamm.IDAKLUSolver(output_variables=["Voltage [V]"], options={"num_threads": threads})
    sim = pybamm.Simulation(pybamm.lithium_ion.SPMe(), parameter_values=values, solver=solver)
    sim.build()
    return sim


def serial_loop(points: list[dict[str, float]]) -> tuple[float, np.ndarray]:
    sim = built(1)
    started = time.perf_counter()
    last = [sim.solve([0, 3600], inputs=p, t_interp=TIME)["Voltage [V]"].data[-1] for p in points]
    return time.perf_counter() - started, np.array(last)


def solver_loop(points: list[dict[str, float]]) -> tuple[float, np.ndarray]:
    sim = built(1)
    started = time.perf_counter()
    last = [sim.solver.solve(sim.built_model, [0, 3600], inputs=p, t_interp=TIME)["Voltage [V]"].data[-1]
            for p in points]
    return time.perf_counter() - started, np.array(last)


def batched(points: list[dict[str, float]]) -> tuple[float, np.ndarray]:
    sim = built(2)
    started = time.perf_counter()
    solutions = sim.solver.solve(sim.built_model, [0, 3600], inputs=points, t_interp=TIME)
    last = [s["Voltage [V]"].data[-1] for s in solutions]
    return time.perf_counter() - started, np.array(last)


def sweepfit(side: int, workers: int, store: str) -> tuple[float, dict, np.ndarray]:
    import orchestrator
    from clusters import closing, local_client

    d_n, d_p = grid(side)
    pipeline = {
        "project": "bench",
        "elements": {
            "sweep": {
                "element_type": "sweep",
                "model": {"type": "SPMe"},
                "protocol": {"current": 5.0, "duration": 3600},
                "grid": {D_N: d_n.tolist(), D_P: d_p.tolist()},
                "outputs": {"variables": ["Voltage [V]"], "time": {"stop": 3600, "step": 10}, "summaries": ["final_voltage"]},
            }
        },
    }
    with closing(local_client(n_workers=workers, threads_per_worker=1)) as client:
        client.run(lambda: __import__("pybamm") and None)  # workers stay alive: imported once, as in use
        started = time.perf_counter()
        info = orchestrator.run(pipeline, client=client, store=store, force=True)
        wall = time.perf_counter() - started
    assert info["status"] == "completed", info
    ds = orchestrator.open_sweep(info["run_id"], "sweep", store=store)
    return wall, info["elements"]["sweep"]["summary"]["counts"], ds.final_voltage.values.ravel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=64, help="grid side: side**2 points (default 64 -> 4096)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    d_n, d_p = grid(args.side)
    points = [{D_N: float(a), D_P: float(b)} for a in d_n for b in d_p]
    n = len(points)
    print(f"{n} SPMe points, 2 inputs, voltage on {len(TIME)} times; {args.workers} workers\n")

    t_a, v_a = serial_loop(points)
    t_a2, _ = solver_loop(points)
    t_b, v_b = batched(points)
    with tempfile.TemporaryDirectory() as store:
        t_c, summary, v_c = sweepfit(args.side, args.workers, store)
    # Same numbers every way: the final voltage of every point agrees.
    assert np.allclose(v_a, v_b, rtol=1e-8) and np.allclose(v_a, v_c, rtol=1e-8, equal_nan=True)

    rate = {"(a) serial PyBaMM loop": n / t_a, "    same, solver.solve (no Simulation)": n / t_a2, "(b) batched IDAKLU, 2 threads": n / t_b,
            "(c) sweepfit, end to end": n / t_c}
    for name, r in rate.items():
        print(f"{name:<38}{r:>9.1f} points/s")
    print(f"{'    sweepfit solve phase only':<38}{summary['points_per_s']:>9.1f} points/s "
          f"(chunk size {summary['chunk_size']}, {summary['chunks']} chunks)")
    c = n / t_c
    print(f"\nsweepfit / batched = {c / rate['(b) batched IDAKLU, 2 threads']:.2f}  (target >= 0.9)")
    print(f"sweepfit / serial  = {c / rate['(a) serial PyBaMM loop']:.2f}  (target >= 1.8)")


if __name__ == "__main__":
    main()
