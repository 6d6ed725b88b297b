"""DE fit: scipy serial in-process vs sweepfit on a 2-worker LocalCluster, in one run.

The benchmark problem: SPMe, Chen2020, a 1C (5 A) discharge, both particle diffusivities in log10,
popsize 15, seed 0, polish off. Prints walls, ratios and whether the best x agree, and sweepfit's
overhead per generation: the fit's wall less each generation's solving time on its busiest worker
(Dask's task stream), per generation.

    python benchmarks/de_fit.py [--compile] [--workers 2]
    DASK_SWEEPFIT__FIT__TRANSPORT=actors python benchmarks/de_fit.py     # generations on long-lived evaluators
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import dask.config
import numpy as np
from scipy.optimize import differential_evolution

D_N, D_P = "Negative particle diffusivity [m2.s-1]", "Positive particle diffusivity [m2.s-1]"
TRUE = {D_N: 3.3e-14, D_P: 4e-15}
BOUNDS = {D_N: (1e-15, 1e-12), D_P: (1e-16, 1e-13)}
OPTIONS = {"popsize": 15, "seed": 0, "polish": False}


def scipy_serial(frame, compile_: bool, updating: str = "immediate") -> tuple[float, np.ndarray, int]:
    """What a modeller writes by hand: one built model, one solve per candidate, scipy's own loop."""
    import pybamm

    t, current, measured = (frame[c].to_numpy() for c in ("Time [s]", "Current [A]", "Voltage [V]"))
    started = time.perf_counter()
    values = pybamm.ParameterValues("Chen2020")
    values["Current function [A]"] = pybamm.Interpolant(t, current, pybamm.t)
    values.update({D_N: "[input]", D_P: "[input]"})
    solver = pybamm.IDAKLUSolver(output_variables=["Voltage [V]"], options={"compile": compile_})
    sim = pybamm.Simulation(pybamm.lithium_ion.SPMe(), parameter_values=values, solver=solver)
    sim.build()
    calls = 0

    def cost(y: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        inputs = {D_N: 10 ** y[0], D_P: 10 ** y[1]}
        v = solver.solve(sim.built_model, [t[0], t[-1]], inputs=inputs, t_interp=t)["Voltage [V]"].data
        v = np.pad(v, (0, len(t) - len(v)), mode="edge")
        return float(np.sqrt(np.mean((v - measured) ** 2)))

    bounds = [np.log10(BOUNDS[D_N]), np.log10(BOUNDS[D_P])]
    result = differential_evolution(cost, bounds, updating=updating, **OPTIONS)
    return time.perf_counter() - started, 10**result.x, calls


def overhead_per_generation(tasks: list[dict], calls: list[dict], wall: float) -> tuple[float, float, int, float]:
    """(seconds per generation spent outside solving, seconds of solving per generation, generations,
    median seconds between one generation's last chunk and the next one's first).

    A generation's solving takes as long as its busiest worker's chunks (summed: a worker runs its
    chunks one after another): chunk tasks from Dask's task stream, or the evaluators' calls (their
    events) with ``sweepfit.fit.transport: actors``; the rest of the fit's wall is overhead, its
    start (evaluators, builds) included.
    """
    spans: list[tuple[str, str, float, float]] = []  # generation, worker, start, stop
    for task in tasks:
        found = re.search(r"-gen(\d+)-chunk", str(task["key"]))
        spans += [(found[1], task["worker"], s["start"], s["stop"]) for s in task["startstops"]
                  if found and s["action"] == "compute"]
    spans += [(c["label"].removeprefix("gen"), c["worker"], c["start"], c["stop"]) for c in calls]
    busy: dict[tuple[str, str], float] = {}
    for generation, worker, start, stop in spans:
        busy[generation, worker] = busy.get((generation, worker), 0.0) + stop - start
    per_generation: dict[str, float] = {}
    for (generation, _), seconds in busy.items():
        per_generation[generation] = max(per_generation.get(generation, 0.0), seconds)
    n = max(1, len(per_generation))
    solving = sum(per_generation.values())
    order = sorted(per_generation, key=int)
    first = {g: min(a for h, _, a, _ in spans if h == g) for g in order}
    last = {g: max(b for h, _, _, b in spans if h == g) for g in order}
    gaps = [first[b] - last[a] for a, b in zip(order, order[1:])]
    return (wall - solving) / n, solving / n, len(per_generation), float(np.median(gaps)) if gaps else float("nan")


def _noop(x: int) -> int:
    return x


def _round_trips(n: int, tasks: int) -> float:
    """From inside a task, as a fit's element runs: median seconds to map ``tasks`` no-op tasks and gather them."""
    from distributed import get_client, secede

    client = get_client()
    secede()
    times = []
    for i in range(n):
        started = time.perf_counter()
        client.gather(client.map(_noop, range(tasks), key=[f"noop-{i}-{k}" for k in range(tasks)]))
        times.append(time.perf_counter() - started)
    return float(np.median(times[5:]))


def sweepfit_cluster(csv: Path, workers: int, compile_: bool, store: Path) -> tuple[float, float, np.ndarray, int, float, int]:
    import dask.config
    from distributed import get_task_stream

    import orchestrator
    from clusters import closing, local_client
    from orchestrator.evaluators import EVENTS

    pipeline = {
        "elements": {
            "fit": {
                "element_type": "data_fit",
                "objectives": {"1C": {"objective": "CurrentDriven", "model": {"type": "SPMe"}, "data": f"file:{csv}"}},
                "parameters": {n: {"bounds": list(b), "transform": "log10"} for n, b in BOUNDS.items()},
                "optimizer": {"type": "ScipyDifferentialEvolution", **OPTIONS},
            }
        }
    }
    with dask.config.set({"sweepfit.solve.compile": compile_}):
        started = time.perf_counter()
        with closing(local_client(n_workers=workers, threads_per_worker=1)) as client:
            # Warm the workers as a long-lived cluster would be: pybamm imported once per process.
            client.run(lambda: __import__("pybamm") and None)
            start_wall = time.perf_counter() - started
            with get_task_stream(client) as stream:
                started = time.perf_counter()
                info = orchestrator.run(pipeline, client=client, store=store)
                wall = time.perf_counter() - started
            # Dask's own floor per generation: the same fan-out of no-op tasks
            calls = [event for _, event in client.get_events(EVENTS)]
            chunks = int(orchestrator.open_run(info["run_id"], store)["fit"].attrs["chunks_per_generation"])
            floor = client.submit(_round_trips, 40, chunks, pure=False).result()
    summary = info["elements"]["fit"]["summary"]
    fit_wall = float(orchestrator.open_run(info["run_id"], store)["fit"].attrs["wall_s"])  # the optimizer's own
    overhead, solving, generations, gap = overhead_per_generation(stream.data, calls, fit_wall)
    return (start_wall, wall, np.array([summary["parameters"][n] for n in BOUNDS]), summary["evaluations"],
            overhead, solving, generations, gap, floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="PyBaMM's compiled-model IDAKLU option, both sides")
    args = parser.parse_args()
    from elements.synthetic import synthetic_discharge

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("PYBAMM_CASADI_AOT_CACHE", str(Path(tmp) / "aot"))
        csv = Path(tmp) / "synthetic_1C.csv"
        frame = synthetic_discharge(values=TRUE, current=5.0, duration=3500.0)
        frame.to_csv(csv, index=False)
        serial_wall, serial_x, serial_calls = scipy_serial(frame, args.compile)
        # scipy's parallel mode updates the population once per generation ("deferred"): the same
        # algorithm sweepfit runs, serially, to separate the parallel speed-up from the DE variant.
        deferred_wall, _, deferred_calls = scipy_serial(frame, args.compile, updating="deferred")
        start_wall, wall, x, nfev, overhead, solving, generations, gap, floor = sweepfit_cluster(
            csv, args.workers, args.compile, Path(tmp) / "store")

    print(f"problem: SPMe Chen2020 1C, 2 log10 diffusivities, popsize 15, seed 0{' (compiled)' if args.compile else ''}")
    print(f"scipy serial in-process : {serial_wall:7.2f} s  ({serial_calls} solves, {serial_calls / serial_wall:.0f}/s)")
    print(f"scipy serial, deferred  : {deferred_wall:7.2f} s  ({deferred_calls} solves, {deferred_calls / deferred_wall:.0f}/s)")
    print(f"sweepfit cluster start  : {start_wall:7.2f} s  ({args.workers} workers, pybamm imported)")
    print(f"sweepfit fit            : {wall:7.2f} s  ({nfev} solves, {nfev / wall:.0f}/s)")
    print(f"overhead per generation : {overhead * 1e3:7.1f} ms  ({generations} generations, each {solving * 1e3:.0f} ms "
          "of solving on its busiest worker; the rest of the fit's wall)")
    print(f"  between generations: median {gap * 1e3:.1f} ms from the last chunk's end to the next first chunk's "
          f"start (transport: {dask.config.get('sweepfit.fit.transport')})")
    print(f"  Dask's floor: {floor * 1e3:.1f} ms to map and gather as many no-op tasks from a task")
    print(f"ratio sweepfit / scipy  : {wall / serial_wall:7.2f}  (target <= {0.3 if args.compile else 0.5})")
    print(f"ratio sweepfit / scipy deferred (same algorithm): {wall / deferred_wall:.2f}")
    rel = np.abs(x / serial_x - 1)
    print(f"best x agree            : {bool(np.all(rel < 0.02))}  (max relative difference {rel.max():.2%})")
    print(f"  scipy    {serial_x}\n  sweepfit {x}\n  true     {np.array(list(TRUE.values()))}")


if __name__ == "__main__":
    main()
